"""The typed outcome of one backtest, independent of how it was started or stored."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from research_lib.model.metrics import METRIC_STATISTICS

TRADE_COLUMNS = [
    "position_id",
    "side",
    "quantity",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "realized_pnl",
]


def clean_number(value: Any) -> float | None:
    """A float, or None for missing/NaN/inf (JSON and SQL friendly)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class BacktestResult:
    """Everything a run produced that a researcher compares later.

    ``equity`` is marked to market at each bar's close (index: bar close time, UTC);
    ``trades`` has one row per closed position (:data:`TRADE_COLUMNS`); ``fills`` and
    ``positions`` are Nautilus's own reports. ``stats`` holds every analyzer statistic.
    """

    run_id: str
    strategy: str
    strategy_path: str
    config_path: str
    config: dict[str, Any]
    symbol: str
    instrument_id: str
    bar_type: str
    data_source: str
    data_fingerprint: str
    start: pd.Timestamp
    end: pd.Timestamp
    bar_count: int
    currency: str
    initial_capital: float
    final_capital: float
    stats: dict[str, float | None]
    equity: pd.Series
    trades: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    duration_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bars: pd.DataFrame | None = field(default=None, repr=False)
    source: str = "python"
    tags: list[str] = field(default_factory=list)
    sweep_id: str | None = None
    notebook_path: str | None = None
    saved_to: str | None = None

    @property
    def total_return(self) -> float:
        """Final over initial capital, minus one (0.05 is +5%)."""
        return self.final_capital / self.initial_capital - 1.0

    @property
    def trade_count(self) -> int:
        """Closed positions (round trips)."""
        return len(self.trades)

    @property
    def metrics(self) -> dict[str, float | None]:
        """The headline metrics by short name (see :data:`METRIC_STATISTICS`)."""
        return {
            name: clean_number(self.stats.get(stat)) for name, stat in METRIC_STATISTICS.items()
        }

    def summary(self) -> dict[str, Any]:
        """The one-screen summary the CLI and notebooks print."""
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "period": f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC",
            "bars": self.bar_count,
            "trades": self.trade_count,
            "initial_capital": self.initial_capital,
            "final_capital": self.final_capital,
            "total_return": self.total_return,
            **self.metrics,
        }
