"""Run one backtest on NautilusTrader's ``BacktestEngine`` and return a typed result.

Data comes from the ``mock`` source (seeded synthetic bars built in memory) or the ``catalog``
(a symbol and optional date range). The engine is built, run, read and disposed here; every
run, completed or failed, is handed to the results store unless ``save=False``.
"""

from __future__ import annotations

import time
import traceback
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from research_lib.data.instruments import InstrumentSpec
from research_lib.errors import BacktestError, ConfigError, DataRangeError
from research_lib.model.run import TRADE_COLUMNS, BacktestResult, clean_number

DEFAULT_BALANCE = 100_000.0
DEFAULT_SYMBOL = "AAPL"
DATA_SOURCES = ("mock", "catalog")
MOCK_START, MOCK_END = "2024-01-02", "2024-01-31"
MOCK_BAR_SPEC = "1-MINUTE-LAST"
# Engine settings. HEDGING: each entry opens its own position and a reversal closes it first,
# which gives the same fills, PnL and statistics as NETTING (tests/test_nautilus_fixes.py)
# while staying linear in time: under NETTING, Nautilus 1.231's matching engine lists every
# order of the one netted position on each fill. BUFFER_ANALYZER: see engine.nautilus_fixes.
OMS_TYPE = "HEDGING"
BUFFER_ANALYZER = True
CHUNK_BARS = 100_000  # bars handed to the engine at a time


@dataclass(frozen=True)
class MarketData:
    """The bars a run uses, with what is needed to rebuild and recognise them."""

    source: str
    spec: InstrumentSpec
    bar_spec: str
    bars: pd.DataFrame
    fingerprint: str

    @property
    def bar_type(self) -> str:
        return self.spec.bar_type(self.bar_spec)


def load_market_data(
    source: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    catalog: Any = None,
    seed: int = 42,
    bar_spec: str = MOCK_BAR_SPEC,
) -> MarketData:
    """Bars for a run from ``mock`` (seeded, in memory), ``catalog`` (``Catalog`` or path),
    or a bars DataFrame of your own (columns timestamp, open, high, low, close, volume)."""
    from research_lib.model.bars import bars_fingerprint

    if isinstance(source, pd.DataFrame):
        spec = InstrumentSpec(symbol or DEFAULT_SYMBOL)
        bars = source.reset_index(drop=True)
        return MarketData("dataframe", spec, bar_spec, bars, bars_fingerprint(bars))
    if source == "mock":
        from research_lib.data.synthetic import generate_bars

        spec = InstrumentSpec(symbol or DEFAULT_SYMBOL)
        bars = generate_bars(start or MOCK_START, end or MOCK_END, seed=seed)
        if bars.empty:
            raise DataRangeError(f"no mock bars between {start} and {end}: pick weekdays")
        return MarketData("mock", spec, MOCK_BAR_SPEC, bars, bars_fingerprint(bars))
    if source != "catalog":
        raise ConfigError(f"unknown data source '{source}': use one of {', '.join(DATA_SOURCES)}")
    from research_lib.data.catalog import Catalog

    cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog or Catalog.default_root())
    if symbol is None:
        listed = cat.symbols()
        if len(listed["symbol"].unique()) != 1:
            raise ConfigError("which symbol? pass --symbol (research-lib data list shows them)")
        symbol = str(listed["symbol"].iloc[0])
    spec = cat.instrument(symbol)
    specs = cat.bar_specs(symbol)
    bar_spec = specs[0] if len(specs) == 1 else None
    bars = cat.bars(symbol, start, end, bar_spec=bar_spec)
    return MarketData("catalog", spec, bar_spec or specs[0], bars, bars_fingerprint(bars))


def resolve_config(
    config_path: str, params: dict[str, Any], data: MarketData
) -> tuple[dict[str, Any], Any]:
    """The full strategy config values for ``data`` and the decoded config object.

    ``instrument_id`` and ``bar_type`` always follow the data; a ``trade_size`` default of 100
    is used when none is given.
    """
    from research_lib.strategies.registry import build_config

    values = {"trade_size": 100, **params}
    values["instrument_id"] = data.spec.instrument_id
    values["bar_type"] = data.bar_type
    config = build_config(config_path, values)
    return values, config


