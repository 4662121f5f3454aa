"""A self-contained HTML report of stored runs: one file that opens offline.

:func:`report_html` assembles one page from a results store: for one run its price and trades
(when the bars are at hand), equity and drawdown, monthly returns, the trades' P&L, a rolling
Sharpe ratio, the metrics with their definitions, the configuration and what reproduces it;
for several runs their equity overlaid, the metrics side by side and the differing
configuration. plotly.js is embedded once, so the page needs no network. Every value from the
store is HTML-escaped. :func:`write_report` writes the page atomically.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from research_lib.engine.market import load_market_data
from research_lib.errors import ResearchError, ResultsError, one_line
from research_lib.files import write_atomic
from research_lib.model.metrics import COMPARE_METRICS
from research_lib.model.performance import period_returns
from research_lib.model.run import BacktestResult, StoredRun
from research_lib.store import ResultsStore
from research_lib.ui.plots import equity_figure, equity_overlay_from_store, price_figure
from research_lib.ui.plots.style import COLORS, TEMPLATE, TIME_AXIS
from research_lib.ui.tables import comparison_rows, data_text, execution_text, metric_rows
from research_lib.workflows.reproduce import rerun_arguments

__all__ = ["METRIC_DEFINITIONS", "ROLLING_WINDOW", "html_table", "report_html", "write_report"]

# Sessions in the rolling Sharpe ratio's window.
ROLLING_WINDOW = 20

# One line per metric, as README's "Metrics" section defines them (r: period returns,
# P: periods per year).
METRIC_DEFINITIONS: dict[str, str] = {
    "initial_capital": "Account balance at the start of the run.",
    "final_capital": "Equity at the end: cash plus the open position at the last close.",
    "total_return": "Final capital / initial capital - 1.",
    "trade_count": "Closed trades.",
    "sharpe": "mean(r) / std(r) * sqrt(P) (std with ddof 1, no risk-free rate).",
    "sortino": "mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(P).",
    "max_drawdown": "Deepest fall of the bar-level equity from its running peak "
    "(the initial capital included).",
    "win_rate": "Share of closed trades with P&L > 0, net of costs.",
    "profit_factor": "Gross profit / gross loss of the closed trades, net of costs.",
    "cagr": "(final / initial)^(1 / years) - 1, from the first bar's open to the last bar's close.",
    "volatility": "std(r) * sqrt(P).",
    "max_drawdown_days": "Longest time from a peak back to it, in days.",
    "expectancy": "Mean P&L per closed trade, net of costs.",
    "avg_trade_return": "Mean of each trade's P&L / entry notional, net of costs.",
    "exposure": "Share of bars closed with a position open.",
    "benchmark_return": "Buy and hold: last close / first open - 1 of the same bars.",
}
PERIODS_NOTE = (
    "r: period returns (bars shorter than a day grouped into UTC-date sessions; daily and "
    "longer bars one period each), starting from the initial capital; P: periods per year."
)

CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;"
    "padding:0 1rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;"
    "text-align:left;vertical-align:top}td.num{text-align:right}.note{color:#666}"
)


# -- public API ------------------------------------------------------------------------------


def report_html(store: Any, run_ids: Sequence[str]) -> str:
    """The report of ``run_ids`` (ids or unique prefixes) in ``store`` (a ``ResultsStore`` or
    a path to one) as one HTML page; a ``ResultsError`` for an unknown or ambiguous id."""
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    ids = list(dict.fromkeys(store.resolve(rid) for rid in run_ids))
    if not ids:
        raise ResultsError(
            "a report needs at least one run id (research-lib backtest list-results)"
        )
    page = _Page()
    if len(ids) == 1:
        _single(page, store.get(ids[0]))
    else:
        _several(page, store, ids)
    return page.render()


def write_report(store: Any, run_ids: Sequence[str], path: str | Path) -> Path:
    """Write :func:`report_html` of ``run_ids`` to ``path`` atomically; returns the path."""
    return write_atomic(path, report_html(store, run_ids))


# -- the page --------------------------------------------------------------------------------


class _Page:
    """HTML parts in order; the first figure carries plotly.js, the others reference it."""

    def __init__(self) -> None:
        self.title = "Backtest report"
        self.parts: list[str] = []
        self._plotly_included = False

    def add(self, text: str) -> None:
        self.parts.append(text)

    def heading(self, text: str) -> None:
        self.add(f"<h2>{_e(text)}</h2>")

    def note(self, text: str) -> None:
        self.add(f'<p class="note">{_e(text)}</p>')

    def figure(self, fig: go.Figure, div_id: str) -> None:
        first, config = not self._plotly_included, {"displaylogo": False, "responsive": True}
        self.add(pio.to_html(fig, include_plotlyjs=first, full_html=False, div_id=div_id,
                             config=config))  # fmt: skip
        self._plotly_included = True

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_e(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n"
        )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _e(value: Any) -> str:
    """``value`` as escaped text (None and NaN as ``—``)."""
    return "—" if _missing(value) else html.escape(str(value), quote=True)


def html_table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None,
               numeric: Iterable[int] = (), css_class: str | None = None) -> str:  # fmt: skip
    """An HTML table of escaped cells (None and NaN as ``—``); columns in ``numeric``
    right-aligned (class ``num``)."""
    right = set(numeric)
    out = [f'<table class="{_e(css_class)}">' if css_class else "<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if i in right else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _text(value: Any) -> str:
    """A config or settings value as text: JSON for lists and dicts."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    return "—" if value is None else str(value)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (dotted key, text) rows, sorted."""
    rows: list[tuple[str, str]] = []
    for key in sorted(values):
        value = values[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, _text(value)))
    return rows


