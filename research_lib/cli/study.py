"""``research-lib study``: walk-forward and out-of-sample studies, their statistics and
reports (:mod:`research_lib.workflows.study`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from research_lib.cli.app import console, group, options
from research_lib.cli.backtest import (
    bar_spec_option,
    date_options,
    execution_options,
    seed_option,
    tag_option,
)
from research_lib.cli.tables import Column, format_option, print_fitted, write_csv, write_json
from research_lib.errors import ConfigError
from research_lib.model.params import short_name

study_group = group(
    "study",
    "Walk-forward and out-of-sample studies: fold by fold, with selection-aware statistics.",
)


def _status(text: str) -> None:
    click.echo(text, err=True)


@study_group.command("run")
@click.argument("config")
@click.option(
    "--grid", "-g", "grid", multiple=True, metavar="NAME=VALUES",
    help="Search space of one parameter: a,b,c or start:stop[:step]; repeatable "
    "(default: the config's study.grid).",
)  # fmt: skip
@click.option(
    "--walk-forward", metavar="SPEC",
    help="Folds: train=12M,test=3M[,step=3M][,anchored=true] (D, W, M, Y).",
)  # fmt: skip
@click.option("--train", metavar="START:END", help="One split: the train window.")
@click.option("--test", metavar="START:END", help="One split: the test window.")
@click.option(
    "--search", type=click.Choice(["grid", "random", "optuna"]),
    help="grid: every point (screened on the vector engine when the strategy has a rule); "
    "random: --trials points; optuna: --trials TPE trials [default: grid].",
)  # fmt: skip
@click.option("--trials", type=click.IntRange(min=1), help="Points per fold (random, optuna).")
@click.option("--sort", "metric", help="Metric that picks each fold's point [default: sharpe].")
@click.option("--symbol", help="Symbol (default: the config's).")
@bar_spec_option
@click.option("--start", help="First day of the data (default: the config's).")
@click.option("--end", help="Last day of the data, inclusive (default: the config's).")
@date_options
@click.option("--data", type=click.Choice(["catalog", "mock"]), help="Bars source.")
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True,
    help="Local Dask worker processes for the trials; 1 runs them here.",
)  # fmt: skip
@click.option("--scheduler", metavar="ADDRESS", help="An existing Dask cluster, tcp://host:8786.")
@execution_options
@seed_option
@tag_option
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def study_run(
    config: str, grid: tuple[str, ...], walk_forward: str | None, train: str | None,
    test: str | None, search: str | None, trials: int | None, metric: str | None,
    symbol: str | None, bar_spec: str | None, start: str | None, end: str | None,
    data: str | None, workers: int, scheduler: str | None, seed: int, tags: tuple[str, ...],
    no_progress: bool, run_flags: dict,
) -> None:  # fmt: skip
    """Search CONFIG's parameters fold by fold and test each fold's best point out of sample.

    \b
    Examples:
      research-lib study run sma_crossover --data mock --start 2024-01-02 \\
          --end 2024-12-31 --grid fast_period=5:50:5 --grid slow_period=20:200:20 \\
          --walk-forward train=6M,test=2M
      research-lib study run configs/examples/sma_config.yaml --search optuna \\
          --trials 40 --train 2024-01-02:2024-08-30 --test 2024-09-02:2024-12-31

    On each fold the search runs on the train window; its best point by --sort is then
    backtested in Nautilus on the test window. The test windows are stitched into one
    out-of-sample curve. The summary gives the deflated Sharpe ratio of the best point (with
    this study's number of trials) and the probability of backtest overfitting (PBO).
    Ctrl-C keeps what was stored: `research-lib study resume ID` goes on.
    """
    from research_lib.workflows.grid import as_run_config, parse_grid
    from research_lib.workflows.study import run_study

    run_config = as_run_config(config)
    section = run_config.study
    parsed = parse_grid(grid) if grid else parse_grid(_yaml_grid(section.grid))
    if not parsed:
        raise click.UsageError("give the search space: --grid NAME=VALUES (or study.grid)")
    sizing = run_flags.pop("sizing")
    if sizing is not None:
        parsed.setdefault("sizing", [sizing])
    split = train is not None or test is not None
    result = run_study(
        run_config, parsed,
        walk_forward=walk_forward or (None if split else section.walk_forward),
        train=train if split else section.train, test=test if split else section.test,
        search=search or section.search, trials=trials or section.trials,
        metric=metric or section.metric, seed=seed, symbol=symbol, start=start, end=end,
        data=data, catalog=options().catalog, bar_spec=bar_spec, execution=run_flags,
        results=options().results, workers=workers, scheduler=scheduler,
        progress=not no_progress and sys.stderr.isatty(), tags=tags, status=_status,
    )  # fmt: skip
    _print_study(console(), result)


def _yaml_grid(grid: dict[str, Any]) -> tuple[str, ...]:
    """``study.grid`` as --grid texts (a YAML list becomes a,b,c)."""
    texts = []
    for name, values in grid.items():
        shown = ",".join(map(str, values)) if isinstance(values, list) else str(values)
        texts.append(f"{name}={shown}")
    return tuple(texts)


@study_group.command("resume")
@click.argument("study_id")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def study_resume(study_id: str, workers: int, no_progress: bool) -> None:
    """Go on with an interrupted study from its first unfinished fold (an Optuna search
    from its last stored trial: stored trials are not run again)."""
    from research_lib.workflows.study import resume_study

    result = resume_study(
        study_id, results=options().results, workers=workers,
        progress=not no_progress and sys.stderr.isatty(), status=_status,
    )  # fmt: skip
    _print_study(console(), result)


@study_group.command("list")
@format_option
def study_list(fmt: str) -> None:
    """The stored studies, newest first."""
    from research_lib.store import ResultsStore
    from research_lib.store.studies import list_studies

    studies = list_studies(ResultsStore(options().results))
    rows = []
    for _, row in studies.iterrows():
        spec, summary = row["spec"] or {}, row["summary"] or {}
        oos = summary.get("oos") or {}
        rows.append([
            row["id"], f"{row['created_at']:%Y-%m-%d %H:%M}", row["status"], row["strategy"],
            spec.get("walk_forward") or f"{spec.get('train')} / {spec.get('test')}",
            spec.get("search"), summary.get("folds"), summary.get("trials"), oos.get("sharpe"),
            (summary.get("dsr") or {}).get("dsr"), (summary.get("pbo") or {}).get("pbo"),
        ])  # fmt: skip
    names = ["id", "created", "status", "strategy", "scheme", "search", "folds", "trials",
             "oos_sharpe", "dsr", "pbo"]  # fmt: skip
    if fmt == "json":
        write_json([dict(zip(names, r, strict=True)) for r in rows])
        return
    if fmt == "csv":
        write_csv(names, rows)
        return
    out = console()
    if not rows:
        out.print("no studies yet: research-lib study run --help shows how to start one")
        return
    header = [Column("study", 0), Column("created", 3), Column("status", 1),
              Column("strategy", 2), Column("scheme", 4), Column("search", 5),
              Column("OOS Sharpe", 1, "right"), Column("DSR", 1, "right"),
              Column("PBO", 1, "right")]  # fmt: skip
    shown = [[r[0][:8], r[1], r[2], r[3], str(r[4]), str(r[5]), _num(r[8]), _pct(r[9]),
              _pct(r[10])] for r in rows]  # fmt: skip
    noun = "study" if len(rows) == 1 else "studies"
    print_fitted(out, f"{len(rows)} {noun}, newest first", header, shown)


@study_group.command("show")
@click.argument("study_id")
@format_option
def study_show(study_id: str, fmt: str) -> None:
    """A study's folds (windows, chosen parameters, in/out-of-sample metric) and summary:
    out-of-sample metrics, deflated Sharpe, PBO, degradation, each with a plain reading."""
    from research_lib.workflows.study import StudyResult

    result = StudyResult.load(options().results, study_id)
    if fmt == "json":
        write_json({"id": result.study_id, "status": result.status, "spec": result.spec,
                    "folds": result.folds, "summary": result.summary})  # fmt: skip
        return
    if fmt == "csv":
        table = result.folds_table
        write_csv(list(table.columns), table.itertuples(index=False))
        return
    _print_study(console(), result)


@study_group.command("report")
@click.argument("study_id")
@click.option("-o", "--output", metavar="FILE", help="[default: study-<id>.html]")
def study_report(study_id: str, output: str | None) -> None:
    """Write a study's HTML report, which opens offline: fold timeline, out-of-sample equity,
    in- vs out-of-sample scatter, parameter stability across folds, the statistics."""
    from research_lib.ui.study_report import write_study_report
    from research_lib.workflows.study import StudyResult

    result = StudyResult.load(options().results, study_id)
    path = write_study_report(result, output or f"study-{result.study_id[:8]}.html")
    console().print(f"wrote {path}", markup=False)


def _print_study(out: Any, result: Any) -> None:
    """Folds as a table that fits, then the readings, one per line."""
    table = result.folds_table
    error = (result.summary or {}).get("error")
    if table.empty:
        out.print(f"study {result.study_id}: no folds finished ({result.status})")
        if error:
            raise ConfigError(f"study {result.study_id[:8]} failed: {error}")
        return
    metric = result.spec.get("metric", "sharpe")
    params = [c for c in table.columns if c not in _FOLD_COLUMNS and not c.endswith(metric)]
    header = [Column("fold", 0, "right"), Column("train", 3), Column("test", 1),
              *(Column(short_name(p), 2, "right") for p in params),
              Column(f"IS {metric}", 1, "right"), Column(f"OOS {metric}", 0, "right"),
              Column("OOS return", 2, "right"), Column("run", 4)]  # fmt: skip
    rows = [[str(r["fold"]), r["train"], r["test"], *(str(r[p]) for p in params),
             _num(r[f"is_{metric}"]), _num(r[f"oos_{metric}"]), _pct(r["oos_return"], "+"),
             r["oos_run"]] for _, r in table.iterrows()]  # fmt: skip
    strategy = (result.spec.get("run_config") or {}).get("strategy_name", "")
    print_fitted(out, f"study {result.study_id[:8]} ({result.status}): {strategy}", header, rows)
    for line in result.readings:
        out.print(f"- {line}", soft_wrap=False, markup=False)
    if result.status == "completed":
        out.print(f"research-lib study report {result.study_id[:8]}", soft_wrap=False)
    elif result.status == "running":
        out.print(f"research-lib study resume {result.study_id[:8]}", soft_wrap=False)
    if error:
        raise ConfigError(f"study {result.study_id[:8]} failed: {error}")


_FOLD_COLUMNS = ("fold", "train", "test", "trials", "oos_return", "oos_run")


def _num(value: Any) -> str:
    return "—" if value is None or value != value else f"{float(value):.2f}"


def _pct(value: Any, sign: str = "") -> str:
    return "—" if value is None or value != value else f"{float(value):{sign}.1%}"
