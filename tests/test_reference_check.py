"""The engine against an independent reference (tests/reference.py), trade by trade.

Each case runs a built-in strategy on a seeded dataset through ``run_backtest`` and through
:func:`reference.simulate`, which works the same run out from the documented rules, and
asserts the same trades (sides, quantities, times and prices exactly; P&L to the cent) and
the same equity at every bar close. The grid covers the three strategies, five dataset shapes,
five cost settings and both fill timings; further cases cover notional and equity sizing and
entries refused as unaffordable.

Keywords are passed to ``run_backtest`` only when they differ from its defaults (close fills,
no costs, quantity sizing, the default equity instrument), so the cases the engine already
supports run unchanged while the others fail until it accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from reference import (
    COSTS,
    DEFAULT_TRADE_SIZE,
    FILL_TIMINGS,
    PARAMS,
    STRATEGIES,
    TRADE_COLUMNS,
    TRADE_SIZE,
    Costs,
    dataset,
    instrument_for,
    reference_metrics,
    simulate,
)

from research_lib.model.defaults import DEFAULT_BALANCE as STARTING_BALANCE
from research_lib.workflows.record import run_backtest

pytestmark = pytest.mark.slow

MIN_TRADES = 5  # fewer and a case could pass without checking anything
PRICE_TOL = 1e-9  # prices lie on the tick grid: equal up to float noise
PNL_TOL = 0.011  # per trade: cents rounding of Nautilus's Money
EQUITY_TOL = 0.02  # plus 1e-9 x |equity|, at every bar


@dataclass(frozen=True)
class Case:
    strategy: str
    data: str
    costs: str = "no_costs"
    fill_timing: str = "close"
    sizing: str = "quantity"
    trade_size: float | None = None  # None: the dataset's quantity

    @property
    def size(self) -> float:
        return self.trade_size or TRADE_SIZE.get(self.data, DEFAULT_TRADE_SIZE)

    @property
    def id(self) -> str:
        parts = [self.strategy, self.data, self.costs, self.fill_timing, self.sizing]
        return "-".join([*parts, *([f"size{self.trade_size:g}"] if self.trade_size else [])])


def run_engine(case: Case):
    """``case`` on the real engine, passing only the keywords that differ from the defaults."""
    bars, _interval, _precision = dataset(case.data)
    params = {**PARAMS[case.data][case.strategy], "trade_size": case.size}
    if case.sizing != "quantity":
        params["sizing"] = case.sizing
    kwargs = {}
    if case.fill_timing != "close":
        kwargs["fill_timing"] = case.fill_timing
    if COSTS[case.costs] != Costs():
        kwargs["costs"] = COSTS[case.costs].engine_costs()
    instrument = instrument_for(case.data)
    if instrument is not None:
        kwargs["instrument"] = instrument
    return run_backtest(case.strategy, params=params, data=bars, save=False, **kwargs)


def run_reference(case: Case) -> tuple[pd.DataFrame, pd.Series]:
    bars, interval, precision = dataset(case.data)
    return simulate(
        case.strategy,
        PARAMS[case.data][case.strategy],
        bars,
        interval=interval,
        fill_timing=case.fill_timing,
        costs=COSTS[case.costs],
        sizing=case.sizing,
        trade_size=case.size,
        price_precision=precision,
        # The engine's default instrument trades on NASDAQ: daily bars close at 16:00 New York.
        session=None if instrument_for(case.data) else ("America/New_York", "16:00"),
    )


def _same_trade(got: pd.Series, want: pd.Series) -> bool:
    return (
        got["side"] == want["side"]
        and abs(got["quantity"] - want["quantity"]) <= PRICE_TOL
        and got["entry_time"] == want["entry_time"]
        and got["exit_time"] == want["exit_time"]
        and abs(got["entry_price"] - want["entry_price"]) <= PRICE_TOL
        and abs(got["exit_price"] - want["exit_price"]) <= PRICE_TOL
        and abs(got["realized_pnl"] - want["realized_pnl"]) <= PNL_TOL
    )


def assert_same_trades(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same trades in the same order; the message shows the first that differs."""
    assert len(want) >= MIN_TRADES, f"the reference made only {len(want)} trades: pick params"
    got = got[TRADE_COLUMNS].reset_index(drop=True)
    for i in range(max(len(got), len(want))):
        if i < len(got) and i < len(want) and _same_trade(got.iloc[i], want.iloc[i]):
            continue
        shown = {
            "engine": got.iloc[i : i + 1],
            "reference": want.iloc[i : i + 1],
        }
        table = pd.concat(shown, names=["", "trade"]).to_string()
        raise AssertionError(
            f"trade {i} differs (engine {len(got)} trades, reference {len(want)}):\n{table}"
        )


