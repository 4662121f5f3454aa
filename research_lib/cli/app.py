"""The root ``research-lib`` command, its global options and the one place errors are handled.

Command modules import :data:`cli`, :func:`group`, :func:`options` and :func:`console` from
here and register their commands on import (``research_lib.cli`` imports them all). Global
options live in click's context object (:class:`Options`), never in a module global.
Errors are handled in :class:`ResearchGroup`: a :class:`~research_lib.errors.ResearchError`
(or an ``OSError``) becomes one line on stderr (``Error: ...``) and a non-zero exit code;
``--verbose`` adds the traceback. Any other exception is a bug, yet it is shown the same way,
as ``Error: internal error: TYPE: first line (run with --verbose for the traceback)`` with
exit code :data:`INTERNAL_ERROR_EXIT` (3; click's usage errors exit with 2): no command
prints a traceback unless asked.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from dataclasses import dataclass

import click

from research_lib.errors import ResearchError, one_line
from research_lib.settings import ENV_VARS

INTERNAL_ERROR_EXIT = 3


@dataclass(frozen=True)
class Options:
    """The global options of one ``research-lib`` invocation (None: the default location)."""

    catalog: str | None = None
    results: str | None = None
    verbose: bool = False


class CommandFailed(click.ClickException):
    """A project error, shown as one line with the error's exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ResearchGroup(click.Group):
    """A click group that turns project errors (and OS errors) into one-line messages, and
    any other exception into one ``internal error`` line (exit code 3)."""

    def invoke(self, ctx: click.Context):
        if ctx.parent is None:  # the root command: warnings are one line too, for its run
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                return self._invoke(ctx)
        return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # `... --format csv | head`: the reader has what it wanted
            _quiet_stdout()
            raise click.exceptions.Exit(0) from None
        except (ResearchError, OSError) as exc:
            if (ctx.find_object(Options) or Options()).verbose:
                traceback.print_exc()
            code = getattr(exc, "exit_code", 1)
            raise CommandFailed(str(exc), code if isinstance(code, int) else 1) from exc
        except Exception as exc:
            if (ctx.find_object(Options) or Options()).verbose:
                traceback.print_exc()
            raise CommandFailed(
                f"internal error: {type(exc).__name__}: {one_line(exc)} "
                "(run with --verbose for the traceback)",
                INTERNAL_ERROR_EXIT,
            ) from exc


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no real stdout (CliRunner)
        pass


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``Warning: <message>`` on stderr, one line (Python's own format adds the source)."""
    text = " ".join(str(message).split())
    print(f"Warning: {text}", file=file or sys.stderr)


@click.group(
    cls=ResearchGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--catalog",
    envvar=ENV_VARS["catalog"],
    metavar="PATH",
    help=f"Data catalog folder [env {ENV_VARS['catalog']}; default: <project>/parquet_catalog].",
)
@click.option(
    "--results",
    envvar=ENV_VARS["results"],
    metavar="PATH",
    help=f"Results database [env {ENV_VARS['results']}; "
    "default: <project>/results/results.duckdb].",
)
@click.option("-v", "--verbose", is_flag=True, help="Show Nautilus logs and full tracebacks.")
@click.version_option(package_name="research-lib")
@click.pass_context
def cli(ctx: click.Context, catalog: str | None, results: str | None, verbose: bool) -> None:
    """A research workbench for systematic traders, built on NautilusTrader.

    <project> is the nearest folder with a pyproject.toml, from the current
    directory up (else the current directory): running from a subfolder uses
    the project's catalog and results. `research-lib info` shows where they are.

    \b
    Start here:
      research-lib run-simple                     SMA crossover on seeded mock data
      research-lib data import-csv --file data/sample_AAPL.csv --symbol AAPL
      research-lib backtest run --strategy sma --symbol AAPL
      research-lib backtest list-results          every run you have made
    """
    # A value click read from the environment is left to research_lib.settings, which reads
    # the same variable: `research-lib info` can then say where it came from.
    from_env = click.core.ParameterSource.ENVIRONMENT
    if ctx.get_parameter_source("catalog") is from_env:
        catalog = None
    if ctx.get_parameter_source("results") is from_env:
        results = None
    ctx.obj = Options(catalog=catalog, results=results, verbose=verbose)


def group(name: str, help_text: str) -> click.Group:
    """A subcommand group attached to the top-level command."""
    sub = ResearchGroup(name=name, help=help_text)
    cli.add_command(sub)
    return sub


def options() -> Options:
    """The global options of the running command (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Options) if ctx is not None else None
    return found or Options()


def console():
    """A rich console on stdout."""
    from rich.console import Console  # rich is imported only by commands that print tables

    return Console(highlight=False, soft_wrap=True)


def saved_text(saved_to: str) -> str:
    """Where a run went: ``saved to <store>``, or that it was kept in a pending file."""
    if saved_to.endswith(".json"):  # a pending file: the store could not be written
        return f"NOT saved to the results store: kept in {saved_to} (added on its next write)"
    return f"saved to {saved_to}"
