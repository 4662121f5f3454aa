"""Tests for research_lib.ui.plots: indicator values, trace contents, drawdowns and sweep grids."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from factories import result_over_closes

from research_lib.errors import ConfigError, ResearchError, ResultsError
from research_lib.model.metrics import METRICS
from research_lib.model.run import BacktestResult
from research_lib.store import ResultsStore
from research_lib.strategies import indicators, registry
from research_lib.strategies.indicators import IndicatorSpec
from research_lib.strategies.registry import StrategyInfo
from research_lib.ui import plots
from research_lib.workflows.record import run_backtest


@pytest.fixture(scope="module")
def runs() -> dict[str, BacktestResult]:
    """One short mock run per built-in strategy (not saved)."""
    return {
        name: run_backtest(name, data="mock", start="2024-01-02", end="2024-01-03", save=False)
        for name in ("sma_crossover", "mean_reversion", "momentum")
    }


def naive(values) -> pd.DatetimeIndex:
    """Plotly x values (naive UTC) as a DatetimeIndex."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(values)))


def utc_naive(times) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_localize(None)


def by_name(fig: go.Figure) -> dict[str, object]:
    return {trace.name: trace for trace in fig.data}


# -- indicators ------------------------------------------------------------------------------


def test_close_times_are_bar_open_plus_interval():
    result = result_over_closes([1, 2, 3], bar_spec="5-MINUTE-LAST")
    times = plots.close_times(result)
    assert list(times - pd.DatetimeIndex(result.bars["timestamp"])) == [pd.Timedelta("5min")] * 3
    assert plots.bar_spec_of("BTC-USD.BINANCE-1-HOUR-LAST-EXTERNAL") == "1-HOUR-LAST"
    with pytest.raises(ConfigError, match="bar spec"):
        plots.bar_spec_of("AAPL")


def test_sma_lines_match_hand_computed_values():
    result = result_over_closes([1, 2, 3, 4, 5, 6], config={"fast_period": 2, "slow_period": 3})
    frame = plots.indicator_frame(result)
    assert list(frame.columns) == ["fast_sma", "slow_sma"]
    assert frame["fast_sma"].tolist()[1:] == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert frame["slow_sma"].tolist()[2:] == [2.0, 3.0, 4.0, 5.0]
    assert math.isnan(frame["fast_sma"].iloc[0]) and frame["slow_sma"].iloc[:2].isna().all()
    assert frame.index.equals(plots.close_times(result))


def test_registry_defaults_fill_parameters_missing_from_the_config():
    result = result_over_closes(list(range(1, 31)), config={"trade_size": 100})
    assert plots.strategy_params(result)["fast_period"] == 10
    frame = plots.indicator_frame(result)
    assert frame["fast_sma"].first_valid_index() == frame.index[9]
    assert frame["slow_sma"].first_valid_index() == frame.index[19]
    assert frame["slow_sma"].iloc[19] == pytest.approx(10.5)


def test_bands_use_the_population_std_of_the_close():
    result = result_over_closes(
        [1, 2, 3, 4], strategy="mean_reversion", config={"lookback_period": 2, "num_std_dev": 2}
    )
    frame = plots.indicator_frame(result)
    assert frame["middle"].tolist()[1:] == [1.5, 2.5, 3.5]
    assert frame["upper"].tolist()[1:] == [2.5, 3.5, 4.5]  # std of (1, 2) is 0.5 with ddof=0
    assert frame["lower"].tolist()[1:] == [0.5, 1.5, 2.5]


def test_rsi_matches_hand_computed_values():
    # alpha = 2/3: after +1 the average loss is 0 (RSI 100); after -1, gain 2/9 and loss 2/3.
    values = indicators.rsi(pd.Series([1.0, 2.0, 1.0]), 2).tolist()
    assert math.isnan(values[0])
    assert values[1:] == [100.0, pytest.approx(25.0)]
    assert indicators.rsi(pd.Series([5.0, 5.0, 5.0]), 1).tolist() == [100.0, 100.0, 100.0]


def test_rsi_matches_nautilus_relative_strength_index(runs):
    from nautilus_trader.indicators import RelativeStrengthIndex

    result = runs["momentum"]
    indicator = RelativeStrengthIndex(14)
    expected = []
    for close in result.bars["close"]:
        indicator.update_raw(float(close))
        expected.append(indicator.value * 100 if indicator.initialized else np.nan)
    ours = plots.indicator_frame(result)["rsi"].to_numpy()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_unregistered_strategies_have_no_indicators():
    result = result_over_closes([1, 2, 3], strategy="my.module:Thing")
    assert plots.indicator_frame(result).empty
    assert plots.indicator_spec(result) is None
    fig = plots.price_figure(result)
    assert [t.type for t in fig.data] == ["candlestick"]


