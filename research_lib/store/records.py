"""Run records to store rows and back: the runs row, the trades and equity tables.

A :class:`Bundle` is one run ready to insert (the runs row with JSON-native values, and its
trades and equity as Arrow tables); it is also what a pending file holds
(:meth:`Bundle.to_json`). :func:`stored_run` turns a row read back into a
:class:`~research_lib.model.run.StoredRun`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from research_lib.model.bars import to_utc
from research_lib.model.run import (
    TRADE_COLUMNS,
    BacktestResult,
    RunRecord,
    StoredRun,
    clean_number,
)
from research_lib.model.series import downsample_equity
from research_lib.store.schema import (
    EQUITY_SCHEMA,
    JSON_COLUMNS,
    RUN_COLUMNS,
    TIMESTAMP_COLUMNS,
    TRADES_SCHEMA,
)

PENDING_FORMAT = "research-lib pending run v1"


@dataclass
class Bundle:
    """A run ready to insert: the runs row (JSON-native values) and its two tables."""

    row: dict[str, Any]
    trades: pa.Table
    equity: pa.Table

    @property
    def id(self) -> str:
        return self.row["id"]

    def to_json(self, store: str) -> dict[str, Any]:
        """The document a pending file holds (``store``: the store it is meant for)."""
        return {
            "format": PENDING_FORMAT,
            "store": store,
            "row": self.row,
            "trades": _table_to_json(self.trades),
            "equity": _table_to_json(self.equity),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Bundle:
        return cls(
            doc["row"],
            _table_from_json(doc["trades"], TRADES_SCHEMA),
            _table_from_json(doc["equity"], EQUITY_SCHEMA),
        )


# -- records to rows -----------------------------------------------------------------------


def bundle_of(result: BacktestResult) -> Bundle:
    """The bundle of a completed run (its equity curve downsampled for storage)."""
    record = result.record
    row = _row(record, created_at=_now())
    row.update(trade_count=len(result.trades), equity_length=len(result.equity))
    equity = downsample_equity(result.equity)
    return Bundle(row, trades_table(record.id, result.trades), equity_table(record.id, equity))


def summary_bundle(
    record: RunRecord, trades: pd.DataFrame | None = None, equity: pd.Series | None = None
) -> Bundle:
    """The bundle of a completed run stored by its record (a screened point): its trades and
    equity curve only when given (``trade_count`` is the record's either way)."""
    row = _row(record, created_at=_now())
    row.update(
        trade_count=int(record.trade_count), equity_length=0 if equity is None else len(equity)
    )
    equity = None if equity is None else downsample_equity(equity)
    return Bundle(row, trades_table(record.id, trades), equity_table(record.id, equity))


def failure_bundle(record: RunRecord) -> Bundle:
    """The bundle of a failed run: its row, no trades, no equity.

    Without recorded versions, the installed research-lib and nautilus_trader versions are
    stored (read from package metadata, nothing is imported).
    """
    if not record.versions:
        record = replace(record, versions=installed_versions())
    row = _row(record, created_at=_now())
    row.update(trade_count=0, equity_length=0)
    return Bundle(row, trades_table(record.id, None), equity_table(record.id, None))


def _row(record: RunRecord, created_at: str) -> dict[str, Any]:
    """The runs row of ``record`` (JSON columns as text, timestamps as ISO text)."""
    config = None if record.config is None else json_safe(record.config)
    completed = record.status == "completed"
    row = {
        "id": record.id,
        "created_at": created_at,
        "status": record.status,
        "error": record.error,
        "traceback": record.traceback,
        "source": record.source,
        "sweep_id": record.sweep_id,
        "tags": list(record.tags),
        "strategy": record.strategy,
        "strategy_path": record.strategy_path,
        "config_path": record.config_path,
        "config": None if config is None else canonical(config),
        "config_hash": None if config is None else config_hash(config, record.settings),
        "symbol": record.symbol,
        "instrument_id": record.instrument_id,
        "bar_type": record.bar_type,
        "bar_spec": record.bar_spec,
        "start": _iso(record.start),
        "end": _iso(record.end),
        "bar_count": None if record.bar_count is None else int(record.bar_count),
        "currency": record.currency,
        "initial_capital": clean_number(record.initial_capital),
        "final_capital": clean_number(record.final_capital),
        "total_return": clean_number(record.total_return),
        **(record.metrics if completed else {}),
        "periods_per_year": record.periods_per_year if completed else None,
        "performance": json.dumps(json_safe(record.performance)) if completed else None,
        "stats": json.dumps(json_safe(record.stats)) if completed else None,
        "duration_seconds": clean_number(record.duration_seconds),
        "data_source": record.data_source,
        "data_fingerprint": record.data_fingerprint,
        "settings": json.dumps(json_safe(record.settings)),
        "notebook_path": record.notebook_path,
        "research_lib_version": version_of(record.versions, "research-lib", "research_lib"),
        "nautilus_trader_version": version_of(record.versions, "nautilus_trader"),
        "versions": json.dumps(json_safe(record.versions)),
        "warnings": json.dumps(list(record.warnings)),
        "engine": record.engine,
        "twin_id": record.twin_id,
        "agreement": None if record.agreement is None else json.dumps(json_safe(record.agreement)),
        "study_id": record.study_id,
    }
    assert set(row) <= set(RUN_COLUMNS), set(row) - set(RUN_COLUMNS)
    return row


def trades_table(run_id: str, trades: pd.DataFrame | None) -> pa.Table:
    """A run's trades as an Arrow table of :data:`TRADES_SCHEMA` (numbered in order)."""
    trades = pd.DataFrame(columns=TRADE_COLUMNS) if trades is None else trades
    n = len(trades)

    def column(name: str) -> pd.Series:
        return trades[name] if name in trades else pd.Series([None] * n, dtype=object)

    arrays = {
        "run_id": pa.array([run_id] * n, pa.string()),
        "trade_no": pa.array(np.arange(n, dtype=np.int32)),
    }
    for name in TRADE_COLUMNS:
        kind = TRADES_SCHEMA.field(name).type
        values = column(name)
        if pa.types.is_timestamp(kind):
            values = pd.to_datetime(values, utc=True).dt.as_unit("ns")
            arrays[name] = pa.array(values, kind)
        elif kind == pa.string():
            arrays[name] = pa.array([None if v is None else str(v) for v in values], kind)
        else:
            arrays[name] = pa.array(pd.to_numeric(values).astype(float), kind)
    return pa.table(arrays, schema=TRADES_SCHEMA)


def equity_table(run_id: str, equity: pd.Series | None) -> pa.Table:
    """A run's equity curve as an Arrow table of :data:`EQUITY_SCHEMA`."""
    if equity is None or len(equity) == 0:
        return EQUITY_SCHEMA.empty_table()
    index = pd.DatetimeIndex(equity.index)
    index = to_utc(index)
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(equity), pa.string()),
            "timestamp": pa.array(index.as_unit("ns"), EQUITY_SCHEMA.field("timestamp").type),
            "equity": pa.array(equity.to_numpy(dtype=float), pa.float64()),
        },
        schema=EQUITY_SCHEMA,
    )


