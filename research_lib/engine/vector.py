"""The vector engine: the built-in strategies' documented rules over many parameter points
at once, for screening a grid before Nautilus confirms the best points.

Signals are computed with numpy on whole arrays, exactly as the strategies define them: the
moving averages and bands compared in integer ticks (so equal averages are equal), the RSI
with Nautilus's averaging (alpha = 2 / (n + 1)) in floats as Nautilus computes it. The
positions, fills, costs and sizing then run in one compiled loop per point
(:mod:`research_lib.engine.vector_loop`), by the same rules as the event-driven engine.

``run_points(strategy, points, market)`` returns, per point, its headline metrics (by
:func:`research_lib.model.performance.performance`, as every stored run), and its trades
and equity curve when asked. A strategy takes part when it has a rule in :data:`RULES`;
others are swept event-driven only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from research_lib.engine.market import MarketData
from research_lib.engine.vector_loop import (
    LONG,
    MEAN_REVERSION,
    NO_SIGNAL,
    SHORT,
    SIZING_CODES,
    run_point,
)
from research_lib.errors import ConfigError, ConfigProblems
from research_lib.model.bars import bar_closes, bar_interval
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_TRADE_SIZE
from research_lib.model.execution import Execution
from research_lib.model.performance import calendar, performance
from research_lib.model.run import TRADE_COLUMNS
from research_lib.strategies import registry

__all__ = ["RULES", "VectorRun", "run_points", "supports"]

INT_LIMIT = 2**62  # sums of ticks stay below this in int64, else the point is refused


@dataclass(frozen=True)
class Signals:
    """What the loop decides from: ``targets`` per bar, or mean-reversion bands."""

    targets: np.ndarray
    rule: int = 0
    bands: np.ndarray | None = None  # mean reversion: (4, bars) flags, see its rule
    warm: int = 0


@dataclass(frozen=True)
class VectorRun:
    """One point's outcome: its parameters, metrics, and (when asked) trades and equity."""

    params: dict[str, Any]
    metrics: dict[str, float | None]
    trades: pd.DataFrame | None = None
    equity: pd.Series | None = None
    performance: dict[str, Any] | None = None  # Performance.to_dict(): notes, annualisation


def _window_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Sums of the ``n`` values ending at each index (0 before the window is full)."""
    total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    sums = np.zeros(len(values), dtype=np.int64)
    sums[n - 1 :] = total[n:] - total[: len(values) - n + 1]
    return sums


def _check_range(ticks: np.ndarray, *periods: int) -> None:
    biggest = int(np.abs(ticks).max()) if len(ticks) else 0
    if biggest * max(periods) ** 2 >= INT_LIMIT:
        raise ConfigError("prices too large in ticks for the vector engine: run event-driven")


def _float_means(closes: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
    """Nautilus's SMA at bars ``at``: the closes of the window summed in order, over n."""
    out = np.empty(len(at))
    for j, i in enumerate(at):
        total = 0.0
        for x in closes[i - n + 1 : i + 1]:
            total += x
        out[j] = total / n
    return out


def sma_crossover_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """A stop-and-reverse target on each change of sign of SMA(fast) - SMA(slow); equal
    averages keep the previous sign; the first warm bar only sets it.

    The sign is exact in integer ticks; where the averages are equal there, it is the sign
    Nautilus's float averages give (closes summed in order), as the strategy sees them."""
    fast, slow = int(params["fast_period"]), int(params["slow_period"])
    _check_range(ticks, fast, slow)
    targets = np.full(len(ticks), NO_SIGNAL, dtype=np.int64)
    if len(ticks) < slow:
        return Signals(targets)
    diff = _window_sums(ticks, fast) * slow - _window_sums(ticks, slow) * fast
    sign = np.sign(diff[slow - 1 :]).astype(np.float64)
    ties = np.flatnonzero(sign == 0) + slow - 1
    if len(ties):
        sign[ties - slow + 1] = np.sign(
            _float_means(closes, fast, ties) - _float_means(closes, slow, ties)
        )
    filled = pd.Series(np.where(sign == 0, np.nan, sign)).ffill().fillna(0).to_numpy()
    before = np.concatenate(([0.0], filled[:-1]))
    change = (before != 0) & (filled != before)
    warm = targets[slow - 1 :]
    warm[change] = np.where(filled[change] > 0, LONG, SHORT)
    return Signals(targets)


