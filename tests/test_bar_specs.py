"""A symbol with several bar specs (1- and 5-minute AAPL bars in one catalog): choosing one
from the CLI, a YAML run config, a sweep and the panel; the chosen spec recorded and repeated
by a rerun; a range that runs past the chosen bars said so in the run's warnings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import make_bars

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.engine.market import load_market_data
from research_lib.engine.run_config import RunConfigError, load_run_config
from research_lib.errors import ConfigError
from research_lib.store import ResultsStore
from research_lib.ui.widgets import BacktestPanel
from research_lib.workflows.notebooks import PARAMETERISED, notebook_parameters, notebook_path

ONE, FIVE = "1-MINUTE-LAST", "5-MINUTE-LAST"
MINUTE_BARS, FIVE_MINUTE_BARS = 240, 100  # 14:30..18:29 and 14:30..22:45 on 2024-01-02
SMA = ["-p", "fast_period=3", "-p", "slow_period=8"]
SEVERAL = (
    "Error: AAPL has several bar specs (1-MINUTE-LAST, 5-MINUTE-LAST): choose one with "
    "--bar-spec (YAML: backtest.bar_spec)"
)


def import_bars(catalog: Catalog, folder: Path, symbol: str, bar_spec: str, count: int) -> None:
    """``count`` bars from 2024-01-02 14:30 whose closes swing (so an SMA crossover trades)."""
    closes = [100 + 3 * math.sin(i / 6) for i in range(count)]
    path = folder / f"{symbol}-{bar_spec}.csv"
    freq = "5min" if bar_spec == FIVE else "1min"
    make_bars(closes, start="2024-01-02 14:30", freq=freq).to_csv(path, index=False)
    catalog.import_csv(path, symbol=symbol, bar_spec=bar_spec)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog(tmp_path / "catalog")
    import_bars(cat, tmp_path, "AAPL", ONE, MINUTE_BARS)
    import_bars(cat, tmp_path, "AAPL", FIVE, FIVE_MINUTE_BARS)
    return cat


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.duckdb")


def invoke(catalog: Catalog, store: ResultsStore, *args: str):
    where = ["--catalog", str(catalog.root), "--results", str(store.path)]
    return CliRunner().invoke(cli, [*where, *args])


def latest(store: ResultsStore):
    return store.get(store.list(order_by="created_at", limit=1)["id"].iloc[0])


# -- backtest run ---------------------------------------------------------------------------


def test_run_without_a_bar_spec_lists_the_specs_and_the_flag(catalog, store):
    result = invoke(catalog, store, "backtest", "run", "--symbol", "AAPL", *SMA)
    assert result.exit_code == 1
    assert result.stderr.strip() == SEVERAL
    failed = latest(store)
    assert failed.status == "failed" and failed.settings["bar_spec"] is None


@pytest.mark.parametrize(("bar_spec", "bars"), [(ONE, MINUTE_BARS), (FIVE, FIVE_MINUTE_BARS)])
def test_run_with_a_bar_spec_uses_those_bars_and_records_them(catalog, store, bar_spec, bars):
    result = invoke(catalog, store, "backtest", "run", "--symbol", "AAPL", "--bar-spec", bar_spec,
                    *SMA)  # fmt: skip
    assert result.exit_code == 0, result.output
    run = latest(store)
    assert (run.status, run.bar_spec, run.bar_count) == ("completed", bar_spec, bars)
    assert run.settings["bar_spec"] == bar_spec
    assert run.config["bar_type"] == f"AAPL.NASDAQ-{bar_spec}-EXTERNAL"
    assert "warning" not in result.output  # no range asked for: nothing runs past the data


def test_an_unknown_or_invalid_bar_spec_is_one_line(catalog, store):
    result = invoke(catalog, store, "backtest", "run", "--bar-spec", "1-HOUR-LAST", *SMA)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: no 1-HOUR-LAST bars for AAPL; it has 1-MINUTE-LAST, 5-MINUTE-LAST: choose one "
        "with --bar-spec (research-lib data list)"
    )
    result = invoke(catalog, store, "backtest", "run", "--bar-spec", "5min", *SMA)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "invalid bar spec '5min'" in result.stderr
    result = invoke(catalog, store, "backtest", "run", "--data", "mock", "--bar-spec", FIVE)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: mock bars are 1-MINUTE-LAST; 5-MINUTE-LAST bars need --data catalog"
    )


def test_a_symbol_with_one_spec_needs_no_choice(tmp_path, store):
    cat = Catalog(tmp_path / "one")
    import_bars(cat, tmp_path, "MSFT", FIVE, FIVE_MINUTE_BARS)
    market = load_market_data("catalog", "MSFT", catalog=cat)
    assert (market.bar_spec, len(market.bars), market.warnings) == (FIVE, FIVE_MINUTE_BARS, ())
    with pytest.raises(ConfigError, match="no 1-MINUTE-LAST bars for MSFT; it has 5-MINUTE-LAST"):
        load_market_data("catalog", "MSFT", catalog=cat, bar_spec=ONE)


# -- a range past the data ------------------------------------------------------------------


def test_a_range_past_the_data_is_a_warning_of_the_run(catalog, store):
    args = ["--symbol", "AAPL", "--bar-spec", ONE, "--start", "2024-01-01", "--end", "2024-01-05"]
    result = invoke(catalog, store, "backtest", "run", *args, *SMA)
    assert result.exit_code == 0, result.output
    begins = (
        "data for AAPL 1-MINUTE-LAST begins 2024-01-02 14:30 UTC; the range asked for begins "
        "2024-01-01"
    )
    ends = (
        "data for AAPL 1-MINUTE-LAST ends 2024-01-02 18:29 UTC; the range asked for ends 2024-01-05"
    )
    output = " ".join(result.output.split())
    assert f"warning: {begins}" in output and f"warning: {ends}" in output
    run = latest(store)
    assert run.warnings[:2] == (begins, ends) and run.bar_count == MINUTE_BARS

    inside = [
        "--symbol",
        "AAPL",
        "--bar-spec",
        FIVE,
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-02",
    ]
    result = invoke(catalog, store, "backtest", "run", *inside, *SMA)
    assert result.exit_code == 0, result.output
    assert "data for" not in result.output and latest(store).warnings == ()


# -- YAML run configs -----------------------------------------------------------------------


def write_config(tmp_path: Path, backtest: str = "", config: str = "", name: str = "run") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        "strategy: sma\n"
        f"config:\n  fast_period: 3\n  slow_period: 8\n{config}"
        f"backtest:\n  data: catalog\n  symbol: AAPL\n{backtest}",
        encoding="utf-8",
    )
    return path


def test_run_config_takes_backtest_bar_spec_then_the_flag(tmp_path, catalog, store):
    path = write_config(tmp_path, backtest=f"  bar_spec: {FIVE}\n")
    result = invoke(catalog, store, "backtest", "run-config", str(path))
    assert result.exit_code == 0, result.output
    assert (latest(store).bar_spec, latest(store).bar_count) == (FIVE, FIVE_MINUTE_BARS)
    result = invoke(catalog, store, "backtest", "run-config", str(path), "--bar-spec", ONE)
    assert result.exit_code == 0, result.output
    assert (latest(store).bar_spec, latest(store).bar_count) == (ONE, MINUTE_BARS)

    result = invoke(catalog, store, "backtest", "run-config", str(write_config(tmp_path)))
    assert result.exit_code == 1 and result.stderr.strip() == SEVERAL


def test_run_config_uses_the_spec_of_config_bar_type(tmp_path, catalog, store):
    bar_type = f'  bar_type: "AAPL.NASDAQ-{FIVE}-EXTERNAL"\n'
    path = write_config(tmp_path, config=bar_type)
    assert load_run_config(path).arguments()["bar_spec"] == FIVE
    result = invoke(catalog, store, "backtest", "run-config", str(path))
    assert result.exit_code == 0, result.output
    assert latest(store).bar_spec == FIVE
    both = write_config(tmp_path, backtest=f"  bar_spec: {ONE}\n", config=bar_type, name="b")
    assert load_run_config(both).arguments()["bar_spec"] == ONE  # backtest.bar_spec wins
    mock = load_run_config(path).arguments(data="mock")
    assert mock.get("bar_spec") is None  # mock bars are what they are


def test_an_invalid_yaml_bar_spec_is_a_problem_on_its_line(tmp_path):
    path = write_config(tmp_path, backtest="  bar_spec: 5min\n")
    with pytest.raises(RunConfigError) as caught:
        load_run_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:8: backtest.bar_spec: invalid bar spec '5min': expected <")
    assert text.endswith("e.g. 1-MINUTE-LAST") and "\n" not in text


# -- rerun ----------------------------------------------------------------------------------


def test_rerun_of_a_five_minute_run_repeats_its_bars(catalog, store):
    args = ["backtest", "run", "--symbol", "AAPL", "--bar-spec", FIVE, *SMA]
    assert invoke(catalog, store, *args).exit_code == 0
    original = latest(store)
    result = invoke(catalog, store, "backtest", "rerun", original.id[:8])
    assert result.exit_code == 0, result.output
    assert "trades and metrics are identical" in result.output
    again = latest(store)
    assert again.id != original.id and (again.bar_spec, again.bar_count) == (FIVE, FIVE_MINUTE_BARS)


def test_a_run_made_before_a_second_spec_was_imported_reruns(tmp_path, store):
    cat = Catalog(tmp_path / "later")
    import_bars(cat, tmp_path, "AAPL", ONE, MINUTE_BARS)
    assert invoke(cat, store, "backtest", "run", *SMA).exit_code == 0  # the only spec
    original = latest(store)
    assert original.settings["bar_spec"] == ONE  # the spec it used, not "none asked for"
    import_bars(cat, tmp_path, "AAPL", FIVE, FIVE_MINUTE_BARS)
    result = invoke(cat, store, "backtest", "rerun", original.id)
    assert result.exit_code == 0, result.output
    assert "trades and metrics are identical" in result.output


# -- sweeps and the notebook ----------------------------------------------------------------


def test_sweep_runs_every_point_on_the_chosen_bars(catalog, store):
    result = invoke(catalog, store, "sweep", "sma", "--data", "catalog", "--symbol", "AAPL",
                    "--bar-spec", FIVE, "--grid", "fast_period=2,3", "--grid", "slow_period=8",
                    "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = store.list()
    assert len(runs) == 2 and set(runs["status"]) == {"completed"}
    assert {store.get(i).bar_spec for i in runs["id"]} == {FIVE}


def test_the_parameterised_notebook_takes_a_bar_spec():
    assert notebook_parameters(notebook_path(PARAMETERISED))["bar_spec"] == "None"


# -- the panel ------------------------------------------------------------------------------


def test_the_panel_bar_spec_choices_follow_the_symbol(tmp_path, catalog, store):
    import_bars(catalog, tmp_path, "MSFT", FIVE, 50)
    panel = BacktestPanel(catalog=catalog, results=store)
    assert panel.symbol.value == "AAPL" and panel.source.value == "catalog"
    assert panel.bar_spec.options == (ONE, FIVE) and panel.bar_spec.value == ONE
    assert not panel.bar_spec.disabled and panel.bar_spec.layout.display is None

    panel.symbol.value = "MSFT"
    assert (panel.bar_spec.options, panel.bar_spec.value) == ((FIVE,), FIVE)
    panel.symbol.value = "AAPL"
    panel.bar_spec.value = FIVE
    panel.params["fast_period"].value, panel.params["slow_period"].value = 3, 8
    result = panel.run()
    assert panel.last_error is None, panel.last_error
    assert (result.bar_spec, result.bar_count) == (FIVE, FIVE_MINUTE_BARS)
    assert store.get(result.run_id).settings["bar_spec"] == FIVE

    panel.source.value = "mock"
    assert panel.bar_spec.disabled and panel.bar_spec.layout.display == "none"


def test_data_show_chooses_among_several_bar_specs(catalog, store):
    several = invoke(catalog, store, "data", "show", "AAPL")
    assert several.exit_code == 1
    assert "AAPL has several bar specs (1-MINUTE-LAST, 5-MINUTE-LAST): choose one with " in (
        several.stderr
    )
    five = invoke(catalog, store, "data", "show", "AAPL", "--bar-spec", FIVE, "--limit", "2")
    assert five.exit_code == 0, five.output
    assert f"AAPL: 2 of {FIVE_MINUTE_BARS:,} bars" in five.output
    assert "│ 2024-01-02 14:35 " in five.output  # the second 5-minute bar, whole
