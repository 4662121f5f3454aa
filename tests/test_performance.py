"""Performance metrics from mark-to-market equity, against numbers worked out by hand here from
the rules in :mod:`research_lib.model.performance` (plain ``statistics``/``math``, not the
module's helpers). Test data is built inline, so this module depends on nothing but the module
under test."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from research_lib.model.performance import (
    PERFORMANCE_METRICS,
    Annualisation,
    Performance,
    annualisation,
    drawdown,
    performance,
    period_returns,
)
from research_lib.model.run import TRADE_COLUMNS

MINUTE, HOUR, DAY = pd.Timedelta("1min"), pd.Timedelta("1h"), pd.Timedelta("1D")
NO_TRADES = pd.DataFrame(columns=TRADE_COLUMNS)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def make_bars(closes: list[float], start: str = "2024-01-02 14:30", freq: str = "1min"):
    """Bars whose closes are ``closes``, opening at the previous close (the first at its own)."""
    opens = [closes[0], *closes[:-1]]
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(utc(start), periods=len(closes), freq=freq).as_unit("ns"),
            "open": opens,
            "high": np.maximum(opens, closes) + 0.1,
            "low": np.minimum(opens, closes) - 0.1,
            "close": closes,
            "volume": 1000.0,
        }
    )


def equity_for(bars: pd.DataFrame, interval: pd.Timedelta, values: list[float]) -> pd.Series:
    """Equity marked at each bar's close."""
    index = pd.DatetimeIndex(bars["timestamp"] + interval, name="timestamp")
    return pd.Series(values, index=index, dtype=float, name="equity")


def bars_at(starts: pd.DatetimeIndex, closes: list[float] | None = None) -> pd.DataFrame:
    """Bars at the given open times (closes default to 100, 101, ...)."""
    closes = closes if closes is not None else [100.0 + i for i in range(len(starts))]
    bars = make_bars(closes)
    bars["timestamp"] = pd.DatetimeIndex(starts).as_unit("ns")
    return bars


def trades_frame(rows: list[tuple]) -> pd.DataFrame:
    """Trades from (side, quantity, entry_time, exit_time, entry_price, exit_price, pnl)."""
    frame = pd.DataFrame(rows, columns=TRADE_COLUMNS[1:])
    frame.insert(0, "position_id", [f"P-{i}" for i in range(1, len(rows) + 1)])
    for column in ("entry_time", "exit_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def downside(returns: list[float]) -> float:
    return math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))


# --- the hand-worked 10-bar sequences --------------------------------------------------------


