"""Run one backtest on NautilusTrader's ``BacktestEngine`` and return a typed result.

Data comes from the ``mock`` source (seeded synthetic bars built in memory), the ``catalog``
(a symbol, bar spec and optional date range) or a bars DataFrame, loaded by
:mod:`research_lib.engine.market`. :func:`prepare` resolves the strategy, loads the bars
and checks the config; :func:`execute` builds the engine, runs it, reads the result
(:mod:`research_lib.engine.report`) and disposes it. Nothing is saved here:
:func:`research_lib.workflows.record.run_backtest` is the one place that saves runs.

Nautilus itself is imported only when an engine is built.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib.metadata import version
from typing import Any

import pandas as pd

from research_lib.data.instruments import InstrumentSpec
from research_lib.engine.market import MarketData, load_market_data
from research_lib.engine.nautilus_fixes import buffer_analyzer
from research_lib.engine.report import equity_curve, fills_table, positions_table, trades_table
from research_lib.errors import BacktestError, ConfigError, DataRangeError
from research_lib.model.bars import bar_interval
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_SEED, DEFAULT_TRADE_SIZE
from research_lib.model.execution import Execution, execution_of
from research_lib.model.params import check_settings, check_values
from research_lib.model.performance import performance
from research_lib.model.run import BacktestResult, RunRecord, clean_number
from research_lib.strategies.registry import (
    build_config,
    config_parameters,
    create,
    find_by_path,
    resolve_paths,
)

VERSIONED_PACKAGES = ("research-lib", "nautilus_trader", "pandas", "duckdb")


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs a backtest; none of these changes its results.

    ``oms_type`` HEDGING: each entry opens its own position and a reversal closes it first,
    which gives the same fills, PnL and statistics as NETTING (tests/test_nautilus_fixes.py)
    while staying linear in time: under NETTING, Nautilus 1.231's matching engine lists every
    order of the one netted position on each fill. ``buffer_analyzer``: see
    :mod:`research_lib.engine.nautilus_fixes`. ``chunk_bars``: bars handed to the engine at a
    time (streaming mode keeps only one chunk of Nautilus ``Bar`` objects alive).
    """

    oms_type: str = "HEDGING"
    buffer_analyzer: bool = True
    chunk_bars: int = 100_000


def resolve_config(
    config_path: str, params: dict[str, Any], data: MarketData
) -> tuple[dict[str, Any], Any]:
    """The canonical config values for ``data`` (every field, defaults filled in, as JSON
    values) and the decoded config object.

    ``instrument_id`` and ``bar_type`` always follow the data; a ``trade_size`` of
    :data:`~research_lib.model.defaults.DEFAULT_TRADE_SIZE` is used when none is given. A
    ``quantity``-sized ``trade_size`` must fit the instrument's size increment.
    """
    check_values(params)  # finite numbers, bounded nesting (research_lib.model.params)
    values = {"trade_size": DEFAULT_TRADE_SIZE, **params}
    values["instrument_id"] = data.spec.instrument_id
    values["bar_type"] = data.bar_type
    config = build_config(config_path, values)
    check_values(canonical_values(config))  # text decoded to numbers ("1e400") included
    if getattr(config, "sizing", "quantity") == "quantity" and hasattr(config, "trade_size"):
        problem = data.spec.check_quantity(config.trade_size, "trade_size")
        if problem:
            raise ConfigError(problem)
    return canonical_values(config), config


def canonical_values(config: Any) -> dict[str, Any]:
    """``config``'s wiring (instrument, bar type) and parameters with every default, as JSON
    values (Decimals as floats, ids as text): the same run has the same values whichever
    way it was started (CLI flags, YAML, Python)."""
    values: dict[str, Any] = {
        "instrument_id": str(config.instrument_id),
        "bar_type": str(config.bar_type),
    }
    for parameter in config_parameters(type(config)):
        value = getattr(config, parameter.name)
        if isinstance(value, Decimal):
            value = float(value)
        elif not isinstance(value, (str, int, float, bool, type(None), list, dict)):
            value = str(value)
        values[parameter.name] = value
    return values


