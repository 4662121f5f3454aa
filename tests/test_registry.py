"""The strategy registry: names, aliases, did-you-mean, parameters read from the config
classes, and building strategies (built-in and a user's own) through Nautilus's factory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from research_lib.errors import ConfigError, UnknownStrategyError
from research_lib.strategies import indicators, registry
from research_lib.strategies.base import ConfigProblems
from research_lib.strategies.registry import Range, StrategyInfo

USER_STRATEGIES = Path(__file__).parent / "user_strategies"
WIRING = {
    "instrument_id": "TEST.SIM",
    "bar_type": "TEST.SIM-1-MINUTE-LAST-EXTERNAL",
    "trade_size": 10,
}


def test_names_and_aliases():
    assert registry.names() == ["sma_crossover", "mean_reversion", "momentum"]
    assert registry.get("sma") is registry.get("sma_crossover")
    assert registry.aliases() == {"sma": "sma_crossover"}
    for name in registry.names():
        info = registry.get(name)
        assert info.description and "\n" not in info.description
        assert info.strategy_path.startswith(f"research_lib.strategies.{name}:")
        assert info.config_path.startswith(f"research_lib.strategies.{name}:")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("momentun", " did you mean 'momentum'?"),
        ("mean-reversion", " did you mean 'mean_reversion'?"),
    ],
)
def test_unknown_name_suggests_the_closest(typed, hint):
    with pytest.raises(UnknownStrategyError) as caught:
        registry.get(typed)
    assert str(caught.value) == (
        f"unknown strategy '{typed}';{hint} available: sma_crossover, mean_reversion, momentum"
    )


def test_unknown_name_without_a_close_match():
    with pytest.raises(UnknownStrategyError, match=r"^unknown strategy 'zzz'; available: "):
        registry.get("zzz")


@pytest.mark.parametrize("name", ["sma_crossover", "mean_reversion", "momentum"])
def test_parameters_read_from_source_match_the_imported_class(name):
    info = registry.get(name)
    static = registry.static_parameters(info.config_path)
    assert static == registry.config_parameters(info.config_class())
    assert info.parameters() == static


def test_parameters_carry_types_defaults_and_bounds():
    params = {p.name: p for p in registry.get("momentum").parameters()}
    assert list(params) == [
        "rsi_period",
        "oversold_threshold",
        "overbought_threshold",
        "trade_size",
        "sizing",
    ]  # fill_timing is wiring the runner sets, not a parameter
    rsi, oversold, size = params["rsi_period"], params["oversold_threshold"], params["trade_size"]
    assert (rsi.type, rsi.default, rsi.bounds, rsi.low) == ("int", 14, ">= 1", 1)
    assert (oversold.type, oversold.default, oversold.bounds) == ("float", 30.0, "> 0, < 100")
    assert (oversold.low, oversold.high) == (0, 100)
    assert (size.type, size.default, size.bounds) == ("Decimal", None, "> 0")
    sizing = params["sizing"]
    assert (sizing.type, sizing.default, sizing.bounds) == ("str", "quantity", "any")
    assert sizing.help.startswith("What trade_size is: quantity (units)")
    assert "RSI" in rsi.help
    reversion = {p.name: p for p in registry.get("mean_reversion").parameters()}
    assert reversion["lookback_period"].bounds == ">= 2"
    assert reversion["num_std_dev"].default == 2.0


def test_parameters_fall_back_to_importing_when_the_source_is_unreadable(monkeypatch):
    def unreadable(path):
        raise registry._Unreadable(path)

    info = registry.get("sma")
    expected = registry.static_parameters(info.config_path)
    monkeypatch.setattr(registry, "static_parameters", unreadable)
    assert info.parameters() == expected


def test_static_reader_refuses_what_it_cannot_follow():
    with pytest.raises(registry._Unreadable):
        registry.static_parameters("no_such_module_anywhere:Config")
    with pytest.raises(registry._Unreadable):
        registry.static_parameters("research_lib.strategies.momentum:NoSuchConfig")


def test_range_describes_and_checks():
    assert Range(low=1).describe() == ">= 1"
    assert Range(low=0, high=100, low_open=True, high_open=True).describe() == "> 0, < 100"
    assert Range().describe() == "any"
    assert Range(high=5).problem(6) == "must be at most 5, was 6"
    assert Range(low=0, high=1, low_open=True).problem(0.5) is None


def test_create_builds_a_configured_strategy():
    strategy = registry.create("momentum", {**WIRING, "rsi_period": 7})
    assert type(strategy).__name__ == "Momentum"
    assert strategy.config.rsi_period == 7
    assert strategy.config.oversold_threshold == 30.0


def test_create_reports_bad_values_by_field():
    with pytest.raises(ConfigProblems, match="slow_period: must be greater than fast_period"):
        registry.create("sma", {**WIRING, "fast_period": 10, "slow_period": 5})
    with pytest.raises(ConfigError, match="fast_perod: unknown parameter of SMAConfig; did you"):
        registry.create("sma", {**WIRING, "fast_perod": 5})
    with pytest.raises(ConfigError, match="fast_period: expected int, got str"):
        registry.create("sma", {**WIRING, "fast_period": "five"})
    with pytest.raises(
        ConfigProblems, match="sizing: must be one of quantity, notional, equity, was 'lots'"
    ):
        registry.create("sma", {**WIRING, "sizing": "lots"})
    with pytest.raises(
        ConfigProblems, match="trade_size: is a fraction of equity with sizing 'equity': at most 1"
    ):
        registry.create("sma", {**WIRING, "sizing": "equity"})
    with pytest.raises(ConfigProblems, match="fill_timing: must be close or next_open"):
        registry.create("sma", {**WIRING, "fill_timing": "later"})
    config = registry.create("sma", {**WIRING, "sizing": "equity", "trade_size": 0.5}).config
    assert (config.sizing, float(config.trade_size), config.fill_timing) == ("equity", 0.5, "close")


def test_find_by_path_and_resolve_paths():
    info = registry.get("mean_reversion")
    assert registry.find_by_path(info.strategy_path) is info
    assert registry.find_by_path("x:Y") is None
    assert registry.resolve_paths("sma") == (
        "research_lib.strategies.sma_crossover:SMACrossover",
        "research_lib.strategies.sma_crossover:SMAConfig",
    )
    assert registry.resolve_paths(info.strategy_path) == (info.strategy_path, info.config_path)
    with pytest.raises(ConfigError, match="needs a config_path"):
        registry.resolve_paths("breakout:Breakout")


def test_import_errors_name_the_fix():
    with pytest.raises(
        ConfigError, match=r"No module named 'nosuch' \(is its folder on PYTHONPATH"
    ):
        registry.strategy_class("nosuch:Strategy")
    with pytest.raises(ConfigError, match="is not a Nautilus Strategy subclass"):
        registry.strategy_class("research_lib.strategies.sma_crossover:SMAConfig")
    with pytest.raises(ConfigError, match="config_path must be module:Class"):
        registry.config_class("SMAConfig")
    with pytest.raises(ConfigError, match="cannot import config class"):
        registry.config_class("research_lib.strategies.sma_crossover:SMACrossover")


def test_config_problems_lists_every_kind_of_problem():
    found = registry.config_problems(
        "research_lib.strategies.sma_crossover:SMAConfig",
        {"fast_period": "ten", "slow_period": 1, "fast_perid": 3, "instrument_id": "TEST.SIM"},
        defaults={"bar_type": "TEST.SIM-1-MINUTE-LAST-EXTERNAL", "not_a_field": 1},
    )
    assert ("fast_period", "expected int, got str, was 'ten'") in found
    assert ("trade_size", "required, missing (Decimal)") in found
    assert any(key == "fast_perid" and "did you mean 'fast_period'?" in r for key, r in found)
    # with every field decodable, the class's own rules run on the rest (fast_period default 10)
    found = registry.config_problems(
        "research_lib.strategies.sma_crossover:SMAConfig",
        {**WIRING, "fast_period": "ten", "slow_period": 1},
    )
    assert found == [
        ("fast_period", "expected int, got str, was 'ten'"),
        ("slow_period", "must be at least 2, was 1"),
        ("slow_period", "must be greater than fast_period (10), was 1"),
    ]


def test_a_user_strategy_outside_the_package(monkeypatch):
    monkeypatch.syspath_prepend(str(USER_STRATEGIES))
    strategy = registry.create(
        "breakout:Breakout", {**WIRING, "lookback": 5}, config_path="breakout:BreakoutConfig"
    )
    assert type(strategy).__name__ == "Breakout"
    assert strategy.config.lookback == 5
    info = StrategyInfo(
        name="breakout",
        description="Channel breakout.",
        strategy_path="breakout:Breakout",
        config_path="breakout:BreakoutConfig",
    )
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register(info)
    assert registry.get("breakout") is info
    assert info.indicators is None  # a user's strategy draws no indicators unless given a spec
    assert registry.find("breakout") is registry.find("x:Y", "breakout:Breakout") is info
    params = info.parameters()
    assert [p.name for p in params] == ["lookback", "trade_size", "sizing"]
    assert params[0].bounds == ">= 2"
    assert params == registry.config_parameters(info.config_class())


def test_jsonable_turns_values_into_json_types():
    from decimal import Decimal

    assert registry.jsonable({"a": Decimal("1.5"), "b": 2, "c": None, "d": Path("x")}) == {
        "a": "1.5",
        "b": 2,
        "c": None,
        "d": "x",
    }


# -- indicator specs ------------------------------------------------------------------------

CLOSES = pd.Series(
    100 + np.cumsum(np.random.default_rng(3).normal(0, 1, 300)),
    index=pd.date_range("2024-01-02 14:31", periods=300, freq="1min", tz="UTC"),
)


def defaults(name: str) -> dict:
    return {p.name: p.default for p in registry.get(name).parameters() if p.default is not None}


def warm(values: np.ndarray, period: int) -> np.ndarray:
    """``values`` after the first ``period - 1``, which must be NaN (the indicator is cold)."""
    assert np.isnan(values[: period - 1]).all()
    return values[period - 1 :]


def test_every_built_in_strategy_has_an_indicator_spec():
    specs = {name: registry.get(name).indicators for name in registry.names()}
    assert specs == {
        "sma_crossover": indicators.SMA_CROSSOVER,
        "mean_reversion": indicators.MEAN_REVERSION,
        "momentum": indicators.MOMENTUM,
    }
    for name, spec in specs.items():
        frame = spec.compute(CLOSES, defaults(name))
        assert frame.index.equals(CLOSES.index)
        assert set(spec.labels(defaults(name))) == set(frame.columns) == set(spec.styles)
    assert indicators.MOMENTUM.panel == "lower" and indicators.SMA_CROSSOVER.panel == "price"
    assert indicators.MOMENTUM.levels(defaults("momentum")) == {
        "oversold": 30.0,
        "overbought": 70.0,
    }
    assert indicators.MEAN_REVERSION.levels(defaults("mean_reversion")) == {}


@pytest.mark.parametrize(("fast", "slow"), [(10, 20), (3, 7), (1, 2)])
def test_sma_spec_matches_numpy_convolution(fast, slow):
    frame = registry.get("sma").indicators.compute(
        CLOSES, {"fast_period": fast, "slow_period": slow}
    )
    x = CLOSES.to_numpy()
    for column, n in (("fast_sma", fast), ("slow_sma", slow)):
        expected = np.convolve(x, np.ones(n) / n, mode="valid")
        np.testing.assert_allclose(warm(frame[column].to_numpy(), n), expected, rtol=1e-12)


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.5), (2, 3.0)])
def test_band_spec_matches_rolling_mean_and_population_std(period, k):
    frame = registry.get("mean_reversion").indicators.compute(
        CLOSES, {"lookback_period": period, "num_std_dev": k}
    )
    windows = sliding_window_view(CLOSES.to_numpy(), period)
    mean, std = windows.mean(axis=1), windows.std(axis=1, ddof=0)
    np.testing.assert_allclose(warm(frame["middle"].to_numpy(), period), mean, rtol=1e-12)
    np.testing.assert_allclose(warm(frame["upper"].to_numpy(), period), mean + k * std, rtol=1e-9)
    np.testing.assert_allclose(warm(frame["lower"].to_numpy(), period), mean - k * std, rtol=1e-9)


@pytest.mark.parametrize("period", [14, 5, 2])
def test_rsi_spec_matches_exponential_averages_of_gains_and_losses(period):
    frame = registry.get("momentum").indicators.compute(CLOSES, {"rsi_period": period})
    change = np.diff(CLOSES.to_numpy(), prepend=CLOSES.iloc[0])
    alpha = 2.0 / (period + 1.0)
    gain = pd.Series(np.clip(change, 0, None)).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    loss = pd.Series(np.clip(-change, 0, None)).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(loss == 0, 100.0, 100.0 - 100.0 / (1.0 + gain / loss))
    np.testing.assert_allclose(
        warm(frame["rsi"].to_numpy(), period), expected[period - 1 :], rtol=0, atol=1e-9
    )


def test_rsi_spec_matches_nautilus_relative_strength_index():
    from nautilus_trader.indicators import RelativeStrengthIndex

    indicator = RelativeStrengthIndex(14)
    expected = []
    for close in CLOSES:
        indicator.update_raw(float(close))
        expected.append(indicator.value * 100 if indicator.initialized else np.nan)
    ours = registry.get("momentum").indicators.compute(CLOSES, defaults("momentum"))["rsi"]
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=0, atol=1e-9)


def test_the_registry_and_indicator_specs_need_neither_nautilus_nor_plotly():
    code = (
        "import sys; from research_lib.strategies import registry; "
        "registry.get('momentum').parameters(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'nautilus_trader', 'plotly', 'pandas', 'numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