def test_ten_daily_bars_by_hand():
    # Daily bars on 10 weekdays, Mon 2024-01-01 .. Fri 2024-01-12 (no weekend bars: 252/yr).
    # Each bar is a period; bar k closes at its start + 1 day.
    closes = [100.0, 101.0, 99.0, 102.0, 103.0, 102.0, 101.0, 102.0, 104.0, 103.0]
    bars = make_bars(closes, start="2024-01-01 00:00", freq="B")
    e0 = 100_000.0
    e = [101_000, 100_500, 99_000, 102_000, 103_000, 102_500, 101_000, 102_000, 104_000, 103_500]
    path = [e0, *e]
    returns = [path[k] / path[k - 1] - 1 for k in range(1, 11)]  # r_1 from E_0 included
    trades = trades_frame(
        [
            ("LONG", 150.0, "2024-01-01", "2024-01-03", 100.0, 110.0, 1_500.0),
            ("SHORT", 100.0, "2024-01-04", "2024-01-09", 102.0, 109.0, -700.0),
            ("LONG", 200.0, "2024-01-10 12:00", "2024-01-13", 101.0, 112.0, 2_200.0),
        ]
    )

    perf = performance(equity_for(bars, DAY, e), bars, DAY, trades, e0)

    v = perf.values
    assert perf.periods == 10
    assert perf.annualisation == Annualisation(252.0, "session", "252 days/yr (no weekend bars)")
    assert v["total_return"] == pytest.approx(103_500 / 100_000 - 1)
    mean, std = statistics.mean(returns), statistics.stdev(returns)
    assert v["sharpe"] == pytest.approx(mean / std * math.sqrt(252))
    assert v["sortino"] == pytest.approx(mean / downside(returns) * math.sqrt(252))
    assert v["volatility"] == pytest.approx(std * math.sqrt(252))
    years = 12 / 365.25  # first start Mon Jan 1 00:00 .. last close Sat Jan 13 00:00
    assert v["cagr"] == pytest.approx((103_500 / 100_000) ** (1 / years) - 1)
    # Peaks 100k, 101k, 101k, 101k, 102k, 103k, 103k, 103k, 103k, 104k, 104k: deepest is
    # 99k under 101k. Spells below a peak: E_1 (close Tue Jan 2) .. E_4 (close Fri Jan 5) = 3
    # days; E_5 (close Sat Jan 6) .. E_9 (close Fri Jan 12) = 6 days; E_9 .. last close = 1 day.
    assert v["max_drawdown"] == pytest.approx(99_000 / 101_000 - 1)
    assert v["max_drawdown_days"] == pytest.approx(6.0)
    assert v["win_rate"] == pytest.approx(2 / 3)
    assert v["profit_factor"] == pytest.approx((1_500 + 2_200) / 700)
    assert v["expectancy"] == pytest.approx((1_500 - 700 + 2_200) / 3)
    assert v["avg_trade_return"] == pytest.approx(
        (1_500 / (100 * 150) - 700 / (102 * 100) + 2_200 / (101 * 200)) / 3
    )
    # Closes: Jan 2, 3, 4, 5, 6, 9, 10, 11, 12, 13. Trade 1 covers Jan 2 (exit Jan 3 is not
    # covered); trade 2 Jan 4, 5, 6; trade 3 Jan 11, 12: 6 of 10 closes.
    assert v["exposure"] == pytest.approx(0.6)
    assert v["benchmark_return"] == pytest.approx(103.0 / 100.0 - 1)  # first open = 100
    assert perf.notes == {}


def test_ten_minute_bars_over_two_sessions_by_hand():
    # 1-minute bars starting 23:55 .. 00:04 around midnight of Tue 2024-01-02: the five bars
    # starting on Jan 2 (the 23:59 bar closes at 00:00 on Jan 3) are session Jan 2, the next
    # five session Jan 3.
    bars = make_bars([100.0] * 10, start="2024-01-02 23:55")
    e0 = 10_000.0
    e = [10_100, 10_050, 9_900, 10_200, 10_300, 10_250, 10_100, 10_200, 10_400, 10_200]
    equity = equity_for(bars, MINUTE, e)
    r1 = 10_300 / 10_000 - 1  # session Jan 2 ends at E_5
    r2 = 10_200 / 10_300 - 1  # session Jan 3 ends at E_10
    returns = [r1, r2]

    got = period_returns(equity, bars["timestamp"], MINUTE, e0)
    assert list(got.index) == [utc("2024-01-02"), utc("2024-01-03")]
    assert got.tolist() == pytest.approx(returns)

    perf = performance(equity, bars, MINUTE, NO_TRADES, e0)
    v = perf.values
    assert perf.annualisation.reason == "252 sessions/yr (no weekend bars)"
    assert perf.annualisation.period == "session"
    assert perf.periods == 2
    mean, std = statistics.mean(returns), statistics.stdev(returns)
    assert v["sharpe"] == pytest.approx(mean / std * math.sqrt(252))
    assert v["sortino"] == pytest.approx(mean / math.sqrt(r2**2 / 2) * math.sqrt(252))
    assert v["volatility"] == pytest.approx(std * math.sqrt(252))
    # Deepest: 9_900 under 10_100 (10_100 under 10_300 and 10_200 under 10_400 are shallower).
    assert v["max_drawdown"] == pytest.approx(9_900 / 10_100 - 1)
    # Spells: 23:56 .. 23:59 (3 min), 00:00 .. 00:04 (4 min), 00:04 .. last close 00:05.
    assert v["max_drawdown_days"] == pytest.approx(4 / 1440)
    # Ten minutes are 1/52596 of a year: 1.02 ** 52596 does not fit in a float.
    assert v["cagr"] is None
    assert "too short" in perf.notes["cagr"]