def assert_same_equity(got: pd.Series, want: pd.Series) -> None:
    """Equity at every bar close within EQUITY_TOL + 1e-9 x |equity|."""
    assert got.index.equals(want.index), (
        f"equity index differs: engine {got.index[:2].tolist()}..., "
        f"reference {want.index[:2].tolist()}..."
    )
    diff = np.abs(got.to_numpy() - want.to_numpy())
    bad = diff > EQUITY_TOL + 1e-9 * want.abs().to_numpy()
    if bad.any():
        first = bad.argmax()
        raise AssertionError(
            f"equity differs at {bad.sum()} bars, first at {want.index[first]}: "
            f"engine {got.iloc[first]:.4f}, reference {want.iloc[first]:.4f}"
        )


def assert_same_metrics(result, trades: pd.DataFrame, equity: pd.Series, case: Case) -> None:
    """Every headline metric, as the README defines it, from the reference's own trades and
    equity (:func:`reference.reference_metrics`), against the engine's record."""
    bars, interval, _precision = dataset(case.data)
    want = reference_metrics(equity, trades, bars, interval, STARTING_BALANCE)
    got = result.record.metrics
    got = {**got, "total_return": result.total_return}
    for name, value in want.items():
        if value is None:
            assert got[name] is None, (name, got[name])
            assert result.record.metric_notes[name], name  # n/a always says why
        else:
            assert got[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    if result.total_return > 0:  # a profitable run never reads as a losing one
        assert got["sharpe"] is None or got["sharpe"] > 0
        assert got["profit_factor"] is None or got["profit_factor"] > 1


def check(case: Case) -> None:
    result = run_engine(case)
    trades, equity = run_reference(case)
    assert_same_trades(result.trades, trades)
    assert_same_equity(result.equity, equity)
    assert_same_metrics(result, trades, equity, case)


GRID = [
    Case(strategy, data, costs, timing)
    for data in PARAMS
    for strategy in STRATEGIES
    for costs in COSTS
    for timing in FILL_TIMINGS
]
SIZING = [
    Case(strategy, data, costs, timing, sizing, trade_size)
    for sizing, trade_size in (("notional", 10_000), ("equity", 0.5))
    for data in ("minute_sessions", "hourly_fx", "daily")
    for strategy in STRATEGIES
    for costs in ("no_costs", "rate_tick")
    for timing in FILL_TIMINGS
]
# 500 units of a 137-275 stock against a 100,000 balance: entries above ~200 are refused.
REFUSALS = [
    Case(strategy, "daily", "no_costs", timing, trade_size=500)
    for strategy in STRATEGIES
    for timing in FILL_TIMINGS
]


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id)
def test_engine_matches_reference(case):
    check(case)


@pytest.mark.parametrize("case", SIZING, ids=lambda c: c.id)
def test_sizing_matches_reference(case):
    check(case)


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.id)
def test_unaffordable_entries_are_refused_as_the_reference(case):
    check(case)


