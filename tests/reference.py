"""An independent reference for the built-in strategies: their trades and equity, worked out
in plain Python from the documented rules, and seeded datasets to compare the engine on.

:func:`simulate` replays ``sma_crossover``, ``mean_reversion`` and ``momentum`` bar by bar.
Nothing here comes from the engine or the strategies (this module imports neither); the only
outside definition used is Nautilus's ``RelativeStrengthIndex`` (an EMA of gains and of
losses, alpha = 2 / (period + 1)), reproduced from its ``momentum.pyx`` and ``averages.pyx``.

Arithmetic is exact where the rules compare or round: prices are whole ticks, averages and
bands are compared in integers (an SMA equal to another is equal, not 1 ulp above it), money
and quantities are ``Fraction``\\ s, and only the RSI is computed in floats, as Nautilus does.
Money is booked in cents, rounded half away from zero as Nautilus's ``Money`` rounds: each
fill's commission and each trade's P&L, so the cash balance that equity sizing reads is whole
cents (the equity curve, from the fills themselves, is exact). The test costs are picked so
that no fill's commission is an exact half cent.

Test modules import these as ``from reference import ...`` (pytest puts ``tests/`` on the
path), like :mod:`factories`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

LONG, FLAT, SHORT = 1, 0, -1
SIDES = {LONG: "LONG", SHORT: "SHORT"}
TRADE_COLUMNS = [
    "side",
    "quantity",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "realized_pnl",
]
FILL_TIMINGS = ("close", "next_open")
SIZINGS = ("quantity", "notional", "equity")


@dataclass(frozen=True)
class Costs:
    """Commission (at most one kind) and slippage (at most one kind) of every fill."""

    commission_rate: float = 0
    commission_per_unit: float = 0
    commission_per_order: float = 0
    slippage_ticks: int = 0
    slippage_bps: float = 0

    def __post_init__(self) -> None:
        commissions = (self.commission_rate, self.commission_per_unit, self.commission_per_order)
        if sum(value != 0 for value in commissions) > 1:
            raise ValueError(f"at most one kind of commission, got {self}")
        if self.slippage_ticks and self.slippage_bps:
            raise ValueError(f"at most one kind of slippage, got {self}")

    def engine_costs(self) -> dict[str, float]:
        """The ``costs`` argument of ``run_backtest``: the kinds that are set."""
        return {name: value for name, value in vars(self).items() if value}


# ---------------------------------------------------------------------------------------------
# Indicators and signals
# ---------------------------------------------------------------------------------------------

Decide = Callable[[int, int], int | None]  # (bar index, current direction) -> target or None


def _window_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Exact integer sums of the ``n`` values ending at each index (valid from n - 1)."""
    total = [0, *np.cumsum([int(v) for v in values], dtype=object)]
    sums = [total[i + 1] - total[i + 1 - n] if i >= n - 1 else 0 for i in range(len(values))]
    return np.array(sums, dtype=object)


def sma_crossover_signals(ticks: np.ndarray, fast_period: int, slow_period: int) -> Decide:
    """Stop and reverse on each change of sign of SMA(fast) - SMA(slow), compared exactly.

    Equal averages keep the previous sign; the first warm bar (and, if the averages are equal
    there, the first bar where they differ) only sets the sign.
    """
    fast = _window_sums(ticks, fast_period)
    slow = _window_sums(ticks, slow_period)
    targets: list[int | None] = [None] * len(ticks)
    sign = 0
    for i in range(slow_period - 1, len(ticks)):
        diff = fast[i] * slow_period - slow[i] * fast_period
        now = (diff > 0) - (diff < 0) or sign
        if sign and now != sign:
            targets[i] = LONG if now > 0 else SHORT
        sign = now
    return lambda i, _direction: targets[i]


def mean_reversion_signals(ticks: np.ndarray, lookback_period: int, num_std_dev: float) -> Decide:
    """Bollinger entries when flat, exits at the middle band; all compared exactly.

    With S and Q the sums of the n closes and of their squares, middle - close = D / n and
    sigma = sqrt(V) / n for D = S - n * close and V = n * Q - S**2, so
    close < middle - k * sigma  <=>  D > 0 and D**2 > k**2 * V (and mirrored above).
    """
    n = lookback_period
    k2 = Fraction(num_std_dev) ** 2
    sums = _window_sums(ticks, n)
    squares = _window_sums(np.array([int(t) ** 2 for t in ticks], dtype=object), n)

    def decide(i: int, direction: int) -> int | None:
        if i < n - 1:
            return None
        d = sums[i] - n * int(ticks[i])
        v = n * squares[i] - sums[i] ** 2
        if direction == LONG:
            return FLAT if d <= 0 else None
        if direction == SHORT:
            return FLAT if d >= 0 else None
        if d != 0 and d * d > k2 * v:
            return LONG if d > 0 else SHORT
        return None

    return decide


