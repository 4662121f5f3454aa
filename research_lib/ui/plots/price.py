"""The price figure of one run: candles or a close line, the strategy's indicators, trades.

Bars are stamped with their OPEN time while fills, trades and equity carry the bar CLOSE time
(a market order submitted in ``on_bar`` fills at that bar's close), so prices are drawn at the
close time (``timestamp + bar interval``) and each trade marker sits on the bar it filled at.

Indicators are recomputed from the bars with pandas (:func:`indicator_frame`) through the
:class:`~research_lib.strategies.indicators.IndicatorSpec` the strategy was registered with
(:attr:`StrategyInfo.indicators <research_lib.strategies.registry.StrategyInfo>`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from research_lib.errors import ConfigError, ResearchError
from research_lib.model.bars import bar_closes, to_utc
from research_lib.model.series import downsample_equity
from research_lib.strategies import registry
from research_lib.strategies.indicators import IndicatorSpec
from research_lib.ui.plots.style import (
    COLORS,
    MAX_PRICE_POINTS,
    TEMPLATE,
    TIME_AXIS,
    TIME_HOVER,
    naive_utc,
    style_color,
    time_breaks,
)

if TYPE_CHECKING:
    from research_lib.model.run import BacktestResult
    from research_lib.strategies.registry import StrategyInfo

__all__ = [
    "bar_spec_of",
    "close_times",
    "indicator_frame",
    "indicator_spec",
    "price_figure",
    "strategy_params",
]


# -- the run's strategy and indicators -------------------------------------------------------


def _strategy_info(result: Any) -> StrategyInfo | None:
    """The registered strategy of a run: by name or alias, else by strategy path."""
    return registry.find(
        str(getattr(result, "strategy", "")), str(getattr(result, "strategy_path", ""))
    )


def strategy_params(result: Any) -> dict[str, Any]:
    """The strategy's parameter values in a run: registry defaults, then the run's config
    (a run's config holds only the values that were given)."""
    info = _strategy_info(result)
    values: dict[str, Any] = {}
    if info is not None:
        for param in info.parameters():
            if param.default is not None:
                values[param.name] = param.default
    values.update(getattr(result, "config", None) or {})
    return values


def indicator_spec(result: Any) -> IndicatorSpec | None:
    """The :class:`IndicatorSpec` the result's strategy is registered with, or None."""
    info = _strategy_info(result)
    return info.indicators if info is not None else None


def bar_spec_of(bar_type: str) -> str:
    """``AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL`` -> ``1-MINUTE-LAST``."""
    parts = str(bar_type).split("-")
    if len(parts) < 5:
        raise ConfigError(f"cannot read a bar spec from bar type {bar_type!r}")
    return "-".join(parts[-4:-1])


def close_times(result: BacktestResult) -> pd.DatetimeIndex:
    """Bar close times (UTC) of the result's bars, as the engine stamped them: the index of
    the run's equity curve when it has a point per bar (so an instrument's own session is
    followed), else from the venue (:func:`research_lib.model.bars.bar_closes`)."""
    bars = _bars(result)
    equity = getattr(result, "equity", None)
    if isinstance(getattr(equity, "index", None), pd.DatetimeIndex) and len(equity) == len(bars):
        return pd.DatetimeIndex(to_utc(equity.index), name="timestamp")
    venue = str(getattr(result, "instrument_id", "") or "").rpartition(".")[2] or None
    times = bar_closes(
        pd.to_datetime(bars["timestamp"], utc=True), bar_spec_of(result.bar_type), venue
    )
    return pd.DatetimeIndex(times, name="timestamp")


def indicator_frame(result: BacktestResult) -> pd.DataFrame:
    """The strategy's indicators from the result's bars (index: bar close time, UTC).

    ``sma_crossover``: ``fast_sma``, ``slow_sma``; ``mean_reversion``: ``middle``, ``upper``,
    ``lower``; ``momentum``: ``rsi`` (0..100). Empty (no columns) for strategies registered
    without an indicator spec, and for unregistered ones.
    """
    index = close_times(result)
    spec = indicator_spec(result)
    if spec is None:
        return pd.DataFrame(index=index)
    close = pd.Series(_bars(result)["close"].to_numpy(dtype=float), index=index, name="close")
    return spec.compute(close, strategy_params(result))


# -- the figure ------------------------------------------------------------------------------


def price_figure(
    result: BacktestResult,
    kind: str = "candles",
    indicators: bool = True,
    max_points: int = MAX_PRICE_POINTS,
) -> go.Figure:
    """Price (``"candles"`` or a ``"line"`` of closes) at bar close times, the strategy's
    indicators and the trades: entries as triangles (up LONG, down SHORT), exits as ``x``
    coloured by the trade's P&L, with the P&L in the hover text.

    Above ``max_points`` bars the close line and the indicator lines keep the first, last,
    lowest and highest point of equal buckets (M4, :func:`~research_lib.model.series.
    downsample_equity`), and candles are merged into coarser candles of ``k`` consecutive bars
    so that at most ``max_points // 4`` are drawn. Trade markers are never thinned. The title
    says when this happened. Nights and weekends without bars are cut from the time axis
    (:func:`~research_lib.ui.plots.style.time_breaks`).
    """
    if kind not in ("candles", "line"):
        raise ConfigError(f"kind must be 'candles' or 'line', was {kind!r}")
    bars = _bars(result)
    times = close_times(result)
    spec = indicator_spec(result) if indicators else None
    frame = indicator_frame(result) if spec is not None else pd.DataFrame(index=times)
    lower = spec is not None and spec.panel == "lower" and not frame.empty
    fig = make_subplots(
        rows=2 if lower else 1,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.72, 0.28] if lower else None,
    )
    currency = getattr(result, "currency", "") or ""
    thinned = len(bars) > max_points if kind == "line" else len(bars) > max(1, max_points // 4)
    if kind == "candles":
        fig.add_trace(_candles(bars, times, result.symbol, max(1, max_points // 4)), row=1, col=1)
    else:
        close = pd.Series(bars["close"].to_numpy(dtype=float), index=times)
        fig.add_trace(
            _line(close, result.symbol, COLORS["price"], max_points, unit=currency),
            row=1,
            col=1,
        )
    if spec is not None and not frame.empty:
        _add_indicators(fig, spec, frame, strategy_params(result), lower, max_points)
    for trace in _trade_markers(result.trades, currency):
        fig.add_trace(trace, row=1, col=1)
    title = f"{result.strategy} on {result.symbol} ({bar_spec_of(result.bar_type)}): "
    title += f"{len(result.trades)} trades"
    if thinned:
        title += " (price downsampled for display)"
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=640 if lower else 480,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"t": 80, "r": 20, "b": 40, "l": 60},
        hovermode="closest",
    )
    fig.update_xaxes(  # the same breaks on every row's axis: nights and weekends hidden
        rangeslider_visible=False, hoverformat=TIME_HOVER, rangebreaks=time_breaks(times)
    )
    fig.update_xaxes(title_text=TIME_AXIS, row=2 if lower else 1, col=1)
    fig.update_yaxes(title_text=f"Price ({currency})" if currency else "Price", row=1, col=1)
    return fig


def _add_indicators(
    fig: go.Figure,
    spec: IndicatorSpec,
    frame: pd.DataFrame,
    params: dict[str, Any],
    lower: bool,
    max_points: int,
) -> None:
    """The indicator lines over the price, or in a second row with its levels and range."""
    labels = spec.labels(params)
    row = 2 if lower else 1
    for column in frame.columns:
        color = style_color(spec.styles.get(column))
        name = labels.get(column, column)
        fig.add_trace(_line(frame[column], name, color, max_points), row=row, col=1)
    if not lower:
        return
    for level_name, level in spec.levels(params).items():
        fig.add_hline(
            y=level,
            row=2,
            col=1,
            line={"dash": "dash", "color": COLORS["level"], "width": 1},
            annotation_text=f"{level_name} {level:g}",
            annotation_position="top left",
        )
    fig.update_yaxes(title_text=spec.panel_title, row=2, col=1)
    if spec.panel_range is not None:
        fig.update_yaxes(range=list(spec.panel_range), row=2, col=1)


def _bars(result: Any) -> pd.DataFrame:
    bars = getattr(result, "bars", None)
    if bars is None or len(bars) == 0:
        raise ResearchError(
            "this result has no bars to draw: price figures need a result from run_backtest "
            "(stored runs keep no bars; rerun it)"
        )
    return bars


def _line(series: pd.Series, name: str, color: str, max_points: int, unit: str = "") -> go.Scatter:
    series = series.dropna()
    if len(series) > max_points:
        series = downsample_equity(series, max_points)
    return go.Scatter(
        x=naive_utc(series.index),
        y=series.to_numpy(dtype=float),
        mode="lines",
        name=name,
        line={"color": color, "width": 1.5},
        hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>{name}: %{{y:.2f}}{' ' + unit if unit else ''}"
        "<extra></extra>",
    )


def _candles(
    bars: pd.DataFrame, times: pd.DatetimeIndex, symbol: str, max_candles: int
) -> go.Candlestick:
    """Candles at bar close times; above ``max_candles`` bars, ``k`` consecutive bars are
    merged into one (open of the first, high/low over all, close of the last)."""
    n = len(bars)
    frame = pd.DataFrame(
        {
            "time": times,
            "open": bars["open"].to_numpy(dtype=float),
            "high": bars["high"].to_numpy(dtype=float),
            "low": bars["low"].to_numpy(dtype=float),
            "close": bars["close"].to_numpy(dtype=float),
        }
    )
    if n > max_candles:  # merge k consecutive bars into one candle, stamped at the last close
        k = math.ceil(n / max_candles)
        frame = frame.groupby(np.arange(n) // k).agg(
            time=("time", "last"),
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
        )
    return go.Candlestick(
        x=naive_utc(frame["time"]),
        open=frame["open"].to_numpy(),
        high=frame["high"].to_numpy(),
        low=frame["low"].to_numpy(),
        close=frame["close"].to_numpy(),
        name=symbol,
        increasing={"line": {"color": COLORS["up"]}},
        decreasing={"line": {"color": COLORS["down"]}},
    )


def _trade_markers(trades: pd.DataFrame, currency: str) -> list[go.Scatter]:
    """Entry markers per side and one trace of exit markers, each with P&L hover text."""
    if trades is None or trades.empty:
        return []
    pnl = trades["realized_pnl"].astype(float).to_numpy()
    unit = f" {currency}" if currency else ""
    traces = []
    for side, symbol, color in (
        ("LONG", "triangle-up", COLORS["long"]),
        ("SHORT", "triangle-down", COLORS["short"]),
    ):
        mask = (trades["side"] == side).to_numpy()
        if not mask.any():
            continue
        rows = trades[mask]
        text = [
            f"{side} entry: {q:g} @ {p:.2f}<br>trade P&L {v:+,.2f}{unit}"
            for q, p, v in zip(rows["quantity"], rows["entry_price"], pnl[mask], strict=True)
        ]
        traces.append(
            go.Scatter(
                x=naive_utc(rows["entry_time"]),
                y=rows["entry_price"].astype(float).to_numpy(),
                mode="markers",
                name=f"{side.lower()} entry",
                marker={"symbol": symbol, "size": 11, "color": color, "line": {"width": 0}},
                text=text,
                hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>%{{text}}<extra></extra>",
            )
        )
    colors = np.where(pnl > 0, COLORS["win"], np.where(pnl < 0, COLORS["loss"], COLORS["flat"]))
    text = [
        f"exit {s}: {q:g} @ {p:.2f}<br>P&L {v:+,.2f}{unit}"
        for s, q, p, v in zip(
            trades["side"], trades["quantity"], trades["exit_price"], pnl, strict=True
        )
    ]
    traces.append(
        go.Scatter(
            x=naive_utc(trades["exit_time"]),
            y=trades["exit_price"].astype(float).to_numpy(),
            mode="markers",
            name="exit",
            marker={"symbol": "x", "size": 9, "color": list(colors)},
            text=text,
            hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>%{{text}}<extra></extra>",
        )
    )
    return traces
