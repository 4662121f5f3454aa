"""Tests for the widget panel, driven programmatically as a user would click it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go
import pytest
from factories import execution_settings, make_result

import research_lib.workflows.record as record_module
from research_lib.data.catalog import Catalog
from research_lib.data.synthetic import generate_bars, write_csv
from research_lib.model.execution import Execution
from research_lib.model.metrics import COMPARE_METRICS, METRICS
from research_lib.store import ResultsStore
from research_lib.strategies.registry import Parameter
from research_lib.ui import tables, widgets
from research_lib.ui.plots import equity_figure, price_figure
from research_lib.ui.widgets import BacktestPanel, parameter_widget

JAN2, JAN4 = dt.date(2024, 1, 2), dt.date(2024, 1, 4)


def shown(view: w.Output) -> dict:
    """The one figure an ``Output`` figure area shows, as plotly JSON."""
    (entry,) = view.outputs
    assert entry["output_type"] == "display_data"
    return entry["data"][widgets.PLOTLY_MIME]


def title(view: w.Output) -> str:
    return shown(view)["layout"]["title"]["text"]


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results" / "results.duckdb")


@pytest.fixture
def panel(tmp_path: Path, store: ResultsStore) -> BacktestPanel:
    """A panel on an empty catalog (so: mock data) with a short date range."""
    panel = BacktestPanel(catalog=tmp_path / "empty_catalog", results=store)
    panel.start.value, panel.end.value = JAN2, JAN4
    return panel


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A catalog with two days of AAPL minute bars."""
    root = tmp_path_factory.mktemp("catalog")
    write_csv(generate_bars("2024-01-02", "2024-01-03"), root / "aapl.csv")
    cat = Catalog(root / "catalog")
    cat.import_csv(root / "aapl.csv", "AAPL")
    return cat


def test_empty_catalog_defaults_to_mock_and_says_so(panel):
    assert panel.source.value == "mock"
    assert "has no bars: using mock data" in panel.note.value
    assert panel.symbol.disabled and panel.symbol.options == ()
    assert isinstance(panel.widget, w.VBox)


def test_parameter_controls_follow_the_registry(panel):
    assert panel.strategy.options == ("sma_crossover", "mean_reversion", "momentum")
    assert list(panel.params) == ["fast_period", "slow_period", "trade_size", "sizing"]
    fast = panel.params["fast_period"]
    assert isinstance(fast, w.BoundedIntText)
    assert (fast.value, fast.min) == (10, 1) and fast.max > 1_000_000
    assert panel.params["trade_size"].value == 100
    sizing = panel.params["sizing"]
    assert isinstance(sizing, w.Dropdown)
    assert (sizing.options, sizing.value) == (("quantity", "notional", "equity"), "quantity")
    assert panel.values() == {
        "fast_period": 10,
        "slow_period": 20,
        "trade_size": 100,
        "sizing": "quantity",
    }
    assert "fill_timing" not in panel.params  # set by the runner, not a parameter control

    panel.strategy.value = "momentum"
    assert list(panel.params) == ["rsi_period", "oversold_threshold", "overbought_threshold",
                                  "trade_size", "sizing"]  # fmt: skip
    oversold = panel.params["oversold_threshold"]
    assert isinstance(oversold, w.BoundedFloatText)
    assert (oversold.value, oversold.min, oversold.max) == (30.0, 0.0, 100.0)
    assert panel.params_box.children == tuple(panel.params.values())
    assert "RSI" in panel.description.value
    panel.params["trade_size"].value = 12.5
    panel.params["sizing"].value = "notional"
    assert panel.values() == {
        "rsi_period": 14,
        "oversold_threshold": 30.0,
        "overbought_threshold": 70.0,
        "trade_size": 12.5,
        "sizing": "notional",
    }


