"""The typed record of one backtest, independent of how it was started or stored.

:class:`RunRecord` is everything about a run that is not a frame (who ran what, on which data,
with which outcome); :meth:`RunRecord.failed` builds the record of a run that raised, from what
is known of it. :class:`BacktestResult` is a record with the frames a run produced, and
:class:`StoredRun` a record read back from the results store with its trades and stored
equity curve. Both read the record's fields as their own attributes (``result.strategy``,
``stored.config``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

from research_lib.model.bars import to_utc
from research_lib.model.metrics import COMPARE_METRICS, PERFORMANCE_NAMES

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
STATUSES = ("completed", "failed")


def clean_number(value: Any) -> float | None:
    """A float, or None for missing/NaN/inf (JSON and SQL friendly)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def lenient_timestamp(value: Any) -> pd.Timestamp | None:
    """``value`` as a UTC timestamp (naive means UTC), or None when it is not one."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    return to_utc(ts)


@dataclass(frozen=True)
class RunRecord:
    """One run, completed or failed, without its frames.

    ``config`` holds the strategy's resolved config values (for a failure: what was known,
    None if nothing); ``settings`` the backtest settings it was started with (data source,
    symbol, dates, balance, seed, catalog, execution); ``performance`` the metrics computed
    from its mark-to-market equity and trades (:meth:`research_lib.model.performance.
    Performance.to_dict`: values, n/a reasons, annualisation); ``stats`` Nautilus's
    portfolio-analyzer statistics, kept for reference only (they rest on realized P&L).
    ``engine`` is what computed it: ``nautilus``, or ``vector`` for a point screened by
    :mod:`research_lib.engine.vector`; a Nautilus run confirming a screened point names it
    in ``twin_id`` and says in ``agreement`` whether their trades and P&L agree
    (``{"agrees": bool, "detail": str}``). ``study_id`` links a study's trial and
    out-of-sample runs. ``created_at`` is None until the run is stored.
    """

    id: str
    status: str = "completed"
    error: str | None = None
    traceback: str | None = None
    source: str = "python"
    sweep_id: str | None = None
    tags: tuple[str, ...] = ()
    notebook_path: str | None = None
    strategy: str | None = None
    strategy_path: str | None = None
    config_path: str | None = None
    config: dict[str, Any] | None = None
    symbol: str | None = None
    instrument_id: str | None = None
    bar_type: str | None = None
    bar_spec: str | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    bar_count: int | None = None
    trade_count: int = 0
    currency: str | None = None
    data_source: str | None = None
    data_fingerprint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    initial_capital: float | None = None
    final_capital: float | None = None
    performance: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, float | None] = field(default_factory=dict)
    duration_seconds: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    engine: str = "nautilus"
    twin_id: str | None = None
    agreement: dict[str, Any] | None = None
    study_id: str | None = None
    created_at: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, was {self.status!r}")
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))

    @classmethod
    def failed(
        cls,
        error: str,
        traceback: str | None = None,
        *,
        id: str | None = None,
        strategy: str | None = None,
        strategy_path: str | None = None,
        config_path: str | None = None,
        config: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        source: str | None = None,
        tags: Iterable[str] | None = (),
        sweep_id: str | None = None,
        notebook_path: str | None = None,
        duration_seconds: float | None = None,
    ) -> RunRecord:
        """The record of a run that failed, from what is known of it.

        ``settings`` are the backtest settings it was started with; its symbol, dates, data
        source and starting balance are read from them (dates that do not parse are left
        out). A missing ``id`` gets a fresh UUID.
        """
        settings = dict(settings or {})
        return cls(
            id=str(id or uuid.uuid4()),
            status="failed",
            error=str(error),
            traceback=traceback or None,
            source=source or "python",
            sweep_id=sweep_id,
            tags=tuple(tags or ()),
            notebook_path=notebook_path,
            strategy=strategy,
            strategy_path=strategy_path,
            config_path=config_path,
            config=None if config is None else dict(config),
            symbol=settings.get("symbol"),
            start=lenient_timestamp(settings.get("start")),
            end=lenient_timestamp(settings.get("end")),
            data_source=settings.get("data"),
            settings=settings,
            initial_capital=clean_number(settings.get("starting_balance")),
            duration_seconds=clean_number(duration_seconds),
        )

    @property
    def run_id(self) -> str:
        """The run's id (same as :attr:`id`)."""
        return self.id

    @property
    def total_return(self) -> float | None:
        """Final over initial capital, minus one (0.05 is +5%); None if either is unknown."""
        if self.final_capital is None or not self.initial_capital:
            return None
        return self.final_capital / self.initial_capital - 1.0

    @property
    def metrics(self) -> dict[str, float | None]:
        """The performance metrics by name (:data:`PERFORMANCE_NAMES`); None is n/a."""
        values = self.performance.get("values") or {}
        return {name: clean_number(values.get(name)) for name in PERFORMANCE_NAMES}

    @property
    def metric_notes(self) -> dict[str, str]:
        """Why each n/a metric is n/a, by name (``{"sharpe": "needs 2 periods, has 1"}``)."""
        return dict(self.performance.get("notes") or {})

    @property
    def periods_per_year(self) -> float | None:
        """The return periods per year the ratios are annualised with (None: unknown)."""
        return clean_number(self.performance.get("periods_per_year"))

    @property
    def annualisation(self) -> str:
        """How the ratios are annualised, in words (``252 sessions/yr (no weekend bars)``)."""
        return str(self.performance.get("annualisation") or "")

    def summary(self) -> dict[str, Any]:
        """The one-screen summary the CLI and notebooks print."""
        return {
            "run_id": self.id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "period": f"{_minute(self.start)} .. {_minute(self.end)} UTC",
            "bars": self.bar_count,
            "trades": self.trade_count,
            "initial_capital": self.initial_capital,
            "final_capital": self.final_capital,
            "total_return": self.total_return,
            **self.metrics,
        }