def warmup_bars(config: Any) -> int:
    """Bars the strategy needs before its first signal (``config.warmup_bars()`` or 1)."""
    method = getattr(config, "warmup_bars", None)
    return int(method()) if callable(method) else 1


def run_settings(
    data: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    starting_balance: float | None = None,
    seed: int | None = None,
    catalog: Any = None,
    execution: Any = None,
    periods_per_year: float | None = None,
    instrument: InstrumentSpec | None = None,
    bar_spec: str | None = None,
) -> dict[str, Any]:
    """The backtest settings recorded with a run, as it was asked for (JSON values).

    Every run's record, completed or failed (a crashed sweep point, a failed notebook), keeps
    these same keys, so a rerun repeats it; None is the default balance and seed.
    ``execution`` (an :class:`Execution` or its dict) is stored with every default filled in;
    ``periods_per_year`` None means "from the data's calendar"; ``bar_spec`` None means "the
    symbol's only one" (a completed run's settings name the bar spec and symbol it used).

    The one check of every way of starting a run (CLI flags, YAML, papermill, the panel,
    Python): raises :class:`ConfigError` for a balance, seed or periods per year that is not
    finite and in range (:func:`research_lib.model.params.check_settings`).
    """
    check_settings(starting_balance=starting_balance, seed=seed, periods_per_year=periods_per_year)
    return {
        "data": data if isinstance(data, str) else "dataframe",
        "symbol": symbol,
        "bar_spec": bar_spec,
        "start": None if start is None else str(start),
        "end": None if end is None else str(end),
        "starting_balance": float(
            DEFAULT_BALANCE if starting_balance is None else starting_balance
        ),
        "seed": DEFAULT_SEED if seed is None else int(seed),
        "catalog": None if catalog is None else str(getattr(catalog, "root", catalog)),
        "execution": execution_of(execution).to_dict(),
        "periods_per_year": None if periods_per_year is None else float(periods_per_year),
        **({} if instrument is None else {"instrument": instrument.to_dict()}),
    }


SETTING_NAMES = (
    "data", "symbol", "bar_spec", "start", "end", "starting_balance", "seed", "catalog",
    "execution", "periods_per_year",
)  # fmt: skip


