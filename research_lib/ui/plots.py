"""Plotly figures for backtest results, stored runs and sweeps.

Every builder returns a ``plotly.graph_objects.Figure`` (template ``plotly_white``, the colours
in :data:`COLORS`). Times are drawn as naive UTC and labelled so.

Bars are stamped with their OPEN time while fills, trades and equity carry the bar CLOSE time
(a market order submitted in ``on_bar`` fills at that bar's close), so prices are drawn at the
close time (``timestamp + bar interval``) and each trade marker sits on the bar it filled at.

Large results stay light: above ``max_points`` bars (:data:`MAX_PRICE_POINTS`, 20 000) the
close line and the indicator lines keep the first, last, lowest and highest point of equal
buckets (M4, :func:`research_lib.model.series.downsample_equity`), and candles are merged into
coarser candles of ``k`` consecutive bars (open of the first, high/low over all, close of the
last) so that at most ``max_points // 4`` are drawn. Trade markers are never thinned. The title
says when this happened.

Indicators are recomputed from the bars with pandas (:func:`indicator_frame`), per strategy, as
the strategies compute them; :data:`INDICATORS` maps a registered strategy name to an
:class:`IndicatorSpec` (add your own with :func:`register_indicators`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from research_lib.errors import ConfigError, ResearchError, did_you_mean

if TYPE_CHECKING:
    from research_lib.model.run import BacktestResult

__all__ = [
    "COLORS",
    "INDICATORS",
    "MAX_PRICE_POINTS",
    "METRIC_FORMATS",
    "TEMPLATE",
    "IndicatorSpec",
    "bollinger_bands",
    "close_times",
    "drawdown_pct",
    "equity_figure",
    "equity_overlay",
    "equity_overlay_from_store",
    "indicator_frame",
    "indicator_spec",
    "metric_bars",
    "price_figure",
    "register_indicators",
    "rsi",
    "strategy_params",
    "sweep_grid",
    "sweep_heatmap",
    "sweep_heatmap_from_store",
]

TEMPLATE = "plotly_white"
MAX_PRICE_POINTS = 20_000
TIME_AXIS = "Time (UTC, bar close)"
TIME_HOVER = "%Y-%m-%d %H:%M"
COLORS = {
    "price": "#2a3f5f",
    "up": "#26a69a",
    "down": "#ef5350",
    "long": "#2ca02c",
    "short": "#d62728",
    "win": "#2ca02c",
    "loss": "#d62728",
    "flat": "#7f7f7f",
    "equity": "#1f77b4",
    "drawdown": "#d62728",
    "fast": "#ff7f0e",
    "slow": "#9467bd",
    "middle": "#ff7f0e",
    "band": "#9467bd",
    "rsi": "#8c564b",
    "level": "#7f7f7f",
    "positive": "#2ca02c",
    "negative": "#d62728",
}
# metric -> (axis label, d3 number format); fractions (0.05) are shown as percentages.
METRIC_FORMATS = {
    "sharpe": ("Sharpe ratio (252 days)", ".2f"),
    "sortino": ("Sortino ratio (252 days)", ".2f"),
    "max_drawdown": ("Max drawdown", ".2%"),
    "win_rate": ("Win rate", ".1%"),
    "profit_factor": ("Profit factor", ".2f"),
    "cagr": ("CAGR (252 days)", ".2%"),
    "total_return": ("Total return", ".2%"),
    "trade_count": ("Trades", "d"),
    "final_capital": ("Final capital", ",.2f"),
}


# -- indicators ------------------------------------------------------------------------------


def _no_levels(params: dict[str, Any]) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class IndicatorSpec:
    """How one strategy's indicators are computed from the closes and drawn.

    ``compute(close, params)`` returns a DataFrame of named columns on the close's index;
    ``labels(params)`` gives legend names; ``panel`` is ``"price"`` (over the price) or
    ``"lower"`` (a second row titled ``panel_title``, with horizontal ``levels(params)``).
    """

    compute: Callable[[pd.Series, dict[str, Any]], pd.DataFrame]
    labels: Callable[[dict[str, Any]], dict[str, str]]
    panel: str = "price"
    panel_title: str = ""
    panel_range: tuple[float, float] | None = None
    levels: Callable[[dict[str, Any]], dict[str, float]] = field(default=_no_levels)
    colors: dict[str, str] = field(default_factory=dict)


def bollinger_bands(close: pd.Series, period: int, num_std: float) -> pd.DataFrame:
    """Middle (rolling mean), upper and lower bands (middle +/- ``num_std`` population std,
    ddof=0) of ``period`` closes; NaN until ``period`` closes are seen."""
    middle = close.rolling(period).mean()
    width = num_std * close.rolling(period).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + width, "lower": middle - width})


def rsi(close: pd.Series, period: int) -> pd.Series:
    """RSI on 0..100 exactly as Nautilus's ``RelativeStrengthIndex`` (its default averages).

    Gains and losses of consecutive closes (the first counts as 0) are averaged with an EMA
    of alpha ``2 / (period + 1)`` seeded with the first value (Nautilus's default
    ``MovingAverageType.EXPONENTIAL``, not Wilder's ``1 / period``); ``RSI = 100 - 100 / (1 +
    gain / loss)`` and 100 while the average loss is 0. NaN for the first ``period - 1`` closes,
    before the indicator is warm.
    """
    values = close.to_numpy(dtype=float)
    out = np.full(len(values), np.nan)
    alpha = 2.0 / (period + 1.0)
    gain = loss = 0.0
    last = values[0] if len(values) else 0.0
    for i, value in enumerate(values):
        change = value - last
        up, down = (change, 0.0) if change > 0 else (0.0, -change if change < 0 else 0.0)
        if i == 0:  # the EMA's first input is its value
            gain, loss = up, down
        gain = alpha * up + (1.0 - alpha) * gain
        loss = alpha * down + (1.0 - alpha) * loss
        out[i] = 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
        last = value
    out[: max(period - 1, 0)] = np.nan
    return pd.Series(out, index=close.index, name="rsi")


def _sma_lines(close: pd.Series, p: dict[str, Any]) -> pd.DataFrame:
    fast, slow = int(p["fast_period"]), int(p["slow_period"])
    return pd.DataFrame(
        {"fast_sma": close.rolling(fast).mean(), "slow_sma": close.rolling(slow).mean()}
    )


def _bands(close: pd.Series, p: dict[str, Any]) -> pd.DataFrame:
    return bollinger_bands(close, int(p["lookback_period"]), float(p["num_std_dev"]))


def _rsi_frame(close: pd.Series, p: dict[str, Any]) -> pd.DataFrame:
    return rsi(close, int(p["rsi_period"])).to_frame()


INDICATORS: dict[str, IndicatorSpec] = {}


def register_indicators(strategy: str, spec: IndicatorSpec) -> IndicatorSpec:
    """Draw ``spec``'s indicators on price figures of ``strategy`` (its registered name)."""
    INDICATORS[strategy] = spec
    return spec