def warmup_bars(config: Any) -> int:
    """Bars the strategy needs before its first signal (``config.warmup_bars()`` or 1)."""
    method = getattr(config, "warmup_bars", None)
    return int(method()) if callable(method) else 1


def run_backtest(
    strategy: str = "sma_crossover",
    params: dict[str, Any] | None = None,
    *,
    config_path: str | None = None,
    data: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    starting_balance: float = DEFAULT_BALANCE,
    catalog: Any = None,
    seed: int = 42,
    save: bool = True,
    results: Any = None,
    source: str = "python",
    tags: list[str] | tuple[str, ...] = (),
    sweep_id: str | None = None,
    notebook_path: str | None = None,
    verbose: bool = False,
) -> BacktestResult:
    """Run ``strategy`` (a registered name or ``module:Class`` with ``config_path``).

    ``params`` are the strategy's config values (``instrument_id`` and ``bar_type`` come from
    the data). Saves the run to the results store (``results``: a ``ResultsStore``, a path or
    None for the default) unless ``save=False``; a run that raises is recorded as failed and
    the error is raised again.
    """
    from research_lib.strategies.registry import find_by_path, resolve_paths

    run_id = str(uuid.uuid4())
    params = dict(params or {})
    settings = {
        "data": data if isinstance(data, str) else "dataframe",
        "symbol": symbol,
        "start": None if start is None else str(start),
        "end": None if end is None else str(end),
        "starting_balance": float(starting_balance),
        "seed": seed,
        "catalog": None if catalog is None else str(getattr(catalog, "root", catalog)),
    }
    context = {
        "run_id": run_id,
        "strategy": strategy,
        "params": params,
        "settings": settings,
        "source": source,
        "tags": list(tags),
        "sweep_id": sweep_id,
        "notebook_path": notebook_path,
    }
    started = time.perf_counter()
    try:
        strategy_path, config_path = resolve_paths(strategy, config_path)
        info = find_by_path(strategy_path)
        name = info.name if info else strategy_path
        context.update(strategy=name, strategy_path=strategy_path, config_path=config_path)
        market = load_market_data(data, symbol, start, end, catalog, seed)
        values, config = resolve_config(config_path, params, market)
        context["config"] = values
        result = _run_engine(
            run_id,
            name,
            strategy_path,
            config_path,
            values,
            config,
            market,
            float(starting_balance),
            verbose,
        )
    except BaseException as exc:
        if save and isinstance(exc, Exception):
            context["duration_seconds"] = time.perf_counter() - started
            _save_failure(results, context, exc)
        raise
    result.settings = {**settings, "symbol": market.spec.symbol, "oms_type": OMS_TYPE}
    result.source, result.tags = source, list(tags)
    result.sweep_id, result.notebook_path = sweep_id, notebook_path
    result.duration_seconds = time.perf_counter() - started
    if save:
        _save_result(results, result)
    return result


def _save_result(results: Any, result: BacktestResult) -> None:
    from research_lib.store.results import ResultsStore

    store = results if isinstance(results, ResultsStore) else ResultsStore(results)
    result.saved_to = store.save_or_keep(result)


def _save_failure(results: Any, context: dict[str, Any], exc: Exception) -> None:
    from research_lib.store.results import ResultsStore

    store = results if isinstance(results, ResultsStore) else ResultsStore(results)
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    store.save_failure_or_keep(context, error, traceback.format_exc())