def nautilus_rsi(closes: list[float], period: int) -> list[float | None]:
    """Nautilus's RelativeStrengthIndex (EMA average gain and loss), x100; None until warm.

    The first input is its own previous value (a gain of 0 for both averages); each EMA
    starts at its first input and is initialized after ``period`` inputs, so the RSI is warm
    from bar ``period - 1``. An average loss of 0 gives 100.
    """
    alpha = 2.0 / (period + 1.0)
    gain_avg = loss_avg = 0.0
    last = closes[0] if closes else 0.0
    out: list[float | None] = []
    for count, value in enumerate(closes, start=1):
        change = value - last
        gain, loss = (change, 0.0) if change > 0 else (0.0, -change) if change < 0 else (0.0, 0.0)
        if count == 1:
            gain_avg, loss_avg = gain, loss
        gain_avg = alpha * gain + ((1.0 - alpha) * gain_avg)
        loss_avg = alpha * loss + ((1.0 - alpha) * loss_avg)
        last = value
        rsi = 1.0 if loss_avg == 0 else 1.0 - (1.0 / (1.0 + gain_avg / loss_avg))
        out.append(rsi * 100 if count >= period else None)
    return out


def momentum_signals(
    closes: list[float], rsi_period: int, oversold_threshold: float, overbought_threshold: float
) -> Decide:
    """Stop and reverse when the RSI crosses up through oversold or down through overbought."""
    rsi = nautilus_rsi(closes, rsi_period)
    targets: list[int | None] = [None] * len(closes)
    for i in range(1, len(closes)):
        prev, cur = rsi[i - 1], rsi[i]
        if prev is None or cur is None:
            continue
        if prev <= oversold_threshold < cur:
            targets[i] = LONG
        elif prev >= overbought_threshold > cur:
            targets[i] = SHORT
    return lambda i, _direction: targets[i]


def signals(strategy: str, params: dict, ticks: np.ndarray, price_precision: int) -> Decide:
    """The decision rule of ``strategy`` with ``params`` over closes of ``ticks`` ticks."""
    if strategy == "sma_crossover":
        return sma_crossover_signals(ticks, params["fast_period"], params["slow_period"])
    if strategy == "mean_reversion":
        return mean_reversion_signals(ticks, params["lookback_period"], params["num_std_dev"])
    if strategy == "momentum":
        closes = [int(t) / 10**price_precision for t in ticks]
        return momentum_signals(
            closes,
            params["rsi_period"],
            params["oversold_threshold"],
            params["overbought_threshold"],
        )
    raise ValueError(f"unknown strategy {strategy!r}: sma_crossover, mean_reversion, momentum")


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


def cents(amount: Fraction) -> Fraction:
    """``amount`` rounded to cents, half away from zero (as Nautilus's ``Money`` rounds)."""
    scaled = abs(amount) * 100
    whole = math.floor(scaled + Fraction(1, 2))
    return Fraction(whole if amount >= 0 else -whole, 100)


@dataclass
class _Fill:
    ts: int
    qty: Fraction  # signed: + buy, - sell
    price: int  # ticks
    commission: Fraction


