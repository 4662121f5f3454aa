"""The Nautilus workarounds change speed, never results.

Runs the same backtests on Nautilus's stock path (NETTING OMS, stock PortfolioAnalyzer) and on
ours (HEDGING OMS, buffered analyzer) and asserts identical fills, trades, PnL and statistics.
"""

from __future__ import annotations

import pandas as pd
import pytest

from research_lib.data.synthetic import mock_bars
from research_lib.engine.runner import EngineOptions
from research_lib.model.run import BacktestResult
from research_lib.workflows.record import run_backtest

BARS = mock_bars(3_000, seed=3)
STRATEGIES = {
    "sma_crossover": {"fast_period": 5, "slow_period": 15},
    "mean_reversion": {"lookback_period": 20, "num_std_dev": 1.5},
    "momentum": {"rsi_period": 10},
}


def run(strategy: str, oms: str, buffered: bool) -> BacktestResult:
    """Stock: NETTING, stock analyzer, all bars at once. Ours: HEDGING, buffered, in chunks."""
    options = EngineOptions(
        oms_type=oms, buffer_analyzer=buffered, chunk_bars=700 if buffered else 1_000_000
    )
    params = {**STRATEGIES[strategy], "trade_size": 100}
    return run_backtest(strategy, params, data=BARS, save=False, options=options)


def comparable_fills(result: BacktestResult) -> pd.DataFrame:
    fills = result.fills[["side", "quantity", "price", "ts"]]
    return fills.sort_values(["ts", "side"], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_our_engine_path_matches_the_stock_path(strategy):
    stock = run(strategy, "NETTING", False)
    ours = run(strategy, "HEDGING", True)
    assert stock.trade_count > 5
    pd.testing.assert_frame_equal(comparable_fills(stock), comparable_fills(ours))
    pd.testing.assert_frame_equal(
        stock.trades.drop(columns="position_id"), ours.trades.drop(columns="position_id")
    )
    assert stock.final_capital == ours.final_capital
    assert stock.stats == ours.stats
    pd.testing.assert_series_equal(stock.equity, ours.equity)
    assert (stock.settings["oms_type"], ours.settings["oms_type"]) == ("NETTING", "HEDGING")


def test_buffered_analyzer_alone_changes_nothing():
    stock = run("sma_crossover", "NETTING", False)
    buffered = run("sma_crossover", "NETTING", True)
    assert stock.stats == buffered.stats
    pd.testing.assert_frame_equal(
        stock.trades.drop(columns="position_id"), buffered.trades.drop(columns="position_id")
    )


def test_buffer_reads_flush_pending_rows(monkeypatch):
    from nautilus_trader.analysis import PortfolioAnalyzer
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.identifiers import PositionId
    from nautilus_trader.model.objects import Money

    from research_lib.engine.nautilus_fixes import buffer_analyzer

    stock, buffered = PortfolioAnalyzer(), buffer_analyzer(PortfolioAnalyzer())
    when = pd.Timestamp("2024-01-02", tz="UTC")
    for analyzer in (stock, buffered):
        for i, pnl in enumerate([5.0, -2.5, 1.25]):
            analyzer.record_trade(PositionId(f"P-{i}"), Money(pnl, USD), 1_000 + i)
            analyzer.add_trade(PositionId(f"Q-{i}"), Money(pnl, USD), 2_000 + i)
            analyzer.add_position_return(when + pd.Timedelta(days=i % 2), pnl / 100)
    pd.testing.assert_series_equal(stock.realized_pnls(USD), buffered.realized_pnls(USD))
    pd.testing.assert_series_equal(stock.position_returns(), buffered.position_returns())
    pd.testing.assert_series_equal(stock.returns(), buffered.returns())
    buffered.reset()
    assert buffered.realized_pnls(USD) is None
    assert buffered.position_returns().empty
