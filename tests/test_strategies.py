"""The built-in strategies on hand-built bars with known signals, through the real engine,
and every config validation rule."""

from __future__ import annotations

import warnings
from decimal import Decimal

import numpy as np
import pytest
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money

from research_lib.data.instruments import InstrumentSpec
from research_lib.strategies import registry
from research_lib.strategies.base import ConfigProblems, crossed_above, crossed_below
from research_lib.strategies.mean_reversion import MeanReversionConfig, RollingStdDev
from research_lib.strategies.momentum import MomentumConfig
from research_lib.strategies.sma_crossover import SMAConfig

SPEC = InstrumentSpec("TEST", venue="SIM")
BAR_TYPE = SPEC.bar_type("1-MINUTE-LAST")
START_NS = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC
MINUTE_NS = 60_000_000_000
WIRING = {"instrument_id": SPEC.instrument_id, "bar_type": BAR_TYPE, "trade_size": 10}


def make_bars(closes: list[float]) -> list[Bar]:
    """1-minute bars closing at ``closes``: open = previous close, high/low 0.5 beyond both
    (so a fill at the close is not a fill at any other price of the bar)."""
    close = np.array(closes, dtype=np.float64, copy=True)
    open_ = np.array(np.concatenate(([close[0]], close[:-1])), dtype=np.float64, copy=True)
    high = np.array(np.maximum(open_, close) + 0.5, dtype=np.float64, copy=True)
    low = np.array(np.minimum(open_, close) - 0.5, dtype=np.float64, copy=True)
    volume = np.array(np.full(len(close), 1000.0), dtype=np.float64, copy=True)
    ts = np.array(START_NS + MINUTE_NS * np.arange(1, len(close) + 1), dtype=np.uint64, copy=True)
    return Bar.from_raw_arrays_to_list(
        BarType.from_str(BAR_TYPE), 2, 0, open_, high, low, close, volume, ts, ts.copy()
    )


