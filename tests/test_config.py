"""YAML run configs: the seed format, the short form, every bad file with its message, the
CLI helpers and running a config (built-in and a user's own strategy) on mock data."""

from __future__ import annotations

from pathlib import Path

import pytest

from research_lib.engine.run_config import (
    BacktestSection,
    LineLoader,
    RunConfigError,
    load_run_config,
    parse_params,
    template,
)
from research_lib.errors import ConfigError
from research_lib.model.execution import Costs
from research_lib.strategies import registry
from research_lib.workflows.record import run_from_config

EXAMPLES = Path(__file__).parents[1] / "configs" / "examples"
USER_STRATEGIES = Path(__file__).parent / "user_strategies"
SEED = """\
strategy_path: "research_lib.strategies.sma_crossover:SMACrossover"
config_path: "research_lib.strategies.sma_crossover:SMAConfig"
config:
  instrument_id: "AAPL.NASDAQ"
  bar_type: "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL"
  fast_period: 10
  slow_period: 20
  trade_size: 100
"""


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RunConfigError) as caught:
        load_run_config(path)
    assert str(caught.value) == "\n".join(p.format(str(path)) for p in caught.value.problems)
    return str(caught.value).splitlines()


def test_the_seed_format_loads_unchanged_in_meaning(tmp_path):
    config = load_run_config(write(tmp_path, SEED))
    assert config.strategy_path == "research_lib.strategies.sma_crossover:SMACrossover"
    assert config.config_path == "research_lib.strategies.sma_crossover:SMAConfig"
    assert config.strategy_name == "sma_crossover"
    assert config.params == {
        "instrument_id": "AAPL.NASDAQ",
        "bar_type": "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL",
        "fast_period": 10,
        "slow_period": 20,
        "trade_size": 100,
    }
    assert config.backtest == BacktestSection()
    assert config.backtest.data == "catalog"


def test_the_short_form_and_a_backtest_section(tmp_path):
    path = write(
        tmp_path,
        "strategy: sma\nconfig: {fast_period: 5, slow_period: 8}\n"
        "backtest:\n  symbol: MSFT\n  start: 2024-01-02\n  end: 2024-01-05 15:00\n"
        "  starting_balance: 50000\n  data: mock\n",
    )
    config = load_run_config(path)
    assert config.strategy_name == "sma_crossover"
    assert config.config_path.endswith(":SMAConfig")
    assert config.params == {"fast_period": 5, "slow_period": 8}
    assert config.backtest == BacktestSection(
        symbol="MSFT",
        start="2024-01-02",
        end="2024-01-05 15:00",
        starting_balance=50_000.0,
        data="mock",
    )


@pytest.mark.parametrize("name", ["sma", "mean_reversion", "momentum"])
def test_the_examples_are_valid(name):
    config = load_run_config(EXAMPLES / f"{name}_config.yaml")
    assert config.strategy_name == registry.get(name).name
    assert config.backtest == BacktestSection(
        symbol="AAPL",
        start="2024-01-02",
        end="2024-01-31",
        starting_balance=100_000,
        data="catalog",
    )
    assert config.params["trade_size"] == 100


@pytest.mark.parametrize("name", ["sma_crossover", "mean_reversion", "momentum"])
def test_templates_validate_and_list_every_parameter(tmp_path, name):
    text = template(name)
    config = load_run_config(write(tmp_path, text))
    assert config.strategy_name == name
    assert config.backtest.data == "mock"
    expected = {p.name: p.default for p in registry.get(name).parameters()}
    expected["trade_size"] = 100
    assert config.params == expected
    assert expected["sizing"] == "quantity"
    assert config.costs == Costs() and config.backtest.fill_timing == "close"
    assert text.startswith(f"# {name}: ")


# -- bad files: one clear line each -----------------------------------------------------


def test_missing_file(tmp_path):
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_a_folder(tmp_path):
    assert problems_of(tmp_path) == [f"{tmp_path}: is a folder, expected a YAML file"]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, text)
    [line] = problems_of(path)
    assert line.startswith(f"{path}: file is empty; expected strategy")