def _time(value: Any) -> str:
    return "—" if _missing(value) else f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


def _period(run: StoredRun) -> str:
    return f"{_time(run.start)} .. {_time(run.end)}"


# -- one run ---------------------------------------------------------------------------------


def _single(page: _Page, run: StoredRun) -> None:
    page.title = f"{run.strategy} on {run.symbol}: run {run.id[:8]}"
    page.add(f"<h1>{_e(run.strategy)} on {_e(run.symbol)}</h1>")
    data = data_text(run.data_source, run.bar_spec)
    page.add(
        f'<p class="meta">Data: {_e(data)} · Period: {_e(_period(run))} · '
        f"Run <code>{_e(run.id)}</code> · status {_e(run.status)}</p>"
    )
    if run.status == "failed":
        page.heading("Error")
        page.add(f"<pre>{_e(run.record.error)}</pre>")
        if run.record.traceback:
            page.add(f"<pre>{_e(run.record.traceback)}</pre>")
    else:
        _run_figures(page, run)
        _metrics_section(page, run)
    _config_section(page, run)
    _reproducibility_section(page, run)


def stored_bars(run: StoredRun) -> tuple[pd.DataFrame | None, str]:
    """The bars a stored run ran on, read again from its data source (mock bars are made
    again from their seed), or None and why not: a stored run keeps no bars, and the source
    may have changed since (the run's data fingerprint tells)."""
    try:
        args = rerun_arguments(run)
        market = load_market_data(
            args["data"], args["symbol"], args["start"], args["end"], args["catalog"],
            args["seed"], bar_spec=args["bar_spec"],
        )  # fmt: skip
    except ResearchError as exc:
        return None, f"the bars cannot be read again ({one_line(exc)})"
    if run.data_fingerprint and market.fingerprint != run.data_fingerprint:
        return None, "the bars in the catalog have changed since this run"
    return market.bars, ""


def _run_figures(page: _Page, run: StoredRun) -> None:
    page.heading("Price and trades")
    bars, why = stored_bars(run)
    if bars is None:
        page.note(f"No price chart: {why}.")
    else:
        empty = pd.DataFrame()
        result = BacktestResult(run.record, run.equity, run.trades, empty, empty, bars=bars)
        page.figure(price_figure(result), "report-price")
    page.heading("Equity and drawdown")
    if run.equity.empty:
        page.note("No equity curve was stored for this run.")
        return
    page.figure(equity_figure(run), "report-equity")
    page.heading("Monthly returns")
    page.figure(monthly_heatmap(run.equity, run.initial_capital), "report-monthly")
    page.heading("Trade P&L")
    if run.trades.empty:
        page.note("No closed trades.")
    else:
        page.figure(pnl_histogram(run.trades, run.currency or ""), "report-pnl")
    page.heading("Rolling Sharpe ratio")
    page.figure(rolling_sharpe_figure(run.equity, run), "report-rolling-sharpe")