def test_parameter_widget_kinds():
    assert isinstance(parameter_widget(Parameter("n", "int", 5)), w.IntText)
    size = parameter_widget(Parameter("trade_size", "Decimal", None, low=0))
    assert size.value == 100
    other = parameter_widget(Parameter("k", "float", None, low=2))
    assert (other.value, other.min) == (2.0, 2.0)
    sizing = parameter_widget(Parameter("sizing", "str", "equity"))
    assert isinstance(sizing, w.Dropdown) and sizing.value == "equity"
    assert sizing.options == ("quantity", "notional", "equity")
    text = parameter_widget(Parameter("mode", "str", "fast"))
    assert isinstance(text, w.Text) and text.value == "fast"


def test_run_shows_figures_and_metrics_and_saves_a_notebook_run(panel, store):
    panel.run_button.click()
    result = panel.last_result
    assert result is not None and panel.error.value == "" and panel.last_error is None
    assert result.data_source == "mock" and result.bar_count == 3 * 390
    assert [type(f) for f in panel.last_figures] == [go.Figure, go.Figure]
    assert panel.last_figures[0].data[0].type == "candlestick"
    assert (
        shown(panel.price_view) == widgets.figure_bundle(price_figure(result))[widgets.PLOTLY_MIME]
    )
    assert shown(panel.equity_view)["data"][0]["type"] == "scatter"
    assert not panel.progress.value and panel.progress.layout.display == "none"
    assert "Sharpe ratio" in panel.metrics.value and result.run_id[:8] in panel.metrics.value
    assert panel.status.value.startswith("done in ")
    assert panel.status.value.endswith(f"saved as run {result.run_id[:8]}")
    assert not panel.run_button.disabled

    runs = store.list()
    assert runs["id"].tolist() == [result.run_id]
    assert runs["source"].tolist() == ["notebook"]
    assert runs["status"].tolist() == ["completed"]


def test_fill_timing_and_commission_controls_change_how_the_run_fills(panel, store):
    panel.end.value = JAN2
    assert (panel.fill_timing.value, panel.commission_bps.value) == ("close", 0.0)
    assert panel.costs() == {"commission_rate": 0.0, "slippage_ticks": 0}
    plain = panel.run()
    panel.fill_timing.value = "next_open"
    panel.commission_bps.value = 5
    assert panel.costs() == {"commission_rate": 0.0005, "slippage_ticks": 0}
    costly = panel.run()
    assert panel.error.value == "" and plain is not None and costly is not None

    no_costs = {"commission_rate": 0.0, "commission_per_unit": 0.0, "commission_per_order": 0.0,
                "slippage_ticks": 0, "slippage_bps": 0.0}  # fmt: skip
    stored_plain, stored = store.get(plain.run_id), store.get(costly.run_id)
    assert stored_plain.settings["execution"] == {
        "fill_timing": "close", "fill_volume": "unlimited", "costs": no_costs,
    }  # fmt: skip
    assert stored.settings["execution"] == {
        "fill_timing": "next_open",
        "fill_volume": "unlimited",
        "costs": {**no_costs, "commission_rate": 0.0005},
    }
    assert stored.run["config_hash"] != stored_plain.run["config_hash"]
    assert stored.config == stored_plain.config  # the strategy's parameters are the same

    assert (plain.fills["commission"] == 0).all()
    fills = costly.fills
    assert len(fills) > 2 and (fills["commission"] > 0).all()
    expected = fills["quantity"] * fills["price"] * 0.0005  # 5 bps of each fill's notional
    assert (fills["commission"] - expected).abs().max() <= 0.005 + 1e-9  # rounded to cents
    # next_open: each fill is at the open of the bar it falls in (the last one closes the
    # position at the last bar's close when the data ends)
    bars = costly.bars[["timestamp", "open"]]
    during = pd.merge_asof(fills.iloc[:-1], bars, left_on="ts", right_on="timestamp")
    assert (during["price"] == during["open"]).all()
    assert (during["ts"] > during["timestamp"]).all()  # a bar opens after the signal's close
    assert fills["price"].iloc[-1] == costly.bars["close"].iloc[-1]
    plain_during = pd.merge_asof(plain.fills.iloc[:-1], bars, left_on="ts", right_on="timestamp")
    assert not (plain_during["price"] == plain_during["open"]).all()  # close fills differ