@dataclass
class _Account:
    """The position and the money of one simulated run."""

    costs: Costs
    tick: Fraction
    sizing: str
    trade_size: Fraction
    increment: Fraction
    balance: Fraction  # starting balance + realized P&L (in cents) of closed trades
    direction: int = FLAT
    qty: Fraction = Fraction(0)
    entry_price: int = 0
    entry_time: int = 0
    entry_commission: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        self.fills: list[_Fill] = []
        self.trades: list[tuple] = []

    def fill(self, side: int, qty: Fraction, price: int, ts: int) -> tuple[int, Fraction]:
        """Fill ``qty`` on ``side`` at ``price`` ticks before slippage; (price, commission)."""
        c = self.costs
        if c.slippage_ticks:
            price += side * int(c.slippage_ticks)
        if c.slippage_bps:
            moved = price * (1 + side * Fraction(str(c.slippage_bps)) / 10_000)
            price = math.ceil(moved) if side > 0 else math.floor(moved)
        commission = cents(
            Fraction(str(c.commission_rate)) * qty * price * self.tick
            + Fraction(str(c.commission_per_unit)) * qty
            + Fraction(str(c.commission_per_order))
        )
        self.fills.append(_Fill(ts, side * qty, price, commission))
        return price, commission

    def equity_at(self, price: int) -> Fraction:
        """Cash balance plus the open position's unrealized P&L at ``price`` ticks."""
        unrealized = self.direction * (price - self.entry_price) * self.tick * self.qty
        return self.balance - self.entry_commission + unrealized

    def entry_quantity(self, price: int, equity: Fraction) -> Fraction:
        value = price * self.tick
        if self.sizing == "quantity":
            return self.trade_size
        budget = self.trade_size if self.sizing == "notional" else self.trade_size * equity
        return math.floor(budget / value / self.increment) * self.increment

    def move_to(self, target: int, price: int, ts: int) -> None:
        """Close the open position and/or open ``target`` at ``price`` ticks (two fills)."""
        if target == self.direction:
            return
        equity = self.equity_at(price)
        if self.direction != FLAT:
            exit_price, commission = self.fill(-self.direction, self.qty, price, ts)
            gross = self.direction * (exit_price - self.entry_price) * self.tick * self.qty
            pnl = cents(gross) - self.entry_commission - commission  # booked in cents
            self.trades.append(
                (
                    SIDES[self.direction],
                    self.qty,
                    self.entry_time,
                    ts,
                    self.entry_price,
                    exit_price,
                    pnl,
                )
            )
            self.balance += pnl
            self.direction, self.qty, self.entry_commission = FLAT, Fraction(0), Fraction(0)
        if target == FLAT:
            return
        qty = self.entry_quantity(price, equity)
        if qty <= 0 or qty * price * self.tick > equity:
            return  # refused: stays flat
        self.entry_price, self.entry_commission = self.fill(target, qty, price, ts)
        self.direction, self.qty, self.entry_time = target, qty, ts


