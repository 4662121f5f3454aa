"""The same backtest as ``research_lib.workflows.record.run_backtest``, straight on Nautilus.

This is the reference the benchmark compares our path with: it builds a ``BacktestEngine``
with the runner's settings (HEDGING OMS, MARGIN account of 100,000 USD, leverage 1, the
instrument of ``InstrumentSpec``, MaxDrawdown/CAGR/CalmarRatio registered, the buffered
analyzer, ``run_analysis=False``, ``log_events``/``log_commands`` off), feeds it the bars with
``Bar.from_raw_arrays_to_list``, runs the strategy classes themselves (the strategy logic, not
the wrapper), then computes the statistics once and reads them. The time from a bars
DataFrame to :class:`RawResult` is therefore what Nautilus itself costs for the run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.analysis import CAGR, CalmarRatio, MaxDrawdown
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import BestPriceFillModel
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money

from research_lib.data.instruments import InstrumentSpec
from research_lib.engine.nautilus_fixes import buffer_analyzer
from research_lib.strategies.mean_reversion import MeanReversion, MeanReversionConfig
from research_lib.strategies.momentum import Momentum, MomentumConfig
from research_lib.strategies.sma_crossover import SMAConfig, SMACrossover

STRATEGIES: dict[str, tuple[type, type]] = {
    "sma_crossover": (SMACrossover, SMAConfig),
    "mean_reversion": (MeanReversion, MeanReversionConfig),
    "momentum": (Momentum, MomentumConfig),
}
STARTING_BALANCE = 100_000.0
BAR_NS = 60_000_000_000  # 1-minute bars, stamped at their close like the runner does


@dataclass
class RawResult:
    """What the raw script hands back: final balance, statistics and the closed trades."""

    final_capital: float
    stats: dict[str, Any]
    trades: list[tuple[str, str, float, int, int, float, float, float]]

    @property
    def trade_count(self) -> int:
        return len(self.trades)

    @property
    def pnl(self) -> float:
        return self.final_capital - STARTING_BALANCE


def run_raw(
    strategy: str,
    params: dict[str, Any],
    bars: pd.DataFrame,
    symbol: str = "AAPL",
    trade_size: int = 100,
    engine_config: BacktestEngineConfig | None = None,
) -> RawResult:
    """Run ``strategy`` (a key of :data:`STRATEGIES`) with ``params`` on 1-minute ``bars``.

    ``trades`` rows are (position id, side, quantity, entry ns, exit ns, entry price,
    exit price, realized PnL) for every closed position, ordered by exit then entry time.
    ``engine_config`` replaces the runner's engine settings (to try changes to them).
    """
    strategy_cls, config_cls = STRATEGIES[strategy]
    spec = InstrumentSpec(symbol)
    instrument = spec.to_nautilus()
    bar_type = BarType.from_str(spec.bar_type("1-MINUTE-LAST"))
    config = config_cls(
        instrument_id=instrument.id,
        bar_type=bar_type,
        trade_size=Decimal(trade_size),
        log_events=False,
        log_commands=False,
        **params,
    )

    engine = BacktestEngine(
        engine_config
        or BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False)
    )
    venue = Venue(spec.venue)
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.HEDGING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(STARTING_BALANCE, USD)],
        base_currency=USD,
        default_leverage=Decimal(1),
        fill_model=BestPriceFillModel(),  # fills at the bar's price whatever its volume
    )
    engine.add_instrument(instrument)
    analyzer = engine.portfolio.analyzer
    for statistic in (MaxDrawdown(), CAGR(), CalmarRatio()):
        analyzer.register_statistic(statistic)
    buffer_analyzer(analyzer)

    ts = bars["timestamp"].to_numpy("datetime64[ns]").view(np.int64).astype(np.uint64) + BAR_NS

    def column(name: str) -> np.ndarray:
        return np.array(bars[name].to_numpy(np.float64), dtype=np.float64, copy=True)

    engine.add_data(
        Bar.from_raw_arrays_to_list(
            bar_type,
            spec.price_precision,
            spec.size_precision,
            column("open"),
            column("high"),
            column("low"),
            column("close"),
            column("volume"),
            ts,
            ts.copy(),
        )
    )
    engine.add_strategy(strategy_cls(config))
    try:
        with warnings.catch_warnings():  # Nautilus 1.231 calls the deprecated Timestamp.utcnow
            warnings.filterwarnings("ignore", message=r".*Timestamp\.utcnow is deprecated")
            engine.run()
        account = engine.portfolio.account(venue)
        positions = engine.cache.positions() + engine.cache.position_snapshots()
        analyzer.calculate_statistics(account, positions)
        stats = {
            **analyzer.get_performance_stats_pnls(USD),
            **analyzer.get_performance_stats_returns(),
            **analyzer.get_performance_stats_general(),
        }
        trades = [
            (
                p.id.value,
                "LONG" if p.entry == OrderSide.BUY else "SHORT",
                p.peak_qty.as_double(),
                p.ts_opened,
                p.ts_closed,
                float(p.avg_px_open),
                float(p.avg_px_close),
                p.realized_pnl.as_double(),
            )
            for p in positions
            if p.is_closed
        ]
        trades.sort(key=lambda t: (t[4], t[3]))
        return RawResult(account.balance_total(USD).as_double(), stats, trades)
    finally:
        engine.dispose()
