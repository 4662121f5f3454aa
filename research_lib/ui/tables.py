"""The rows and cells of the metric tables the panel and the CLI show, as plain text.

Labels and number formats come from the one table in :mod:`research_lib.model.metrics`, so a
metric reads the same in the panel, the terminal and the figures; missing values are ``—``.
Nothing here renders: the panel wraps the rows in HTML, the CLI in rich tables.

- :func:`summary_rows`: one run's headline numbers, (label, text) per row
  (:func:`summary_frame`: the same as a DataFrame, for notebooks);
- :func:`metric_rows`: (label, text) for chosen metrics of one stored run's row;
- :func:`metric_labels` / :func:`metric_cells`: column headers and one run's cells, for a
  table with a row per run (``backtest list-results``);
- :func:`comparison_rows`: a metric per row, a run per column (``backtest compare``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from research_lib.model.execution import Execution
from research_lib.model.metrics import (
    COMPARE_METRICS,
    HEADLINE_NAMES,
    MISSING,
    format_metric,
    metric,
)
from research_lib.model.params import short_name

if TYPE_CHECKING:
    import pandas as pd

    from research_lib.model.run import BacktestResult

__all__ = [
    "MONEY_METRICS",
    "WIRING_KEYS",
    "comparison_frame",
    "comparison_rows",
    "metric_cells",
    "metric_labels",
    "metric_rows",
    "param_text",
    "summary_frame",
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


def metric_labels(names: Iterable[str], periods_per_year: float | None = None) -> list[str]:
    """The labels of the metrics called ``names``, annualised ones with ``periods_per_year``
    when given (``"sharpe"`` -> ``"Sharpe ratio (252/yr)"``); unknown names stand for
    themselves."""
    return [metric(name).labelled(periods_per_year) for name in names]


def metric_cells(
    values: Any,
    names: Iterable[str],
    currency: str = "",
    notes: dict[str, str] | None = None,
) -> list[str]:
    """The metrics called ``names`` of one run (a dict, a stored run's row, a pandas row...)
    formatted; ``currency`` follows the capital amounts; a missing value with a reason in
    ``notes`` reads ``n/a: reason``."""
    cells = []
    for name in names:
        text = format_metric(name, _value(values, name))
        if currency and name in MONEY_METRICS and text != MISSING:
            text = f"{text} {currency}"
        if text == MISSING and notes and name in notes:
            text = f"n/a: {notes[name]}"
        cells.append(text)
    return cells


def metric_rows(
    values: Any,
    names: Iterable[str] = COMPARE_METRICS,
    currency: str = "",
    notes: dict[str, str] | None = None,
    periods_per_year: float | None = None,
) -> list[Row]:
    """(label, text) for the metrics called ``names`` of one run; by default every metric a
    comparison shows (capital, return, trades, then the performance metrics). ``notes`` say
    why a metric is n/a; ``periods_per_year`` labels the annualised ones."""
    names = list(names)
    labels = metric_labels(names, periods_per_year)
    return list(zip(labels, metric_cells(values, names, currency, notes), strict=True))


def summary_rows(
    result: BacktestResult, *, full_id: bool = False, initial_capital: bool = False
) -> list[Row]:
    """One run's headline numbers as (label, text): run id (8 characters unless
    ``full_id``), period, bars, how orders filled, trades, capital (initial too when
    ``initial_capital``), total return, buy and hold, then the headline metrics (annualised
    ones labelled with their periods per year; n/a ones with the reason). Warnings are not
    rows: show ``result.warnings``."""
    summary = result.summary()
    record = getattr(result, "record", result)
    run_id = str(summary["run_id"])
    values = {**summary, "trade_count": summary["trades"]}
    names = [
        "trade_count",
        *(["initial_capital"] if initial_capital else []),
        "final_capital",
        "total_return",
        "benchmark_return",
        *HEADLINE_NAMES,
    ]
    rows: list[Row] = [
        ("Run", run_id if full_id else run_id[:8]),
        ("Data", data_text(record.data_source, record.bar_spec)),
        ("Period", str(summary["period"])),
        ("Bars", f"{summary['bars']:,}"),
    ]
    execution = execution_text(getattr(record, "settings", None) or {})
    if execution:
        rows.append(("Fills", execution))
    rows += metric_rows(
        values,
        names,
        currency=getattr(result, "currency", "") or "",
        notes=getattr(record, "metric_notes", None),
        periods_per_year=getattr(record, "periods_per_year", None),
    )
    return rows


def data_text(source: Any, bar_spec: Any = None, *, compact: bool = False) -> str:
    """Where a run's bars came from: ``mock (synthetic) 1-MINUTE-LAST``, ``catalog
    1-DAY-LAST``; ``compact`` (narrow tables) leaves out "(synthetic)"; ``—`` when unknown."""
    parts = [v for v in (source, bar_spec) if v is not None and v == v]
    if not compact and source == "mock":
        parts[0] = "mock (synthetic)"
    return " ".join(str(v) for v in parts) or MISSING


def execution_text(settings: dict[str, Any]) -> str:
    """How a run's orders filled, from its settings (``close, no costs``); empty for runs
    stored before fills were configurable."""
    stored = settings.get("execution")
    if not stored:
        return ""
    try:
        return Execution.model_validate(stored).describe()
    except ValueError:
        return str(stored)


def summary_frame(result: BacktestResult) -> pd.DataFrame:
    """:func:`summary_rows` (initial capital included) and the run's warnings as a one-column
    DataFrame of text, for a notebook to show: every number formatted, n/a with its reason."""
    import pandas as pd

    rows = summary_rows(result, initial_capital=True)
    rows += [("Warning", text) for text in getattr(result, "warnings", ())]
    labels, cells = zip(*rows, strict=True)
    return pd.DataFrame({str(result.strategy): cells}, index=pd.Index(labels, name="metric"))


def comparison_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """:func:`comparison_rows` as a DataFrame of text (a row per metric label, a column per
    run), for a notebook to show ``ResultsStore.compare(...).metrics`` formatted."""
    import pandas as pd

    rows = comparison_rows(metrics)
    return pd.DataFrame(
        [cells for _, cells in rows],
        index=pd.Index([label for label, _ in rows], name="metric"),
        columns=[str(c) for c in metrics.columns],
    )


def comparison_rows(metrics: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(label, a cell per column) for each row of a frame with a metric name per index entry
    and a run per column, as ``ResultsStore.compare(...).metrics`` gives it."""
    return [
        (metric(str(name)).label, [format_metric(str(name), v) for v in values])
        for name, values in metrics.iterrows()
    ]


WIRING_KEYS = ("instrument_id", "bar_type")  # config values that wire a run, not parameters


def param_text(config: dict[str, Any] | None, skip: Iterable[str] = ()) -> str:
    """``fast=10 slow=20``: a run's strategy parameters compactly (``_period`` dropped from
    names; wiring values such as ``instrument_id`` and the keys in ``skip`` left out)."""
    left_out = {*WIRING_KEYS, *skip}
    return " ".join(
        f"{short_name(key)}={_compact(value)}"
        for key, value in sorted((config or {}).items())
        if key not in left_out
    )


def _compact(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace(" ", "")
