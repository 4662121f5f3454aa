"""``research-lib notebook run``, ``research-lib sweep`` and ``research-lib lab``.

``notebook run`` executes a notebook with papermill
(:func:`research_lib.workflows.notebooks.run_notebook`), ``sweep`` runs a parameter grid
(:func:`research_lib.workflows.sweep.sweep`) and ``lab`` starts JupyterLab in the project's
environment.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from research_lib.cli.app import cli, console, group, options
from research_lib.cli.backtest import (
    bar_spec_option,
    date_options,
    execution_options,
    seed_option,
    tag_option,
)
from research_lib.cli.screening import (
    print_screened,
    ranking_header,
    ranking_row,
    where_saved,
)
from research_lib.cli.tables import (
    Column,
    format_option,
    print_fitted,
    write_csv,
    write_json,
)
from research_lib.errors import ConfigError, NotebookError
from research_lib.model.params import read_value
from research_lib.settings import project_root

notebook_group = group("notebook", "Execute notebooks with parameters (papermill).")

LAB_INSTALL = "JupyterLab is not installed: run `uv sync --extra lab`, then `uv run jupyter lab`"
# The metrics of the sweep ranking table, in order (labels and formats: model.metrics).
RANKED_METRICS = (
    "total_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "trade_count",
)


def _yaml_value(text: str) -> Any:
    """A parameter value read as YAML, so ``10`` is an int and ``[a, b]`` a list; text that
    is not valid YAML stays text."""
    try:
        return read_value(text, "-p")
    except ConfigError:
        return text


def _params_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter: value")
    return data


@notebook_group.command("run")
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option(
    "-p",
    "--parameter",
    "parameters",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter (value read as YAML: 10 is a number), repeatable: -p symbol AAPL.",
)
@click.option(
    "-f",
    "--parameters-file",
    "params_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file of parameters; -p values override it.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Executed notebook path.")
def notebook_run(
    notebook: str,
    parameters: tuple[tuple[str, str], ...],
    params_file: str | None,
    output: str | None,
) -> None:
    """Execute NOTEBOOK with parameters; print the output notebook and the runs it recorded.

    \b
    Examples:
      research-lib notebook run notebooks/03_parameterised_backtest.ipynb -p symbol AAPL
      research-lib notebook run notebooks/03_parameterised_backtest.ipynb -f params.yaml
      research-lib notebook run notebooks/03_parameterised_backtest.ipynb -p data catalog \
          -p symbol AAPL -p bar_spec 5-MINUTE-LAST
    The output defaults to notebooks/output/<name>-<timestamp>.ipynb.
    """
    from research_lib.workflows.notebooks import run_notebook

    values = _params_file(params_file) if params_file else {}
    values.update({name: _yaml_value(text) for name, text in parameters})
    run = run_notebook(
        notebook,
        values,
        output,
        results=options().results,
        catalog=options().catalog,
        progress=options().verbose,
    )
    out = console()
    out.print(f"output notebook: {run.output}")
    if not run.run_ids:
        out.print("no runs recorded")
    for run_id in run.run_ids:
        out.print(f"run {run_id} saved to {run.results}")


@cli.command("sweep")
@click.argument("config")
@click.option(
    "--grid",
    "-g",
    "grid",
    multiple=True,
    required=True,
    metavar="NAME=VALUES",
    help="Values of one parameter: a,b,c or start:stop[:step] (stop included); repeatable.",
)
@click.option("--symbol", help="Symbol (default: the config's).")
@bar_spec_option
@click.option("--start", help="First day, e.g. 2024-01-02 (default: the config's).")
@click.option("--end", help="Last day, inclusive (default: the config's).")
@date_options
@click.option(
    "--data", type=click.Choice(["catalog", "mock"]), help="Bars source (default: the config's)."
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    help="Local Dask worker processes (default: one per core); 1 runs here, no cluster.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="An existing Dask cluster, e.g. tcp://host:8786 (env RESEARCH_LIB_SCHEDULER).",
)
@click.option(
    "--worker-lifetime",
    default="30 minutes",
    show_default=True,
    help="Restart a local worker after this long, between points ('none': never).",
)
@click.option(
    "--worker-memory",
    metavar="SIZE",
    help="Restart a local worker past this memory, e.g. 2GB (default: RAM / workers).",
)
@click.option(
    "--workers-read-bars",
    is_flag=True,
    help="Workers read the catalog themselves (same path on every worker) instead of "
    "receiving the bars from this process.",
)
@click.option(
    "--via",
    type=click.Choice(["runner", "papermill"]),
    default="runner",
    show_default=True,
    help="papermill: execute notebooks/03_parameterised_backtest.ipynb per point.",
)
@click.option("--sort", default="sharpe", show_default=True, help="Metric to rank by.")
@click.option(
    "--screen",
    is_flag=True,
    help="Screen every point on the vector engine (thousands of points in seconds), "
    "then confirm the best --confirm points in Nautilus and check that they agree.",
)
@click.option(
    "--confirm",
    type=click.IntRange(min=0),
    metavar="K",
    help="With --screen: the best K points (by --sort) rerun in Nautilus [default: 10].",
)
@execution_options
@seed_option
@tag_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@format_option
def sweep_command(
    config: str,
    grid: tuple[str, ...],
    symbol: str | None,
    bar_spec: str | None,
    start: str | None,
    end: str | None,
    data: str | None,
    workers: int | None,
    scheduler: str | None,
    worker_lifetime: str,
    worker_memory: str | None,
    workers_read_bars: bool,
    via: str,
    sort: str,
    screen: bool,
    confirm: int | None,
    seed: int,
    tags: tuple[str, ...],
    no_progress: bool,
    fmt: str,
    run_flags: dict,
) -> None:
    """Backtest CONFIG (a YAML run config or a strategy name) at every point of a grid.

    \b
    Examples:
      research-lib sweep configs/examples/sma_config.yaml \\
          --grid fast_period=5,10,20 --grid slow_period=30:60:10 --workers 4
      research-lib sweep sma_crossover --data mock --grid fast_period=5,10 \\
          --grid slow_period=20,40 --scheduler tcp://127.0.0.1:8786

    Invalid points (fast_period >= slow_period) are listed and skipped. The points run on
    Dask: a local cluster of --workers processes, or the cluster at --scheduler; every run
    comes back to this process, which saves it. Ctrl-C keeps the runs finished so far.

    \b
    Screening (--screen): a large grid in seconds, Nautilus as the judge:
      research-lib sweep sma_crossover --data mock \\
          --grid fast_period=2:40 --grid slow_period=10:200:5 \\
          --screen --confirm 10

    Every point runs on the vector engine (the strategy's rule, costs and fills; stored
    as runs with engine 'vector'); the best 10 by --sort then run in Nautilus, and each
    must agree trade for trade (P&L to 1e-9). A disagreement is printed, stored with the
    run, and exits 1. A strategy without a vectorized rule is swept event-driven.
    """
    from research_lib.workflows.executor import cpu_count, local_workers, scheduler_address
    from research_lib.workflows.screen import screen as screen_grid
    from research_lib.workflows.sweep import parse_grid, plan_sweep, rank_column, sweep

    if confirm is not None and not screen:
        raise click.UsageError("--confirm goes with --screen")
    if screen and via != "runner":
        raise click.UsageError("--screen runs on the vector engine and Nautilus, not papermill")
    parsed = parse_grid(grid)
    sizing = run_flags.pop("sizing")
    if sizing is not None:
        parsed.setdefault("sizing", [sizing])
    rank_column(sort, parsed)
    result_out = console()
    # With --format csv/json stdout is the ranking alone: the messages go to stderr.
    out = result_out if fmt == "table" else _stderr_console()
    plan = plan_sweep(config, parsed)
    for point, reason in plan.skipped[: 3 if len(plan.skipped) > 5 else 5]:
        out.print(f"[yellow]skipped[/yellow] {_label(point)}: {reason}", soft_wrap=False)
    if len(plan.skipped) > 5:
        out.print(f"[yellow]skipped[/yellow] {len(plan.skipped) - 3} more invalid points")
    address = scheduler_address(scheduler, getattr(plan.run_config.backtest, "scheduler", None))
    workers, warning = local_workers(workers or min(cpu_count(), len(plan.points)))
    if warning and not address:
        out.print(f"[yellow]warning[/yellow]: {warning}", soft_wrap=False)
    where = f"on {address}" if address else f"{workers} worker{'s' if workers > 1 else ''}"
    if screen:
        out.print(f"{len(plan.points)} of {plan.size} points to screen ({where})")
    else:
        out.print(f"{len(plan.points)} of {plan.size} points to run ({where}, via {via})")
    try:
        done = (screen_grid if screen else sweep)(
            plan.run_config,
            parsed,
            symbol=symbol,
            bar_spec=bar_spec,
            start=start,
            end=end,
            workers=workers,
            scheduler=address,
            ship_bars=not workers_read_bars,
            worker_lifetime=None
            if worker_lifetime.lower() in ("none", "0", "")
            else worker_lifetime,
            worker_memory=worker_memory,
            status=lambda text: out.print(text, soft_wrap=False),
            data=data,
            catalog=options().catalog,
            results=options().results,
            progress=not no_progress and sys.stderr.isatty(),
            seed=seed,
            tags=tags,
            execution=run_flags,
            **(
                {"confirm": 10 if confirm is None else confirm, "by": sort}
                if screen
                else {"via": via}
            ),
        )
    except KeyboardInterrupt:  # the sweep has said what was kept; no "Aborted!"
        raise SystemExit(130) from None
    if done.screened:
        print_screened(result_out, out, done, sort, fmt)
        return
    ranked = done.ranked(sort)
    _print_ranking(result_out, ranked, list(done.grid), done.sweep_id, sort, fmt)
    for point, error in done.failed:
        out.print(f"[red]failed[/red] {_label(point)}: {error}", soft_wrap=False)
    out.print(_summary(done), soft_wrap=False)
    out.print(f"research-lib backtest list-results --sweep {done.sweep_id[:8]}", soft_wrap=False)


def _summary(done: Any) -> str:
    """What the sweep did and where its runs went (some may wait in pending files)."""
    counts = (
        f"{done.finished} completed, {len(done.failed)} failed, {len(done.skipped)} skipped "
        f"in {done.duration_seconds:.1f} s"
    )
    return where_saved(done, counts)


def _print_ranking(
    out: Any, ranked: Any, params: list[str], sweep_id: str, sort: str, fmt: str
) -> None:
    """The ranking: a table that fits the terminal, or every column as csv/json."""
    columns = ["rank", *params, *RANKED_METRICS, "id"]
    if fmt == "json":
        write_json([{c: row[c] for c in columns} for _, row in ranked.iterrows()])
        return
    if fmt == "csv":
        write_csv(columns, ([row[c] for c in columns] for _, row in ranked.iterrows()))
        return
    header = ranking_header(params, RANKED_METRICS, Column("run", 2))
    rows = [
        ranking_row(row, params, RANKED_METRICS, str(row["id"])[:8]) for _, row in ranked.iterrows()
    ]
    print_fitted(out, f"sweep {sweep_id[:8]}, best {sort} first", header, rows)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _label(point: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in point.items())


@cli.command(
    "lab",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lab(args: tuple[str, ...]) -> None:
    """Open JupyterLab on the project, with this environment as the kernel.

    Needs the optional extra: `uv sync --extra lab`. Extra arguments go to `jupyter lab`.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise NotebookError(LAB_INSTALL)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={project_root()}",
        *args,
    ]
    sys.stdout.flush()
    if os.name == "nt":  # pragma: no cover - exec does not replace the process on Windows
        import subprocess

        raise SystemExit(subprocess.call(command))
    os.execvp(command[0], command)