def stored_bundle(row: Mapping[str, Any], trades: pa.Table, equity: pa.Table) -> Bundle:
    """The bundle of a run as read from a store (to save it in another one): JSON-native row
    values (timestamps as ISO text, as a pending file holds them), tables in their schemas."""
    row = {k: row[k] for k in RUN_COLUMNS if k in row}
    for name in TIMESTAMP_COLUMNS:
        row[name] = _iso(row.get(name))
    return Bundle(
        row,
        trades.select(TRADES_SCHEMA.names).cast(TRADES_SCHEMA),
        equity.select(EQUITY_SCHEMA.names).cast(EQUITY_SCHEMA),
    )


# -- rows to records -----------------------------------------------------------------------


def decode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A runs row as read: JSON columns decoded, timestamps as UTC ``pd.Timestamp``."""
    row = dict(row)
    for name in JSON_COLUMNS:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    for name in TIMESTAMP_COLUMNS:
        if row.get(name) is not None:
            row[name] = pd.Timestamp(row[name]).tz_convert("UTC")
    return row


def record_of(row: Mapping[str, Any]) -> RunRecord:
    """The :class:`RunRecord` of a decoded runs row (columns it lacks stay at defaults)."""
    return RunRecord(
        id=row["id"],
        status=row.get("status") or "completed",
        error=row.get("error"),
        traceback=row.get("traceback"),
        source=row.get("source") or "python",
        sweep_id=row.get("sweep_id"),
        tags=tuple(row.get("tags") or ()),
        notebook_path=row.get("notebook_path"),
        strategy=row.get("strategy"),
        strategy_path=row.get("strategy_path"),
        config_path=row.get("config_path"),
        config=row.get("config") or {},
        symbol=row.get("symbol"),
        instrument_id=row.get("instrument_id"),
        bar_type=row.get("bar_type"),
        bar_spec=row.get("bar_spec"),
        start=row.get("start"),
        end=row.get("end"),
        bar_count=row.get("bar_count"),
        trade_count=int(row.get("trade_count") or 0),
        currency=row.get("currency"),
        data_source=row.get("data_source"),
        data_fingerprint=row.get("data_fingerprint"),
        settings=row.get("settings") or {},
        initial_capital=row.get("initial_capital"),
        final_capital=row.get("final_capital"),
        performance=row.get("performance") or {},
        stats=row.get("stats") or {},
        duration_seconds=row.get("duration_seconds"),
        versions=row.get("versions") or {},
        warnings=tuple(row.get("warnings") or ()),
        engine=row.get("engine") or "nautilus",
        twin_id=row.get("twin_id"),
        agreement=row.get("agreement"),
        study_id=row.get("study_id"),
        created_at=row.get("created_at"),
    )


def stored_run(row: Mapping[str, Any], trades: pd.DataFrame, equity: pd.DataFrame) -> StoredRun:
    """A :class:`StoredRun` from a runs row (as queried), its trades and its equity rows."""
    decoded = decode_row(row)
    for name in ("entry_time", "exit_time"):
        trades[name] = pd.to_datetime(trades[name], utc=True).dt.as_unit("ns")
    index = pd.DatetimeIndex(pd.to_datetime(equity["timestamp"], utc=True), name="timestamp")
    curve = pd.Series(
        equity["equity"].to_numpy(dtype=float), index=index.as_unit("ns"), name="equity"
    )
    return StoredRun(record_of(decoded), trades, curve, MappingProxyType(decoded))


# -- values --------------------------------------------------------------------------------


def config_hash(config: Any, settings: Mapping[str, Any] | None = None) -> str:
    """Sha256 hex of the canonical JSON (sorted keys, compact) of ``config`` and, when the
    settings have one, the run's ``execution`` (fill timing, fill volume, costs): runs that
    trade the same way hash the same, however they were started."""
    execution = (settings or {}).get("execution")
    hashed = config if execution is None else {"config": config, "execution": execution}
    return hashlib.sha256(canonical(hashed).encode()).hexdigest()


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value`` (sorted keys, compact)."""
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"))


def json_safe(value: Any) -> Any:
    """Plain JSON values: NaN/inf -> None, timestamps -> ISO strings, numpy -> Python."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return clean_number(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    return str(value)


def installed_versions() -> dict[str, str]:
    """research-lib and nautilus_trader versions from package metadata (no imports)."""
    found = {}
    for name in ("research-lib", "nautilus_trader"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def version_of(versions: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` found in ``versions``."""
    return next((versions[n] for n in names if n in versions), None)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return to_utc(ts).isoformat()


def _table_to_json(table: pa.Table) -> dict[str, list]:
    out = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())  # nanoseconds since the epoch, lossless
        out[name] = col.to_pylist()
    return out


def _table_from_json(data: dict[str, list], schema: pa.Schema) -> pa.Table:
    arrays = {}
    for f in schema:
        values = data[f.name]
        if pa.types.is_timestamp(f.type):
            arrays[f.name] = pa.array(values, pa.int64()).cast(f.type)
        else:
            arrays[f.name] = pa.array(values, f.type)
    return pa.table(arrays, schema=schema)