def run_fills(name: str, closes: list[float], **params) -> list[tuple[int, str, float, float]]:
    """Run strategy ``name`` on bars closing at ``closes``; its fills as
    (bar index, side, quantity, price), in order."""
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    try:
        engine.add_venue(
            venue=Venue("SIM"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            starting_balances=[Money(1_000_000, USD)],
            base_currency=USD,
        )
        engine.add_instrument(SPEC.to_nautilus())
        engine.add_data(make_bars(closes))
        engine.add_strategy(registry.create(name, {**WIRING, **params}))
        with warnings.catch_warnings():  # Nautilus 1.231 calls the deprecated Timestamp.utcnow
            warnings.filterwarnings("ignore", message=r".*Timestamp\.utcnow is deprecated")
            engine.run()
        fills = engine.trader.generate_order_fills_report()
        if fills.empty:
            return []
        rows = fills.sort_values("ts_last", kind="stable")
        return [
            (
                int((row.ts_last.value - START_NS) // MINUTE_NS) - 1,
                str(row.side),
                float(row.filled_qty),
                float(row.avg_px),
            )
            for row in rows.itertuples()
        ]
    finally:
        engine.dispose()


# -- exact fills ----------------------------------------------------------------------------


def test_sma_crossover_fills_at_the_crossing_bars_close():
    # fast(2) - slow(3): above from bar 2, below at bar 5 (101.5 < 102), above at bar 9.
    closes = [100, 101, 102, 103, 102, 101, 100, 99, 100, 101, 102, 103]
    fills = run_fills("sma", closes, fast_period=2, slow_period=3)
    assert fills == [
        (5, "SELL", 10, 101.0),  # crosses below: short
        (9, "BUY", 10, 101.0),  # crosses above: close the short...
        (9, "BUY", 10, 101.0),  # ...and go long
        (11, "SELL", 10, 103.0),  # run ends: flatten at the last close
    ]


def test_mean_reversion_enters_outside_the_bands_and_exits_at_the_middle():
    # lookback 3, 1 std: bar 4 closes 94 < 98 - sqrt(8); bar 5 closes at the mean (97) exactly;
    # bar 6 closes 100 > 97 + sqrt(6); bar 8 closes at the mean (100); bar 9 closes
    # 106 > 102 + sqrt(8); bar 10 closes 102 <= 102.67; bar 11 closes 99 < 102.33 - 2.87.
    closes = [100, 100, 100, 100, 94, 97, 100, 100, 100, 106, 102, 99, 100]
    fills = run_fills("mean_reversion", closes, lookback_period=3, num_std_dev=1.0)
    assert fills == [
        (4, "BUY", 10, 94.0),
        (5, "SELL", 10, 97.0),  # "at or above the middle" exits a long
        (6, "SELL", 10, 100.0),
        (8, "BUY", 10, 100.0),  # "at or below the middle" exits a short
        (9, "SELL", 10, 106.0),
        (10, "BUY", 10, 102.0),
        (11, "BUY", 10, 99.0),
        (12, "SELL", 10, 100.0),  # run ends
    ]


def test_mean_reversion_does_not_enter_on_a_flat_window():
    # zero deviation: the bands equal the mean and nothing is strictly outside them
    assert run_fills("mean_reversion", [100] * 10, lookback_period=3) == []


def test_momentum_goes_long_on_oversold_cross_up_and_reverses_on_overbought_cross_down():
    # RSI(3) (EMA alpha 0.5), in 0..100: bars 2-3: 0; bar 4: 69.6 (up through 30: long);
    # 5-7: 87, 94, 97; bar 8: 31.6 (down through 70: reverse to short); bar 9: 18.9;
    # bar 10: 42.2 (up through 30: reverse to long); bar 11: 42.2.
    closes = [100, 99, 98, 97, 99, 101, 103, 105, 101, 99, 100, 100]
    fills = run_fills("momentum", closes, rsi_period=3)
    assert fills == [
        (4, "BUY", 10, 99.0),
        (8, "SELL", 10, 101.0),
        (8, "SELL", 10, 101.0),
        (10, "BUY", 10, 100.0),
        (10, "BUY", 10, 100.0),
        (11, "SELL", 10, 100.0),
    ]


def test_the_three_strategies_give_different_signals_on_the_same_data():
    from research_lib.workflows.record import run_backtest

    trades = {}
    for name in registry.names():
        result = run_backtest(name, {}, data="mock", end="2024-01-02", save=False)
        trades[name] = result.trades[["side", "entry_time", "exit_time"]].to_dict("records")
        assert trades[name], name
    first, second, third = trades.values()
    assert first != second and second != third and first != third


# -- helpers --------------------------------------------------------------------------------


def test_crossings_include_touching_from_the_start_side_only():
    assert crossed_above(30.0, 30.0, 30.1)
    assert not crossed_above(29.0, 30.0, 30.0)
    assert crossed_below(70.0, 70.0, 69.9)
    assert not crossed_below(71.0, 70.0, 70.0)


def test_rolling_std_is_the_population_deviation_of_the_window():
    deviation = RollingStdDev(3)
    for value in (100.0, 94.0, 97.0, 100.0):
        deviation.update_raw(value)
    assert deviation.initialized
    assert deviation.value == pytest.approx(np.std([94.0, 97.0, 100.0]))  # ddof=0
    deviation.reset()
    assert not deviation.initialized


def test_warmup_bars_of_each_config():
    assert SMAConfig(**WIRING, fast_period=3, slow_period=7).warmup_bars() == 7
    assert MeanReversionConfig(**WIRING, lookback_period=5).warmup_bars() == 4
    assert MomentumConfig(**WIRING, rsi_period=9).warmup_bars() == 9


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_cls", "values", "expected"),
    [
        (SMAConfig, {"fast_period": 0}, ("fast_period", "must be at least 1, was 0")),
        (SMAConfig, {"fast_period": 1, "slow_period": 1}, ("slow_period", "must be at least 2")),
        (
            SMAConfig,
            {"fast_period": 10, "slow_period": 5},
            ("slow_period", "must be greater than fast_period (10), was 5"),
        ),
        (
            MeanReversionConfig,
            {"lookback_period": 1},
            ("lookback_period", "must be at least 2, was 1"),
        ),
        (
            MeanReversionConfig,
            {"num_std_dev": 0.0},
            ("num_std_dev", "must be greater than 0, was 0.0"),
        ),
        (MomentumConfig, {"rsi_period": 0}, ("rsi_period", "must be at least 1, was 0")),
        (
            MomentumConfig,
            {"oversold_threshold": 0.0},
            ("oversold_threshold", "must be greater than 0, was 0.0"),
        ),
        (
            MomentumConfig,
            {"overbought_threshold": 100.0},
            ("overbought_threshold", "must be less than 100, was 100.0"),
        ),
        (
            MomentumConfig,
            {"oversold_threshold": 70.0, "overbought_threshold": 60.0},
            (
                "overbought_threshold",
                "must be greater than oversold_threshold (70.0), was 60.0",
            ),
        ),
        (
            MomentumConfig,
            {"trade_size": Decimal(0)},
            ("trade_size", "must be greater than 0, was 0"),
        ),
        (
            MeanReversionConfig,
            {"instrument_id": "OTHER.SIM"},
            (
                "bar_type",
                "instrument TEST.SIM must equal instrument_id (OTHER.SIM), "
                "was TEST.SIM-1-MINUTE-LAST-EXTERNAL",
            ),
        ),
    ],
)
def test_each_validation_rule_names_the_field_and_the_value(config_cls, values, expected):
    with pytest.raises(ConfigProblems) as caught:
        registry.build_config(_path(config_cls), {**WIRING, **values})
    field, reason = expected
    assert any(f == field and reason in r for f, r in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigProblems) as caught:
        registry.build_config(
            _path(MomentumConfig),
            {**WIRING, "rsi_period": 0, "oversold_threshold": 80.0, "trade_size": -1},
        )
    assert [field for field, _ in caught.value.problems] == [
        "trade_size",
        "rsi_period",
        "overbought_threshold",
    ]


def test_valid_defaults_build():
    for config_cls in (SMAConfig, MeanReversionConfig, MomentumConfig):
        config = registry.build_config(_path(config_cls), WIRING)
        assert config.trade_size == Decimal(10)


def _path(config_cls: type) -> str:
    return f"{config_cls.__module__}:{config_cls.__name__}"


def test_reset_forgets_the_previous_signal_state():
    for name, attribute in (("momentum", "_previous"), ("sma", "_above")):
        strategy = registry.create(name, WIRING)
        setattr(strategy, attribute, True)
        strategy.direction = 1
        strategy.on_reset()
        assert getattr(strategy, attribute) is None
        assert strategy.direction == 0