register_indicators(
    "sma_crossover",
    IndicatorSpec(
        _sma_lines,
        lambda p: {"fast_sma": f"SMA {p['fast_period']}", "slow_sma": f"SMA {p['slow_period']}"},
        colors={"fast_sma": COLORS["fast"], "slow_sma": COLORS["slow"]},
    ),
)
register_indicators(
    "mean_reversion",
    IndicatorSpec(
        _bands,
        lambda p: {
            "middle": f"mean {p['lookback_period']}",
            "upper": f"+{p['num_std_dev']:g} std",
            "lower": f"-{p['num_std_dev']:g} std",
        },
        colors={"middle": COLORS["middle"], "upper": COLORS["band"], "lower": COLORS["band"]},
    ),
)
register_indicators(
    "momentum",
    IndicatorSpec(
        _rsi_frame,
        lambda p: {"rsi": f"RSI {p['rsi_period']}"},
        panel="lower",
        panel_title="RSI (0..100)",
        panel_range=(0.0, 100.0),
        levels=lambda p: {
            "oversold": float(p["oversold_threshold"]),
            "overbought": float(p["overbought_threshold"]),
        },
        colors={"rsi": COLORS["rsi"]},
    ),
)


def _strategy_name(result: Any) -> str:
    """The registered name of the result's strategy (its own name if not registered)."""
    from research_lib.strategies import registry

    name = str(getattr(result, "strategy", ""))
    try:
        return registry.get(name).name
    except ResearchError:
        info = registry.find_by_path(name) or registry.find_by_path(
            str(getattr(result, "strategy_path", ""))
        )
        return info.name if info else name