def test_yaml_syntax_error_cites_the_line(tmp_path):
    path = write(tmp_path, "strategy: sma\nconfig:\n  fast_period: [10\n  slow_period: 20\n")
    [line] = problems_of(path)
    assert line.startswith(f"{path}:4: YAML syntax error: ")


def test_a_list_at_the_top_level(tmp_path):
    path = write(tmp_path, "- strategy: sma\n")
    assert problems_of(path) == [
        f"{path}:1: expected a mapping (key: value lines) at the top level, got a list"
    ]


def test_not_utf8(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"strategy: \xff\xfe\n")
    [line] = problems_of(path)
    assert line.startswith(f"{path}: not a UTF-8 text file")


def test_duplicate_key(tmp_path):
    path = write(tmp_path, "strategy: sma\nconfig:\n  fast_period: 5\n  fast_period: 6\n")
    assert problems_of(path) == [f"{path}:4: config.fast_period: duplicate key (first on line 3)"]


def test_unknown_top_level_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, SEED.replace("strategy_path", "strategy_pth"))
    lines = problems_of(path)
    assert lines[0] == (
        f"{path}:1: strategy_pth: unknown key; did you mean 'strategy_path'? "
        "known: strategy, strategy_path, config_path, config, backtest, costs, study"
    )


def test_unknown_backtest_key(tmp_path):
    path = write(tmp_path, SEED + "backtest:\n  symbl: AAPL\n")
    assert problems_of(path) == [
        f"{path}:10: backtest.symbl: unknown key; did you mean 'symbol'? "
        "known: symbol, bar_spec, start, end, starting_balance, data, fill_timing, fill_volume, "
        "periods_per_year, scheduler"
    ]


def test_unknown_strategy_param_checked_against_the_config_class(tmp_path):
    path = write(tmp_path, SEED.replace("fast_period: 10", "fast_perod: 10"))
    assert problems_of(path) == [
        f"{path}:6: config.fast_perod: unknown parameter of SMAConfig; did you mean "
        "'fast_period'? parameters: instrument_id, bar_type, trade_size, sizing, fill_timing, "
        "fast_period, slow_period"
    ]


def test_costs_and_fill_settings_load_and_reach_the_run_arguments(tmp_path):
    path = write(
        tmp_path,
        SEED + "backtest:\n  fill_timing: next_open\n  fill_volume: bar\n  periods_per_year: 260\n"
        "costs:\n  commission_per_unit: 0.005\n",
    )
    config = load_run_config(path)
    assert config.costs == Costs(commission_per_unit=0.005)
    assert (config.backtest.fill_timing, config.backtest.fill_volume) == ("next_open", "bar")
    assert config.backtest.periods_per_year == 260.0
    arguments = config.arguments()
    assert arguments["costs"] == {"commission_per_unit": 0.005}  # only what the file sets
    assert (arguments["fill_timing"], arguments["fill_volume"]) == ("next_open", "bar")
    assert arguments["periods_per_year"] == 260.0
    # a commission kind given as an override replaces the file's commission
    assert config.arguments(costs={"commission_rate": 0.001})["costs"] == {"commission_rate": 0.001}
    assert config.arguments(costs={"slippage_ticks": 2})["costs"] == {
        "commission_per_unit": 0.005,
        "slippage_ticks": 2,
    }
    plain = load_run_config(write(tmp_path, SEED, "plain.yaml"))
    assert plain.costs == Costs() and plain.arguments()["costs"] == {}
    assert "fill_timing" not in plain.arguments()  # unset: the runner's default (close)


def test_unknown_costs_key(tmp_path):
    path = write(tmp_path, SEED + "costs:\n  comission_rate: 0.001\n")
    assert problems_of(path) == [
        f"{path}:10: costs.comission_rate: unknown key; did you mean 'commission_rate'? "
        "known: commission_rate, commission_per_unit, commission_per_order, slippage_ticks, "
        "slippage_bps"
    ]


