"""Equity figures: one run's equity with its drawdown, and several curves on one chart.

Long curves stay light: above ``max_points`` points they keep the first, last, lowest and
highest point of equal buckets (M4, :func:`~research_lib.model.series.downsample_equity`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from research_lib.model.performance import drawdown
from research_lib.model.series import downsample_equity
from research_lib.ui.plots.runs import run_labels
from research_lib.ui.plots.style import (
    COLORS,
    MAX_PRICE_POINTS,
    TEMPLATE,
    TIME_AXIS,
    TIME_HOVER,
    naive_utc,
    time_breaks,
)

__all__ = ["drawdown_pct", "equity_figure", "equity_overlay"]


def drawdown_pct(
    equity: pd.Series, initial_capital: float | None = None, start: Any = None
) -> pd.Series:
    """Drawdown from the running peak in percent (0 at a new high, -10 is 10% below it).

    With ``initial_capital`` the path starts there, at ``start`` (the first bar's open;
    default one bar before the first close): the series whose minimum is the run's max
    drawdown (:func:`research_lib.model.performance.drawdown`)."""
    if initial_capital:
        return drawdown(equity, initial_capital, start=start) * 100.0
    values = equity.astype(float)
    return (values / values.cummax() - 1.0) * 100.0


def equity_figure(result_or_equity: Any, max_points: int = MAX_PRICE_POINTS) -> go.Figure:
    """Equity (top) and drawdown in % from the running peak (bottom), on a shared time axis
    without the nights and weekends that have no points (:func:`~research_lib.ui.plots.style.
    time_breaks`).

    Takes a :class:`BacktestResult`, a stored run (anything with ``.equity``) or a Series.
    """
    if isinstance(result_or_equity, pd.Series):
        equity, currency, title = result_or_equity, "", "Equity and drawdown"
    else:
        equity = result_or_equity.equity
        currency = _attr(result_or_equity, "currency") or ""
        strategy = _attr(result_or_equity, "strategy")
        symbol = _attr(result_or_equity, "symbol")
        title = "Equity and drawdown" + (f": {strategy} on {symbol}" if strategy else "")
    start_cash = (
        None
        if isinstance(result_or_equity, pd.Series)
        else _attr(result_or_equity, "initial_capital")
    )
    equity = equity.dropna().astype(float)
    first = None if isinstance(result_or_equity, pd.Series) else _attr(result_or_equity, "start")
    falls = drawdown_pct(equity, start_cash, first)
    breaks = time_breaks(equity.index)  # from the bar closes, before the starting point
    if start_cash:  # the path starts at the initial capital, as the metrics do
        equity = pd.concat([pd.Series([float(start_cash)], index=falls.index[:1]), equity])
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.7, 0.3]
    )
    unit = f" {currency}" if currency else ""
    panels = (  # (row, series, name, line width, hover value, extra trace options)
        (1, equity, "equity", 1.5, f"%{{y:,.2f}}{unit}", {}),
        (2, falls, "drawdown", 1, "%{y:.2f}%", {"fill": "tozeroy"}),
    )
    for row, series, name, width, value, extra in panels:
        shown = downsample_equity(series, max_points) if len(series) > max_points else series
        fig.add_trace(
            go.Scatter(
                x=naive_utc(shown.index),
                y=shown.to_numpy(),
                mode="lines",
                name=name,
                line={"color": COLORS[name], "width": width},
                hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>{name} {value}<extra></extra>",
                **extra,
            ),
            row=row,
            col=1,
        )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=480,
        showlegend=False,
        margin={"t": 60, "r": 20, "b": 40, "l": 70},
    )
    fig.update_xaxes(hoverformat=TIME_HOVER, rangebreaks=breaks)
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    fig.update_yaxes(title_text=f"Equity ({currency})" if currency else "Equity", row=1, col=1)
    fig.update_yaxes(title_text="Drawdown (%)", ticksuffix="%", row=2, col=1)
    return fig


def _attr(obj: Any, name: str) -> Any:
    """An attribute of a result, or a column of a stored run's ``run`` row."""
    if hasattr(obj, name):
        return getattr(obj, name)
    run = getattr(obj, "run", None)
    return run.get(name) if isinstance(run, Mapping) else None


def equity_overlay(
    curves: pd.DataFrame | Mapping[str, pd.Series],
    normalize: bool = True,
    title: str | None = None,
    configs: Sequence[Any] | Mapping[str, Any] | None = None,
) -> go.Figure:
    """Several equity curves on one chart (a DataFrame column or dict entry per run), each
    divided by its first value when ``normalize`` (so all start at 1.0).

    With ``configs`` (one per curve, in order, or by curve name) the curves are labelled by
    the parameters that differ between the runs, ``fast=5`` (:func:`~research_lib.ui.plots.
    runs.run_labels`, the curve names being run ids); else by their names."""
    items = list(curves.items()) if isinstance(curves, (pd.DataFrame, Mapping)) else []
    if configs is not None:
        keys = [str(name) for name, _ in items]
        if isinstance(configs, Mapping):
            configs = [configs.get(key) for key in keys]
        labels = run_labels(keys, list(configs))
        items = [(label, curve) for label, (_, curve) in zip(labels, items, strict=True)]
    fig = go.Figure()
    times: list[Any] = []
    for name, curve in items:
        series = pd.Series(curve).dropna().astype(float)
        if series.empty:
            continue
        times.extend(series.index)
        if normalize:
            series = series / series.iloc[0]
        y_format = ".4f" if normalize else ",.2f"
        fig.add_trace(
            go.Scatter(
                x=naive_utc(series.index),
                y=series.to_numpy(),
                mode="lines",
                name=str(name),
                hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>{name}: %{{y:{y_format}}}"
                "<extra></extra>",
            )
        )
    default = "Equity curves" + (" (normalized to 1.0 at start)" if normalize else "")
    fig.update_layout(
        template=TEMPLATE,
        title=title or default,
        height=450,
        xaxis={"title": TIME_AXIS, "hoverformat": TIME_HOVER, "rangebreaks": time_breaks(times)},
        yaxis={"title": "Equity / starting equity" if normalize else "Equity"},
        hovermode="x unified",
        margin={"t": 60, "r": 20, "b": 40, "l": 70},
    )
    return fig