@pytest.mark.parametrize("data", ["zero_volume", "unit_volume"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fills_on_thin_bars_are_at_the_close(strategy, data):
    # Volume 0 or 1 limits nothing: every fill is at the close of the bar it is stamped with.
    result = run_engine(Case(strategy, data))
    bars, interval, _ = dataset(data)
    close_at = pd.Series(bars["close"].to_numpy(), index=bars["timestamp"] + interval)
    fills = result.fills
    assert len(fills) >= 2 * MIN_TRADES
    expected = close_at.reindex(pd.DatetimeIndex(fills["ts"])).to_numpy()
    off = np.abs(fills["price"].to_numpy() - expected) > PRICE_TOL
    assert not off.any(), (
        f"{off.sum()} of {len(fills)} fills are not at the bar close, the first:\n"
        f"{fills[off].head(1).to_string()} (close {expected[off][0]})"
    )


# The reference itself, on hand-built bars with answers worked out by hand.


def _bars(closes: list[float], opens: list[float] | None = None) -> pd.DataFrame:
    """1-minute bars from 14:30 with these closes (and opens, default the closes)."""
    o, c = np.asarray(opens or closes, dtype=float), np.asarray(closes, dtype=float)
    stamps = pd.date_range("2024-01-02 14:30", periods=len(c), freq="1min", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": stamps.as_unit("ns"),
            "open": o,
            "high": np.maximum(o, c) + 0.1,
            "low": np.minimum(o, c) - 0.1,
            "close": c,
            "volume": 1000.0,
        }
    )


MINUTE = pd.Timedelta("1min")
SMA_2_3 = {"fast_period": 2, "slow_period": 3}
CLOSES = [10, 10, 10, 11, 12, 11, 10, 9, 10, 11, 12]


SHOWN = ["side", "entry_time", "exit_time", "entry_price", "exit_price"]


def _t(minute: int) -> pd.Timestamp:
    """14:``minute`` on the day of the hand-built bars."""
    return pd.Timestamp("2024-01-02 14:00", tz="UTC") + pd.Timedelta(minutes=minute)


def _sma(closes: list[float], opens: list[float] | None = None, **kwargs) -> pd.DataFrame:
    """The reference's SMA(2, 3) trades on hand-built bars."""
    trades, _ = simulate("sma_crossover", SMA_2_3, _bars(closes, opens), interval=MINUTE, **kwargs)
    return trades


def test_reference_sma_crossover_by_hand():
    # bar 2 warm with equal averages (no sign); bar 3 above sets it; bar 6 fast 10.5 < slow
    # 11 crosses down: short 10 at 10; bar 9 crosses up: reverse at 11; closed at the end (12).
    trades, equity = simulate(
        "sma_crossover", SMA_2_3, _bars(CLOSES), interval=MINUTE, trade_size=10
    )
    assert trades[SHOWN].values.tolist() == [
        ["SHORT", _t(37), _t(40), 10.0, 11.0],
        ["LONG", _t(40), _t(41), 11.0, 12.0],
    ]
    assert trades["realized_pnl"].tolist() == [-10.0, 10.0]
    assert equity.index[0] == _t(31)
    assert equity.iloc[[6, 7, 9, 10]].tolist() == [100_000.0, 100_010.0, 99_990.0, 100_000.0]


def test_reference_next_open_costs_and_rounding():
    # Decided on bar 6 (close 14:37), filled at bar 7's open 9.50 at 14:37 + 1 ns; 10 bps
    # slippage: sell at 9.50 x 0.999 = 9.4905 -> down to 9.49; the reversal decided on bar 9
    # fills at bar 10's open 10.60: buy to close and to open at 10.6106 -> up to 10.62.
    opens = [10, 10, 10, 10.5, 11.5, 12, 10.5, 9.5, 9.0, 9.5, 10.6]
    costs = Costs(commission_per_order=1.0, slippage_bps=10)
    trades = _sma(CLOSES, opens, trade_size=10, fill_timing="next_open", costs=costs)
    ns = pd.Timedelta(1, "ns")
    assert trades[SHOWN].values.tolist() == [
        ["SHORT", _t(37) + ns, _t(40) + ns, 9.49, 10.62],
        ["LONG", _t(40) + ns, _t(41), 10.62, 11.98],
    ]
    # (9.49 - 10.62) x 10 and (11.98 - 10.62) x 10, less 1.00 per fill.
    assert trades["realized_pnl"].tolist() == pytest.approx([-13.3, 11.6])


def test_reference_refuses_unaffordable_entries_and_sizes_by_equity():
    # Short 1,000 at 10 costs exactly the 10,000 balance; at the reversal equity is 9,000 and
    # 1,000 units at 11 cost 11,000: the short is closed and the long refused.
    trades = _sma(CLOSES, trade_size=1000, starting_balance=10_000)
    assert trades[["side", "quantity", "exit_price"]].values.tolist() == [["SHORT", 1000.0, 11.0]]
    # Equity sizing: 0.5 x 10,000 / 10 = 500 units short; at the reversal equity is 9,500
    # (marked at 11), so the long gets floor(0.5 x 9,500 / 11) = 431 units.
    trades = _sma(CLOSES, sizing="equity", trade_size=0.5, starting_balance=10_000)
    assert trades["quantity"].tolist() == [500.0, 431.0]
    # Notional sizing: floor(1,000 / 10) = 100 units, then floor(1,000 / 11) = 90.
    assert _sma(CLOSES, sizing="notional", trade_size=1000)["quantity"].tolist() == [100.0, 90.0]