def _run_engine(
    run_id: str,
    name: str,
    strategy_path: str,
    config_path: str,
    values: dict[str, Any],
    config: Any,
    market: MarketData,
    starting_balance: float,
    verbose: bool,
) -> BacktestResult:
    from research_lib.engine.nautilus_bars import to_nautilus_bars
    from research_lib.strategies.registry import create

    needed = warmup_bars(config)
    if len(market.bars) < needed + 1:
        raise DataRangeError(
            f"{len(market.bars)} bars of {market.spec.symbol} in the chosen range; "
            f"{name} needs at least {needed + 1} ({needed} to warm up): widen --start/--end"
        )
    engine, venue, currency = _build_engine(market.spec, starting_balance, verbose)
    try:
        started = time.perf_counter()
        quiet = {} if verbose else {"log_events": False, "log_commands": False}
        engine.add_strategy(create(strategy_path, {**values, **quiet}, config_path))
        # Feed the engine in chunks (streaming mode): only one chunk of Nautilus Bar objects
        # (~310 bytes each) is alive at a time, which keeps a 1M-bar run's memory flat.
        for first in range(0, len(market.bars), CHUNK_BARS):
            chunk = market.bars.iloc[first : first + CHUNK_BARS]
            engine.add_data(to_nautilus_bars(chunk, market.spec, market.bar_spec))
            engine.run(streaming=True)
            engine.clear_data()
        engine.end()
        result = _extract(engine, venue, currency, market, starting_balance)
        return BacktestResult(
            run_id=run_id,
            strategy=name,
            strategy_path=strategy_path,
            config_path=config_path,
            config=values,
            symbol=market.spec.symbol,
            instrument_id=market.spec.instrument_id,
            bar_type=market.bar_type,
            data_source=market.source,
            data_fingerprint=market.fingerprint,
            start=market.bars["timestamp"].iloc[0],
            end=market.bars["timestamp"].iloc[-1],
            bar_count=len(market.bars),
            currency=currency,
            initial_capital=starting_balance,
            duration_seconds=time.perf_counter() - started,
            versions=versions(),
            bars=market.bars,
            **result,
        )
    finally:
        engine.dispose()


def versions() -> dict[str, str]:
    """Library versions recorded with every run."""
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("research-lib", "nautilus_trader", "pandas", "duckdb")}


def _build_engine(spec: InstrumentSpec, starting_balance: float, verbose: bool) -> tuple:
    from nautilus_trader.analysis import CAGR, CalmarRatio, MaxDrawdown
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    config = BacktestEngineConfig(
        logging=LoggingConfig(log_level="INFO" if verbose else "ERROR"),
        run_analysis=False,  # statistics are computed once, in _extract
    )
    engine = BacktestEngine(config)
    venue = Venue(spec.venue)
    currency = Currency.from_str(spec.currency)
    engine.add_venue(
        venue=venue,
        oms_type=OmsType[OMS_TYPE],
        account_type=AccountType.MARGIN,
        starting_balances=[Money(starting_balance, currency)],
        base_currency=currency,
        default_leverage=Decimal(1),
    )
    engine.add_instrument(spec.to_nautilus())
    for statistic in (MaxDrawdown(), CAGR(), CalmarRatio()):  # off by default in Nautilus
        engine.portfolio.analyzer.register_statistic(statistic)
    if BUFFER_ANALYZER:
        from research_lib.engine.nautilus_fixes import buffer_analyzer

        buffer_analyzer(engine.portfolio.analyzer)
    return engine, venue, spec.currency


def _extract(engine: Any, venue: Any, currency: str, market: MarketData, start_cash: float):
    """Fills, positions, statistics and the equity curve from a finished engine.

    The fills and positions tables are built straight from the cache with the columns a run
    needs; Nautilus's full report tables cost 90-175 µs per order and are not built.
    """
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
    return {
        "final_capital": float(account.balance_total(ccy).as_double()),
        "stats": stats,
        "equity": equity_curve(fills, market, start_cash),
        "trades": trades_table(positions_frame),
        "fills": fills,
        "positions": positions_frame,
        "warnings": warnings,
    }


