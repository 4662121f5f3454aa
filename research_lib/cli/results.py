"""``research-lib backtest list-results | show | compare | rerun | export``: stored runs.

Every command opens the results store (``--results`` / ``$RESEARCH_LIB_RESULTS``) and calls
one function of :mod:`research_lib.store` or :mod:`research_lib.workflows`; the library is
imported inside the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import json
from typing import Any

import click

from research_lib.cli.app import console, options, saved_text
from research_lib.cli.backtest import backtest_group
from research_lib.cli.tables import (
    Column,
    common_params,
    format_option,
    param_text,
    print_fitted,
    write_csv,
    write_json,
)
from research_lib.errors import ConfigError, ResultsError
from research_lib.model.metrics import metric
from research_lib.ui.tables import (
    comparison_rows,
    data_text,
    execution_text,
    metric_cells,
    metric_rows,
)

# The metrics list-results shows for each run, after its trade count.
LISTED_METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate")


def _store():
    from research_lib.store import ResultsStore

    return ResultsStore(options().results)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return f"{value:,.{digits}f}"


def _time(value: Any) -> str:
    return "—" if value is None or value != value else f"{value:%Y-%m-%d %H:%M}"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if not isinstance(value, str) and hasattr(value, "__iter__"):  # lists, arrays
        return ", ".join(map(str, value)) or "—"
    return str(value)


@backtest_group.command("list-results")
@click.option("--strategy", help="Strategy name or module:Class, e.g. sma_crossover.")
@click.option("--symbol", help="Symbol, e.g. AAPL.")
@click.option("--status", type=click.Choice(["completed", "failed"]), help="Only these runs.")
@click.option("--tag", help="Only runs carrying this tag.")
@click.option(
    "--sweep", "sweep_id", metavar="SWEEP_ID", help="Only the runs of this sweep (id or prefix)."
)
@click.option("--since", metavar="DATE", help="Runs created on or after DATE (UTC), 2024-05-01.")
@click.option(
    "--sort",
    default="created_at",
    show_default=True,
    help="created_at, total_return, sharpe, sortino, max_drawdown, win_rate, profit_factor, "
    "cagr, trade_count, ... (best first; --ascending to flip).",
)
@click.option("--ascending", is_flag=True, help="Smallest first.")
@click.option("--limit", default=20, show_default=True, help="How many runs to show.")
@format_option
def list_results(
    strategy: str | None,
    symbol: str | None,
    status: str | None,
    tag: str | None,
    sweep_id: str | None,
    since: str | None,
    sort: str,
    ascending: bool,
    limit: int,
    fmt: str,
) -> None:
    """List stored runs, newest (or best by --sort) first.

    The table keeps the columns that fit the terminal; --format csv or json gives all.

    \b
    Examples:
      research-lib backtest list-results --strategy sma_crossover --sort sharpe
      research-lib backtest list-results --status failed --since 2024-05-01
      research-lib backtest list-results --sweep ade14af0 --format csv > sweep.csv
    """
    from research_lib.model.dates import parse_when

    store = _store()
    try:  # the one date parser: refuses '-1', 'nan' and '2024-13-01' in one line
        after = None if since is None else parse_when(since)
    except ConfigError as exc:
        raise ConfigError(f"since must be a date like 2024-01-31: {exc}") from exc
    runs = store.list(
        strategy=strategy,
        symbol=symbol,
        status=status,
        since=after,
        tag=tag,
        sweep_id=sweep_id,
        order_by=sort,
        descending=not ascending,
        limit=limit,
        extra_columns=("data_source", "bar_spec"),
    )
    configs = [_config(text) for text in runs["config"]]
    if fmt != "table":
        records = []
        for run, config in zip(runs.to_dict("records"), configs, strict=True):
            run["config"] = config
            run["params"] = param_text(config)
            records.append(run)
        if fmt == "json":
            write_json(records)
        else:
            write_csv([*runs.columns, "params"], ([*r.values()] for r in records))
        return
    out = console()
    if runs.empty:
        out.print(f"no stored runs match in {store.path}", soft_wrap=False)
        return
    _print_runs(out, f"{len(runs)} runs in {store.path}", runs, configs)


def _print_runs(out: Any, title: str, runs: Any, configs: list[dict[str, Any]]) -> None:
    from rich.text import Text

    common = common_params(configs)
    with_tags = any(len(t) for t in runs["tags"] if t is not None)
    engines = "engine" in runs and ((runs["engine"] == "vector") | runs["twin_id"].notna()).any()
    columns = [
        Column("id", 0),
        Column("created", 9),
        Column("strategy", 1),
        Column("symbol", 5),
        Column("status", 6),
        *([Column("engine", 1)] if engines else []),
        Column("params", 4, wrap=True),
        Column("data", 11),
        Column("trades", 8, "right"),
        *(
            Column(metric(name).header, priority, "right")
            for name, priority in zip(LISTED_METRICS, (2, 3, 7, 10), strict=True)
        ),
        *([Column("tags", 12, wrap=True)] if with_tags else []),
    ]
    rows = []
    for run, config in zip(runs.itertuples(index=False), configs, strict=True):
        done = run.status == "completed"
        rows.append(
            [
                run.id[:8],
                _time(run.created_at),
                _text(run.strategy),
                _text(run.symbol),
                Text(run.status, style=None if done else "red"),
                *([_engine_cell(run)] if engines else []),
                param_text(config, skip=common) or "—",
                data_text(run.data_source, run.bar_spec, compact=True),
                _text(run.trade_count if done else None),
                *metric_cells(run._asdict(), LISTED_METRICS),
                *([_text(run.tags)] if with_tags else []),
            ]
        )
    print_fitted(out, title, columns, rows)
    if common:
        out.print(f"every run: {param_text(common)}", style="dim", soft_wrap=False, markup=False)


def _config(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@backtest_group.command("show")
@click.argument("run_id")
@format_option
def show(run_id: str, fmt: str) -> None:
    """Show one run: configuration, metrics, trades summary (or the error of a failed run).

    RUN_ID may be any unique prefix of the id (list-results shows 8 characters). --format
    json/csv: the stored run's fields (config.* and the trades summary too), untruncated.
    """
    from rich.table import Table

    run = _store().get(run_id)
    row = run.run
    if fmt != "table":
        fields = {**row, "config": run.config}
        if run.status != "failed":
            fields["trades_summary"] = run.trades_summary()
        if fmt == "json":
            write_json(fields)
        else:
            flat = {k: v for k, v in fields.items() if k not in ("config", "trades_summary")}
            flat.update({f"config.{k}": v for k, v in sorted(run.config.items())})
            write_csv(["field", "value"], flat.items())
        return
    out = console()
    info = Table(title=f"Run {run.id}", show_header=False)
    info.add_column(style="bold")
    info.add_column()
    settings_ = run.settings
    for label, value in (
        ("Status", row["status"]),
        ("Created", f"{_time(row['created_at'])} UTC"),
        ("Source", row.get("source")),
        ("Strategy", f"{_text(row.get('strategy'))} ({_text(row.get('strategy_path'))})"),
        ("Symbol", f"{_text(row.get('symbol'))} {_text(row.get('bar_type'))}"),
        ("Period", f"{_time(row.get('start'))} .. {_time(row.get('end'))} UTC"),
        ("Data", f"{_text(row.get('data_source'))} {_text(row.get('data_fingerprint'))[:16]}"),
        ("Seed", settings_.get("seed")),
        ("Fills", execution_text(settings_) or "close, no costs (stored before v3)"),
        ("Tags", row.get("tags")),
        ("Sweep", row.get("sweep_id")),
        ("Engine", _engine(run)),
        ("Notebook", row.get("notebook_path")),
        ("Versions", ", ".join(f"{k} {v}" for k, v in (row.get("versions") or {}).items())),
        ("Duration", f"{_num(row.get('duration_seconds'), 2)} s"),
    ):
        info.add_row(label, _text(value))
    out.print(info)
    if run.config:
        config = Table(title="Configuration", show_header=False)
        config.add_column(style="bold")
        config.add_column()
        for key, value in sorted(run.config.items()):
            config.add_row(key, _text(value))
        out.print(config)
    if run.status == "failed":
        out.print(f"[red]error:[/red] {row.get('error')}")
        if row.get("traceback"):
            out.print(row["traceback"], markup=False)
        return
    metrics = Table(title="Metrics", show_header=False)
    metrics.add_column(style="bold")
    metrics.add_column(justify="right")
    for label, value in metric_rows(
        row,
        currency=_text(row.get("currency")),
        notes=run.metric_notes,
        periods_per_year=run.periods_per_year,
    ):
        metrics.add_row(label, value)
    out.print(metrics)
    if run.annualisation:
        out.print(f"ratios annualised with {run.annualisation}")
    elif not run.performance:
        out.print(
            "[yellow]note:[/yellow] stored before schema version 3: the metrics are "
            "Nautilus's realized-P&L figures; rerun it for mark-to-market metrics"
        )
    summary = run.trades_summary()
    if not summary["count"]:
        out.print("no trades")
    else:
        out.print(
            f"[bold]Trades[/bold]: {summary['count']} ({summary['long']} long, "
            f"{summary['short']} short; {summary['winners']} winners, {summary['losers']} "
            f"losers), total P&L {_num(summary['total_pnl'], 2)}"
        )
        for label in ("best", "worst", "first", "last"):
            t = summary[label]
            out.print(
                f"  {label:<5} {t['side']:<5} {_num(t['quantity'], 0)} @ "
                f"{_num(t['entry_price'], 2)} → {_num(t['exit_price'], 2)}  "
                f"{_time(t['entry_time'])} .. {_time(t['exit_time'])}  "
                f"P&L {_num(t['realized_pnl'], 2)}"
            )
    for warning in row.get("warnings") or []:
        out.print(f"[yellow]warning:[/yellow] {warning}")


@backtest_group.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@format_option
def compare(run_ids: tuple[str, ...], fmt: str) -> None:
    """Metrics of two or more runs side by side, and the configuration values that differ.

    --format csv: a row per metric (then config.<parameter> per differing value), a column
    per run, raw values; json: {"metrics": {run: {...}}, "config_diff": {run: {...}}}.
    """

    if len(set(run_ids)) < 2:
        raise ResultsError(
            "compare needs at least two run ids (research-lib backtest list-results)"
        )
    comparison = _store().compare(list(run_ids))
    if fmt == "json":
        write_json(
            {
                "metrics": comparison.metrics.to_dict(),
                "config_diff": comparison.config_diff.to_dict(),
            }
        )
        return
    if fmt == "csv":
        rows = [[name, *values] for name, values in comparison.metrics.iterrows()]
        rows += [[f"config.{n}", *v] for n, v in comparison.config_diff.iterrows()]
        write_csv(["metric", *map(str, comparison.metrics.columns)], rows)
        return
    out = console()
    runs = [str(label) for label in comparison.metrics.columns]
    print_fitted(
        out,
        "Metrics",
        [Column("metric"), *(Column(r, priority=1, justify="right") for r in runs)],
        [[label, *cells] for label, cells in comparison_rows(comparison.metrics)],
    )
    if comparison.config_diff.empty:
        out.print("configurations are identical")
        return
    rows = [
        [str(name), *(_diff_cell(str(name), v) for v in values)]
        for name, values in comparison.config_diff.iterrows()
    ]
    print_fitted(
        out,
        "Configuration differences (resolved: defaults filled in)",
        [Column("parameter", wrap=True), *(Column(r, priority=1, wrap=True) for r in runs)],
        rows,
    )
    if any("—" in row[1:] for row in rows):
        out.print("— : not a parameter of that run's strategy", style="dim", markup=False)


def _diff_cell(name: str, value: Any) -> str:
    """A configuration value as ``compare`` shows it: a registered strategy by its name."""
    if name == "strategy" and isinstance(value, str):
        from research_lib.strategies import registry

        info = registry.find_by_path(value)
        return info.name if info is not None else value
    return _text(value)


@backtest_group.command("rerun")
@click.argument("run_id")
def rerun_command(run_id: str) -> None:
    """Run a stored run's configuration again on the same data and check it matches.

    The data's fingerprint is checked first: if the bars changed since the run, nothing is
    compared. Exit code 1 when the data changed or the new trades/metrics differ. The new run
    is saved with the tag rerun-of:<id>.
    """
    from research_lib.workflows.reproduce import rerun

    report = rerun(_store(), run_id, source="cli")
    if not report.ok:
        raise ResultsError(report.message)
    out = console()
    out.print(report.message)
    if report.saved_to:
        out.print(saved_text(report.saved_to), markup=False)


@backtest_group.command("export")
@click.argument("run_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="json",
    show_default=True,
    help="json: one file with run, trades and equity. csv: OUTPUT_trades.csv and "
    "OUTPUT_equity.csv.",
)
@click.option(
    "--output",
    "-o",
    metavar="PATH",
    help="File (json) or file prefix (csv) [default: run-<id8>(.json) here].",
)
def export(run_id: str, fmt: str, output: str | None) -> None:
    """Export a run's trades and (stored, downsampled) equity curve to CSV or JSON."""
    from research_lib.workflows.export import export_run

    for path in export_run(_store(), run_id, fmt, output):
        console().print(f"wrote {path}")


def _engine(run: Any) -> str:
    """What computed the run; for a confirmation, its screened twin and the verdict."""
    if run.engine == "vector":
        return "vector (screened; trades kept only for confirmed points)"
    if run.twin_id is None:
        return "nautilus"
    verdict = (run.agreement or {}).get("detail") or "no verdict (the run failed)"
    agrees = (run.agreement or {}).get("agrees")
    word = "agrees" if agrees else "DISAGREES" if agrees is False else ""
    return f"nautilus, confirms {run.twin_id[:8]}: {word} ({verdict})"


def _engine_cell(run: Any) -> str:
    """``vector`` for a screened point, ``confirms`` for the Nautilus run of one, else
    ``nautilus``."""
    if run.engine == "vector":
        return "vector"
    return "confirms" if isinstance(run.twin_id, str) else "nautilus"