# --- periods and annualisation --------------------------------------------------------------


def test_intraday_sessions_skip_the_weekend():
    # Hourly bars 14:00..19:00 on Thu Jan 4, Fri Jan 5, Mon Jan 8 and Tue Jan 9 2024.
    days = ["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"]
    starts = pd.DatetimeIndex([utc(d) + pd.Timedelta(hours=h) for d in days for h in range(14, 20)])
    bars = bars_at(starts)
    values = [100_000.0 + 100 * i for i in range(1, 25)]  # E_k = 100_000 + 100k
    equity = equity_for(bars, HOUR, values)

    got = period_returns(equity, bars["timestamp"], HOUR, 100_000.0)

    assert list(got.index) == [utc(d) for d in days]  # no Saturday or Sunday period
    ends = [100_600.0, 101_200.0, 101_800.0, 102_400.0]  # E_6, E_12, E_18, E_24
    assert got.tolist() == pytest.approx(
        [ends[0] / 100_000 - 1, ends[1] / ends[0] - 1, ends[2] / ends[1] - 1, ends[3] / ends[2] - 1]
    )
    assert annualisation(bars["timestamp"], HOUR) == Annualisation(
        252.0, "session", "252 sessions/yr (no weekend bars)"
    )


def test_24x7_hourly_bars_with_saturdays_are_365_a_year():
    # Every hour of Fri Jan 5, Sat Jan 6 and Sun Jan 7 2024: Sunday stays its own session.
    starts = pd.date_range(utc("2024-01-05"), periods=72, freq="1h")
    bars = bars_at(starts)
    equity = equity_for(bars, HOUR, [1_000.0 + i for i in range(1, 73)])

    got = period_returns(equity, bars["timestamp"], HOUR, 1_000.0)
    perf = performance(equity, bars, HOUR, NO_TRADES, 1_000.0)

    assert list(got.index) == [utc("2024-01-05"), utc("2024-01-06"), utc("2024-01-07")]
    assert got.tolist() == pytest.approx([1_024 / 1_000 - 1, 1_048 / 1_024 - 1, 1_072 / 1_048 - 1])
    assert perf.annualisation == Annualisation(
        365.0, "session", "365 sessions/yr (bars on weekends)"
    )
    returns = got.tolist()
    assert perf.values["sharpe"] == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    )


def test_fx_sunday_evening_bars_join_monday():
    # FX hours: Fri Jan 5 20:00-21:00, then Sun Jan 7 22:00 .. Tue Jan 9 23:00; no Saturday.
    friday = [utc("2024-01-05 20:00"), utc("2024-01-05 21:00")]
    starts = pd.DatetimeIndex(
        [*friday, *pd.date_range(utc("2024-01-07 22:00"), utc("2024-01-09 23:00"), freq="1h")]
    )
    bars = bars_at(starts)
    values = [5_000.0 + 10 * i for i in range(1, len(starts) + 1)]
    equity = equity_for(bars, HOUR, values)

    got = period_returns(equity, bars["timestamp"], HOUR, 5_000.0)

    # Sessions: Jan 5 (2 bars), Jan 8 (Sun 22:00, 23:00 and 24 Monday bars), Jan 9 (24 bars).
    assert list(got.index) == [utc("2024-01-05"), utc("2024-01-08"), utc("2024-01-09")]
    e_fri, e_mon, e_tue = 5_020.0, 5_000.0 + 10 * 28, 5_000.0 + 10 * 52
    assert got.tolist() == pytest.approx([e_fri / 5_000 - 1, e_mon / e_fri - 1, e_tue / e_mon - 1])
    assert annualisation(bars["timestamp"], HOUR).reason == "252 sessions/yr (no Saturday bars)"