def strategy_params(result: Any) -> dict[str, Any]:
    """The strategy's parameter values in a run: registry defaults, then the run's config
    (a run's config holds only the values that were given)."""
    from research_lib.strategies import registry

    name = _strategy_name(result)
    values: dict[str, Any] = {}
    if name in registry.names():
        for param in registry.get(name).parameters():
            if param.default is not None:
                values[param.name] = param.default
    values.update(getattr(result, "config", None) or {})
    return values


def indicator_spec(result: Any) -> IndicatorSpec | None:
    """The :class:`IndicatorSpec` for the result's strategy, or None."""
    return INDICATORS.get(_strategy_name(result))


def bar_spec_of(bar_type: str) -> str:
    """``AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL`` -> ``1-MINUTE-LAST``."""
    parts = str(bar_type).split("-")
    if len(parts) < 5:
        raise ConfigError(f"cannot read a bar spec from bar type {bar_type!r}")
    return "-".join(parts[-4:-1])


def close_times(result: BacktestResult) -> pd.DatetimeIndex:
    """Bar close times (UTC) of the result's bars: open time + the bar interval."""
    from research_lib.model.bars import bar_interval

    bars = _bars(result)
    step = bar_interval(bar_spec_of(result.bar_type))
    times = pd.to_datetime(bars["timestamp"], utc=True) + step
    return pd.DatetimeIndex(times, name="timestamp")


def indicator_frame(result: BacktestResult) -> pd.DataFrame:
    """The strategy's indicators from the result's bars (index: bar close time, UTC).

    ``sma_crossover``: ``fast_sma``, ``slow_sma``; ``mean_reversion``: ``middle``, ``upper``,
    ``lower``; ``momentum``: ``rsi`` (0..100). Empty (no columns) for other strategies.
    """
    index = close_times(result)
    spec = indicator_spec(result)
    if spec is None:
        return pd.DataFrame(index=index)
    close = pd.Series(_bars(result)["close"].to_numpy(dtype=float), index=index, name="close")
    return spec.compute(close, strategy_params(result))


# -- price -----------------------------------------------------------------------------------


def price_figure(
    result: BacktestResult,
    kind: str = "candles",
    indicators: bool = True,
    max_points: int = MAX_PRICE_POINTS,
) -> go.Figure:
    """Price (``"candles"`` or a ``"line"`` of closes) at bar close times, the strategy's
    indicators and the trades: entries as triangles (up LONG, down SHORT), exits as ``x``
    coloured by the trade's P&L, with the P&L in the hover text."""
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
        params = strategy_params(result)
        labels = spec.labels(params)
        row = 2 if lower else 1
        for column in frame.columns:
            color = spec.colors.get(column, COLORS["level"])
            name = labels.get(column, column)
            fig.add_trace(_line(frame[column], name, color, max_points), row=row, col=1)
        if lower:
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
    fig.update_xaxes(rangeslider_visible=False, hoverformat=TIME_HOVER)
    fig.update_xaxes(title_text=TIME_AXIS, row=2 if lower else 1, col=1)
    fig.update_yaxes(title_text=f"Price ({currency})" if currency else "Price", row=1, col=1)
    return fig


def _bars(result: Any) -> pd.DataFrame:
    bars = getattr(result, "bars", None)
    if bars is None or len(bars) == 0:
        raise ResearchError(
            "this result has no bars to draw: price figures need a result from run_backtest "
            "(stored runs keep no bars; rerun it)"
        )
    return bars


def _naive(times: Any) -> np.ndarray:
    """Naive UTC datetime64 values for plotly (which ignores UTC offsets)."""
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    return index.tz_convert("UTC").tz_localize(None).to_numpy()


def _line(series: pd.Series, name: str, color: str, max_points: int, unit: str = "") -> go.Scatter:
    from research_lib.model.series import downsample_equity

    series = series.dropna()
    if len(series) > max_points:
        series = downsample_equity(series, max_points)
    return go.Scatter(
        x=_naive(series.index),
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
        x=_naive(frame["time"]),
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
                x=_naive(rows["entry_time"]),
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
            x=_naive(trades["exit_time"]),
            y=trades["exit_price"].astype(float).to_numpy(),
            mode="markers",
            name="exit",
            marker={"symbol": "x", "size": 9, "color": list(colors)},
            text=text,
            hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>%{{text}}<extra></extra>",
        )
    )
    return traces