def test_indicators_come_from_the_spec_a_strategy_is_registered_with(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    sma_config = registry.get("sma_crossover").config_path
    spec = IndicatorSpec(
        compute=lambda close, p: pd.DataFrame({"mid": close.rolling(int(p["n"])).mean()}),
        labels=lambda p: {"mid": f"mid {p['n']}"},
        styles={"mid": "middle"},
    )
    registry.register(StrategyInfo("custom", "Custom.", "x.custom:S", sma_config, indicators=spec))
    result = result_over_closes([1, 2, 3], strategy="custom", config={"n": 2})
    assert plots.indicator_spec(result) is spec
    assert plots.indicator_frame(result)["mid"].tolist()[1:] == [1.5, 2.5]
    # the registry's defaults (sizing too; fill_timing is wiring, not a parameter), then the
    # run's own config
    assert plots.strategy_params(result) == {
        "fast_period": 10,
        "slow_period": 20,
        "sizing": "quantity",
        "n": 2,
    }
    mid = by_name(plots.price_figure(result))["mid 2"]
    assert mid.line.color == plots.COLORS["middle"]
    # a run naming its strategy by path finds the registered spec too
    assert plots.indicator_spec(result_over_closes([1, 2, 3], strategy="x.custom:S")) is spec
    # the built-in specs are the registry's, reached by name or alias
    sma = result_over_closes([1, 2, 3], strategy="sma", config={"fast_period": 1, "slow_period": 2})
    assert plots.indicator_spec(sma) is indicators.SMA_CROSSOVER
    assert list(plots.indicator_frame(sma).columns) == ["fast_sma", "slow_sma"]
    # a strategy registered without a spec draws none
    registry.register(StrategyInfo("plain", "Plain.", "x.plain:S", sma_config))
    plain = result_over_closes([1, 2, 3], strategy="plain")
    assert plots.indicator_spec(plain) is None and plots.indicator_frame(plain).empty
    assert [t.type for t in plots.price_figure(plain).data] == ["candlestick"]


def test_indicator_styles_map_to_colours(runs):
    traces = by_name(plots.price_figure(runs["mean_reversion"]))
    assert traces["mean 20"].line.color == plots.COLORS["middle"]
    assert traces["+2 std"].line.color == traces["-2 std"].line.color == plots.COLORS["band"]
    traces = by_name(plots.price_figure(runs["sma_crossover"]))
    assert traces["SMA 10"].line.color == plots.COLORS["fast"]
    assert traces["SMA 20"].line.color == plots.COLORS["slow"]
    rsi_line = by_name(plots.price_figure(runs["momentum"]))["RSI 14"].line
    assert rsi_line.color == plots.COLORS["rsi"]


# -- price -----------------------------------------------------------------------------------


def test_price_figure_draws_candles_indicators_and_trade_markers(runs):
    result = runs["sma_crossover"]
    fig = plots.price_figure(result)
    traces = by_name(fig)
    assert fig.data[0].type == "candlestick"
    assert {"AAPL", "SMA 10", "SMA 20", "long entry", "short entry", "exit"} <= set(traces)
    candles = traces["AAPL"]
    times = utc_naive(result.bars["timestamp"]) + pd.Timedelta("1min")
    assert naive(candles.x).equals(times)
    np.testing.assert_array_equal(candles.close, result.bars["close"].to_numpy())

    trades = result.trades
    for side, symbol in (("LONG", "triangle-up"), ("SHORT", "triangle-down")):
        entries = traces[f"{side.lower()} entry"]
        rows = trades[trades["side"] == side]
        assert entries.marker.symbol == symbol
        assert naive(entries.x).equals(utc_naive(rows["entry_time"]))
        np.testing.assert_array_equal(entries.y, rows["entry_price"].to_numpy())
    exits = traces["exit"]
    assert exits.marker.symbol == "x"
    assert len(exits.x) == len(trades)
    assert f"P&L {trades['realized_pnl'].iloc[0]:+,.2f} USD" in exits.text[0]
    wins = trades["realized_pnl"].to_numpy() > 0
    assert [c == plots.COLORS["win"] for c in exits.marker.color] == list(wins)
    # every marker sits on a bar close: fills happen at the close of the bar they belong to
    marker_times = naive(np.concatenate([traces["long entry"].x, exits.x]))
    assert marker_times.isin(times).all()

    sma = traces["SMA 10"]
    frame = plots.indicator_frame(result)["fast_sma"].dropna()
    np.testing.assert_allclose(sma.y, frame.to_numpy())
    assert fig.layout.template == pio.templates["plotly_white"]
    assert f"{len(trades)} trades" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "Price (USD)"
    assert fig.layout.xaxis.title.text == plots.TIME_AXIS


def test_trade_markers_of_hand_built_trades():
    bars_start = pd.Timestamp("2024-01-02 14:30", tz="UTC")
    trades = pd.DataFrame(
        {
            "position_id": ["P-1", "P-2"],
            "side": ["LONG", "LONG"],
            "quantity": [100.0, 50.0],
            "entry_time": [bars_start + pd.Timedelta("2min"), bars_start + pd.Timedelta("4min")],
            "exit_time": [bars_start + pd.Timedelta("3min"), bars_start + pd.Timedelta("5min")],
            "entry_price": [2.0, 4.0],
            "exit_price": [3.0, 4.0],
            "realized_pnl": [100.0, 0.0],
        }
    )
    result = result_over_closes(
        [1, 2, 3, 4, 5], config={"fast_period": 1, "slow_period": 2}, trades=trades
    )
    traces = by_name(plots.price_figure(result, kind="line"))
    assert "short entry" not in traces
    entries, exits = traces["long entry"], traces["exit"]
    assert naive(entries.x).equals(utc_naive(trades["entry_time"]))
    assert list(entries.y) == [2.0, 4.0] and list(exits.y) == [3.0, 4.0]
    assert list(exits.marker.color) == [plots.COLORS["win"], plots.COLORS["flat"]]
    assert entries.text[0] == "LONG entry: 100 @ 2.00<br>trade P&L +100.00 USD"
    assert exits.text[1] == "exit LONG: 50 @ 4.00<br>P&L +0.00 USD"
    # the bar that opened at 14:31 closed at 14:32 with close 2: the first entry sits on it
    line = traces["AAPL"]
    assert line.y[list(naive(line.x)).index(naive(entries.x)[0])] == 2.0


def test_price_line_and_bands(runs):
    result = runs["mean_reversion"]
    fig = plots.price_figure(result, kind="line")
    traces = by_name(fig)
    assert traces["AAPL"].type == "scatter"
    np.testing.assert_array_equal(traces["AAPL"].y, result.bars["close"].to_numpy())
    frame = plots.indicator_frame(result).dropna()
    for column, name in (("middle", "mean 20"), ("upper", "+2 std"), ("lower", "-2 std")):
        np.testing.assert_allclose(traces[name].y, frame[column].to_numpy())
    assert "downsampled" not in fig.layout.title.text


def test_momentum_draws_rsi_in_a_second_row_with_threshold_lines(runs):
    result = runs["momentum"]
    fig = plots.price_figure(result)
    rsi_trace = by_name(fig)["RSI 14"]
    assert rsi_trace.yaxis == "y2"
    assert sorted(shape.y0 for shape in fig.layout.shapes) == [30.0, 70.0]
    assert list(fig.layout.yaxis2.range) == [0.0, 100.0]
    assert fig.layout.yaxis2.title.text == "RSI (0..100)"
    assert fig.layout.xaxis2.title.text == plots.TIME_AXIS


def test_indicators_can_be_left_out(runs):
    fig = plots.price_figure(runs["momentum"], indicators=False)
    assert "RSI 14" not in by_name(fig) and not fig.layout.shapes


def test_large_results_are_downsampled_for_display():
    closes = list(100 + np.sin(np.arange(1000) / 20))
    result = result_over_closes(closes, config={"fast_period": 2, "slow_period": 5})
    line = plots.price_figure(result, kind="line", max_points=400)
    assert len(by_name(line)["AAPL"].x) <= 400
    assert len(by_name(line)["SMA 2"].x) <= 400
    assert max(by_name(line)["AAPL"].y) == max(closes)  # extremes survive
    assert "downsampled" in line.layout.title.text

    candles = by_name(plots.price_figure(result, max_points=400))["AAPL"]
    assert len(candles.x) == 100  # 10 bars per candle
    bars = result.bars
    assert candles.open[0] == bars["open"].iloc[0]
    assert candles.high[0] == bars["high"].iloc[:10].max()
    assert candles.low[0] == bars["low"].iloc[:10].min()
    assert candles.close[0] == bars["close"].iloc[9]
    assert naive(candles.x)[0] == utc_naive(bars["timestamp"])[9] + pd.Timedelta("1min")


SESSION_BREAKS = [{"bounds": [21.0, 14.5], "pattern": "hour"}, {"bounds": ["sat", "mon"]}]


def breaks_of(axis) -> list[dict]:
    return [b.to_plotly_json() for b in axis.rangebreaks]


def test_session_data_has_no_nights_or_weekends_on_the_time_axes(runs):
    full = run_backtest(data="mock", save=False)  # 1-minute bars 14:30-21:00 UTC, weekdays
    assert plots.time_breaks(plots.close_times(full)) == SESSION_BREAKS
    price = plots.price_figure(full)
    assert breaks_of(price.layout.xaxis) == SESSION_BREAKS
    equity = plots.equity_figure(full)
    assert breaks_of(equity.layout.xaxis) == breaks_of(equity.layout.xaxis2) == SESSION_BREAKS
    momentum = plots.price_figure(runs["momentum"])  # two rows on a shared time axis
    assert breaks_of(momentum.layout.xaxis) == breaks_of(momentum.layout.xaxis2) == SESSION_BREAKS
    overlay = plots.equity_overlay({"a": full.equity, "b": runs["momentum"].equity})
    assert breaks_of(overlay.layout.xaxis) == SESSION_BREAKS


def test_round_the_clock_and_daily_data_keep_their_time_axis():
    hourly = pd.date_range("2024-01-01", periods=24 * 14, freq="h", tz="UTC")  # 24x7
    assert plots.time_breaks(hourly) == []
    curve = pd.Series(np.linspace(100, 110, len(hourly)), index=hourly)
    assert plots.equity_figure(curve).layout.xaxis.rangebreaks == ()
    assert plots.equity_overlay({"a": curve}).layout.xaxis.rangebreaks == ()
    weekdays = hourly[hourly.day_of_week < 5]  # round the clock, but not at weekends
    assert plots.time_breaks(weekdays) == [{"bounds": ["sat", "mon"]}]
    daily = pd.bdate_range("2024-01-01", periods=40, tz="UTC") + pd.Timedelta(hours=21)
    assert plots.time_breaks(daily) == [{"bounds": ["sat", "mon"]}]
    assert plots.time_breaks(pd.date_range("2024-01-01", periods=40, freq="D")) == []
    assert plots.time_breaks(hourly[:1]) == []


def test_price_figure_rejects_bad_input():
    result = result_over_closes([1, 2, 3])
    with pytest.raises(ConfigError, match="kind"):
        plots.price_figure(result, kind="bars")
    with pytest.raises(ResearchError, match="no bars"):
        plots.price_figure(dataclasses.replace(result, bars=None))


# -- equity ----------------------------------------------------------------------------------


EQUITY = pd.Series(
    [100.0, 110.0, 99.0, 121.0, 110.0],
    index=pd.date_range("2024-01-02 14:31", periods=5, freq="1min", tz="UTC"),
)


def test_drawdown_is_percent_below_the_running_peak():
    assert plots.drawdown_pct(EQUITY).tolist() == pytest.approx([0, 0, -10, 0, -100 / 11])


def test_equity_figure_has_equity_and_drawdown_rows():
    fig = plots.equity_figure(EQUITY)
    equity, drawdown = fig.data
    assert equity.y.tolist() == EQUITY.tolist()
    assert drawdown.y.tolist() == pytest.approx([0, 0, -10, 0, -100 / 11])
    assert drawdown.yaxis == "y2" and drawdown.fill == "tozeroy"
    assert naive(equity.x).equals(utc_naive(EQUITY.index))
    assert fig.layout.yaxis2.title.text == "Drawdown (%)"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"
    assert fig.layout.template == pio.templates["plotly_white"]


def test_equity_figure_of_results_and_stored_runs(runs):
    result = runs["sma_crossover"]
    fig = plots.equity_figure(result)
    assert "sma_crossover on AAPL" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "Equity (USD)"
    # the path starts at the initial capital at the first bar's open, as the metrics do
    equity, drawdown = fig.data
    assert len(equity.y) == len(result.equity) + 1
    assert equity.y[0] == result.initial_capital and equity.y[1:].tolist() == result.equity.tolist()
    assert naive(equity.x)[0] == result.start.tz_convert(None)
    assert naive(equity.x)[1:].equals(utc_naive(result.equity.index))
    assert naive(drawdown.x).equals(naive(equity.x)) and drawdown.y[0] == 0.0
    assert min(drawdown.y) == pytest.approx(result.metrics["max_drawdown"] * 100)
    stored = SimpleNamespace(equity=EQUITY, run={"strategy": "momentum", "symbol": "MSFT"})
    assert "momentum on MSFT" in plots.equity_figure(stored).layout.title.text


def test_long_equity_curves_are_downsampled_keeping_the_extremes():
    values = 100 + np.sin(np.arange(2000) / 50)
    curve = pd.Series(values, index=pd.date_range("2024-01-01", periods=2000, freq="1min"))
    fig = plots.equity_figure(curve, max_points=200)
    assert len(fig.data[0].y) <= 200 and max(fig.data[0].y) == values.max()
    assert min(fig.data[1].y) == pytest.approx(plots.drawdown_pct(curve).min())


def test_equity_overlay_normalizes_each_curve_to_its_start():
    other = pd.Series([50.0, 55.0, 60.0], index=EQUITY.index[2:])
    fig = plots.equity_overlay({"a": EQUITY, "b": other})
    a, b = fig.data
    assert (a.name, b.name) == ("a", "b")
    assert a.y.tolist() == pytest.approx([1.0, 1.1, 0.99, 1.21, 1.1])
    assert b.y.tolist() == pytest.approx([1.0, 1.1, 1.2])
    assert "normalized" in fig.layout.title.text

    frame = pd.DataFrame({"a": EQUITY, "b": other})  # b starts with NaN, as store.equity gives
    raw = plots.equity_overlay(frame, normalize=False)
    assert raw.data[1].y.tolist() == [50.0, 55.0, 60.0]
    assert raw.layout.yaxis.title.text == "Equity"
    assert len(plots.equity_overlay({"empty": pd.Series(dtype=float)}).data) == 0


def test_equity_overlay_from_store(runs, tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    ids = [store.save(runs["sma_crossover"]), store.save(runs["momentum"])]
    fig = plots.equity_overlay_from_store(store, ids)
    assert len(fig.data) == 2 and all("=" in t.name for t in fig.data)  # differing parameters
    base = runs["sma_crossover"]
    fast = [
        store.save(base.replace(run_id=str(uuid.uuid4()), config={**base.config, "fast_period": f}))
        for f in (5, 10)
    ]
    labelled = plots.equity_overlay_from_store(store, [rid[:8] for rid in fast])
    assert [t.name for t in labelled.data] == ["fast=5", "fast=10"]
    assert fig.data[0].y[0] == pytest.approx(1.0)
    assert len(plots.equity_overlay_from_store(store.path, ids[:1]).data) == 1


# -- comparisons and sweeps ------------------------------------------------------------------


def test_runs_are_labelled_by_their_differing_parameters():
    ids = ["aaaaaaaa-1", "bbbbbbbb-2", "cccccccc-3"]
    two = [{"fast_period": 5, "slow_period": 20}, {"fast_period": 10, "slow_period": 20}]
    assert plots.run_labels(ids[:2], two) == ["fast=5", "fast=10"]
    assert plots.run_labels(ids[:2], [json.dumps(c) for c in two]) == ["fast=5", "fast=10"]
    both = [*two, {"fast_period": 5, "slow_period": 30, "entry_threshold": 0.5}]
    assert plots.run_labels(ids, both) == [
        "fast=5 slow=20", "fast=10 slow=20", "fast=5 slow=30 entry=0.5",
    ]  # fmt: skip
    assert plots.run_labels(ids, [two[0], two[1], two[0]]) == [
        "fast=5 (aaaaaaaa)", "fast=10", "fast=5 (cccccccc)",
    ]  # fmt: skip
    assert plots.run_labels(ids[:2], [two[0], two[0]]) == ["aaaaaaaa", "bbbbbbbb"]  # all equal
    assert plots.run_labels(ids[:2], [two[0], None]) == ["aaaaaaaa", "bbbbbbbb"]  # missing
    assert plots.run_labels(ids[:2]) == ["aaaaaaaa", "bbbbbbbb"]
    assert plots.run_labels(["abcdefgh-1", "abcdefgh-2"]) == ["abcdefgh-1", "abcdefgh-2"]
    assert plots.run_labels(ids[:2], [{"fast": 1, "fast_period": 2}, {"fast": 3}]) == [
        "fast=1 fast_period=2", "fast=3",
    ]  # fmt: skip

    frame = pd.DataFrame({"id": ids[:2], "sharpe": [1.0, 2.0], "config": two})
    assert list(plots.metric_bars(frame).data[0].x) == ["fast=5", "fast=10"]
    same = plots.metric_bars(frame.assign(config=[two[0], two[0]])).data[0]
    assert list(same.x) == ["aaaaaaaa", "bbbbbbbb"]
    overlay = plots.equity_overlay({ids[0]: EQUITY, ids[1]: EQUITY}, configs=two)
    assert [t.name for t in overlay.data] == ["fast=5", "fast=10"]
    by_name = plots.equity_overlay(
        {ids[0]: EQUITY, ids[1]: EQUITY}, configs=dict(zip(ids, two, strict=False))
    )
    assert [t.name for t in by_name.data] == ["fast=5", "fast=10"]


def test_metric_bars_show_one_metric_per_run():
    runs = pd.DataFrame(
        {"id": ["aaaaaaaa-1", "bbbbbbbb-2", "cccccccc-3"], "sharpe": [1.5, -0.5, None]}
    )
    fig = plots.metric_bars(runs)
    bar = fig.data[0]
    assert list(bar.x) == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]
    assert bar.y[:2].tolist() == [1.5, -0.5] and math.isnan(bar.y[2])
    assert list(bar.marker.color)[:2] == [plots.COLORS["positive"], plots.COLORS["negative"]]
    assert fig.layout.yaxis.title.text == "Sharpe ratio"  # runs may differ in periods/yr
    assert fig.layout.title.text == "Sharpe ratio by run"
    detail = plots.metric_bars(runs.assign(volatility=[0.1, 0.2, 0.3]), "volatility")
    assert (detail.layout.yaxis.title.text, detail.layout.yaxis.tickformat) == ("Volatility", ".2%")
    assert detail.data[0].y.tolist() == [0.1, 0.2, 0.3]
    labelled = plots.metric_bars(runs.assign(name=["x", "y", "z"]), "sharpe", label_column="name")
    assert list(labelled.data[0].x) == ["x", "y", "z"]
    assert list(plots.metric_bars(runs[["sharpe"]]).data[0].x) == ["0", "1", "2"]
    assert plots.metric_bars(runs.assign(win_rate=0.5), "win_rate").layout.yaxis.tickformat == (
        ".1%"
    )
    with pytest.raises(ConfigError, match="did you mean 'sharpe'"):
        plots.metric_bars(runs, "sharp")


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_labels_and_formats_come_from_the_metrics_table(name):
    known = METRICS[name]
    runs = pd.DataFrame({"id": ["a", "b"], name: [1.0, 2.0]})
    fig = plots.metric_bars(runs, name)
    assert fig.layout.yaxis.title.text == known.label
    assert f"%{{y:{known.d3}}}" in fig.data[0].hovertemplate
    assert fig.layout.yaxis.tickformat == (None if known.fmt.endswith("d") else known.d3)
    grid = pd.DataFrame({"a": [1, 2], "b": [1, 1], name: [1.0, 2.0]})
    heat = plots.sweep_heatmap(grid, "a", "b", name).data[0]
    assert heat.colorbar.title.text == known.label
    assert f"%{{z:{known.d3}}}" in heat.hovertemplate


def test_unknown_metrics_are_labelled_by_name_with_three_decimals():
    fig = plots.metric_bars(pd.DataFrame({"score": [1.0]}), "score")
    assert fig.layout.yaxis.title.text == "score" and fig.layout.yaxis.tickformat == ".3f"


def sweep_runs(config_as_text: bool = True) -> pd.DataFrame:
    configs = [
        {"fast_period": 5, "slow_period": 20},
        {"fast_period": 5, "slow_period": 20},  # duplicate point: averaged
        {"fast_period": 10, "slow_period": 20},
        {"fast_period": 5, "slow_period": 30},
        {"fast_period": 10, "slow_period": 30},  # failed run: no metric
    ]
    return pd.DataFrame(
        {
            "id": [f"run{i}" for i in range(5)],
            "sharpe": [1.0, 2.0, -1.0, 0.5, None],
            "config": [json.dumps(c) if config_as_text else c for c in configs],
        }
    )


def test_sweep_grid_averages_duplicates_and_leaves_missing_cells_nan():
    mean, count = plots.sweep_grid(sweep_runs())
    assert list(mean.columns) == [5, 10] and list(mean.index) == [20, 30]
    assert mean.loc[20, 5] == 1.5 and mean.loc[20, 10] == -1.0 and mean.loc[30, 5] == 0.5
    assert math.isnan(mean.loc[30, 10])
    assert count.loc[20, 5] == 2 and count.loc[30, 10] == 0


def test_sweep_heatmap_cells(tmp_path):
    fig = plots.sweep_heatmap(sweep_runs(config_as_text=False))
    heat = fig.data[0]
    assert heat.type == "heatmap"
    assert list(heat.x) == ["5", "10"] and list(heat.y) == ["20", "30"]
    z = np.asarray(heat.z, dtype=float)
    assert z[0].tolist() == [1.5, -1.0] and z[1, 0] == 0.5 and math.isnan(z[1, 1])
    assert heat.zmid == 0.0
    assert fig.layout.xaxis.title.text == "fast_period"
    assert fig.layout.yaxis.title.text == "slow_period"
    assert "runs: %{customdata}" in heat.hovertemplate


def test_sweep_parameters_can_be_columns_and_names_are_checked():
    runs = pd.DataFrame({"a": [1, 1, 2], "b": [1, 2, 1], "total_return": [0.1, 0.2, 0.3]})
    mean, _ = plots.sweep_grid(runs, "a", "b", "total_return")
    assert mean.loc[2, 1] == 0.2
    with pytest.raises(ConfigError, match="did you mean 'fast_period'"):
        plots.sweep_heatmap(sweep_runs(), x="fast_perod")
    with pytest.raises(ConfigError, match="metric"):
        plots.sweep_heatmap(sweep_runs(), metric="nope")


def test_sweep_heatmap_from_store(runs, tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    base = runs["sma_crossover"]
    for fast, slow in ((5, 20), (10, 20), (5, 30)):
        config = {**base.config, "fast_period": fast, "slow_period": slow}
        store.save(base.replace(run_id=str(uuid.uuid4()), config=config, sweep_id="s1"))
    fig = plots.sweep_heatmap_from_store(store, "s1", metric="total_return")
    assert list(fig.data[0].x) == ["5", "10"] and list(fig.data[0].y) == ["20", "30"]
    assert "Sweep s1" in fig.layout.title.text
    with pytest.raises(ResultsError, match="no sweep 'nope'"):
        plots.sweep_heatmap_from_store(store.path, "nope")


# -- screened sweeps ---------------------------------------------------------------------------

SCREEN_GRID = {"fast_period": [5, 8, 10], "slow_period": [20, 30]}


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """A real screened sweep (3 x 2 points, the best 2 confirmed in Nautilus) and its store."""
    from research_lib.workflows.screen import screen

    store = ResultsStore(tmp_path_factory.mktemp("screened") / "r.duckdb")
    done = screen("sma_crossover", SCREEN_GRID, confirm=2, by="sharpe", data="mock",
                  start="2024-01-02", end="2024-01-04", results=store, progress=False,
                  workers=1)  # fmt: skip
    return done, store


def listed_points(store: ResultsStore, sweep_id: str) -> pd.DataFrame:
    """The sweep's runs as the store lists them, the grid values read from their configs."""
    listed = store.list(sweep_id=sweep_id, limit=None)
    configs = [json.loads(c) for c in listed["config"]]
    return listed.assign(
        fast=[c["fast_period"] for c in configs], slow=[c["slow_period"] for c in configs]
    )


def marks(fig: go.Figure) -> list:
    return [trace for trace in fig.data if trace.type == "scatter"]


def test_a_screened_heatmap_is_its_vector_points_with_the_confirmed_ones_marked(screened):
    done, store = screened
    listed = listed_points(store, done.sweep_id)
    vector = listed[listed["engine"] == "vector"]
    assert len(vector) == 6 and len(listed) == 8  # 6 points, 2 of them run again in Nautilus
    want = vector.pivot(index="slow", columns="fast", values="sharpe").sort_index()
    fig = plots.sweep_heatmap(done.runs, "fast_period", "slow_period", "sharpe")
    heat = fig.data[0]
    assert list(heat.x) == [str(v) for v in want.columns]
    assert list(heat.y) == [str(v) for v in want.index]
    np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), want.to_numpy(dtype=float))
    assert np.asarray(heat.customdata).tolist() == [[1, 1, 1], [1, 1, 1]]  # one run a cell
    confirming = listed[listed["twin_id"].notna()]
    assert set(confirming["engine"]) == {"nautilus"}
    [mark] = marks(fig)  # Nautilus agrees with both points
    assert mark.name == "confirmed in Nautilus: agrees" and mark.marker.symbol == "circle-open"
    got = sorted(zip(mark.x, mark.y, mark.customdata, strict=True))
    assert got == sorted(
        (str(r.fast), str(r.slow), r.id) for r in confirming.itertuples(index=False)
    )
    for fast, slow, run_id, text in zip(
        mark.x, mark.y, mark.customdata, mark.hovertext, strict=True
    ):
        assert (
            f"Nautilus run {run_id}" in text and f"fast_period={fast}, slow_period={slow}" in text
        )
        sharpe = confirming.set_index("id").loc[run_id, "sharpe"]
        assert f"Nautilus {plots.runs.format_metric('sharpe', sharpe)}" in text
    assert "screened on the vector engine" in fig.layout.title.subtitle.text
    assert fig.layout.title.text == "Sharpe ratio by fast_period and slow_period"


