"""The vector engine agrees trade for trade with Nautilus.

Directly, against the engine's own runs (identical trade lists, P&L equal to 1e-9): the
three strategies, both fill timings, with and without costs, sized entries, and random
parameter points (hypothesis). And through the independent reference (tests/reference.py),
which ``test_reference_check`` holds to the engine: every dataset shape, cost kind and sizing
of that grid. (Where the reference and Nautilus part, at exactly equal averages, the vector
engine follows Nautilus: a random point found one, fast 1 / slow 3.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    COSTS,
    DATASETS,
    PARAMS,
    STRATEGIES,
    TRADE_SIZE,
    Costs,
    dataset,
    instrument_for,
    simulate,
)

from research_lib.engine.market import load_market_data
from research_lib.engine.vector import run_points, supports
from research_lib.errors import ConfigError
from research_lib.model.execution import Costs as EngineCosts
from research_lib.model.execution import Execution
from research_lib.workflows.record import run_backtest

COLUMNS = ["side", "quantity", "entry_time", "exit_time", "entry_price", "exit_price"]


def market_of(name: str):
    bars, _interval, _precision = dataset(name)
    return load_market_data(bars, instrument=instrument_for(name))


def vector(strategy, params, name, fill_timing="close", costs=Costs(), **point):
    execution = Execution(fill_timing=fill_timing, costs=EngineCosts(**costs.engine_costs()))
    [run] = run_points(
        strategy, [{**params, **point}], market_of(name), execution=execution, keep_trades=True,
        keep_equity=True,
    )  # fmt: skip
    return run


def assert_same(got: pd.DataFrame, want: pd.DataFrame, pnl_tol: float) -> None:
    got, want = got.reset_index(drop=True), want.reset_index(drop=True)
    assert len(got) == len(want), f"{len(got)} trades, expected {len(want)}"
    for column in COLUMNS:
        a, b = got[column], want[column]
        if column.endswith("price") or column == "quantity":
            assert np.allclose(a.astype(float), b.astype(float), rtol=0, atol=1e-9), column
        else:
            assert (a.to_numpy() == b.to_numpy()).all(), column
    pnl_got, pnl_want = got["realized_pnl"].astype(float), want["realized_pnl"].astype(float)
    assert np.allclose(pnl_got, pnl_want, rtol=1e-9, atol=pnl_tol)


def engine_and_vector(strategy, params, name, fill_timing, costs, **point):
    bars = dataset(name)[0]
    extra = {"instrument": instrument_for(name)} if instrument_for(name) else {}
    engine = run_backtest(
        strategy, params={**params, **point}, data=bars, save=False, fill_timing=fill_timing,
        costs=COSTS[costs].engine_costs(), **extra,
    )  # fmt: skip
    return engine, vector(strategy, params, name, fill_timing, COSTS[costs], **point)


@pytest.mark.parametrize("fill_timing", ["close", "next_open"])
@pytest.mark.parametrize("costs", ["no_costs", "rate_tick", "bps"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_vector_trades_equal_nautilus(strategy, costs, fill_timing) -> None:
    name = "minute_sessions"
    params = PARAMS[name][strategy]
    engine, run = engine_and_vector(strategy, params, name, fill_timing, costs)
    assert len(engine.trades) >= 5
    assert_same(run.trades, engine.trades, pnl_tol=1e-9)
    assert run.metrics["final_capital"] == pytest.approx(engine.record.final_capital, rel=1e-12)
    values = engine.record.performance["values"]
    for metric in ("sharpe", "max_drawdown", "win_rate", "profit_factor"):
        assert run.metrics[metric] == pytest.approx(values[metric], rel=1e-9, nan_ok=True)
    np.testing.assert_allclose(run.equity.to_numpy(), engine.equity.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "sizing", "size"),
    [("minute_sessions", "equity", 0.2), ("hourly_fx", "notional", 15_000.0)],
)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sized_entries_with_per_unit_costs_equal_nautilus(strategy, name, sizing, size) -> None:
    # fractional unit counts make half-cent commissions, rounded as Nautilus's floats do
    engine, run = engine_and_vector(
        strategy, PARAMS[name][strategy], name, "close", "per_unit", sizing=sizing, trade_size=size
    )
    assert len(engine.trades) >= 5
    assert_same(run.trades, engine.trades, pnl_tol=1e-9)


# The reference rounds ties exactly where Nautilus rounds floats: per-unit costs on
# fractional sizes are checked against Nautilus itself, above.
REFERENCE_CASES = [
    (strategy, name, costs, fill_timing, sizing)
    for strategy in STRATEGIES
    for name in DATASETS
    for costs in COSTS
    for fill_timing in ("close", "next_open")
    for sizing in ("quantity", "notional", "equity")
    if not (costs == "per_unit" and sizing != "quantity")
]


@pytest.mark.parametrize(("strategy", "name", "costs", "fill_timing", "sizing"), REFERENCE_CASES)
def test_vector_trades_equal_the_reference(strategy, name, costs, fill_timing, sizing) -> None:
    bars, interval, precision = dataset(name)
    params = PARAMS[name][strategy]
    size = {"quantity": TRADE_SIZE.get(name, 100), "notional": 15_000.0, "equity": 0.2}[sizing]
    session = None if instrument_for(name) else ("America/New_York", "16:00")
    trades, equity = simulate(
        strategy, params, bars, interval=interval, fill_timing=fill_timing, costs=COSTS[costs],
        sizing=sizing, trade_size=size, price_precision=precision, session=session,
    )  # fmt: skip
    run = vector(strategy, params, name, fill_timing, COSTS[costs], sizing=sizing, trade_size=size)
    assert_same(run.trades, trades, pnl_tol=0.011)  # the reference rounds ties its own way
    np.testing.assert_allclose(run.equity.to_numpy(), equity.to_numpy(), rtol=1e-9, atol=0.05)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strategy=st.sampled_from(STRATEGIES),
    a=st.integers(2, 40),
    b=st.integers(1, 40),
    k=st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
    low=st.integers(10, 45),
    fill_timing=st.sampled_from(["close", "next_open"]),
    costs=st.sampled_from(["no_costs", "rate_tick", "per_order", "bps"]),
)
def test_random_points_equal_nautilus(strategy, a, b, k, low, fill_timing, costs) -> None:
    params = {
        "sma_crossover": {"fast_period": min(a, b), "slow_period": max(a, b) + 1},
        "mean_reversion": {"lookback_period": a, "num_std_dev": k},
        "momentum": {
            "rsi_period": a,
            "oversold_threshold": float(low),
            "overbought_threshold": float(100 - low),
        },
    }[strategy]
    engine, run = engine_and_vector(strategy, params, "minute_sessions", fill_timing, costs)
    assert_same(run.trades, engine.trades, pnl_tol=1e-9)
    assert run.metrics["final_capital"] == pytest.approx(engine.record.final_capital, rel=1e-12)


def test_many_points_in_one_call_and_what_it_refuses() -> None:
    market = market_of("minute_sessions")
    points = [{"fast_period": f, "slow_period": s} for f in (5, 10) for s in (20, 40)]
    runs = run_points("sma_crossover", points, market)
    assert [{k: r.params[k] for k in p} for r, p in zip(runs, points, strict=True)] == points
    assert all(r.trades is None and r.equity is None for r in runs)  # only when asked
    one = run_points("sma_crossover", points[1:2], market, keep_trades=True)[0]
    assert runs[1].metrics == one.metrics and runs[1].metrics["trade_count"] == len(one.trades)
    assert supports("momentum") and not supports("my_strategy")
    with pytest.raises(ConfigError, match="no vectorized rule"):
        run_points("my_strategy", points, market)
    with pytest.raises(ConfigError, match="slow_period: must be greater than fast_period"):
        run_points("sma_crossover", [{"fast_period": 20, "slow_period": 5}], market)
    with pytest.raises(ConfigError, match="fast_perod: unknown parameter of SMAConfig"):
        run_points("sma_crossover", [{"fast_perod": 3}], market)
    assert run_points("momentum", [{}], market)[0].params["rsi_period"] == 14  # defaults
    with pytest.raises(ConfigError, match="fill_volume"):
        run_points("sma_crossover", points, market, execution=Execution(fill_volume="bar"))