def _float_bands(closes: np.ndarray, n: int, k: float, at: np.ndarray) -> tuple:
    """The strategy's float bands at bars ``at``: Nautilus's SMA and the population std of
    :class:`~research_lib.strategies.mean_reversion.RollingStdDev` (``math.fsum``)."""
    middle = _float_means(closes, n, at)
    width = np.empty(len(at))
    for j, i in enumerate(at):
        window = closes[i - n + 1 : i + 1]
        mean = math.fsum(window) / n
        width[j] = k * math.sqrt(math.fsum((x - mean) ** 2 for x in window) / n)
    return middle, width


def mean_reversion_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """Per bar: close below the lower band, above the upper one, at or above the middle, at
    or below it (the strategy picks among them by its position).

    In exact integers: with S and Q the sums of the n closes (ticks) and of their squares,
    ``D = S - n * close`` and ``V = n * Q - S ** 2``; below the lower band is ``D > 0`` and
    ``D**2 > k**2 * V``. Where that is a near tie (or D is 0), the bar is decided in floats
    as the strategy computes its bands."""
    n, k = int(params["lookback_period"]), float(params["num_std_dev"])
    _check_range(ticks * ticks, n)
    size = len(ticks)
    flags = np.zeros((4, size), dtype=np.bool_)  # below, above, at/above middle, at/below
    if size >= n:
        sums = _window_sums(ticks, n)
        squares = _window_sums(ticks * ticks, n)
        d = (sums - n * ticks).astype(np.float64)
        v = (n * squares - sums * sums).astype(np.float64)
        lhs, rhs = d * d, k * k * v
        outside = (lhs > rhs) & (d != 0)
        flags[0], flags[1] = outside & (d > 0), outside & (d < 0)
        flags[2], flags[3] = d <= 0, d >= 0
        near = (d == 0) | (np.abs(lhs - rhs) <= 1e-6 * np.maximum(np.abs(rhs), 1.0))
        near[: n - 1] = False
        at = np.flatnonzero(near)
        if len(at):
            middle, width = _float_bands(closes, n, k, at)
            c = closes[at]
            flags[0, at], flags[1, at] = c < middle - width, c > middle + width
            flags[2, at], flags[3, at] = c >= middle, c <= middle
        flags[:, : n - 1] = False
    empty = np.full(size, NO_SIGNAL, dtype=np.int64)
    return Signals(empty, MEAN_REVERSION, flags, n - 1)


@njit(cache=True)
def nautilus_rsi(closes: np.ndarray, period: int) -> np.ndarray:
    """Nautilus's RelativeStrengthIndex x 100 (NaN until warm, from bar ``period - 1``)."""
    alpha = 2.0 / (period + 1.0)
    out = np.full(len(closes), np.nan)
    gain_avg = 0.0
    loss_avg = 0.0
    last = closes[0] if len(closes) else 0.0
    for i in range(len(closes)):
        change = closes[i] - last
        gain = change if change > 0 else 0.0
        loss = -change if change < 0 else 0.0
        if i == 0:
            gain_avg, loss_avg = gain, loss
        gain_avg = alpha * gain + ((1.0 - alpha) * gain_avg)
        loss_avg = alpha * loss + ((1.0 - alpha) * loss_avg)
        last = closes[i]
        rsi = 1.0 if loss_avg == 0 else 1.0 - (1.0 / (1.0 + gain_avg / loss_avg))
        if i + 1 >= period:
            out[i] = rsi * 100
    return out