# -- equity ----------------------------------------------------------------------------------


def drawdown_pct(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak in percent (0 at a new high, -10 is 10% below it)."""
    values = equity.astype(float)
    return (values / values.cummax() - 1.0) * 100.0


def equity_figure(result_or_equity: Any, max_points: int = MAX_PRICE_POINTS) -> go.Figure:
    """Equity (top) and drawdown in % from the running peak (bottom), on a shared time axis.

    Takes a :class:`BacktestResult`, a stored run (anything with ``.equity``) or a Series.
    """
    from research_lib.model.series import downsample_equity

    if isinstance(result_or_equity, pd.Series):
        equity, currency, title = result_or_equity, "", "Equity and drawdown"
    else:
        equity = result_or_equity.equity
        currency = _attr(result_or_equity, "currency") or ""
        strategy = _attr(result_or_equity, "strategy")
        symbol = _attr(result_or_equity, "symbol")
        title = "Equity and drawdown" + (f": {strategy} on {symbol}" if strategy else "")
    equity = equity.dropna().astype(float)
    drawdown = drawdown_pct(equity)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.7, 0.3]
    )
    unit = f" {currency}" if currency else ""
    panels = (  # (row, series, name, line width, hover value, extra trace options)
        (1, equity, "equity", 1.5, f"%{{y:,.2f}}{unit}", {}),
        (2, drawdown, "drawdown", 1, "%{y:.2f}%", {"fill": "tozeroy"}),
    )
    for row, series, name, width, value, extra in panels:
        shown = downsample_equity(series, max_points) if len(series) > max_points else series
        fig.add_trace(
            go.Scatter(
                x=_naive(shown.index),
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
    fig.update_xaxes(hoverformat=TIME_HOVER)
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
) -> go.Figure:
    """Several equity curves on one chart (a DataFrame column or dict entry per run), each
    divided by its first value when ``normalize`` (so all start at 1.0)."""
    items = curves.items() if isinstance(curves, (pd.DataFrame, Mapping)) else []
    fig = go.Figure()
    for name, curve in items:
        series = pd.Series(curve).dropna().astype(float)
        if series.empty:
            continue
        if normalize:
            series = series / series.iloc[0]
        y_format = ".4f" if normalize else ",.2f"
        fig.add_trace(
            go.Scatter(
                x=_naive(series.index),
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
        xaxis={"title": TIME_AXIS, "hoverformat": TIME_HOVER},
        yaxis={"title": "Equity / starting equity" if normalize else "Equity"},
        hovermode="x unified",
        margin={"t": 60, "r": 20, "b": 40, "l": 70},
    )
    return fig


def equity_overlay_from_store(store: Any, run_ids: list[str], normalize: bool = True) -> go.Figure:
    """:func:`equity_overlay` of stored runs (ids or unique prefixes) from a ``ResultsStore``
    (or a path to one); curves are labelled with 8-character run ids."""
    from research_lib.store import ResultsStore

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    return equity_overlay(store.equity(run_ids), normalize=normalize)


# -- comparisons and sweeps ------------------------------------------------------------------


def _check_column(frame: pd.DataFrame, name: str, what: str) -> None:
    if name not in frame.columns:
        raise ConfigError(
            f"no {what} '{name}' in the runs;{did_you_mean(name, map(str, frame.columns))} "
            f"columns: {', '.join(map(str, frame.columns))}"
        )


def metric_bars(
    runs: pd.DataFrame, metric: str = "sharpe", label_column: str | None = None
) -> go.Figure:
    """A bar per run of one metric (green >= 0, red < 0), labelled by ``label_column``, else
    the 8-character run ``id``, else the frame's index. Missing values draw no bar."""
    _check_column(runs, metric, "metric")
    if label_column is not None:
        _check_column(runs, label_column, "label column")
        labels = runs[label_column].astype(str).tolist()
    elif "id" in runs.columns:
        labels = [str(v)[:8] for v in runs["id"]]
    else:
        labels = [str(v) for v in runs.index]
    values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    label, fmt = METRIC_FORMATS.get(metric, (metric, ".3f"))
    colors = [COLORS["negative"] if v < 0 else COLORS["positive"] for v in values]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker={"color": colors},
            name=label,
            hovertemplate=f"%{{x}}<br>{label}: %{{y:{fmt}}}<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"{label} by run",
        height=400,
        xaxis={"title": label_column or "run", "type": "category"},
        yaxis={"title": label, "tickformat": fmt if fmt != "d" else None},
        margin={"t": 60, "r": 20, "b": 60, "l": 70},
    )
    return fig


