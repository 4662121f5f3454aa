"""What ``research-lib sweep --screen`` prints: the screened ranking, each confirmed point's
verdict, and one summary line.

The ranking shows the best points (at least the confirmed ones, at most :data:`SHOWN` more
unless there are fewer), each marked with its Nautilus run when it was confirmed; a point
whose Nautilus run disagrees is printed in red with the first difference, and the command
exits 1. ``--format csv|json`` writes every screened point to stdout instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from research_lib.cli.tables import Column, print_fitted, write_csv, write_json
from research_lib.model.metrics import COMPARE_METRICS, METRIC_ALIASES, metric
from research_lib.model.params import short_name
from research_lib.ui.tables import metric_cells

SHOWN = 20  # ranking rows printed as a table at least (all with --format csv)
METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate", "trade_count")


def print_screened(result_out: Any, out: Any, done: Any, sort: str, fmt: str) -> None:
    """Print a screened sweep (see the module doc); raise SystemExit(1) on a disagreement."""
    ranked = done.ranked(sort)
    params = list(done.grid)
    if fmt in ("csv", "json"):  # every metric column, the ranked one included
        metrics = [c for c in COMPARE_METRICS if c in ranked]
        columns = ["rank", *params, *metrics, "id", "confirmed_by", "agrees"]
        rows = [[row[c] for c in columns] for _, row in ranked.iterrows()]
        if fmt == "json":
            write_json([dict(zip(columns, r, strict=True)) for r in rows])
        else:
            write_csv(columns, rows)
    else:
        _table(result_out, ranked, params, done, METRIC_ALIASES.get(sort, sort))
    confirmations = done.confirmations
    differ = confirmations[confirmations["agrees"] == False]  # noqa: E712 - None is not False
    broken = confirmations[confirmations["status"] == "failed"]
    for point, error in done.failed:
        out.print(f"[red]failed[/red] {_label(point)}: {error}", soft_wrap=False)
    for _, row in broken.iterrows():
        label = _label({p: row[p] for p in params})
        out.print(f"[red]Nautilus failed[/red] {label}: {row['error']}", soft_wrap=False)
    for _, row in differ.iterrows():
        label = _label({p: row[p] for p in params})
        out.print(
            f"[bold red]DISAGREES[/bold red] {label}: {row['detail']} "
            f"(research-lib backtest show {row['id'][:8]})",
            soft_wrap=False,
        )
    agreeing = int((confirmations["agrees"] == True).sum())  # noqa: E712
    if len(confirmations):
        verdict = f"{agreeing} of {len(confirmations)} confirmed points agree with Nautilus"
        style = "green" if agreeing == len(confirmations) else "bold red"
        out.print(f"[{style}]{verdict}[/{style}] (same trades, P&L to 1e-9)", soft_wrap=False)
    out.print(_summary(done, len(confirmations)), soft_wrap=False)
    out.print(f"research-lib backtest list-results --sweep {done.sweep_id[:8]}", soft_wrap=False)
    if len(differ) or len(broken):
        raise SystemExit(1)


def _table(out: Any, ranked: Any, params: list[str], done: Any, sort: str) -> None:
    metrics = METRICS if sort in (*METRICS, *params) else (*METRICS, sort)
    confirmed = ranked["confirmed_by"].notna()
    last = int(ranked.index[confirmed].max()) + 1 if confirmed.any() else 0
    shown = ranked.head(max(last, min(SHOWN, len(ranked))))
    header = ranking_header(params, metrics, Column("Nautilus", 1))
    rows = [ranking_row(row, params, metrics, _verdict(row)) for _, row in shown.iterrows()]
    more = len(ranked) - len(shown)
    title = f"sweep {done.sweep_id[:8]}, screened, best {sort} first"
    if more:
        title += f" ({len(shown)} of {len(ranked)}; --format csv for all)"
    print_fitted(out, title, header, rows)


def ranking_header(params: list[str], metrics: Any, last: Column) -> list[Column]:
    """The columns of a sweep's ranking: rank, parameters, metrics, then ``last``."""
    return [
        Column("#", 0, "right"),
        *(Column(short_name(p), 1, "right") for p in params),
        *(
            Column(metric(name).header, priority, "right")
            for priority, name in enumerate(metrics, start=2)
        ),
        last,
    ]


def ranking_row(row: Any, params: list[str], metrics: Any, last: str) -> list[str]:
    """One ranked run's cells under :func:`ranking_header`."""
    return [str(row["rank"]), *(str(row[p]) for p in params), *metric_cells(row, metrics), last]


def _verdict(row: Any) -> str:
    """The Nautilus column: the confirming run and whether it agrees, or blank."""
    run = row.get("confirmed_by")
    if not isinstance(run, str):
        return ""
    agrees = row.get("agrees")
    if agrees is None or agrees != agrees:  # no verdict (NaN): the Nautilus run failed
        word = "failed"
    else:
        word = "agrees" if bool(agrees) else "DIFFERS"
    return f"{word} {run[:8]}"


def _summary(done: Any, confirmed: int) -> str:
    counts = (
        f"{done.finished} screened in {done.screen_seconds:.1f} s, {confirmed} confirmed"
        + (f" in {done.confirm_seconds:.1f} s" if done.confirm_seconds else "")
        + f", {len(done.skipped)} skipped"
    )
    return where_saved(done, counts)


def where_saved(done: Any, counts: str) -> str:
    """``sweep <id>: <counts>; saved to <store>``, or where the runs wait to be saved."""
    if not done.kept:
        return f"sweep {done.sweep_id}: {counts}; saved to {done.results}"
    folder = Path(done.kept[0]).parent
    return (
        f"sweep {done.sweep_id}: {counts}; {len(done.kept)} runs NOT saved to {done.results} "
        f"(not writable): kept in {folder} until its next write"
    )


def _label(point: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in point.items())
