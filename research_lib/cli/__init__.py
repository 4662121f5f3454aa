"""The ``research-lib`` command line.

Each command parses its options and calls one library function. Heavy libraries (Nautilus,
plotly) are imported inside the commands that need them, so ``--help`` starts instantly.
Errors are handled in one place (:class:`ResearchGroup`): a
:class:`~research_lib.errors.ResearchError` becomes one line on stderr (``Error: ...``) and a
non-zero exit code; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import click

from research_lib.errors import ResearchError


@dataclass
class Settings:
    """Global options, shared with every command."""

    catalog: str | None = None
    results: str | None = None
    verbose: bool = False


_settings = Settings()


class CommandFailed(click.ClickException):
    """A project error, shown as one line with the error's exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ResearchGroup(click.Group):
    """A click group that turns project errors (and OS errors) into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ResearchError, OSError) as exc:
            if _settings.verbose:
                traceback.print_exc()
            code = getattr(exc, "exit_code", 1)
            raise CommandFailed(str(exc), code if isinstance(code, int) else 1) from exc


def group(name: str, help_text: str) -> click.Group:
    """A subcommand group attached to the top-level command."""
    sub = ResearchGroup(name=name, help=help_text)
    cli.add_command(sub)
    return sub


@click.group(
    cls=ResearchGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--catalog",
    envvar="RESEARCH_LIB_CATALOG",
    metavar="PATH",
    help="Data catalog folder [env RESEARCH_LIB_CATALOG; default ./parquet_catalog].",
)
@click.option(
    "--results",
    envvar="RESEARCH_LIB_RESULTS",
    metavar="PATH",
    help="Results database [env RESEARCH_LIB_RESULTS; default ./results/results.duckdb].",
)
@click.option("-v", "--verbose", is_flag=True, help="Show Nautilus logs and full tracebacks.")
@click.version_option(package_name="research-lib")
def cli(catalog: str | None, results: str | None, verbose: bool) -> None:
    """A research workbench for systematic traders, built on NautilusTrader.

    \b
    Start here:
      research-lib run-simple                     SMA crossover on seeded mock data
      research-lib data import-csv --file data/sample_AAPL.csv --symbol AAPL
      research-lib backtest run --strategy sma --symbol AAPL
      research-lib backtest list-results          every run you have made
    """
    _settings.catalog, _settings.results, _settings.verbose = catalog, results, verbose


def settings() -> Settings:
    """The global options of the running command."""
    return _settings


def console():
    """A rich console on stdout."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``research-lib`` script and ``python -m research_lib``."""
    cli.main(prog_name="research-lib")


# The command modules register themselves on import.
import research_lib.cli.backtest  # noqa: E402
import research_lib.cli.data  # noqa: E402
import research_lib.cli.notebook  # noqa: E402
import research_lib.cli.results  # noqa: E402
import research_lib.cli.strategy  # noqa: E402, F401
