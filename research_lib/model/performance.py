"""A run's performance metrics, computed from its mark-to-market equity.

These replace the figures of Nautilus's ``PortfolioAnalyzer``, which used daily realized P&L
over calendar days, dropped the first day and annualised weekends. ``equity`` is the account
equity marked to market at each bar's close: one value per bar, in bar order, indexed by the
bar close times (UTC). A bar's start is its ``timestamp`` and its close is start + ``interval``.
Every metric is a float or None, and a None always has its reason in :attr:`Performance.notes`.

Rules:

1. Equity path: E_0 = the initial capital, at the first bar's start; E_1..E_n = the equity at
   each bar's close.
2. Periods: for bars of up to one day, a period is a session: the UTC calendar date of the
   bar's start. On data with no Saturday bars at all, bars starting on a Sunday belong to the
   following Monday's session (FX opens on Sunday evening UTC; a daily file's Sunday stub
   joins Monday). Only sessions that have bars exist (no calendar filling). For bars longer
   than a day, each bar is a period.
3. Period returns: with E(k) the equity at the last bar of period k, r_1 = E(1) / E_0 - 1 and
   r_k = E(k) / E(k-1) - 1 after it. The first period's return is included.
4. Annualisation, P periods per year: ``periods_per_year`` when given ("set: 260/yr"). Else, for
   sessions and for daily bars: 365 when any bar starts on a Saturday (24x7 data), else 252;
   weekly (7-day) bars: 52; bars of 28 to 31 days (monthly): 12; other bars of one day or
   longer: 365.25 days / interval.
5. Sharpe = mean(r) / std(r) * sqrt(P), std with ddof=1, risk-free rate 0. None with fewer
   than 2 periods, or when the returns do not vary (std below 1e-12).
6. Sortino = mean(r) / DD * sqrt(P), DD = sqrt(mean(min(r, 0)^2)) over all periods (target 0).
   None with fewer than 2 periods, or when no period lost (DD = 0).
7. Volatility = std(r) * sqrt(P), std with ddof=1. None with fewer than 2 periods.
   Sharpe, Sortino and volatility are also None when the equity at the end of a period other
   than the last is zero or below (a later return would divide by it).
8. CAGR = (E_n / E_0) ^ (1 / years) - 1, years = (last bar close - first bar start) / 365.25
   days. None with fewer than 2 periods, when E_n <= 0, or when it is too large for a float
   (a run far shorter than a year).
9. Max drawdown = min over t of E_t / max(E_0..E_t) - 1 over the bar-level path E_0..E_n: a
   negative fraction, 0 when equity never falls (what :func:`drawdown` charts). Max drawdown
   duration, in days: the longest time from a peak (the last point at it before equity falls
   below it) to the first later point at or above it, or to the last bar close when equity
   never gets back; E_0 stands at the first bar's start and E_t at bar t's close. 0 when
   equity is never below a peak.
10. Trades, one row per closed position, realized_pnl net of commissions: win rate = the share
    with pnl > 0; profit factor = sum of positive pnl / |sum of negative pnl| (None without
    losing trades); expectancy = mean pnl per trade, in the account currency; average trade
    return = mean of pnl / |entry_price * quantity * multiplier|. All None without trades.
11. Exposure = the share of bars at whose close c a position is open; a trade covers c when
    entry_time <= c < exit_time (a trade without an exit_time covers every close from its
    entry on). 0 without trades.
12. Benchmark return = the last bar's close / the first bar's open - 1 (buy and hold over the
    same bars).
13. Total return = E_n / E_0 - 1.

Without bars every metric is None ("no bars"). Everything is vectorised over bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from research_lib.model.bars import to_utc
from research_lib.model.run import clean_number

PERFORMANCE_METRICS = (
    "total_return",
    "sharpe",
    "sortino",
    "volatility",
    "cagr",
    "max_drawdown",
    "max_drawdown_days",
    "profit_factor",
    "win_rate",
    "expectancy",
    "avg_trade_return",
    "exposure",
    "benchmark_return",
)
TRADE_METRICS = ("profit_factor", "win_rate", "expectancy", "avg_trade_return")
DAY = pd.Timedelta(days=1)
DAY_NS = DAY.value
YEAR_DAYS = 365.25  # the length of a year for CAGR and for bars of unusual length
FLAT_STD = 1e-12  # returns whose std is below this do not vary (zero up to rounding)
NO_BARS = "no bars"
NO_TRADES = "no trades"
FELL_TO_ZERO = "equity fell to zero"
TOO_SHORT = "too large to show (the run is too short to annualise)"
_SATURDAY, _SUNDAY = 5, 6  # day of week, Monday = 0
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds

# What a metric function returns: its value, or the reason it has none.
_Outcome = float | str


@dataclass(frozen=True)
class Annualisation:
    """How many return periods make a year, what a period is, and why.

    ``period`` is ``"session"`` (bars shorter than a day, grouped by UTC date) or ``"bar"``;
    ``reason`` is the short text a table shows, e.g. ``"252 sessions/yr (no weekend bars)"``.
    """

    periods_per_year: float
    period: str
    reason: str


@dataclass(frozen=True)
class Performance:
    """A run's metrics (:data:`PERFORMANCE_METRICS`, plain floats or None) and how they were
    annualised.

    ``notes`` maps each metric that is None to why it is n/a; ``periods`` is the number of
    return periods (sessions or bars) the ratios were computed over.
    """

    values: dict[str, float | None]
    notes: dict[str, str]
    annualisation: Annualisation
    periods: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: values, notes, periods per year, period, annualisation reason, periods."""
        return {
            "values": dict(self.values),
            "notes": dict(self.notes),
            "periods_per_year": self.annualisation.periods_per_year,
            "period": self.annualisation.period,
            "annualisation": self.annualisation.reason,
            "periods": self.periods,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Performance:
        """The :class:`Performance` that :meth:`to_dict` wrote (missing metrics read as None)."""
        stored = data.get("values") or {}
        return cls(
            values={name: clean_number(stored.get(name)) for name in PERFORMANCE_METRICS},
            notes={str(k): str(v) for k, v in (data.get("notes") or {}).items()},
            annualisation=Annualisation(
                periods_per_year=float(data["periods_per_year"]),
                period=str(data["period"]),
                reason=str(data["annualisation"]),
            ),
            periods=int(data.get("periods") or 0),
        )


def annualisation(
    bar_starts: Any, interval: pd.Timedelta, periods_per_year: float | None = None
) -> Annualisation:
    """Periods per year for bars that start at ``bar_starts`` and last ``interval`` (rule 4)."""
    interval = pd.Timedelta(interval)
    period = "session" if interval <= DAY else "bar"
    if periods_per_year is not None:
        if not (math.isfinite(periods_per_year) and periods_per_year > 0):
            raise ValueError(f"periods_per_year must be a positive number, was {periods_per_year}")
        return Annualisation(float(periods_per_year), period, f"set: {periods_per_year:g}/yr")
    if interval <= DAY:
        unit = "sessions" if interval < DAY else "days"
        weekdays = _weekdays(_utc_ns(bar_starts))
        if (weekdays == _SATURDAY).any():
            return Annualisation(365.0, period, f"365 {unit}/yr (bars on weekends)")
        missing = "Saturday" if (weekdays == _SUNDAY).any() else "weekend"
        return Annualisation(252.0, period, f"252 {unit}/yr (no {missing} bars)")
    days = interval / DAY
    if days == 7:
        return Annualisation(52.0, period, "52 bars/yr (weekly bars)")
    if 28 <= days <= 31:
        return Annualisation(12.0, period, "12 bars/yr (monthly bars)")
    per_year = YEAR_DAYS / days
    return Annualisation(per_year, period, f"{per_year:g} bars/yr ({days:g}-day bars)")


def period_returns(
    equity: pd.Series, bar_starts: Any, interval: pd.Timedelta, initial_capital: float
) -> pd.Series:
    """The return of each period (rules 1-3), in time order.

    The index is the period's label: its session date (UTC midnight) for bars shorter than a
    day, else the bar's close time.
    """
    _check_capital(initial_capital)
    starts = _utc_ns(bar_starts)
    _check_lengths(equity, starts)
    values = equity.to_numpy(dtype=float)
    if pd.Timedelta(interval) <= DAY:  # daily bars too: a Sunday stub joins Monday
        sessions = _sessions(starts)
        last = np.flatnonzero(np.append(sessions[1:] != sessions[:-1], True))
        index = pd.DatetimeIndex(sessions[last] * DAY_NS, tz="UTC", name="session")
    else:
        last = np.arange(len(values))
        index = pd.DatetimeIndex(to_utc(pd.DatetimeIndex(equity.index)), name="close")
    ends = values[last]
    before = np.concatenate(([float(initial_capital)], ends[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = ends / before - 1.0
    return pd.Series(returns, index=index.as_unit("ns"), name="return")


def drawdown(
    equity: pd.Series, initial_capital: float, *, start: pd.Timestamp | None = None
) -> pd.Series:
    """The bar-level drawdown E_t / max(E_0..E_t) - 1 of the path E_0..E_n (rule 9), for charts.

    E_0 = ``initial_capital`` stands at ``start``, the first bar's start; when it is not given,
    the first close minus the shortest gap between closes (one bar), or the first close itself
    when there is one bar. Empty equity gives an empty series.
    """
    _check_capital(initial_capital)
    closes = to_utc(pd.DatetimeIndex(equity.index)).as_unit("ns")
    if len(closes) == 0:
        return pd.Series([], index=closes, name="drawdown", dtype=float)
    if start is None:
        gaps = np.diff(closes.asi8)
        start = closes[0] - pd.Timedelta(int(gaps.min()) if len(gaps) else 0)
    first = pd.DatetimeIndex([to_utc(pd.Timestamp(start))]).as_unit("ns")
    path = _path(equity, initial_capital)
    with np.errstate(invalid="ignore"):
        drawdowns = path / np.fmax.accumulate(path) - 1.0
    return pd.Series(drawdowns, index=first.append(closes).rename(closes.name), name="drawdown")


@dataclass(frozen=True)
class Calendar:
    """What the metrics need of the bars alone, worked out once for many runs on them
    (:func:`calendar`): bar starts, the last bar of each period, the annualisation, closes."""

    starts: np.ndarray
    period_ends: np.ndarray  # index of each period's last bar
    annual: Annualisation
    closes: np.ndarray | None = None  # bar close times (ns), when known
    benchmark: Any = None


def calendar(
    bars: pd.DataFrame,
    interval: pd.Timedelta,
    periods_per_year: float | None = None,
    closes: Any = None,
) -> Calendar:
    """The :class:`Calendar` of ``bars`` (``closes``: their close times, if known)."""
    starts = _utc_ns(bars["timestamp"])
    annual = annualisation(starts, interval, periods_per_year)
    if pd.Timedelta(interval) <= DAY:
        sessions = _sessions(starts)
        ends = np.flatnonzero(np.append(sessions[1:] != sessions[:-1], True))
    else:
        ends = np.arange(len(starts))
    close_ns = None if closes is None else _utc_ns(closes)
    bench = _benchmark(bars) if len(bars) else None
    return Calendar(starts, ends, annual, close_ns, bench)


def performance(
    equity: pd.Series,
    bars: pd.DataFrame,
    interval: pd.Timedelta,
    trades: pd.DataFrame | None,
    initial_capital: float,
    *,
    periods_per_year: float | None = None,
    multiplier: float = 1.0,
    known: Calendar | None = None,
) -> Performance:
    """Every metric of :data:`PERFORMANCE_METRICS` for a run, by the rules of this module.

    ``bars`` are the bars the run saw (timestamp, open, high, low, close, volume), one per
    ``equity`` value; ``trades`` its closed positions (may be empty); ``multiplier`` turns a
    trade's price times quantity into its notional. ``known``: the bars' :func:`calendar`,
    when many runs share the bars (it holds the annualisation, so ``periods_per_year`` is
    then unused).
    """
    _check_capital(initial_capital)
    known = known or calendar(bars, interval, periods_per_year)
    starts, annual = known.starts, known.annual
    if len(equity) == 0:
        none = dict.fromkeys(PERFORMANCE_METRICS)
        return Performance(none, dict.fromkeys(PERFORMANCE_METRICS, NO_BARS), annual, 0)
    _check_lengths(equity, starts)
    closes = known.closes
    if closes is None:
        closes = to_utc(pd.DatetimeIndex(equity.index)).as_unit("ns").asi8
    return performance_of_arrays(
        equity.to_numpy(dtype=float), initial_capital, known, closes,
        _trade_arrays(trades), multiplier=multiplier,
    )  # fmt: skip


# What the trade metrics read of each trade: realized P&L, entry price, quantity, entry and
# exit times (int64 UTC ns, NaT as int64 min).
TradeArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def performance_of_arrays(
    values: np.ndarray,
    initial_capital: float,
    known: Calendar,
    closes: np.ndarray,
    trades: TradeArrays | None,
    *,
    multiplier: float = 1.0,
    drawdown: tuple[float, int] | None = None,
    exposure: float | None = None,
) -> Performance:
    """:func:`performance` of equity ``values`` (one per bar, not empty) closing at
    ``closes`` (int64 ns) and of ``trades`` (None or empty: no trades), for engines that hold
    arrays. ``drawdown`` (max drawdown, its longest spell in ns) and ``exposure``, when given,
    are what rules 9 and 11 give, computed by the caller."""
    ends = values[known.period_ends]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = ends / np.concatenate(([float(initial_capital)], ends[:-1])) - 1.0
    path = np.concatenate(([float(initial_capital)], values))
    times = np.concatenate((known.starts[:1], closes))
    if drawdown is None:
        drawdown = _drawdowns(path, times)
    if trades is not None and len(trades[0]) == 0:
        trades = None
    outcomes: dict[str, _Outcome] = {
        "total_return": float(path[-1] / path[0] - 1.0),
        **_return_ratios(returns, known.annual.periods_per_year),
        "cagr": _cagr(path, len(returns), (times[-1] - times[0]) / (YEAR_DAYS * DAY_NS)),
        "max_drawdown": drawdown[0],
        "max_drawdown_days": drawdown[1] / DAY_NS,
        **_trade_metrics(trades, multiplier),
        "exposure": _exposure(trades, closes) if exposure is None else exposure,
        "benchmark_return": known.benchmark,
    }
    metrics: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    for name in PERFORMANCE_METRICS:
        outcome = outcomes[name]
        number = None if isinstance(outcome, str) else clean_number(outcome)
        metrics[name] = number
        if number is None:
            notes[name] = outcome if isinstance(outcome, str) else "not a finite number"
    return Performance(metrics, notes, known.annual, len(returns))


def _trade_arrays(trades: pd.DataFrame | None) -> TradeArrays | None:
    if trades is None or len(trades) == 0:
        return None
    return (
        trades["realized_pnl"].to_numpy(dtype=float),
        trades["entry_price"].to_numpy(dtype=float),
        trades["quantity"].to_numpy(dtype=float),
        _utc_ns(trades["entry_time"]),
        _utc_ns(trades["exit_time"]),
    )


def _return_ratios(returns: np.ndarray, periods_per_year: float) -> dict[str, _Outcome]:
    """Sharpe, Sortino and volatility of the period returns (rules 5-7)."""
    count = len(returns)
    if count < 2:
        reason = f"needs 2 periods, has {count}"
        return {"sharpe": reason, "sortino": reason, "volatility": reason}
    if not np.isfinite(returns).all() or (returns[:-1] <= -1.0).any():  # E(k) <= 0, k < last
        return {"sharpe": FELL_TO_ZERO, "sortino": FELL_TO_ZERO, "volatility": FELL_TO_ZERO}
    root = math.sqrt(periods_per_year)
    mean = float(returns.mean())
    std = float(returns.std(ddof=1))
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return {
        "sharpe": mean / std * root if std >= FLAT_STD else "returns do not vary",
        "sortino": mean / downside * root if downside > 0 else "no losing periods",
        "volatility": std * root,
    }


def _cagr(path: np.ndarray, periods: int, years: float) -> _Outcome:
    """Compound annual growth over ``years`` (rule 8)."""
    if periods < 2:
        return f"needs 2 periods, has {periods}"
    if not path[-1] > 0:
        return FELL_TO_ZERO
    try:
        return math.exp(math.log(path[-1] / path[0]) / years) - 1.0
    except OverflowError:
        return TOO_SHORT


def _drawdowns(path: np.ndarray, times: np.ndarray) -> tuple[float, int]:
    """The deepest fall below a running peak, as a fraction, and the nanoseconds of the
    longest spell below a peak, peak to recovery (rule 9)."""
    peaks = np.fmax.accumulate(path)
    with np.errstate(invalid="ignore"):
        deepest = float(np.nanmin(path / peaks - 1.0))
    below = path < peaks
    if not below.any():
        return deepest, 0
    edges = np.diff(np.concatenate(([False], below, [False])).astype(np.int8))
    first_below = np.flatnonzero(edges == 1)  # path[0] is never below, so first_below >= 1
    back = np.minimum(np.flatnonzero(edges == -1), len(path) - 1)  # first point not below
    return deepest, int((times[back] - times[first_below - 1]).max())


def _trade_metrics(trades: TradeArrays | None, multiplier: float) -> dict[str, _Outcome]:
    """Win rate, profit factor, expectancy and average trade return (rule 10)."""
    if trades is None:
        return dict.fromkeys(TRADE_METRICS, NO_TRADES)
    pnl, entry_price, quantity = trades[:3]
    notional = np.abs(entry_price * quantity * multiplier)
    losses = -pnl[pnl < 0].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        trade_returns = pnl / notional
    return {
        "profit_factor": float(pnl[pnl > 0].sum() / losses) if losses > 0 else "no losing trades",
        "win_rate": float((pnl > 0).mean()),
        "expectancy": float(pnl.mean()),
        "avg_trade_return": float(trade_returns.mean())
        if (notional > 0).all()
        else "a trade has no notional",
    }


def _exposure(trades: TradeArrays | None, closes: np.ndarray) -> float:
    """The share of bar closes with a position open (rule 11)."""
    if trades is None:
        return 0.0
    entries, exits = trades[3], trades[4]
    exits = np.where(exits == _NAT, np.iinfo(np.int64).max, exits)
    known = entries != _NAT
    first = np.searchsorted(closes, entries[known], side="left")  # first close >= entry
    after = np.searchsorted(closes, exits[known], side="left")  # first close >= exit
    after = np.maximum(after, first)
    opened = np.zeros(len(closes) + 1, dtype=np.int64)
    np.add.at(opened, first, 1)
    np.add.at(opened, after, -1)
    return float((np.cumsum(opened[:-1]) > 0).mean())


def _benchmark(bars: pd.DataFrame) -> _Outcome:
    """Buy and hold from the first bar's open to the last bar's close (rule 12)."""
    first_open = float(bars["open"].iloc[0])
    if not first_open > 0:
        return "first open is not positive"
    return float(bars["close"].iloc[-1]) / first_open - 1.0


def _path(equity: pd.Series, initial_capital: float) -> np.ndarray:
    """E_0..E_n: the initial capital, then the equity at each bar's close (rule 1)."""
    return np.concatenate(([float(initial_capital)], equity.to_numpy(dtype=float)))


def _sessions(starts: np.ndarray) -> np.ndarray:
    """The session of each bar, as days since 1970-01-01 UTC (rule 2)."""
    days = starts // DAY_NS
    weekdays = (days + _EPOCH_WEEKDAY) % 7
    if (weekdays == _SATURDAY).any():
        return days
    return days + (weekdays == _SUNDAY)


def _weekdays(times: np.ndarray) -> np.ndarray:
    """Day of week (Monday = 0) of UTC nanosecond times."""
    return (times // DAY_NS + _EPOCH_WEEKDAY) % 7


def _utc_ns(times: Any) -> np.ndarray:
    """Int64 UTC nanoseconds of datetimes of any unit (naive ones read as UTC); NaT stays NaT."""
    return to_utc(pd.DatetimeIndex(times)).as_unit("ns").asi8


def _check_capital(initial_capital: float) -> None:
    if not (math.isfinite(initial_capital) and initial_capital > 0):
        raise ValueError(f"initial_capital must be a positive number, was {initial_capital}")


def _check_lengths(equity: pd.Series, starts: np.ndarray) -> None:
    if len(equity) != len(starts):
        raise ValueError(f"equity has {len(equity)} values but there are {len(starts)} bars")