def test_bad_costs_and_fill_settings_with_their_lines(tmp_path):
    both = write(tmp_path, SEED + "costs:\n  commission_rate: 0.001\n  commission_per_order: 1\n")
    assert problems_of(both) == [
        f"{both}:9: costs: give one of commission_rate or commission_per_order, not both"
    ]
    negative = write(tmp_path, SEED + "costs:\n  slippage_ticks: -1\n", "negative.yaml")
    assert problems_of(negative) == [
        f"{negative}:10: costs.slippage_ticks: input should be greater than or equal to 0, was -1"
    ]
    timing = write(tmp_path, SEED + "backtest:\n  fill_timing: next_close\n", "timing.yaml")
    assert problems_of(timing) == [
        f"{timing}:10: backtest.fill_timing: input should be 'close' or 'next_open', "
        "was 'next_close'"
    ]
    periods = write(tmp_path, SEED + "backtest:\n  periods_per_year: 0\n", "periods.yaml")
    assert problems_of(periods) == [
        f"{periods}:10: backtest.periods_per_year: must be greater than 0, was 0.0"
    ]


def test_bad_param_value(tmp_path):
    path = write(tmp_path, SEED.replace("fast_period: 10", "fast_period: ten"))
    assert problems_of(path) == [f"{path}:6: config.fast_period: expected int, got str, was 'ten'"]


def test_slow_not_above_fast_with_its_line(tmp_path):
    path = write(tmp_path, SEED.replace("slow_period: 20", "slow_period: 5"))
    assert problems_of(path) == [
        f"{path}:7: config.slow_period: must be greater than fast_period (10), was 5"
    ]


def test_momentum_thresholds_with_their_line(tmp_path):
    path = write(
        tmp_path,
        "strategy: momentum\nconfig:\n  oversold_threshold: 70.0\n  overbought_threshold: 60.0\n",
    )
    assert problems_of(path) == [
        f"{path}:4: config.overbought_threshold: must be greater than oversold_threshold (70.0), "
        "was 60.0"
    ]


def test_every_problem_at_once_in_line_order(tmp_path):
    text = (
        "strategy: sma\n"
        "config:\n"
        "  fast_period: 10\n"
        "  slow_period: 5\n"
        "  trade_size: 0\n"
        "  instrument_id: AAPL.NASDAQ\n"
        "  bar_type: MSFT.NASDAQ-1-MINUTE-LAST-EXTERNAL\n"
        "backtest:\n"
        "  data: csv\n"
        "  starting_balance: -5\n"
        "  start: someday\n"
        "  symbol: ../etc\n"
    )
    path = write(tmp_path, text)
    lines = problems_of(path)
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:4",
        f"{path}:5",
        f"{path}:7",
        f"{path}:9",
        f"{path}:10",
        f"{path}:11",
        f"{path}:12",
    ]
    assert lines[1].endswith("config.trade_size: must be greater than 0, was 0")
    assert "instrument MSFT.NASDAQ must equal instrument_id (AAPL.NASDAQ)" in lines[2]
    assert lines[3].endswith("backtest.data: input should be 'mock' or 'catalog', was 'csv'")
    assert lines[4].endswith("backtest.starting_balance: must be greater than 0, was -5.0")
    assert "not a date or timestamp" in lines[5]
    assert "invalid symbol '../etc'" in lines[6]


def test_end_before_start(tmp_path):
    path = write(tmp_path, SEED + "backtest:\n  start: 2024-02-01\n  end: 2024-01-01\n")
    assert problems_of(path) == [
        f"{path}:9: backtest: end (2024-01-01) is before start (2024-02-01)"
    ]


def test_strategy_is_required_and_unique(tmp_path):
    path = write(tmp_path, "config: {fast_period: 5}\n")
    assert problems_of(path) == [
        f"{path}: missing strategy: give strategy: NAME (research-lib strategy list) "
        "or strategy_path and config_path (module:Class)"
    ]
    path = write(tmp_path, "strategy: sma\n" + SEED)
    assert problems_of(path) == [
        f"{path}:1: strategy: give either strategy or strategy_path/config_path, not both"
    ]


def test_unknown_strategy_name(tmp_path):
    path = write(tmp_path, "strategy: momentun\n")
    assert problems_of(path) == [
        f"{path}:1: strategy: unknown strategy 'momentun'; did you mean 'momentum'? "
        "available: sma_crossover, mean_reversion, momentum"
    ]