FILL_COLUMNS = ["order_id", "position_id", "side", "quantity", "price", "ts", "commission"]
POSITION_COLUMNS = [
    "position_id",
    "side",
    "quantity",
    "opened",
    "closed",
    "open_price",
    "close_price",
    "realized_pnl",
    "realized_return",
    "commission",
]


def fills_table(orders: list) -> pd.DataFrame:
    """One row per filled order (:data:`FILL_COLUMNS`), in time order; ``ts`` is UTC."""
    rows = [
        (
            o.client_order_id.value,
            o.position_id.value if o.position_id is not None else None,
            o.side_string(),
            o.filled_qty.as_double(),
            o.avg_px,
            o.ts_last,
            sum(c.as_double() for c in o.commissions()),
        )
        for o in orders
        if o.filled_qty.as_double() > 0
    ]
    frame = pd.DataFrame(rows, columns=FILL_COLUMNS)
    frame["price"] = frame["price"].astype(float)
    frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), utc=True)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def positions_table(positions: list) -> pd.DataFrame:
    """One row per position or netted-position snapshot (:data:`POSITION_COLUMNS`)."""
    from nautilus_trader.model.enums import OrderSide

    rows = [
        (
            p.id.value,
            "LONG" if p.entry == OrderSide.BUY else "SHORT",
            p.peak_qty.as_double(),
            p.ts_opened,
            p.ts_closed if p.ts_closed else None,
            p.avg_px_open,
            p.avg_px_close if p.ts_closed else None,
            p.realized_pnl.as_double() if p.realized_pnl is not None else 0.0,
            p.realized_return,
            sum(c.as_double() for c in p.commissions()),
        )
        for p in positions
    ]
    frame = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    for column in ("opened", "closed"):
        frame[column] = pd.to_datetime(frame[column].astype("Int64"), utc=True)
    for column in ("open_price", "close_price"):
        frame[column] = frame[column].astype(float)
    return frame


def trades_table(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per closed position, in :data:`TRADE_COLUMNS`, ordered by exit time."""
    closed = positions[positions["closed"].notna()]
    table = pd.DataFrame(
        {
            "position_id": closed["position_id"].astype(str),
            "side": closed["side"].astype(str),
            "quantity": closed["quantity"].astype(float),
            "entry_time": closed["opened"],
            "exit_time": closed["closed"],
            "entry_price": closed["open_price"].astype(float),
            "exit_price": closed["close_price"].astype(float),
            "realized_pnl": closed["realized_pnl"].astype(float),
        },
        columns=TRADE_COLUMNS,
    )
    return table.sort_values(["exit_time", "entry_time"], kind="stable").reset_index(drop=True)


def equity_curve(fills: pd.DataFrame, market: MarketData, start_cash: float) -> pd.Series:
    """Account equity marked to market at every bar's close (index: bar close time, UTC).

    cash(t) = start - sum(signed qty x fill price) - commissions, position(t) = sum(signed qty),
    equity = cash + position x close. Fills land on the bar whose close time they carry.
    """
    from research_lib.model.bars import bar_interval, timestamps_ns

    closes = market.bars["close"].to_numpy(dtype=float)
    bar_close = market.bars["timestamp"] + bar_interval(market.bar_spec)
    close_ns = timestamps_ns(bar_close)
    equity = np.full(len(closes), float(start_cash))
    if not fills.empty:
        side = np.where(fills["side"].to_numpy() == "BUY", 1.0, -1.0)
        qty = side * fills["quantity"].to_numpy(dtype=float)
        price = fills["price"].to_numpy(dtype=float)
        fees = fills["commission"].to_numpy(dtype=float)
        ts = timestamps_ns(fills["ts"])
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        cash = np.cumsum(-(qty * price)[order] - fees[order])
        held = np.cumsum(qty[order])
        k = np.searchsorted(ts, close_ns, side="right") - 1
        filled = k >= 0
        equity[filled] += cash[k[filled]] + held[k[filled]] * closes[filled]
    return pd.Series(equity, index=pd.DatetimeIndex(bar_close, name="timestamp"), name="equity")