def settings_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_settings` from the entries of ``values`` that name its arguments (sweep
    options, notebook parameters); the others are ignored."""
    known = SETTING_NAMES
    return run_settings(**{key: values[key] for key in known if values.get(key) is not None})


@dataclass(frozen=True)
class Setup:
    """A run ready for the engine: the strategy's name and paths, its config and the bars."""

    strategy: str
    strategy_path: str
    config_path: str
    values: dict[str, Any]
    config: Any
    market: MarketData

    def describe(self, record: RunRecord) -> RunRecord:
        """``record`` with the strategy and its resolved config values filled in."""
        return replace(
            record,
            strategy=self.strategy,
            strategy_path=self.strategy_path,
            config_path=self.config_path,
            config=self.values,
        )


def prepare(
    strategy: str,
    params: dict[str, Any],
    *,
    config_path: str | None = None,
    data: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    catalog: Any = None,
    seed: int = DEFAULT_SEED,
    instrument: InstrumentSpec | None = None,
    bar_spec: str | None = None,
) -> Setup:
    """Resolve ``strategy`` (a registered name, or ``module:Class`` with ``config_path``),
    load the bars and check the config values against them."""
    strategy_path, config_path = resolve_paths(strategy, config_path)
    info = find_by_path(strategy_path)
    name = info.name if info else strategy_path
    market = load_market_data(
        data, symbol, start, end, catalog, seed, bar_spec=bar_spec, instrument=instrument
    )
    values, config = resolve_config(config_path, params, market)
    return Setup(name, strategy_path, config_path, values, config, market)


def execute(
    setup: Setup,
    record: RunRecord,
    starting_balance: float,
    *,
    started: float | None = None,
    verbose: bool = False,
    options: EngineOptions = EngineOptions(),
    execution: Execution = Execution(),
    periods_per_year: float | None = None,
) -> BacktestResult:
    """Run ``setup`` on a fresh engine; the result's record is ``record`` completed.

    ``record`` brings the run's id, source, tags, sweep, notebook and settings;
    ``started`` (a ``time.perf_counter()`` value, default now) is when the run began, for
    its duration. ``execution`` says how orders fill and what they cost;
    ``periods_per_year`` overrides the annualisation read from the data's calendar.
    """
    started = time.perf_counter() if started is None else started
    market = setup.market
    needed = warmup_bars(setup.config)
    if len(market.bars) < needed + 1:
        raise DataRangeError(
            f"{len(market.bars)} bars of {market.spec.symbol} in the chosen range; "
            f"{setup.strategy} needs at least {needed + 1} ({needed} to warm up): widen "
            "--start/--end"
        )
    wiring = _run_wiring(setup, execution, verbose)
    engine, venue, currency = _build_engine(
        market.spec, starting_balance, verbose, options, execution
    )
    try:
        engine.add_strategy(
            create(setup.strategy_path, {**setup.values, **wiring}, setup.config_path)
        )
        with warnings.catch_warnings():
            # Nautilus 1.231 calls the deprecated Timestamp.utcnow (pandas 3) in run and end.
            warnings.filterwarnings("ignore", message=r".*Timestamp\.utcnow is deprecated")
            _feed(engine, market, options.chunk_bars, execution.fill_timing == "next_open")
            engine.end()
        outcome = _extract(engine, venue, currency, market, starting_balance, periods_per_year)
    finally:
        engine.dispose()
    done = setup.describe(record)
    done = replace(
        done,
        status="completed",
        symbol=market.spec.symbol,
        instrument_id=market.spec.instrument_id,
        bar_type=market.bar_type,
        bar_spec=market.bar_spec,
        start=market.bars["timestamp"].iloc[0],
        end=market.bars["timestamp"].iloc[-1],
        bar_count=len(market.bars),
        trade_count=len(outcome["trades"]),
        currency=currency,
        data_source=market.source,
        data_fingerprint=market.fingerprint,
        settings={
            **record.settings,
            "symbol": market.spec.symbol,
            "bar_spec": market.bar_spec,
            "oms_type": options.oms_type,
            "instrument": market.spec.to_dict(),  # as traded: sizes, multiplier, session
        },
        initial_capital=starting_balance,
        final_capital=outcome["final_capital"],
        performance=outcome["performance"],
        stats=outcome["stats"],
        duration_seconds=time.perf_counter() - started,
        versions=versions(),
        warnings=(*market.warnings, *outcome["warnings"]),
    )
    return BacktestResult(
        record=done,
        equity=outcome["equity"],
        trades=outcome["trades"],
        fills=outcome["fills"],
        positions=outcome["positions"],
        bars=market.bars,
    )


def versions() -> dict[str, str]:
    """Library versions recorded with every run."""
    return {pkg: version(pkg) for pkg in VERSIONED_PACKAGES}


def _run_wiring(setup: Setup, execution: Execution, verbose: bool) -> dict[str, Any]:
    """Config values the runner adds to the strategy's own: fill timing and log quietness."""
    wiring: dict[str, Any] = {} if verbose else {"log_events": False, "log_commands": False}
    takes_timing = "fill_timing" in getattr(type(setup.config), "__struct_fields__", ())
    if takes_timing:
        wiring["fill_timing"] = execution.fill_timing
    elif execution.fill_timing != "close":
        raise ConfigError(
            f"{setup.strategy} has no fill_timing field: next_open needs a strategy built on "
            "research_lib.strategies.base.SignalStrategy"
        )
    return wiring


def _feed(engine: Any, market: MarketData, chunk_bars: int, open_ticks: bool) -> None:
    """Feed the engine in chunks (streaming mode): only one chunk of Nautilus Bar objects
    (~310 bytes each) is alive at a time, which keeps a 1M-bar run's memory flat. With
    ``open_ticks`` each bar after the first is preceded by a trade tick at its open."""
    from research_lib.engine.execution import open_ticks as ticks_at_opens  # heavy: Nautilus
    from research_lib.engine.nautilus_bars import to_nautilus_bars  # heavy: Nautilus

    for first in range(0, len(market.bars), chunk_bars):
        last = min(first + chunk_bars, len(market.bars))
        chunk = market.bars.iloc[first:last]
        engine.add_data(to_nautilus_bars(chunk, market.spec, market.bar_spec))
        if open_ticks:
            ticks = ticks_at_opens(market.bars, market.spec, market.bar_spec, first, last)
            if ticks:
                engine.add_data(ticks)
        engine.run(streaming=True)
        engine.clear_data()


def _build_engine(
    spec: InstrumentSpec,
    starting_balance: float,
    verbose: bool,
    options: EngineOptions,
    execution: Execution,
) -> tuple:
    from nautilus_trader.analysis import CAGR, CalmarRatio, MaxDrawdown
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    from research_lib.engine.execution import fee_model, fill_model, taker_fee  # heavy: Nautilus

    config = BacktestEngineConfig(
        logging=LoggingConfig(log_level="INFO" if verbose else "ERROR"),
        run_analysis=False,  # statistics are computed once, in _extract
    )
    engine = BacktestEngine(config)
    venue = Venue(spec.venue)
    currency = Currency.from_str(spec.currency)
    engine.add_venue(
        venue=venue,
        oms_type=OmsType[options.oms_type],
        account_type=AccountType.MARGIN,
        starting_balances=[Money(starting_balance, currency)],
        base_currency=currency,
        default_leverage=Decimal(1),
        fill_model=fill_model(execution),
        fee_model=fee_model(execution.costs, spec.currency),
    )
    engine.add_instrument(spec.to_nautilus(taker_fee=taker_fee(execution.costs)))
    for statistic in (MaxDrawdown(), CAGR(), CalmarRatio()):  # off by default in Nautilus
        engine.portfolio.analyzer.register_statistic(statistic)
    if options.buffer_analyzer:
        buffer_analyzer(engine.portfolio.analyzer)
    return engine, venue, spec.currency


def _extract(
    engine: Any,
    venue: Any,
    currency: str,
    market: MarketData,
    start_cash: float,
    periods_per_year: float | None = None,
) -> dict[str, Any]:
    """Fills, positions, trades, performance, the analyzer's statistics (kept for
    reference), warnings and the equity curve of a finished engine."""
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import OrderStatus

    cache = engine.cache
    orders = cache.orders()
    fills = fills_table(orders)
    refusals = (OrderStatus.DENIED, OrderStatus.REJECTED)
    refused = [o.last_event.reason for o in orders if o.status in refusals]
    for strategy in engine.trader.strategies():
        refused += getattr(strategy, "refused", [])
    warnings = []
    if refused:
        if fills.empty:
            raise BacktestError(
                f"every order was refused ({len(refused)}): {refused[0]}; "
                "lower trade_size or raise the starting balance"
            )
        warnings.append(f"{len(refused)} orders were refused, the first: {refused[0]}")
    account = engine.portfolio.account(venue)
    positions = cache.positions() + cache.position_snapshots()
    analyzer = engine.portfolio.analyzer
    analyzer.calculate_statistics(account, positions)
    ccy = Currency.from_str(currency)
    stats: dict[str, float | None] = {}
    for group in (
        analyzer.get_performance_stats_pnls(ccy),
        analyzer.get_performance_stats_returns(),
        analyzer.get_performance_stats_general(),
    ):
        stats.update({key: clean_number(value) for key, value in group.items()})
    positions_frame = positions_table(positions)
    trades = trades_table(positions_frame)
    equity = equity_curve(fills, market, start_cash)
    measured = performance(
        equity,
        market.bars,
        bar_interval(market.bar_spec),
        trades,
        start_cash,
        periods_per_year=periods_per_year,
        multiplier=float(market.spec.point_value),
    )
    return {
        "final_capital": float(account.balance_total(ccy).as_double()),
        "performance": measured.to_dict(),
        "stats": stats,
        "equity": equity,
        "trades": trades,
        "fills": fills,
        "positions": positions_frame,
        "warnings": warnings,
    }