def _metrics_section(page: _Page, run: StoredRun) -> None:
    page.heading("Metrics")
    rows = metric_rows(
        run.run,
        currency=run.currency or "",
        notes=run.metric_notes,
        periods_per_year=run.periods_per_year,
    )
    table = [
        (label, text, METRIC_DEFINITIONS.get(name, ""))
        for name, (label, text) in zip(COMPARE_METRICS, rows, strict=True)
    ]
    page.add(html_table(table, ("Metric", "Value", "Definition"), numeric=(1,)))
    page.note(PERIODS_NOTE)
    if run.annualisation:
        page.note(f"Ratios annualised with {run.annualisation}.")


def _config_section(page: _Page, run: StoredRun) -> None:
    page.heading("Configuration")
    rows = [
        ("strategy", run.strategy),
        ("strategy path", run.record.strategy_path),
        ("config path", run.record.config_path),
        *((key, _text(value)) for key, value in sorted(run.config.items())),
    ]
    page.add(html_table(rows))


def _reproducibility_section(page: _Page, run: StoredRun) -> None:
    page.heading("Reproducibility")
    record = run.record
    settings = run.settings or {}
    rows: list[tuple[str, Any]] = [
        ("run id", record.id),
        ("created", _time(record.created_at)),
        ("source", record.source),
        ("tags", ", ".join(record.tags) or "—"),
        ("sweep", record.sweep_id),
        ("notebook", record.notebook_path),
        ("data source", record.data_source),
        ("data fingerprint", record.data_fingerprint),
        ("instrument", record.instrument_id),
        ("bar type", record.bar_type),
        ("bars", record.bar_count),
        ("fills", execution_text(settings) or "close, no costs (stored before v3)"),
        *((f"settings.{key}", value) for key, value in _flatten(settings)),
        *((f"version {name}", version) for name, version in sorted(record.versions.items())),
        ("duration (s)", _text(record.duration_seconds and round(record.duration_seconds, 2))),
    ]
    page.add(html_table(rows))


# -- several runs ----------------------------------------------------------------------------


def _several(page: _Page, store: ResultsStore, ids: list[str]) -> None:
    runs = [store.get(rid) for rid in ids]
    page.title = f"Comparison of {len(ids)} runs"
    page.add(f"<h1>{_e(page.title)}</h1>")
    page.heading("Runs")
    rows = [
        (
            r.id[:8],
            r.strategy,
            r.symbol,
            data_text(r.data_source, r.bar_spec),
            _period(r),
            r.status,
            _time(r.created_at),
        )
        for r in runs
    ]
    page.add(html_table(rows, ("Run", "Strategy", "Symbol", "Data", "Period", "Status", "Created")))
    page.heading("Equity (normalised to 1 at the start)")
    if any(not r.equity.empty for r in runs):
        page.figure(equity_overlay_from_store(store, ids), "report-overlay")
    else:
        page.note("None of these runs stored an equity curve.")
    comparison = store.compare(ids)
    labels = [str(c) for c in comparison.metrics.columns]
    page.heading("Metrics side by side")
    metric_table = [(label, *cells) for label, cells in comparison_rows(comparison.metrics)]
    page.add(html_table(metric_table, ("Metric", *labels), numeric=range(1, len(labels) + 1)))
    page.heading("Configuration differences")
    diff = comparison.config_diff
    if diff.empty:
        page.note("The runs share every configuration value and setting.")
    else:
        diff_rows = [(name, *(_text(v) for v in values)) for name, values in diff.iterrows()]
        page.add(html_table(diff_rows, ("Parameter", *labels)))


# -- figures ---------------------------------------------------------------------------------


def monthly_returns(equity: pd.Series, initial_capital: float | None = None) -> pd.DataFrame:
    """Month-end equity / the previous month's (the initial capital before the first) - 1,
    as a frame of years x months 1..12 (NaN: no data)."""
    values = equity.astype(float).dropna()
    if values.empty:
        return pd.DataFrame(columns=range(1, 13), dtype=float)
    index = values.index.tz_localize(None) if values.index.tz is not None else values.index
    month_end = values.groupby(index.to_period("M")).last()
    start = float(initial_capital) if initial_capital else float(values.iloc[0])
    returns = month_end / month_end.shift(1).fillna(start) - 1.0
    frame = pd.DataFrame({"year": returns.index.year, "month": returns.index.month, "r": returns})
    table = frame.pivot(index="year", columns="month", values="r")
    return table.reindex(columns=range(1, 13))


