"""The rows and cells of the metric tables the panel and the CLI show, as plain text.

Labels and number formats come from the one table in :mod:`research_lib.model.metrics`, so a
metric reads the same in the panel, the terminal and the figures; missing values are ``—``.
Nothing here renders: the panel wraps the rows in HTML, the CLI in rich tables.

- :func:`summary_rows`: one run's headline numbers, (label, text) per row;
- :func:`metric_rows`: (label, text) for chosen metrics of one stored run's row;
- :func:`metric_labels` / :func:`metric_cells`: column headers and one run's cells, for a
  table with a row per run (``backtest list-results``);
- :func:`comparison_rows`: a metric per row, a run per column (``backtest compare``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from research_lib.model.metrics import (
    COMPARE_METRICS,
    HEADLINE_NAMES,
    MISSING,
    format_metric,
    metric,
)

if TYPE_CHECKING:
    import pandas as pd

    from research_lib.model.run import BacktestResult

__all__ = [
    "MONEY_METRICS",
    "comparison_rows",
    "metric_cells",
    "metric_labels",
    "metric_rows",
    "summary_rows",
]

# Metrics in the account's currency: shown with the currency after the number when known.
MONEY_METRICS = ("initial_capital", "final_capital")
Row = tuple[str, str]


def _value(values: Any, name: str) -> Any:
    """``values[name]`` of a dict, a pandas row or an object with that attribute; None if
    absent."""
    get = getattr(values, "get", None)
    return get(name) if callable(get) else getattr(values, name, None)


def metric_labels(names: Iterable[str]) -> list[str]:
    """The labels of the metrics called ``names`` (``"sharpe"`` -> ``"Sharpe ratio (252
    days)"``); unknown names stand for themselves."""
    return [metric(name).label for name in names]


def metric_cells(values: Any, names: Iterable[str], currency: str = "") -> list[str]:
    """The metrics called ``names`` of one run (a dict, a stored run's row, a pandas row...)
    formatted; ``currency`` follows the capital amounts."""
    cells = []
    for name in names:
        text = format_metric(name, _value(values, name))
        if currency and name in MONEY_METRICS and text != MISSING:
            text = f"{text} {currency}"
        cells.append(text)
    return cells


def metric_rows(
    values: Any, names: Iterable[str] = COMPARE_METRICS, currency: str = ""
) -> list[Row]:
    """(label, text) for the metrics called ``names`` of one run; by default every metric a
    comparison shows (capital, return, trades, then the headline statistics)."""
    names = list(names)
    return list(zip(metric_labels(names), metric_cells(values, names, currency), strict=True))


def summary_rows(
    result: BacktestResult, *, full_id: bool = False, initial_capital: bool = False
) -> list[Row]:
    """One run's headline numbers as (label, text): run id (8 characters unless
    ``full_id``), period, bars, trades, capital (initial too when ``initial_capital``), total
    return, then the headline statistics. Warnings are not rows: show ``result.warnings``."""
    summary = result.summary()
    run_id = str(summary["run_id"])
    values = {**summary, "trade_count": summary["trades"]}
    names = [
        "trade_count",
        *(["initial_capital"] if initial_capital else []),
        "final_capital",
        "total_return",
        *HEADLINE_NAMES,
    ]
    rows: list[Row] = [
        ("Run", run_id if full_id else run_id[:8]),
        ("Period", str(summary["period"])),
        ("Bars", f"{summary['bars']:,}"),
    ]
    return rows + metric_rows(values, names, currency=getattr(result, "currency", "") or "")


def comparison_rows(metrics: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(label, a cell per column) for each row of a frame with a metric name per index entry
    and a run per column, as ``ResultsStore.compare(...).metrics`` gives it."""
    return [
        (metric(str(name)).label, [format_metric(str(name), v) for v in values])
        for name, values in metrics.iterrows()
    ]