def test_the_store_listing_of_a_screened_sweep_marks_points_not_compared(screened):
    done, store = screened
    listed = store.list(sweep_id=done.sweep_id, limit=None)  # no agreement column
    fig = plots.sweep_heatmap(listed, "fast_period", "slow_period", "sharpe")
    [mark] = marks(fig)
    assert mark.name == "confirmed in Nautilus: not compared"
    assert sorted(mark.customdata) == sorted(listed.loc[listed["twin_id"].notna(), "id"])


def test_a_confirmation_that_differs_is_a_red_cross(screened):
    done, _ = screened
    runs = done.runs.copy()
    first = runs.index[runs["twin_id"].notna()][0]
    runs.loc[first, "agreement"] = json.dumps(
        {"agrees": False, "detail": "trade 3: price 101.5 != 101.25", "trades": 4}
    )
    points = plots.runs.confirmed_points(runs, ["fast_period", "slow_period"])
    assert sorted(points["outcome"]) == ["agrees", "differs"]
    fig = plots.sweep_heatmap(runs, "fast_period", "slow_period", "sharpe")
    crosses = by_name(fig)["confirmed in Nautilus: differs"]
    assert crosses.marker.symbol == "x-thin-open" and crosses.marker.color == "#d62728"
    assert list(crosses.customdata) == [runs.loc[first, "id"]]
    assert "trade 3: price 101.5 != 101.25" in crosses.hovertext[0]


