"""Fill timing, costs and sizing as a user sets them: flags, YAML, Python, and their errors.

The trades themselves are checked against the reference simulator in
``test_reference_check.py``; here: what each way of asking does, and clear one-line errors.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from factories import make_bars

from research_lib.engine.execution import slipped_price
from research_lib.engine.run_config import load_run_config
from research_lib.errors import ConfigError
from research_lib.store import ResultsStore
from research_lib.workflows.record import run_backtest, run_from_config
from research_lib.workflows.reproduce import rerun

USER_STRATEGIES = Path(__file__).parent / "user_strategies"
ONE_DAY = {"data": "mock", "start": "2024-01-02", "end": "2024-01-03"}


def test_a_fractional_size_on_a_whole_share_instrument_is_one_clear_line(invoke, tmp_path):
    result = invoke("backtest", "run", "--data", "mock", "--trade-size", "0.5")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "trade_size 0.5 is not a multiple of AAPL's size increment 1" in lines[0]
    assert "research-lib data instrument AAPL --size-precision 1" in lines[0]
    failed = ResultsStore(tmp_path / "r.duckdb").list()
    assert failed["status"].tolist() == ["failed"]  # recorded, with the same reason
    assert "size increment" in failed["error"].iloc[0]


def test_two_commission_kinds_are_refused(invoke):
    result = invoke(
        "backtest", "run", "--data", "mock", "--commission-rate", "0.001",
        "--commission-per-unit", "0.01",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "give one of commission_rate or commission_per_unit, not both" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_slippage_with_volume_limited_fills_is_refused() -> None:
    with pytest.raises(ConfigError, match="slippage applies to unlimited fills"):
        run_backtest(save=False, fill_volume="bar", costs={"slippage_ticks": 1}, **ONE_DAY)


def test_flags_set_costs_and_timing_and_show_prints_them(invoke, tmp_path):
    result = invoke(
        "backtest", "run", "--data", "mock", "--start", "2024-01-02", "--end", "2024-01-03",
        "--commission-per-unit", "0.005", "--slippage-bps", "2", "--fill-timing", "next_open",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "next open; 0.005 per unit + 2 bps slippage" in result.output
    store = ResultsStore(tmp_path / "r.duckdb")
    [run_id] = store.list()["id"]
    execution = store.get(run_id).settings["execution"]
    assert execution["fill_timing"] == "next_open"
    assert execution["costs"]["commission_per_unit"] == 0.005
    assert execution["costs"]["slippage_bps"] == 2.0
    shown = invoke("backtest", "show", run_id[:8])
    assert "next open; 0.005 per unit + 2 bps slippage" in shown.output
    assert "Sharpe ratio (252/yr)" in shown.output


def test_a_sub_cent_commission_per_unit_is_charged_per_fill_not_rounded_first() -> None:
    result = run_backtest(save=False, costs={"commission_per_unit": 0.005}, **ONE_DAY)
    assert len(result.fills) > 0
    assert (result.fills["commission"] == 0.005 * result.fills["quantity"]).all()  # 0.50


def test_yaml_costs_apply_and_a_flag_replaces_the_files_commission(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "strategy: sma_crossover\n"
        "backtest:\n  data: mock\n  start: 2024-01-02\n  end: 2024-01-03\n"
        "  fill_timing: next_open\n"
        "costs:\n  commission_rate: 0.001\n  slippage_ticks: 1\n"
    )
    run_config = load_run_config(path)
    first = run_from_config(run_config, save=False)
    assert first.record.settings["execution"]["fill_timing"] == "next_open"
    assert (first.fills["commission"] > 0).all()
    replaced = run_from_config(run_config, save=False, costs={"commission_per_order": 2.0})
    costs = replaced.record.settings["execution"]["costs"]
    assert (costs["commission_rate"], costs["commission_per_order"]) == (0.0, 2.0)
    assert costs["slippage_ticks"] == 1  # the file's slippage stays
    assert (replaced.fills["commission"] == 2.0).all()


def test_yaml_with_two_slippage_kinds_names_the_section_and_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("strategy: sma_crossover\ncosts:\n  slippage_ticks: 1\n  slippage_bps: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(path)
    assert str(caught.value) == (
        f"{path}:2: costs: give one of slippage_ticks or slippage_bps, not both"
    )


def test_a_users_signal_strategy_runs_with_next_open_fills(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(USER_STRATEGIES))
    bars = make_bars([100 + (i % 7) for i in range(60)])
    ours = run_backtest(
        "breakout:Breakout", {"lookback": 5}, config_path="breakout:BreakoutConfig",
        data=bars, save=False, fill_timing="next_open",
    )  # fmt: skip
    assert ours.record.settings["execution"]["fill_timing"] == "next_open"  # a SignalStrategy


def test_equity_sizing_uses_the_equity_after_the_reversal_closes() -> None:
    # Half the equity each entry: the long after a losing short is sized on what is left.
    result = run_backtest(
        "sma_crossover", {"sizing": "equity", "trade_size": 0.5}, save=False, **ONE_DAY
    )
    trades = result.trades
    assert len(trades) >= 4 and not result.warnings
    notional = trades["quantity"] * trades["entry_price"]
    assert (notional <= 0.5 * result.initial_capital * 1.02).all()
    assert trades["quantity"].nunique() > 1  # resized as equity moves


def test_equity_fraction_above_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="fraction of equity with sizing 'equity': at most 1"):
        run_backtest("sma_crossover", {"sizing": "equity", "trade_size": 2}, save=False)


@pytest.mark.parametrize(
    ("price", "buying", "ticks", "bps", "expected"),
    [
        (100.00, True, 1, 0, 100.01),
        (100.00, False, 2, 0, 99.98),
        (100.00, True, 0, 2.5, 100.03),  # 100.025 rounded up for a buy
        (100.00, False, 0, 2.5, 99.97),  # 99.975 rounded down for a sell
        (100.00, True, 0, 1, 100.01),  # exactly on the grid stays
    ],
)
def test_slippage_stays_on_the_tick_grid(price, buying, ticks, bps, expected) -> None:
    assert slipped_price(price, buying, 0.01, 2, ticks, bps) == expected


def test_a_run_with_costs_reruns_identically(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.duckdb")
    result = run_backtest(
        results=store, costs={"commission_rate": 0.0005, "slippage_ticks": 1},
        fill_timing="next_open", **ONE_DAY,
    )  # fmt: skip
    report = rerun(store, result.run_id)
    assert report.ok, report.message


def test_daily_trades_fall_on_the_session_of_their_bar() -> None:
    # Daily bars dated by day (00:00 UTC) on NASDAQ close at 16:00 New York that day.
    days = 120
    closes = [100 + 10 * ((i // 15) % 2) + (i % 15) * 0.5 for i in range(days)]
    bars = make_bars(closes, start="2024-01-01", freq="B")
    result = run_backtest("sma_crossover", {"fast_period": 3, "slow_period": 8}, data=bars,
                          save=False)  # fmt: skip
    assert result.bar_spec == "1-DAY-LAST" and len(result.trades) >= 4
    stamps = pd.concat([result.trades["entry_time"], result.trades["exit_time"]])
    new_york = stamps.dt.tz_convert("America/New_York")
    assert (new_york.dt.day_of_week < 5).all()
    assert (new_york.dt.strftime("%H:%M") == "16:00").all()
    dates = set(bars["timestamp"].dt.date)
    assert set(new_york.dt.date) <= dates  # each on the date of a bar, never the next day


def _frame(closes: list[float], **kwargs):
    return make_bars(closes, **kwargs)


ZIGZAG = [100 + 10 * math.sin(2 * math.pi * i / 20) for i in range(60)]
SMA_FAST = {"fast_period": 3, "slow_period": 6, "trade_size": 10}


def test_bars_newest_first_give_the_same_run_as_in_time_order() -> None:
    bars = _frame(ZIGZAG)
    ordered = run_backtest("sma_crossover", SMA_FAST, data=bars, save=False)
    reversed_ = run_backtest("sma_crossover", SMA_FAST, data=bars.iloc[::-1], save=False)
    assert reversed_.record.metrics == ordered.record.metrics
    assert reversed_.total_return == pytest.approx(ordered.total_return) != 0
    assert reversed_.equity.tolist() == ordered.equity.tolist()


def test_naive_timestamps_are_utc_and_a_missing_volume_is_zero() -> None:
    bars = _frame(ZIGZAG)
    naive = bars.assign(timestamp=bars["timestamp"].dt.tz_localize(None))
    naive.loc[10, "volume"] = float("nan")
    result = run_backtest("sma_crossover", SMA_FAST, data=naive, save=False)
    assert result.bars["timestamp"].iloc[0] == bars["timestamp"].iloc[0]
    assert result.bars["volume"].iloc[10] == 0 and len(result.trades) > 0


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("close", float("nan"), "a price is missing"), ("high", 1.0, "high is below")],
)
def test_a_bad_bars_frame_names_the_row(column, value, reason) -> None:
    bars = _frame(ZIGZAG)
    bars.loc[7, column] = value
    with pytest.raises(ConfigError, match=f"row at 2024-01-02 14:37:00\\+00:00: {reason}"):
        run_backtest("sma_crossover", SMA_FAST, data=bars, save=False)


def test_next_open_with_bar_volume_fills_at_the_open_when_volume_is_ample() -> None:
    bars = _frame(ZIGZAG).assign(volume=1e9)
    result = run_backtest(
        "sma_crossover", {**SMA_FAST, "trade_size": 100}, data=bars, save=False,
        fill_timing="next_open", fill_volume="bar",
    )  # fmt: skip
    opens = bars.set_index(bars["timestamp"])["open"]
    last_close = result.equity.index[-1]
    entries = result.fills[result.fills["ts"] < last_close]  # the end's close-out is at a close
    assert len(entries) >= 4
    for fill in entries.itertuples():
        bar_open = round(opens[opens.index <= fill.ts].iloc[-1], 2)
        assert fill.price == pytest.approx(bar_open)


def test_daily_bars_with_sunday_stubs_join_monday() -> None:
    from research_lib.model.performance import period_returns

    days = pd.date_range("2024-01-07", periods=21, freq="D", tz="UTC")  # Sunday first
    days = days[days.day_of_week != 5]  # no Saturdays: FX-style daily file
    equity = pd.Series(range(100_000, 100_000 + len(days)), index=days + pd.Timedelta("1D"))
    returns = period_returns(equity.astype(float), days, pd.Timedelta("1D"), 100_000.0)
    assert len(returns) == 15  # 3 weeks x 5 sessions: Sundays are Monday's
    assert set(returns.index.day_of_week) <= {0, 1, 2, 3, 4}