def _ns(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(timestamps).tz_convert("UTC").as_unit("ns").asi8


def _ticks(values: pd.Series, price_precision: int) -> np.ndarray:
    return np.rint(values.to_numpy(dtype=float) * 10**price_precision).astype(np.int64)


def simulate(
    strategy: str,
    params: dict,
    bars: pd.DataFrame,
    *,
    interval: pd.Timedelta,
    fill_timing: str = "close",
    costs: Costs = Costs(),
    sizing: str = "quantity",
    trade_size: float = 100,
    starting_balance: float = 100_000.0,
    price_precision: int = 2,
    size_increment: float = 1.0,
    session: tuple[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """The trades and the equity curve the documented rules give for ``strategy`` on ``bars``.

    ``session`` (timezone, close time), for bars of a day or longer on an exchange: each bar
    closes at that time on its date in that timezone (README: "Bar labels").

    Returns ``(trades, equity)``: trades in :data:`TRADE_COLUMNS`, one per closed position in
    exit order; equity at every bar close (index: bar close time, UTC).
    """
    if fill_timing not in FILL_TIMINGS:
        raise ValueError(f"fill_timing must be one of {FILL_TIMINGS}, was {fill_timing!r}")
    if sizing not in SIZINGS:
        raise ValueError(f"sizing must be one of {SIZINGS}, was {sizing!r}")
    bars = bars.reset_index(drop=True)
    opens_at = _ns(bars["timestamp"])
    closes_at = opens_at + pd.Timedelta(interval).value
    if session is not None and interval >= pd.Timedelta(days=1):
        zone, close_time = session
        dates = pd.DatetimeIndex(bars["timestamp"]).tz_convert("UTC").tz_localize(None).normalize()
        local = (dates + pd.Timedelta(close_time + ":00")).tz_localize(zone)
        closes_at = local.tz_convert("UTC").as_unit("ns").asi8
    opens = _ticks(bars["open"], price_precision)
    closes = _ticks(bars["close"], price_precision)
    decide = signals(strategy, params, closes, price_precision)
    account = _Account(
        costs=costs,
        tick=Fraction(1, 10**price_precision),
        sizing=sizing,
        trade_size=Fraction(str(trade_size)),
        increment=Fraction(str(size_increment)),
        balance=Fraction(str(starting_balance)),
    )
    pending: int | None = None
    last = len(bars) - 1
    for i in range(len(bars)):
        if pending is not None:
            at = max(int(opens_at[i]), int(closes_at[i - 1]) + 1)
            account.move_to(pending, int(opens[i]), at)
            pending = None
        target = decide(i, account.direction)
        if target is None or target == account.direction:
            continue
        if fill_timing == "close":
            account.move_to(target, int(closes[i]), int(closes_at[i]))
        elif i < last:
            pending = target
    if len(bars):
        account.move_to(FLAT, int(closes[last]), int(closes_at[last]))
    return (
        _trades_frame(account.trades, price_precision),
        _equity(account, closes, closes_at, Fraction(str(starting_balance))),
    )


def _trades_frame(rows: list[tuple], price_precision: int) -> pd.DataFrame:
    scale = 10**price_precision
    frame = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    frame["quantity"] = [float(q) for q in frame["quantity"]]
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column].astype("int64"), utc=True).dt.as_unit("ns")
    for column in ("entry_price", "exit_price"):
        frame[column] = [int(p) / scale for p in frame[column]]
    frame["realized_pnl"] = [float(p) for p in frame["realized_pnl"]]
    return frame


def _equity(
    account: _Account, closes: np.ndarray, closes_at: np.ndarray, start: Fraction
) -> pd.Series:
    """Cash from the fills stamped at or before each bar close, plus position x close."""
    values = []
    cash, held, k = start, Fraction(0), 0
    fills = sorted(account.fills, key=lambda f: f.ts)
    for close, at in zip(closes, closes_at, strict=True):
        while k < len(fills) and fills[k].ts <= at:
            cash -= fills[k].qty * fills[k].price * account.tick + fills[k].commission
            held += fills[k].qty
            k += 1
        values.append(float(cash + held * int(close) * account.tick))
    index = pd.DatetimeIndex(pd.to_datetime(closes_at, utc=True), name="timestamp").as_unit("ns")
    return pd.Series(values, index=index, name="equity")


# ---------------------------------------------------------------------------------------------
# Seeded datasets: (bars, interval, price_precision)
# ---------------------------------------------------------------------------------------------

Dataset = tuple[pd.DataFrame, pd.Timedelta, int]


def regime_walk(rng: np.random.Generator, n: int, start: float, vol: float) -> np.ndarray:
    """Closes that alternate between trending stretches and mean-reverting ones.

    Log prices: a trend segment drifts by +-vol/4 per bar; a reverting segment pulls back
    towards its starting level (an AR(1) with coefficient 0.9); segments last 40-200 bars.
    """
    logs = np.empty(n)
    level = math.log(start)
    i = 0
    while i < n:
        length = min(int(rng.integers(40, 200)), n - i)
        if rng.random() < 0.5:
            drift = rng.choice((-1.0, 1.0)) * vol / 4
            steps = drift + vol * rng.standard_normal(length)
            logs[i : i + length] = level + np.cumsum(steps)
        else:
            anchor, x = level, 0.0
            for j in range(length):
                x = 0.9 * x + vol * 2 * rng.standard_normal()
                logs[i + j] = anchor + x
        level = logs[i + length - 1]
        i += length
    return np.exp(logs)


def ohlcv(
    rng: np.random.Generator,
    timestamps: pd.DatetimeIndex,
    closes: np.ndarray,
    price_precision: int,
    *,
    volume: float | None = None,
    gap: np.ndarray | None = None,
) -> pd.DataFrame:
    """Bars on the tick grid around ``closes``: open = previous close plus a little noise
    (more after a ``gap``), high/low beyond both; volume random, or ``volume`` everywhere."""
    n = len(closes)
    scale = closes * 0.0005
    jump = np.where(gap if gap is not None else np.zeros(n, bool), 6.0, 0.5)
    opens = np.concatenate(([closes[0]], closes[:-1])) + scale * jump * rng.standard_normal(n)
    opens, closes = (np.round(x, price_precision) for x in (opens, closes))
    reach = scale * np.abs(rng.standard_normal((2, n)))
    high = np.round(np.maximum(opens, closes) + reach[0], price_precision)
    low = np.round(np.minimum(opens, closes) - reach[1], price_precision)
    volumes = rng.integers(100, 5000, n).astype(float) if volume is None else np.full(n, volume)
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(timestamps).as_unit("ns"),
            "open": opens,
            "high": np.maximum(high, np.maximum(opens, closes)),
            "low": np.minimum(low, np.minimum(opens, closes)),
            "close": closes,
            "volume": volumes,
        }
    )