def test_a_screened_sweep_of_one_parameter_marks_its_confirmed_bars(screened):
    done, _ = screened
    runs = done.runs[done.runs["slow_period"] == 20]  # a sweep varying fast_period only
    fig = plots.sweep_bars(runs, "fast_period", "sharpe")
    bars = fig.data[0]
    vector = runs[runs["engine"] == "vector"].sort_values("fast_period")
    assert list(bars.x) == [f"fast_period={v}" for v in vector["fast_period"]]
    assert list(bars.y) == vector["sharpe"].tolist()
    confirming = runs[runs["twin_id"].notna()]
    got = sorted((x, y) for m in marks(fig) for x, y in zip(m.x, m.y, strict=True))
    twins = vector.set_index("id")
    assert got == sorted(
        (f"fast_period={twins.loc[t, 'fast_period']}", twins.loc[t, "sharpe"])
        for t in confirming["twin_id"]
    )


def test_an_ordinary_sweep_has_no_marks_and_is_drawn_as_before():
    runs = sweep_runs()
    fig = plots.sweep_heatmap(runs)
    assert marks(fig) == [] and len(fig.data) == 1
    with_engine = runs.assign(engine="nautilus", twin_id=None)
    assert plots.sweep_heatmap(with_engine).to_dict() == fig.to_dict()
    assert plots.runs.confirmed_points(with_engine, ["fast_period"]).empty
    one = runs.assign(config=[json.dumps({"fast_period": v}) for v in (8, 5, 6, 7, 9)])
    bars = plots.sweep_bars(one, "fast_period")
    assert len(bars.data) == 1
    assert list(bars.data[0].x) == [f"fast_period={v}" for v in (5, 6, 7, 8, 9)]