def test_monthly_bars_are_12_a_year():
    starts = pd.date_range(utc("2023-01-01"), periods=12, freq="MS")
    bars = bars_at(starts)
    values = [100.0, 102.0, 101.0, 104.0, 103.0, 107.0, 108.0, 106.0, 110.0, 111.0, 109.0, 113.0]
    closes_at = pd.date_range(utc("2023-02-01"), periods=12, freq="MS")  # the next month's start
    equity = pd.Series(values, index=closes_at)
    month = pd.Timedelta(days=31)

    perf = performance(equity, bars, month, NO_TRADES, 100.0)

    assert perf.annualisation == Annualisation(12.0, "bar", "12 bars/yr (monthly bars)")
    path = [100.0, *values]
    returns = [path[k] / path[k - 1] - 1 for k in range(1, 13)]
    assert perf.periods == 12
    assert perf.values["sharpe"] == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(12)
    )
    years = 365 / 365.25  # 2023-01-01 .. 2024-01-01
    assert perf.values["cagr"] == pytest.approx((113 / 100) ** (1 / years) - 1)
    for days in (28, 30):
        assert annualisation(starts, pd.Timedelta(days=days)).periods_per_year == 12.0


def test_other_bar_lengths():
    starts = pd.date_range(utc("2024-01-01"), periods=4, freq="7D")
    assert annualisation(starts, pd.Timedelta(days=7)) == Annualisation(
        52.0, "bar", "52 bars/yr (weekly bars)"
    )
    two_days = annualisation(starts, pd.Timedelta(days=2))
    assert two_days.periods_per_year == pytest.approx(365.25 / 2)
    assert two_days.reason == "182.625 bars/yr (2-day bars)"
    saturday_daily = pd.date_range(utc("2024-01-01"), periods=7, freq="1D")
    assert annualisation(saturday_daily, DAY).reason == "365 days/yr (bars on weekends)"


def test_override_sets_periods_per_year():
    bars = make_bars([100.0] * 5, start="2024-01-01 00:00", freq="B")
    values = [101.0, 100.0, 103.0, 102.0, 104.0]
    equity = equity_for(bars, DAY, values)

    default = performance(equity, bars, DAY, NO_TRADES, 100.0)
    custom = performance(equity, bars, DAY, NO_TRADES, 100.0, periods_per_year=260)

    assert custom.annualisation == Annualisation(260.0, "session", "set: 260/yr")
    assert custom.values["sharpe"] == pytest.approx(default.values["sharpe"] * math.sqrt(260 / 252))
    with pytest.raises(ValueError, match="periods_per_year must be a positive number"):
        annualisation(bars["timestamp"], DAY, 0)


# --- the ratios and their n/a cases ---------------------------------------------------------


def test_profitable_run_has_positive_sharpe_and_profit_factor():
    bars = make_bars([100.0 + i for i in range(20)], start="2024-01-01 00:00", freq="B")
    values = [100_000.0 * 1.01**k * (1 + (-1) ** k * 0.015) for k in range(1, 21)]
    trades = trades_frame(
        [
            ("LONG", 100.0, "2024-01-01", "2024-01-10", 100.0, 107.0, 700.0),
            ("LONG", 100.0, "2024-01-11", "2024-01-15", 108.0, 107.0, -100.0),
            ("LONG", 100.0, "2024-01-16", "2024-01-26", 108.0, 117.0, 900.0),
        ]
    )

    v = performance(equity_for(bars, DAY, values), bars, DAY, trades, 100_000.0).values

    assert v["sharpe"] > 0 and v["sortino"] > 0 and v["cagr"] > 0
    assert v["profit_factor"] == pytest.approx(16.0)
    assert v["total_return"] == pytest.approx(values[-1] / 100_000.0 - 1)


def test_no_trades_leaves_trade_metrics_na():
    bars = make_bars([100.0, 101.0, 102.0], start="2024-01-01 00:00", freq="B")
    perf = performance(equity_for(bars, DAY, [100.0, 99.0, 101.0]), bars, DAY, NO_TRADES, 100.0)

    for name in ("profit_factor", "win_rate", "expectancy", "avg_trade_return"):
        assert perf.values[name] is None
        assert perf.notes[name] == "no trades"
    assert perf.values["exposure"] == 0.0
    without = performance(equity_for(bars, DAY, [100.0] * 3), bars, DAY, None, 100.0)
    assert without.notes["win_rate"] == "no trades"