def _configs(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each run's config as a dict (the ``config`` column holds JSON text or dicts)."""
    if "config" not in runs.columns:
        return [{} for _ in range(len(runs))]
    out = []
    for value in runs["config"]:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        out.append(dict(value) if isinstance(value, Mapping) else {})
    return out


def sweep_grid(
    runs: pd.DataFrame, x: str = "fast_period", y: str = "slow_period", metric: str = "sharpe"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mean of ``metric`` per (``y``, ``x``) parameter pair and the number of runs behind
    each cell, as two frames (index: ``y`` values, columns: ``x`` values, both sorted).

    Parameters are read from each run's ``config`` (JSON text or dict), or from columns of
    those names. Missing metric values (failed runs) are skipped; empty cells are NaN.
    """
    _check_column(runs, metric, "metric")
    configs = _configs(runs)
    points = pd.DataFrame(index=range(len(runs)))
    for name in (x, y):
        column = [c.get(name) for c in configs]
        if name in runs.columns:
            column = [v if v is not None else w for v, w in zip(column, runs[name], strict=True)]
        points[name] = column
        if points[name].isna().all():
            known = sorted({key for c in configs for key in c} | set(map(str, runs.columns)))
            raise ConfigError(
                f"no parameter '{name}' in the runs' configs;{did_you_mean(name, known)} "
                f"parameters: {', '.join(known)}"
            )
    points[metric] = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    points = points.dropna(subset=[x, y])
    grouped = points.groupby([y, x])[metric]
    mean = grouped.mean().unstack(x)
    count = grouped.count().unstack(x)
    xs, ys = sorted(points[x].unique()), sorted(points[y].unique())
    mean = mean.reindex(index=ys, columns=xs)
    count = count.reindex(index=ys, columns=xs).fillna(0).astype(int)
    return mean, count


def sweep_heatmap(
    runs: pd.DataFrame,
    x: str = "fast_period",
    y: str = "slow_period",
    metric: str = "sharpe",
    title: str | None = None,
) -> go.Figure:
    """A heatmap of ``metric`` over two parameters of a sweep (see :func:`sweep_grid`):
    duplicate points are averaged, combinations without runs are blank."""
    mean, count = sweep_grid(runs, x, y, metric)
    label, fmt = METRIC_FORMATS.get(metric, (metric, ".3f"))
    z = mean.to_numpy(dtype=float)
    finite = z[np.isfinite(z)]
    mid = 0.0 if finite.size and finite.min() < 0 < finite.max() else None
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in mean.columns],
            y=[str(v) for v in mean.index],
            z=z,
            customdata=count.to_numpy(),
            colorscale="RdYlGn",
            zmid=mid,
            colorbar={"title": {"text": label}, "tickformat": fmt if fmt != "d" else None},
            texttemplate=f"%{{z:{fmt}}}" if z.size <= 400 else None,
            hovertemplate=(
                f"{x}=%{{x}}<br>{y}=%{{y}}<br>{label}: %{{z:{fmt}}}<br>runs: %{{customdata}}"
                "<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title or f"{label} by {x} and {y}",
        height=480,
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
        margin={"t": 60, "r": 20, "b": 60, "l": 70},
    )
    return fig


def sweep_heatmap_from_store(
    store: Any,
    sweep_id: str,
    x: str = "fast_period",
    y: str = "slow_period",
    metric: str = "sharpe",
) -> go.Figure:
    """:func:`sweep_heatmap` of the completed runs of one sweep in a ``ResultsStore`` (or a
    path)."""
    from research_lib.store import ResultsStore

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    runs = store.list(sweep_id=sweep_id, status="completed", limit=None)
    if runs.empty:
        raise ConfigError(f"no completed runs with sweep id '{sweep_id}' in {store.path}")
    return sweep_heatmap(runs, x, y, metric, title=f"Sweep {sweep_id}: {metric} by {x}, {y}")