def momentum_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """Long when the RSI crosses up through oversold (``prev <= t < cur``), short when it
    crosses down through overbought (``prev >= t > cur``)."""
    rsi = nautilus_rsi(closes, int(params["rsi_period"]))
    low, high = float(params["oversold_threshold"]), float(params["overbought_threshold"])
    prev, cur = np.concatenate(([np.nan], rsi[:-1])), rsi
    up = (prev <= low) & (low < cur)
    down = (prev >= high) & (high > cur) & ~up
    targets = np.full(len(ticks), NO_SIGNAL, dtype=np.int64)
    targets[up] = LONG
    targets[down] = SHORT
    return Signals(targets)


RULES: dict[str, Callable[[np.ndarray, np.ndarray, Mapping], Signals]] = {
    "sma_crossover": sma_crossover_signals,
    "mean_reversion": mean_reversion_signals,
    "momentum": momentum_signals,
}


def supports(strategy: str) -> bool:
    """Whether ``strategy`` (a registry name) has a vectorized rule."""
    return strategy in RULES


@dataclass(frozen=True)
class _Market:
    """A market's arrays, computed once for every point."""

    ticks: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    open_ts: np.ndarray
    close_ts: np.ndarray
    tick: float
    scale: float
    point: float
    increment: float
    interval: pd.Timedelta
    index: pd.DatetimeIndex  # bar close times, the equity curve's index


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    """UTC times from int64 nanoseconds (a view: no parsing)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize(
        "UTC"
    )


def _arrays(market: MarketData) -> _Market:
    spec, bars = market.spec, market.bars
    scale = 10**spec.price_precision
    ticks = np.rint(bars["close"].to_numpy(dtype=float) * scale).astype(np.int64)
    opens = np.rint(bars["open"].to_numpy(dtype=float) * scale).astype(np.int64)
    stamps = pd.to_datetime(bars["timestamp"], utc=True)
    open_ts = pd.DatetimeIndex(stamps).as_unit("ns").asi8
    closes_at = bar_closes(bars["timestamp"], market.bar_spec, session=spec.session_close)
    close_ns = pd.DatetimeIndex(closes_at).as_unit("ns").asi8
    return _Market(
        ticks, opens, ticks.astype(np.float64) / scale, open_ts,
        close_ns, float(spec.tick), float(scale),
        float(spec.point_value), float(spec.increment), bar_interval(market.bar_spec),
        _utc(close_ns).rename("timestamp"),
    )  # fmt: skip


def run_points(
    strategy: str,
    points: Sequence[Mapping[str, Any]],
    market: MarketData,
    *,
    execution: Execution | None = None,
    starting_balance: float = DEFAULT_BALANCE,
    periods_per_year: float | None = None,
    keep_trades: bool = False,
    keep_equity: bool = False,
) -> list[VectorRun]:
    """Each point of ``strategy`` on ``market``'s bars; see the module docstring.

    A point holds the strategy's parameters, and may hold ``trade_size`` (default
    :data:`DEFAULT_TRADE_SIZE`) and ``sizing``. ``execution``: fill timing and costs (fill
    volume must be ``unlimited``: Nautilus's bar execution is not simulated).
    """
    if strategy not in RULES:
        raise ConfigError(f"{strategy} has no vectorized rule: sweep it event-driven")
    execution = execution or Execution()
    if execution.fill_volume != "unlimited":
        raise ConfigError("the vector engine needs fill_volume 'unlimited'")
    points = checked_points(strategy, points, market)
    data = _arrays(market)
    known = calendar(market.bars, data.interval, periods_per_year, closes=data.index)
    costs = execution.costs
    n = len(data.ticks)
    runs = []
    for point in points:
        signals = RULES[strategy](data.ticks, data.closes, point)
        equity = np.empty(n)
        trades_int = np.zeros((n + 1, 5), dtype=np.int64)
        trades_float = np.zeros((n + 1, 2))
        count = run_point(
            signals.rule, signals.targets,
            signals.bands if signals.bands is not None else np.zeros((4, 1), dtype=np.bool_),
            signals.warm,
            data.opens, data.ticks,
            data.open_ts, data.close_ts, execution.fill_timing == "next_open",
            data.scale, data.point, data.increment,
            SIZING_CODES[str(point.get("sizing", "quantity"))],
            float(point.get("trade_size", DEFAULT_TRADE_SIZE)), float(starting_balance),
            _fraction(costs.commission_rate), costs.commission_per_unit,
            costs.commission_per_order,
            costs.slippage_ticks, costs.slippage_bps, equity, trades_int, trades_float,
        )  # fmt: skip
        runs.append(
            _outcome(
                point,
                market,
                data,
                equity,
                trades_int[:count],
                trades_float[:count],
                starting_balance,
                known,
                keep_trades,
                keep_equity,
            )
        )
    return runs


def checked_points(
    strategy: str, points: Sequence[Mapping[str, Any]], market: MarketData
) -> list[dict[str, Any]]:
    """Each point with the strategy's defaults filled in, checked by its config class (the
    same rules as an event-driven run); raises :class:`ConfigProblems` naming the point."""
    info = registry.get(strategy)
    defaults = {p.name: p.default for p in info.parameters() if p.default is not None}
    wiring = {"instrument_id": market.spec.instrument_id, "bar_type": market.bar_type,
              "trade_size": DEFAULT_TRADE_SIZE}  # fmt: skip
    checked = []
    for point in points:
        values = {**defaults, **point}
        problems = registry.config_problems(info.config_path, values, defaults=wiring)
        if problems:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ConfigProblems([(f"point {shown}: {field}", why) for field, why in problems])
        checked.append(values)
    return checked


def _fraction(rate: float) -> tuple[float, float]:
    """A decimal rate as (numerator, denominator), exactly as its text reads (0.0005 is
    5 / 10000)."""
    exact = Fraction(Decimal(repr(float(rate))))
    return float(exact.numerator), float(exact.denominator)


def _trades_frame(
    ints: np.ndarray, floats: np.ndarray, data: _Market, full: bool = True
) -> pd.DataFrame:
    """The trades in :data:`TRADE_COLUMNS`, or (``full=False``) only the numbers the metrics
    read, which is quicker."""
    if not full:
        return pd.DataFrame(
            {
                "quantity": floats[:, 0],
                "entry_time": ints[:, 1].view("datetime64[ns]"),
                "exit_time": ints[:, 2].view("datetime64[ns]"),
                "entry_price": ints[:, 3] / data.scale,
                "realized_pnl": floats[:, 1],
            }
        )
    frame = pd.DataFrame(
        {
            "position_id": [f"vector-{i + 1}" for i in range(len(ints))],
            "side": np.where(ints[:, 0] > 0, "LONG", "SHORT"),
            "quantity": floats[:, 0],
            "entry_time": _utc(ints[:, 1]),
            "exit_time": _utc(ints[:, 2]),
            "entry_price": ints[:, 3] / data.scale,
            "exit_price": ints[:, 4] / data.scale,
            "realized_pnl": floats[:, 1],
        }
    )
    return frame[TRADE_COLUMNS]


def _outcome(point, market, data, equity, ints, floats, balance, known, keep_trades,
             keep_equity):  # fmt: skip
    rows = ints
    curve = pd.Series(equity, index=data.index, name="equity")
    trades = _trades_frame(ints, floats, data, full=keep_trades)
    perf = performance(curve, market.bars, data.interval, trades, balance,
                       multiplier=data.point, known=known)  # fmt: skip
    final = float(equity[-1]) if len(equity) else balance
    metrics = {
        "final_capital": final,
        "total_return": final / balance - 1.0,
        "trade_count": float(len(rows)),
        **perf.values,
    }
    return VectorRun(
        dict(point), metrics, trades if keep_trades else None, curve if keep_equity else None,
        perf.to_dict(),
    )  # fmt: skip