def test_one_period_has_no_ratios():
    bars = make_bars([100.0] * 5)  # five 1-minute bars of one session
    perf = performance(
        equity_for(bars, MINUTE, [99.0, 101, 102, 98, 103]), bars, MINUTE, None, 100.0
    )

    assert perf.periods == 1
    for name in ("sharpe", "sortino", "volatility", "cagr"):
        assert perf.values[name] is None
        assert perf.notes[name] == "needs 2 periods, has 1"
    assert perf.values["total_return"] == pytest.approx(0.03)
    assert perf.values["max_drawdown"] == pytest.approx(98 / 102 - 1)


def test_flat_equity():
    bars = make_bars([100.0] * 4, start="2024-01-01 00:00", freq="B")
    perf = performance(equity_for(bars, DAY, [100.0] * 4), bars, DAY, NO_TRADES, 100.0)

    assert perf.values["sharpe"] is None and perf.notes["sharpe"] == "returns do not vary"
    assert perf.values["sortino"] is None and perf.notes["sortino"] == "no losing periods"
    assert perf.values["volatility"] == 0.0
    assert perf.values["max_drawdown"] == 0.0 and perf.values["max_drawdown_days"] == 0.0
    assert perf.values["total_return"] == 0.0 and perf.values["cagr"] == 0.0


def test_no_losing_trades_has_no_profit_factor():
    bars = make_bars([100.0, 101.0, 102.0], start="2024-01-01 00:00", freq="B")
    trades = trades_frame(
        [
            ("LONG", 10.0, "2024-01-01", "2024-01-02", 100.0, 101.0, 10.0),
            ("SHORT", 10.0, "2024-01-02", "2024-01-03", 101.0, 100.0, 0.0),
        ]
    )
    perf = performance(equity_for(bars, DAY, [110.0, 110.0, 110.0]), bars, DAY, trades, 100.0)

    assert perf.values["profit_factor"] is None
    assert perf.notes["profit_factor"] == "no losing trades"
    assert perf.values["win_rate"] == 0.5  # a zero-pnl trade is not a win
    assert perf.values["expectancy"] == 5.0


def test_equity_falling_to_zero():
    bars = make_bars([100.0] * 3, start="2024-01-01 00:00", freq="B")
    # Zero before the last period: the next return would divide by it.
    perf = performance(equity_for(bars, DAY, [50.0, 0.0, 10.0]), bars, DAY, NO_TRADES, 100.0)
    for name in ("sharpe", "sortino", "volatility"):
        assert perf.values[name] is None and perf.notes[name] == "equity fell to zero"
    assert perf.values["max_drawdown"] == -1.0

    # Zero at the end: the returns -0.5, -0.8, -1.0 are fine, the growth rate is not.
    perf = performance(equity_for(bars, DAY, [50.0, 10.0, 0.0]), bars, DAY, NO_TRADES, 100.0)
    assert perf.values["cagr"] is None and perf.notes["cagr"] == "equity fell to zero"
    returns = [-0.5, -0.8, -1.0]
    assert perf.values["sharpe"] == pytest.approx(
        statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    )


def test_no_bars():
    bars = make_bars([1.0]).iloc[:0]
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)

    perf = performance(empty, bars, MINUTE, NO_TRADES, 100.0)

    assert perf.values == dict.fromkeys(PERFORMANCE_METRICS)
    assert perf.notes == dict.fromkeys(PERFORMANCE_METRICS, "no bars")
    assert perf.periods == 0


# --- drawdown, duration, exposure -----------------------------------------------------------