def test_invalid_parameters_show_a_one_line_error(panel, store):
    panel.params["fast_period"].value = 30
    panel.run_button.click()
    assert panel.last_result is None and panel.last_figures == []
    assert "slow_period: must be greater than fast_period (30), was 20" in panel.error.value
    assert widgets.ERROR_COLOR in panel.error.value
    assert panel.last_error.startswith("slow_period")
    assert panel.status.value.startswith("failed after")
    assert panel.metrics.value == ""
    assert title(panel.price_view) == "the run failed: no price and trades"
    assert title(panel.equity_view) == "the run failed: no equity and drawdown"
    assert shown(panel.price_view)["data"] == []
    failed = store.list(status="failed")
    assert failed["source"].tolist() == ["notebook"]


def test_unexpected_errors_are_shown_not_raised(panel, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(record_module, "run_backtest", broken)
    assert panel.run() is None
    assert "RuntimeError: boom (details: panel.last_exception)" in panel.error.value
    assert "second line" not in panel.error.value
    assert isinstance(panel.last_exception, RuntimeError)


def test_catalog_symbols_and_dates_fill_the_controls(catalog, store):
    panel = BacktestPanel(catalog=catalog, results=store, strategy="sma")
    assert panel.strategy.value == "sma_crossover"
    assert panel.source.value == "catalog" and not panel.symbol.disabled
    assert panel.symbol.options == ("AAPL",)
    assert (panel.start.value, panel.end.value) == (JAN2, dt.date(2024, 1, 3))
    assert panel.note.value == ""

    panel.source.value = "mock"
    assert panel.symbol.disabled and panel.end.value == dt.date(2024, 1, 31)
    assert "mock data" in panel.note.value
    panel.source.value = "catalog"
    assert (panel.start.value, panel.end.value) == (JAN2, dt.date(2024, 1, 3))

    panel.end.value = JAN2
    result = panel.run()
    assert result is panel.last_result and result.data_source == "catalog"
    assert result.symbol == "AAPL" and result.bar_count == 390
    assert store.list()["source"].tolist() == ["notebook"]


def test_unreadable_catalog_falls_back_to_mock(tmp_path, monkeypatch):
    def unreadable(self):
        raise OSError("permission denied")

    monkeypatch.setattr(Catalog, "symbols", unreadable)
    panel = BacktestPanel(catalog=tmp_path / "cat", results=tmp_path / "r.duckdb")
    assert panel.source.value == "mock"
    assert "(permission denied)" in panel.note.value
    assert isinstance(panel.results, ResultsStore)


def test_a_run_kept_out_of_the_store_says_so(panel, monkeypatch):
    real = record_module.run_backtest

    def pending(*args, **kwargs):
        result = real(*args, **{**kwargs, "save": False})
        return result.replace(saved_to="/somewhere/pending/run.json")

    monkeypatch.setattr(record_module, "run_backtest", pending)
    panel.end.value = JAN2
    result = panel.run()
    assert f"run {result.run_id[:8]} NOT saved to the store" in panel.status.value


def test_the_panel_owns_its_figures_and_redraws_them_on_every_run(panel):
    views = (panel.price_view, panel.equity_view)
    assert set(views) <= set(panel.widget.children)  # shown with the panel, from the start
    assert title(panel.price_view) == "press Run to see price and trades"
    assert title(panel.equity_view) == "press Run to see equity and drawdown"
    assert shown(panel.price_view)["data"] == []

    panel.end.value = JAN2
    first = panel.run()
    first_price = shown(panel.price_view)
    panel.params["fast_period"].value, panel.params["slow_period"].value = 3, 7
    second = panel.run()
    assert first is not None and second is not None and second.run_id != first.run_id
    assert second.trade_count != first.trade_count

    price, equity = shown(panel.price_view), shown(panel.equity_view)
    assert price != first_price
    assert price == widgets.figure_bundle(price_figure(second))[widgets.PLOTLY_MIME]
    assert equity == widgets.figure_bundle(equity_figure(second))[widgets.PLOTLY_MIME]
    assert price["layout"]["title"]["text"].endswith(f"{len(second.trades)} trades")
    assert [f.layout.title.text for f in panel.last_figures] == [
        price["layout"]["title"]["text"],
        equity["layout"]["title"]["text"],
    ]
    # each area shows exactly one figure: its plotly JSON and an HTML fallback
    (entry,) = panel.price_view.outputs
    assert set(entry["data"]) == {widgets.PLOTLY_MIME, "text/html", "text/plain"}
    assert "cdn.plot.ly" in entry["data"]["text/html"]

    panel.params["fast_period"].value = 30  # slow_period 7 < 30: the run fails
    assert panel.run() is None and panel.last_figures == []
    assert title(panel.price_view) == "the run failed: no price and trades"
    assert shown(panel.equity_view)["data"] == []
    assert "slow_period" in panel.error.value


def test_progress_bar_shows_while_running(panel, monkeypatch):
    seen = []
    real = record_module.run_backtest

    def watched(*args, **kwargs):
        seen.append((panel.progress.value, panel.progress.layout.display, panel.status.value))
        return real(*args, **kwargs)

    monkeypatch.setattr(record_module, "run_backtest", watched)
    panel.end.value = JAN2
    assert panel.progress.layout.display == "none"
    assert panel.run() is not None
    assert seen == [(1, None, "running…")]
    assert (panel.progress.value, panel.progress.layout.display) == (0, "none")
    assert panel.progress in panel.widget.children[6].children


def test_parameter_labels_are_full_names_that_fit(panel):
    panel.strategy.value = "momentum"
    for name, control in panel.params.items():
        assert control.description == name
        assert control.style.description_width == "max(140px, 22ch)"  # overbought_threshold
    panel.strategy.value = "sma_crossover"  # rebuilt, with widths for these names
    assert panel.params["fast_period"].style.description_width == "max(140px, 13ch)"
    alone = parameter_widget(Parameter("a_very_long_parameter_name", "int", 1))
    assert alone.style.description_width == "max(140px, 28ch)"


def test_placeholder_and_bundle_need_no_kernel():
    output = w.Output()
    widgets.show_figure(output, widgets.placeholder_figure("nothing yet"))
    (entry,) = output.outputs
    assert entry["data"]["text/plain"] == "<Figure: nothing yet>"
    assert entry["data"][widgets.PLOTLY_MIME]["layout"]["height"] == widgets.PLACEHOLDER_HEIGHT


def test_display_and_rich_repr(panel, capsys):
    panel.display()  # outside a kernel IPython prints the widget's repr
    assert "VBox" in capsys.readouterr().out
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


# -- metric tables ----------------------------------------------------------------------------


def test_summary_rows_label_and_format_from_the_metrics_table():
    result = make_result(sharpe=1.5, final_capital=101_000.0, bars=10)
    rows = tables.summary_rows(result)
    assert rows == [
        ("Run", result.run_id[:8]),
        ("Data", "mock (synthetic) 1-MINUTE-LAST"),
        ("Period", "2024-01-02 14:30 .. 2024-01-02 14:39 UTC"),
        ("Bars", "10"),
        ("Trades", "3"),
        ("Final capital", "101,000.00 USD"),
        ("Total return", "+1.00%"),
        ("Buy and hold return", "+120.00%"),
        ("Sharpe ratio (252/yr)", "1.50"),
        ("Sortino ratio (252/yr)", "0.20"),
        ("Max drawdown", "30.00%"),
        ("Win rate", "40.0%"),
        ("Profit factor", "0.50"),
        ("CAGR", "60.00%"),
    ]  # no "Fills" row: these settings predate configurable fills
    full = dict(tables.summary_rows(result, full_id=True, initial_capital=True))
    assert full["Run"] == result.run_id
    assert full["Initial capital"] == "100,000.00 USD"
    assert list(full).index("Initial capital") == list(full).index("Final capital") - 1
    missing = dict(tables.summary_rows(make_result(sharpe=None)))
    assert missing["Sharpe ratio (252/yr)"] == "n/a: needs 2 periods, has 1"
    unexplained = make_result(sharpe=None)
    unexplained.record.performance["notes"] = {}
    assert dict(tables.summary_rows(unexplained))["Sharpe ratio (252/yr)"] == "—"


def test_summary_rows_say_how_orders_filled():
    execution = execution_settings()
    free = make_result(settings={"data": "mock", "execution": execution})
    rows = tables.summary_rows(free)
    labels = [label for label, _ in rows]
    assert labels[:6] == ["Run", "Data", "Period", "Bars", "Fills", "Trades"]
    # the row is the run's Execution described in words (model.execution owns the wording)
    free_text = dict(rows)["Fills"]
    assert free_text == Execution.model_validate(execution).describe()
    assert free_text.startswith("close") and "bps" not in free_text
    costly = {
        **execution,
        "fill_timing": "next_open",
        "costs": {**execution["costs"], "commission_rate": 0.0005, "slippage_ticks": 1},
    }
    rows = dict(tables.summary_rows(make_result(settings={"data": "mock", "execution": costly})))
    assert rows["Fills"] == Execution.model_validate(costly).describe() != free_text
    assert rows["Fills"].startswith("next") and rows["Fills"].endswith(
        "5 bps of notional + 1 tick slippage"
    )


def test_metric_rows_cells_and_comparisons_of_stored_rows():
    row = {"initial_capital": 100_000.0, "final_capital": 99_000.0, "total_return": -0.01,
           "trade_count": 1234, "sharpe": float("nan"), "win_rate": 0.5}  # fmt: skip
    rows = dict(tables.metric_rows(row))
    assert list(rows) == [METRICS[name].label for name in COMPARE_METRICS]
    assert list(rows)[-6:] == [
        "Volatility",
        "Max drawdown duration (days)",
        "Expectancy (per trade)",
        "Average trade return",
        "Exposure (time in market)",
        "Buy and hold return",
    ]  # the detail metrics follow the headline ones
    assert rows["Total return"] == "-1.00%" and rows["Trades"] == "1,234"
    assert rows["Final capital"] == "99,000.00" and rows["Sharpe ratio"] == "—"
    assert rows["Sortino ratio"] == "—"  # absent from the row
    annualised = dict(
        tables.metric_rows(row, ["sharpe", "volatility", "cagr"], periods_per_year=365)
    )
    assert annualised == {"Sharpe ratio (365/yr)": "—", "Volatility (365/yr)": "—", "CAGR": "—"}
    explained = tables.metric_rows(
        row, ["sharpe", "sortino", "win_rate"], notes={"sharpe": "no trades", "win_rate": "x"}
    )
    assert explained == [
        ("Sharpe ratio", "n/a: no trades"),
        ("Sortino ratio", "—"),
        ("Win rate", "50.0%"),  # a value is shown whatever the notes say
    ]
    assert tables.metric_cells(pd.Series(row), ["win_rate", "final_capital"], "EUR") == [
        "50.0%",
        "99,000.00 EUR",
    ]
    assert tables.metric_cells({}, ["final_capital"], "EUR") == ["—"]
    assert tables.metric_labels(["sharpe", "score"]) == ["Sharpe ratio", "score"]
    assert tables.metric_labels(["sharpe", "sortino", "max_drawdown", "score"], 252) == [
        "Sharpe ratio (252/yr)",
        "Sortino ratio (252/yr)",
        "Max drawdown",
        "score",
    ]
    assert tables.metric_cells({}, ["cagr"], notes={"cagr": "needs 2 periods, has 1"}) == [
        "n/a: needs 2 periods, has 1"
    ]
    compared = pd.DataFrame(
        {"aaaaaaaa": [0.05, 3.0], "bbbbbbbb": [None, 12.0]}, index=["total_return", "trade_count"]
    )
    assert tables.comparison_rows(compared) == [
        ("Total return", ["+5.00%", "—"]),
        ("Trades", ["3", "12"]),
    ]


def test_metrics_table_is_the_summary_rows_and_warnings_in_html():
    result = make_result()
    html = widgets.metrics_table(result)
    assert html.startswith("<table class='research-lib-metrics'>")
    for label, value in tables.summary_rows(result):
        assert f">{label}</th><td style='text-align:right'>{value}</td>" in html
    assert ">Warning</th><td style='text-align:right'>2 orders were refused</td>" in html