def _gaps(timestamps: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    return np.concatenate(([False], np.diff(timestamps.asi8) > interval.value))


def minute_sessions(seed: int = 11, days: int = 5) -> Dataset:
    """1-minute bars of US sessions (14:30-21:00 UTC, 390 a day) on ``days`` weekdays."""
    rng = np.random.default_rng(seed)
    interval = pd.Timedelta("1min")
    sessions = pd.bdate_range("2024-03-04", periods=days, tz="UTC")
    stamps = pd.DatetimeIndex(
        np.concatenate(
            [
                pd.date_range(d + pd.Timedelta("14:30:00"), periods=390, freq="1min")
                for d in sessions
            ]
        )
    )
    closes = regime_walk(rng, len(stamps), 100.0, 0.0008)
    return ohlcv(rng, stamps, closes, 2, gap=_gaps(stamps, interval)), interval, 2


def hourly_fx(seed: int = 12, weeks: int = 4) -> Dataset:
    """FX-like hourly bars 24x5 (Sunday 22:00 to Friday 22:00 UTC), price precision 5."""
    rng = np.random.default_rng(seed)
    interval = pd.Timedelta("1h")
    sundays = pd.date_range("2024-03-03 22:00", periods=weeks, freq="7D", tz="UTC")
    stamps = pd.DatetimeIndex(
        np.concatenate([pd.date_range(s, periods=120, freq="1h") for s in sundays])
    )
    closes = regime_walk(rng, len(stamps), 1.08, 0.0012)
    return ohlcv(rng, stamps, closes, 5, gap=_gaps(stamps, interval)), interval, 5


def daily(seed: int = 13, days: int = 500) -> Dataset:
    """Daily bars on weekdays (open 00:00 UTC), price precision 2."""
    rng = np.random.default_rng(seed)
    interval = pd.Timedelta("1D")
    stamps = pd.bdate_range("2022-01-03", periods=days, tz="UTC")
    closes = regime_walk(rng, len(stamps), 150.0, 0.012)
    return ohlcv(rng, stamps, closes, 2, gap=_gaps(stamps, interval)), interval, 2


def _round_the_clock(seed: int, volume: float, bars: int) -> Dataset:
    rng = np.random.default_rng(seed)
    interval = pd.Timedelta("1min")
    stamps = pd.date_range("2024-03-04", periods=bars, freq="1min", tz="UTC")
    closes = regime_walk(rng, bars, 50.0, 0.001)
    return ohlcv(rng, stamps, closes, 2, volume=volume), interval, 2


def zero_volume(seed: int = 14, bars: int = 1440) -> Dataset:
    """A day of contiguous 1-minute bars, every one with volume 0."""
    return _round_the_clock(seed, 0.0, bars)


def unit_volume(seed: int = 15, bars: int = 1440) -> Dataset:
    """A day of contiguous 1-minute bars, every one with volume 1."""
    return _round_the_clock(seed, 1.0, bars)


DATASETS: dict[str, Callable[[], Dataset]] = {
    "minute_sessions": minute_sessions,
    "hourly_fx": hourly_fx,
    "daily": daily,
    "zero_volume": zero_volume,
    "unit_volume": unit_volume,
}


# -- metrics, from the README's definitions ------------------------------------------------


def reference_metrics(
    equity: pd.Series,
    trades: pd.DataFrame,
    bars: pd.DataFrame,
    interval: pd.Timedelta,
    initial: float,
) -> dict[str, float | None]:
    """The headline metrics of a run, written from the README's "Metrics" rules with plain
    pandas: sessions by UTC date (Sunday joins Monday when no Saturday has bars), returns
    from the initial capital, 252 or 365 periods a year, drawdown on the bar-level path."""
    starts = pd.DatetimeIndex(bars["timestamp"])
    if interval <= pd.Timedelta(days=1):
        days = starts.normalize()
        if not (starts.day_of_week == 5).any():
            days = days.where(starts.day_of_week != 6, days + pd.Timedelta(days=1))
        last_of_period = pd.Series(equity.to_numpy(), index=days).groupby(level=0).last()
    else:
        last_of_period = pd.Series(equity.to_numpy())
    per_year = 365.0 if (starts.day_of_week == 5).any() else 252.0
    if interval >= pd.Timedelta(days=28):
        per_year = 12.0
    elif interval >= pd.Timedelta(days=7):
        per_year = 52.0
    path = pd.concat([pd.Series([initial]), last_of_period.reset_index(drop=True)])
    returns = path.pct_change().dropna()
    out: dict[str, float | None] = {}
    enough = len(returns) >= 2
    std = returns.std(ddof=1) if enough else 0.0
    out["sharpe"] = returns.mean() / std * math.sqrt(per_year) if enough and std > 1e-12 else None
    downside = math.sqrt((returns.clip(upper=0) ** 2).mean()) if len(returns) else 0.0
    out["sortino"] = (
        returns.mean() / downside * math.sqrt(per_year) if enough and downside > 0 else None
    )
    years = (equity.index[-1] - starts[0]) / pd.Timedelta(days=365.25)  # last close
    final = float(equity.iloc[-1])
    out["cagr"] = (final / initial) ** (1 / years) - 1 if enough and final > 0 else None
    bar_path = np.concatenate([[initial], equity.to_numpy()])
    out["max_drawdown"] = float((bar_path / np.maximum.accumulate(bar_path) - 1).min())
    pnl = trades["realized_pnl"].to_numpy(dtype=float)
    out["win_rate"] = float((pnl > 0).mean()) if len(pnl) else None
    losses = -pnl[pnl < 0].sum()
    out["profit_factor"] = float(pnl[pnl > 0].sum() / losses) if losses > 0 else None
    out["total_return"] = final / initial - 1
    out["benchmark_return"] = float(bars["close"].iloc[-1] / bars["open"].iloc[0] - 1)
    return out


# -- the grid the engine and the vector engine are checked on ------------------------------

# Parameters per dataset, picked so each strategy makes 10-60 trades there.
PARAMS: dict[str, dict[str, dict]] = {
    "minute_sessions": {
        "sma_crossover": {"fast_period": 10, "slow_period": 30},
        "mean_reversion": {"lookback_period": 30, "num_std_dev": 2.0},
        "momentum": {"rsi_period": 14, "oversold_threshold": 30.0, "overbought_threshold": 70.0},
    },
    "hourly_fx": {
        "sma_crossover": {"fast_period": 5, "slow_period": 20},
        "mean_reversion": {"lookback_period": 20, "num_std_dev": 1.5},
        "momentum": {"rsi_period": 10, "oversold_threshold": 30.0, "overbought_threshold": 70.0},
    },
    "daily": {
        "sma_crossover": {"fast_period": 5, "slow_period": 20},
        "mean_reversion": {"lookback_period": 20, "num_std_dev": 1.5},
        "momentum": {"rsi_period": 10, "oversold_threshold": 30.0, "overbought_threshold": 70.0},
    },
    "zero_volume": {
        "sma_crossover": {"fast_period": 15, "slow_period": 40},
        "mean_reversion": {"lookback_period": 20, "num_std_dev": 2.0},
        "momentum": {"rsi_period": 14, "oversold_threshold": 30.0, "overbought_threshold": 70.0},
    },
    "unit_volume": {
        "sma_crossover": {"fast_period": 15, "slow_period": 40},
        "mean_reversion": {"lookback_period": 30, "num_std_dev": 2.0},
        "momentum": {"rsi_period": 21, "oversold_threshold": 35.0, "overbought_threshold": 65.0},
    },
}
STRATEGIES = ("sma_crossover", "mean_reversion", "momentum")

# A rate of 4 bps on 100 units at k cents is k/25 cents, on 20,000 FX units at k ticks k/125:
# never an exact half cent, so no quantity-sized check depends on how a tie is rounded.
COSTS: dict[str, Costs] = {
    "no_costs": Costs(),
    "rate_tick": Costs(commission_rate=0.0004, slippage_ticks=1),
    "per_unit": Costs(commission_per_unit=0.005),
    "per_order": Costs(commission_per_order=1.0),
    "bps": Costs(slippage_bps=2.5),
}

# Units per entry (quantity sizing), per dataset: FX trades 20,000 units.
TRADE_SIZE = {"hourly_fx": 20_000}
DEFAULT_TRADE_SIZE = 100


@functools.cache
def dataset(name: str) -> tuple[pd.DataFrame, pd.Timedelta, int]:
    return DATASETS[name]()


def instrument_for(name: str):
    """The instrument of a dataset: None (the engine's default equity) or an FX pair."""
    if name != "hourly_fx":
        return None
    from research_lib.data.instruments import InstrumentSpec

    return InstrumentSpec(
        symbol="EUR/USD",
        venue="SIM",
        asset_class="fx",
        currency="USD",
        price_precision=5,
        size_precision=0,
        size_increment=1,
    )