def test_drawdown_matches_an_independent_computation():
    rng = np.random.default_rng(7)
    bars = make_bars([100.0] * 500)
    values = (100_000.0 * np.cumprod(1 + rng.normal(0, 0.002, 500))).tolist()
    equity = equity_for(bars, MINUTE, values)

    expected, peak = [], 0.0
    for value in [100_000.0, *values]:  # E_0, then each bar close
        peak = max(peak, value)
        expected.append(value / peak - 1)

    got = drawdown(equity, 100_000.0)
    assert got.tolist() == pytest.approx(expected)
    assert got.index[0] == bars["timestamp"].iloc[0]  # E_0 at the first bar's start
    assert list(got.index[1:]) == list(equity.index)
    perf = performance(equity, bars, MINUTE, NO_TRADES, 100_000.0)
    assert perf.values["max_drawdown"] == pytest.approx(min(expected))
    later = utc("2024-01-01")
    assert drawdown(equity, 100_000.0, start=later).index[0] == later


def test_duration_of_a_drawdown_that_never_recovers():
    # Hourly bars from Mon 2024-01-08 09:00: up to a peak at the close of bar 2 (11:00+1h),
    # then below it to the end (last close 09:00 + 8h = 17:00).
    bars = bars_at(pd.date_range(utc("2024-01-08 09:00"), periods=8, freq="1h"))
    values = [101.0, 105.0, 104.0, 103.0, 104.5, 100.0, 102.0, 101.0]
    perf = performance(equity_for(bars, HOUR, values), bars, HOUR, NO_TRADES, 100.0)
    assert perf.values["max_drawdown_days"] == pytest.approx(6 / 24)  # 11:00 .. 17:00

    # Falling from the first bar on: the peak is E_0, at the first bar's start (09:00).
    falling = [99.0, 98.0, 99.5, 97.0, 96.0, 99.0, 98.0, 97.0]
    perf = performance(equity_for(bars, HOUR, falling), bars, HOUR, NO_TRADES, 100.0)
    assert perf.values["max_drawdown_days"] == pytest.approx(8 / 24)  # 09:00 .. 17:00
    assert perf.values["max_drawdown"] == pytest.approx(96 / 100 - 1)


def test_exposure_counts_bar_closes_inside_trades():
    # Ten 1-minute bars from 14:30; closes 14:31 .. 14:40.
    bars = make_bars([100.0] * 10, start="2024-01-02 14:30")
    trades = trades_frame(
        [
            ("LONG", 1.0, "2024-01-02 14:31", "2024-01-02 14:33", 100.0, 100.0, 1.0),  # 14:31, 32
            ("SHORT", 1.0, "2024-01-02 14:32", "2024-01-02 14:34", 100.0, 100.0, -1.0),  # +14:33
            ("LONG", 1.0, "2024-01-02 14:38:30", None, 100.0, 100.0, 1.0),  # open: 14:39, 14:40
        ]
    )
    perf = performance(equity_for(bars, MINUTE, [100.0] * 10), bars, MINUTE, trades, 100.0)

    assert perf.values["exposure"] == pytest.approx(5 / 10)


def test_round_trip_through_json():
    bars = make_bars([100.0, 101.0, 102.0], start="2024-01-01 00:00", freq="B")
    perf = performance(equity_for(bars, DAY, [100.0, 99.0, 101.0]), bars, DAY, NO_TRADES, 100.0)

    data = json.loads(json.dumps(perf.to_dict()))

    assert data["periods_per_year"] == 252.0 and data["period"] == "session"
    assert data["annualisation"] == "252 days/yr (no weekend bars)" and data["periods"] == 3
    assert Performance.from_dict(data) == perf
    assert list(data["values"]) == list(PERFORMANCE_METRICS)


def test_inputs_that_cannot_be_measured():
    bars = make_bars([100.0, 101.0], start="2024-01-01 00:00", freq="B")
    equity = equity_for(bars, DAY, [100.0, 101.0])
    with pytest.raises(ValueError, match="initial_capital must be a positive number, was 0"):
        performance(equity, bars, DAY, NO_TRADES, 0.0)
    with pytest.raises(ValueError, match="equity has 1 values but there are 2 bars"):
        period_returns(equity.iloc[:1], bars["timestamp"], DAY, 100.0)
    assert drawdown(equity.iloc[:0], 100.0).empty
    bars.loc[0, "open"] = 0.0
    perf = performance(equity, bars, DAY, NO_TRADES, 100.0)
    assert perf.values["benchmark_return"] is None
    assert perf.notes["benchmark_return"] == "first open is not positive"