def monthly_heatmap(equity: pd.Series, initial_capital: float | None = None) -> go.Figure:
    """:func:`monthly_returns` as a heatmap, years x months, each cell's return in percent."""
    table = monthly_returns(equity, initial_capital) * 100.0
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    text = [["" if pd.isna(v) else f"{v:+.2f}%" for v in row] for row in table.to_numpy()]
    limit = float(table.abs().max().max()) if table.notna().any().any() else 1.0
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=months, y=[str(y) for y in table.index], text=text,
        texttemplate="%{text}", colorscale="RdYlGn", zmid=0.0, zmin=-limit or -1.0,
        zmax=limit or 1.0, colorbar={"title": "%"},
        hovertemplate="%{y} %{x}: %{text}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(template=TEMPLATE, title="Monthly returns (month-end equity / previous - 1)",
                      height=max(220, 90 + 45 * len(table.index)),
                      yaxis={"type": "category", "autorange": "reversed"})  # fmt: skip
    return fig


def pnl_histogram(trades: pd.DataFrame, currency: str = "") -> go.Figure:
    """The distribution of the closed trades' realized P&L."""
    pnl = trades["realized_pnl"].astype(float)
    fig = go.Figure(
        go.Histogram(x=pnl, nbinsx=min(50, max(5, len(pnl))), marker_color=COLORS["price"])
    )
    fig.add_vline(x=0.0, line={"dash": "dash", "color": "#888", "width": 1})
    unit = f" ({currency})" if currency else ""
    title = f"Trade P&L distribution: {len(pnl)} trades, mean {pnl.mean():,.2f}{unit}"
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title=f"Realized P&L{unit}",
                      yaxis_title="Trades", height=360, bargap=0.05)  # fmt: skip
    return fig


def rolling_sharpe(
    equity: pd.Series,
    initial_capital: float | None = None,
    periods_per_year: float | None = None,
    window: int = ROLLING_WINDOW,
) -> pd.Series:
    """The Sharpe ratio of the last ``window`` session returns (the sessions of
    :func:`research_lib.model.performance.period_returns`; fewer at the start, at least 2),
    annualised with sqrt(``periods_per_year``) (252 when unknown)."""
    values = equity.astype(float).dropna()
    if values.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    start = float(initial_capital) if initial_capital else float(values.iloc[0])
    # The metrics' own sessions (model.performance); without a capital the first is dropped.
    returns = period_returns(values, values.index, pd.Timedelta(days=1), start)
    if not initial_capital:
        returns = returns.iloc[1:]
    rolling = returns.rolling(window, min_periods=2)
    ratio = rolling.mean() / rolling.std(ddof=1) * math.sqrt(periods_per_year or 252.0)
    return ratio.replace([math.inf, -math.inf], float("nan"))


def rolling_sharpe_figure(equity: pd.Series, run: Any = None, window: int = ROLLING_WINDOW):
    """:func:`rolling_sharpe` of a run's equity as a line over its sessions."""
    periods = getattr(run, "periods_per_year", None)
    ratio = rolling_sharpe(equity, getattr(run, "initial_capital", None), periods, window)
    index = ratio.index.tz_localize(None) if ratio.index.tz is not None else ratio.index
    fig = go.Figure(
        go.Scatter(x=index, y=ratio.to_numpy(), mode="lines+markers", name="Rolling Sharpe",
                   line={"color": COLORS["price"]}, connectgaps=False)
    )  # fmt: skip
    fig.add_hline(y=0.0, line={"dash": "dash", "color": "#888", "width": 1})
    title = f"Rolling Sharpe ratio ({window} sessions, x sqrt {periods or 252:g})"
    if ratio.notna().sum() == 0:
        title += ": too few sessions"
    fig.update_layout(template=TEMPLATE, title=title, height=320, xaxis_title=TIME_AXIS,
                      yaxis_title="Sharpe ratio")  # fmt: skip
    return fig