def test_paths_that_do_not_import(tmp_path):
    path = write(
        tmp_path,
        'strategy_path: "not_installed:Thing"\nconfig_path: "research_lib.strategies:Nope"\n',
    )
    lines = problems_of(path)
    assert lines[0].startswith(f"{path}:1: strategy_path: cannot import strategy")
    assert "(is its folder on PYTHONPATH?)" in lines[0]
    assert lines[1].startswith(f"{path}:2: config_path: cannot import config class")
    path = write(tmp_path, 'strategy_path: "breakout"\nconfig_path: "x:Y"\n')
    assert problems_of(path) == [
        f"{path}:1: strategy_path: must be module:Class, e.g. "
        "research_lib.strategies.sma_crossover:SMACrossover, was 'breakout'"
    ]
    path = write(tmp_path, 'strategy_path: "user_mod:Thing"\n')
    assert problems_of(path) == [
        f"{path}:1: config_path: strategy 'user_mod:Thing' needs a config_path (module:Class)"
    ]


def test_config_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "strategy: sma\nconfig: [1, 2]\n")
    assert problems_of(path) == [
        f"{path}:2: config: input should be a valid dictionary, was [1, 2]"
    ]


def test_line_loader_records_key_lines():
    loader = LineLoader("a: 1\nb:\n  c: [1, {d: 2}]\n")
    assert loader.load() == {"a": 1, "b": {"c": [1, {"d": 2}]}}
    assert loader.lines == {("a",): 1, ("b",): 2, ("b", "c"): 3, ("b", "c", "1", "d"): 3}


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path, "strategy: !!python/object/apply:os.system ['echo hi']\n")
    [line] = problems_of(path)
    assert "YAML syntax error" in line and "python/object/apply" in line


# -- CLI helpers --------------------------------------------------------------------------


def test_parse_params_reads_yaml_scalars():
    assert parse_params(["fast_period=10", "num_std_dev=2.5", "instrument_id=AAPL.NASDAQ"]) == {
        "fast_period": 10,
        "num_std_dev": 2.5,
        "instrument_id": "AAPL.NASDAQ",
    }
    assert parse_params([]) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("x", "--param expects key=value, got 'x'"),
        ("=5", "--param expects key=value, got '=5'"),
        ("fast period=5", "--param expects key=value, got 'fast period=5'"),
        ("fast_period=", "--param fast_period has no value, expected fast_period=VALUE"),
        (
            "fast_period=[1",
            "--param fast_period: cannot read value '[1': expected ',' or ']', but got "
            "'<stream end>'",
        ),
    ],
)
def test_parse_params_rejects_bad_items(item, message):
    with pytest.raises(ConfigError) as caught:
        parse_params([item])
    assert str(caught.value) == message


def test_template_of_an_unknown_strategy():
    with pytest.raises(ConfigError, match="did you mean 'sma'"):
        template("smaa")


# -- running ------------------------------------------------------------------------------


def test_run_applies_overrides(tmp_path):
    config = load_run_config(write(tmp_path, SEED + "backtest:\n  symbol: AAPL\n"))
    result = run_from_config(
        config, data="mock", end="2024-01-02", params={"fast_period": 5}, save=False
    )
    assert result.strategy == "sma_crossover"
    assert result.config["fast_period"] == 5
    assert result.data_source == "mock"
    assert result.bar_count == 390


def test_a_user_strategy_runs_like_a_built_in_one(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(USER_STRATEGIES))
    path = write(
        tmp_path,
        'strategy_path: "breakout:Breakout"\n'
        'config_path: "breakout:BreakoutConfig"\n'
        "config:\n  lookback: 30\n  trade_size: 50\n"
        "backtest:\n  data: mock\n  start: 2024-01-02\n  end: 2024-01-02\n",
    )
    config = load_run_config(path)
    assert config.strategy_name == "breakout:Breakout"
    result = run_from_config(config, save=False)
    assert result.strategy == "breakout:Breakout"
    assert len(result.trades) > 0
    assert set(result.trades["quantity"]) == {50.0}
    bad = write(tmp_path, path.read_text().replace("lookback: 30", "lookback: 1"), "bad.yaml")
    assert problems_of(bad) == [f"{bad}:4: config.lookback: must be at least 2, was 1"]
