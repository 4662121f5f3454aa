"""The backtest runner end to end on the real Nautilus engine."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import make_bars

import research_lib.store.pending as pending_module
from research_lib.engine.runner import load_market_data
from research_lib.errors import BacktestError, ConfigError, DataRangeError, UnknownStrategyError
from research_lib.model.metrics import PERFORMANCE_NAMES
from research_lib.store import NotSavedWarning, ResultsStore
from research_lib.workflows.record import run_backtest

# SMA(2, 3) on these closes: short at bar 6 (close 10), reverse to long at bar 9 (close 11),
# long closed at the end of the run (close 12). See the walk-through in test_exact_fills.
CLOSES = [10, 10, 10, 11, 12, 11, 10, 9, 10, 11, 12]
SMA_2_3 = {"fast_period": 2, "slow_period": 3, "trade_size": 10}


@pytest.fixture(scope="module")
def crossing_run():
    return run_backtest("sma", SMA_2_3, data=make_bars(CLOSES), symbol="TEST", save=False)


def test_exact_fills_on_hand_built_bars(crossing_run):
    # bar 6: fast 10.5 < slow 11 -> first crossing down: SELL 10 at its close (10).
    # bar 9: fast 10.5 > slow 10 -> crossing up: BUY 10 to close, BUY 10 to go long, at 11.
    # end of run: SELL 10 at the last close (12).
    fills = crossing_run.fills
    got = [
        (side, qty, px, ts.minute)
        for side, qty, px, ts in zip(
            fills["side"], fills["quantity"], fills["price"], fills["ts"], strict=True
        )
    ]
    # Fills carry the bar close time: bar i opens at 14:30+i and closes at 14:31+i.
    assert got == [
        ("SELL", 10.0, 10.0, 37),
        ("BUY", 10.0, 11.0, 40),
        ("BUY", 10.0, 11.0, 40),
        ("SELL", 10.0, 12.0, 41),
    ]


def test_trades_table_and_capital(crossing_run):
    trades = crossing_run.trades
    assert list(trades["side"]) == ["SHORT", "LONG"]
    assert list(trades["entry_price"]) == [10.0, 11.0]
    assert list(trades["exit_price"]) == [11.0, 12.0]
    assert list(trades["realized_pnl"]) == [-10.0, 10.0]
    assert crossing_run.final_capital == 100_000.0
    assert crossing_run.total_return == 0.0
    assert crossing_run.trade_count == 2


def test_equity_is_marked_to_market_at_each_close(crossing_run):
    expected = [100_000.0] * 7 + [100_010.0, 100_000.0, 99_990.0, 100_000.0]
    assert crossing_run.equity.tolist() == expected
    assert crossing_run.equity.index[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert crossing_run.equity.iloc[-1] == crossing_run.final_capital


def test_result_describes_the_run(crossing_run):
    r = crossing_run
    assert (r.symbol, r.instrument_id, r.bar_type) == (
        "TEST",
        "TEST.NASDAQ",
        "TEST.NASDAQ-1-MINUTE-LAST-EXTERNAL",
    )
    assert r.bar_count == len(CLOSES)
    assert r.config["fast_period"] == 2 and r.config["instrument_id"] == "TEST.NASDAQ"
    assert r.bar_spec == "1-MINUTE-LAST" and r.data_source == "dataframe"
    assert r.settings["oms_type"] == "HEDGING" and r.settings["symbol"] == "TEST"
    assert r.status == "completed" and r.saved_to is None and r.created_at is None
    assert r.strategy == "sma_crossover"
    assert r.config == {
        "instrument_id": "TEST.NASDAQ",
        "bar_type": "TEST.NASDAQ-1-MINUTE-LAST-EXTERNAL",
        "fast_period": 2,
        "slow_period": 3,
        "trade_size": 10.0,
        "sizing": "quantity",
    }  # canonical: every parameter, defaults filled in, Decimals as floats
    assert r.settings["execution"] == {
        "fill_timing": "close",
        "fill_volume": "unlimited",
        "costs": {"commission_rate": 0.0, "commission_per_unit": 0.0,
                  "commission_per_order": 0.0, "slippage_ticks": 0, "slippage_bps": 0.0},
    }  # fmt: skip
    assert r.settings["periods_per_year"] is None  # from the data's calendar
    assert (
        list(r.metrics)
        == list(PERFORMANCE_NAMES)
        == [
            "sharpe",
            "sortino",
            "max_drawdown",
            "win_rate",
            "profit_factor",
            "cagr",
            "volatility",
            "max_drawdown_days",
            "expectancy",
            "avg_trade_return",
            "exposure",
            "benchmark_return",
        ]
    )
    # From the marked-to-market equity above: one session, so no ratios yet.
    assert r.metrics == {
        "sharpe": None,
        "sortino": None,
        "max_drawdown": pytest.approx(99_990 / 100_010 - 1),  # peak 100,010 at 14:38
        "win_rate": 0.5,
        "profit_factor": 1.0,  # +10 / |-10|
        "cagr": None,
        "volatility": None,
        "max_drawdown_days": pytest.approx(3 / 1440),  # 14:38 to the last close, 14:41
        "expectancy": 0.0,
        "avg_trade_return": pytest.approx((-10 / 100 + 10 / 110) / 2),
        "exposure": pytest.approx(4 / 11),  # closes 14:37..14:40 of 11
        "benchmark_return": pytest.approx(12 / 10 - 1),
    }
    assert r.metric_notes == {
        name: "needs 2 periods, has 1" for name in ("sharpe", "sortino", "volatility", "cagr")
    }
    assert r.performance["values"]["total_return"] == 0.0
    assert (r.periods_per_year, r.performance["period"], r.performance["periods"]) == (
        252.0,
        "session",
        1,
    )
    assert r.annualisation == "252 sessions/yr (no weekend bars)"
    # the analyzer's own figures stay for reference (realized P&L: they differ)
    assert "Max Drawdown" in r.stats and "CAGR (252 days)" in r.stats
    assert r.stats["Max Drawdown"] != r.metrics["max_drawdown"]
    assert r.versions["nautilus_trader"] == "1.231.0"


def test_mock_runs_are_deterministic():
    kwargs = {"data": "mock", "start": "2024-01-02", "end": "2024-01-03", "save": False}
    a = run_backtest("sma", {"trade_size": 100}, **kwargs)
    b = run_backtest("sma", {"trade_size": 100}, **kwargs)
    assert a.trade_count > 10
    assert a.stats == b.stats
    assert a.data_fingerprint == b.data_fingerprint
    pd.testing.assert_frame_equal(
        a.trades.drop(columns="position_id"), b.trades.drop(columns="position_id")
    )
    c = run_backtest("sma", {"trade_size": 100}, seed=7, **kwargs)
    assert c.data_fingerprint != a.data_fingerprint


def test_too_few_bars_to_warm_up():
    with pytest.raises(DataRangeError, match=r"5 bars of TEST .* needs at least 21"):
        run_backtest("sma", {}, data=make_bars([10] * 5), symbol="TEST", save=False)


def test_unknown_data_source():
    with pytest.raises(ConfigError, match="unknown data source 'csv'"):
        load_market_data("csv")


def test_every_order_refused_is_an_error():
    with pytest.raises(BacktestError, match=r"every order was refused .*lower trade_size"):
        run_backtest(
            "sma", {**SMA_2_3, "trade_size": 1_000_000}, data=make_bars(CLOSES), save=False
        )


def test_some_orders_refused_is_a_warning():
    # 9,500 shares fit 100,000 at 10 but not the long entry at 11.
    result = run_backtest(
        "sma", {**SMA_2_3, "trade_size": 9_500}, data=make_bars(CLOSES), save=False
    )
    assert result.trade_count == 1
    assert result.warnings and "refused" in result.warnings[0]


def test_mock_range_without_weekdays():
    with pytest.raises(DataRangeError, match="no mock bars"):
        run_backtest("sma", {}, data="mock", start="2024-01-06", end="2024-01-07", save=False)


# -- recording runs -------------------------------------------------------------------------


def test_a_completed_run_is_saved_as_it_was_built(tmp_path):
    store = ResultsStore(tmp_path / "r.duckdb")
    result = run_backtest(
        "sma", SMA_2_3, data=make_bars(CLOSES), symbol="TEST", results=store, tags=["x"]
    )
    assert result.saved_to == str(store.path)
    stored = store.get(result.run_id)
    assert (stored.status, stored.tags, stored.trade_count) == ("completed", ("x",), 2)
    assert stored.bar_spec == result.bar_spec == "1-MINUTE-LAST"
    assert stored.settings == result.settings and stored.config == result.config
    assert stored.duration_seconds == result.duration_seconds > 0


def test_a_failing_run_is_recorded_as_failed_and_raised(tmp_path):
    store = ResultsStore(tmp_path / "r.duckdb")
    with pytest.raises(DataRangeError, match="needs at least 4"):
        run_backtest(
            "sma", SMA_2_3, data=make_bars([10, 10, 10]), symbol="TEST", results=store,
            tags=["t"], sweep_id="s", source="cli",
        )  # fmt: skip
    [run_id] = store.list(status="failed")["id"]
    failed = store.get(run_id)
    assert "DataRangeError: 3 bars of TEST" in failed.error
    assert "Traceback" in failed.traceback
    assert failed.strategy == "sma_crossover" and failed.strategy_path.endswith(":SMACrossover")
    assert failed.config["fast_period"] == 2 and failed.config["instrument_id"] == "TEST.NASDAQ"
    assert (failed.tags, failed.sweep_id, failed.source) == (("t",), "s", "cli")
    assert failed.settings["data"] == "dataframe" and failed.duration_seconds > 0
    assert failed.versions["nautilus_trader"] == "1.231.0"

    with pytest.raises(UnknownStrategyError):  # fails before the strategy is known
        run_backtest("no_such_strategy", {"x": 1}, results=store)
    unknown = store.get(store.list(status="failed", limit=1)["id"].iloc[0])
    assert unknown.strategy == "no_such_strategy" and unknown.strategy_path is None
    assert unknown.config == {"x": 1} and "UnknownStrategyError" in unknown.error

    with pytest.raises(DataRangeError):
        run_backtest("sma", {}, data=make_bars([10] * 5), results=store, save=False)
    assert len(store.list(status="failed")) == 2  # save=False records nothing


def test_a_run_the_store_cannot_take_is_kept_pending(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(pending_module, "temp_dir", lambda: tmp_path / "pending")
    with pytest.warns(NotSavedWarning, match="was NOT saved"):
        result = run_backtest("sma", SMA_2_3, data=make_bars(CLOSES), results=blocker / "r.duckdb")
    assert result.saved_to.startswith(str(tmp_path / "pending"))
    assert result.trade_count == 2