RECORD_FIELDS = frozenset(f.name for f in fields(RunRecord))


class _ReadsRecord:
    """Reads the fields and properties of its ``record`` as its own attributes."""

    record: RunRecord

    def __getattr__(self, name: str) -> Any:
        # Only called for names the object itself lacks; dunders and ``record`` itself (while
        # unpickling, before it is set) are never looked up on the record.
        if name.startswith("__") or name == "record":
            raise AttributeError(name)
        try:
            return getattr(self.record, name)
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            ) from None

    def __dir__(self) -> list[str]:  # tab completion in notebooks shows the record's fields
        return sorted(set(super().__dir__()) | set(dir(self.record)))


@dataclass(frozen=True, eq=False)
class BacktestResult(_ReadsRecord):
    """A completed run: its :class:`RunRecord` and everything it produced.

    ``equity`` is marked to market at each bar's close (index: bar close time, UTC);
    ``trades`` has one row per closed position (:data:`TRADE_COLUMNS`); ``fills`` and
    ``positions`` are Nautilus's own reports; ``bars`` the bars it ran on. ``saved_to`` is the
    store path, or the pending file the run was kept in, or None when it was not saved.
    Record fields read as attributes: ``result.strategy``, ``result.stats``...
    """

    record: RunRecord
    equity: pd.Series
    trades: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    bars: pd.DataFrame | None = field(default=None, repr=False)
    saved_to: str | None = None

    def __post_init__(self) -> None:
        if self.record.trade_count != len(self.trades):  # the trades table is the truth
            object.__setattr__(self, "record", replace(self.record, trade_count=len(self.trades)))

    @property
    def trade_count(self) -> int:
        """Closed positions (round trips)."""
        return len(self.trades)

    def replace(self, **changes: Any) -> BacktestResult:
        """A copy with ``changes``, record fields (``settings=...``, ``run_id=...``) and frames
        alike."""
        if "run_id" in changes:
            changes["id"] = changes.pop("run_id")
        on_record = {k: v for k, v in changes.items() if k in RECORD_FIELDS}
        own = {k: v for k, v in changes.items() if k not in RECORD_FIELDS}
        record = replace(self.record, **on_record) if on_record else self.record
        return replace(self, record=record, **own)


@dataclass(frozen=True, eq=False)
class StoredRun(_ReadsRecord):
    """One stored run: its :class:`RunRecord`, trades and stored (downsampled) equity curve.

    ``run`` is the stored row as read (JSON columns decoded), read-only: the same columns
    :meth:`ResultsStore.list <research_lib.store.ResultsStore.list>` shows. Record fields read
    as attributes: ``stored.status``, ``stored.config``...
    """

    record: RunRecord
    trades: pd.DataFrame
    equity: pd.Series
    run: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """The stored config values ({} when none were stored)."""
        return self.record.config or {}

    @property
    def metrics(self) -> dict[str, float | None]:
        """The stored metrics by short name: account figures, then the headline metrics."""
        return {name: self.run.get(name) for name in COMPARE_METRICS}

    def trades_summary(self) -> dict[str, Any]:
        """Count, long/short split, winners/losers, total P&L, best/worst/first/last trade."""
        trades = self.trades
        if trades.empty:
            return {"count": 0}
        pnl = trades["realized_pnl"].astype(float)
        return {
            "count": len(trades),
            "long": int((trades["side"] == "LONG").sum()),
            "short": int((trades["side"] == "SHORT").sum()),
            "winners": int((pnl > 0).sum()),
            "losers": int((pnl < 0).sum()),
            "total_pnl": float(pnl.sum()),
            "best": trades.loc[pnl.idxmax()].to_dict(),
            "worst": trades.loc[pnl.idxmin()].to_dict(),
            "first": trades.iloc[0].to_dict(),
            "last": trades.iloc[-1].to_dict(),
        }


def _minute(value: pd.Timestamp | None) -> str:
    return "?" if value is None else f"{value:%Y-%m-%d %H:%M}"
