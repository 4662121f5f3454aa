"""The results store's tables: column names and types, and the version they make up.

Five tables::

    runs           one row per run: status, error, source, tags, strategy and its full config
                   (JSON + sha256 ``config_hash``), data and period, capital, return, trade
                   count, the performance metrics as DOUBLE columns and as JSON with
                   their n/a reasons and annualisation (``performance``), the Nautilus
                   analyzer's statistics for reference (``stats``), and the reproducibility
                   record (settings, data fingerprint, versions); ``engine`` says what
                   computed it (``vector`` for a screened point), ``twin_id`` and
                   ``agreement`` link a Nautilus run to the screened point it confirmed
    trades         one row per closed position (run_id, trade_no, TRADE_COLUMNS)
    equity_curves  run_id, timestamp, equity: the curve, downsampled to at most
                   MAX_EQUITY_POINTS points (:func:`research_lib.model.series.downsample_equity`)
    studies        one row per study (walk-forward, split): its spec, folds and summary
                   statistics; its trial and out-of-sample runs carry its ``study_id``
    meta           key/value; ``schema_version`` (older files are upgraded in place by
                   :mod:`research_lib.store.migrations`)

Timestamps are stored as TIMESTAMPTZ (microseconds, UTC). A new column goes at the end of
:data:`RUN_COLUMNS` together with a migration step that adds it to older files.
"""

from __future__ import annotations

import pyarrow as pa

from research_lib.model.metrics import DETAIL, HEADLINE_NAMES
from research_lib.model.series import MAX_EQUITY_POINTS

__all__ = [
    "EQUITY_SCHEMA",
    "JSON_COLUMNS",
    "LIST_COLUMNS",
    "MAX_EQUITY_POINTS",
    "METRICS",
    "RUN_COLUMNS",
    "RUN_COLUMNS_V4",
    "SCHEMA_VERSION",
    "SORTABLE",
    "SORT_ALIASES",
    "STUDY_COLUMNS",
    "TRADES_SCHEMA",
    "ddl_type",
    "quote",
]

SCHEMA_VERSION = 4  # 0: a file from before the meta table existed
METRICS = HEADLINE_NAMES  # as DOUBLE columns since version 1
DETAIL_METRICS = tuple(m.name for m in DETAIL)  # as DOUBLE columns since version 3

# The runs table as schema version 1 made it, column -> type.
RUN_COLUMNS_V1: dict[str, str] = {
    "id": "VARCHAR",
    "created_at": "TIMESTAMPTZ",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "traceback": "VARCHAR",
    "source": "VARCHAR",
    "sweep_id": "VARCHAR",
    "tags": "VARCHAR[]",
    "strategy": "VARCHAR",
    "strategy_path": "VARCHAR",
    "config_path": "VARCHAR",
    "config": "JSON",
    "config_hash": "VARCHAR",
    "symbol": "VARCHAR",
    "instrument_id": "VARCHAR",
    "bar_type": "VARCHAR",
    "start": "TIMESTAMPTZ",
    "end": "TIMESTAMPTZ",
    "bar_count": "BIGINT",
    "currency": "VARCHAR",
    "initial_capital": "DOUBLE",
    "final_capital": "DOUBLE",
    "total_return": "DOUBLE",
    "trade_count": "BIGINT",
    **{name: "DOUBLE" for name in METRICS},
    "stats": "JSON",
    "duration_seconds": "DOUBLE",
    "data_source": "VARCHAR",
    "data_fingerprint": "VARCHAR",
    "settings": "JSON",
    "notebook_path": "VARCHAR",
    "research_lib_version": "VARCHAR",
    "nautilus_trader_version": "VARCHAR",
    "versions": "JSON",
    "warnings": "JSON",
    "equity_length": "BIGINT",
}
# The runs table now: version 1 plus the columns later migration steps added.
# Version 3: the metrics computed from mark-to-market equity (runs stored before it keep
# the analyzer's realized-P&L figures in the headline columns and have no performance).
RUN_COLUMNS_V3: dict[str, str] = {
    **{name: "DOUBLE" for name in DETAIL_METRICS},
    "periods_per_year": "DOUBLE",
    "performance": "JSON",
}
# Version 4: which engine computed the run ('nautilus', or 'vector' for a screened point),
# and for a Nautilus run that confirmed a screened point: its twin and whether they agree.
# Version 4 also: the study a run was a trial or an out-of-sample test of, and the studies.
RUN_COLUMNS_V4: dict[str, str] = {
    "engine": "VARCHAR", "twin_id": "VARCHAR", "agreement": "JSON", "study_id": "VARCHAR",
}  # fmt: skip
STUDY_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "created_at": "TIMESTAMPTZ",
    "updated_at": "TIMESTAMPTZ",
    "status": "VARCHAR",  # running, completed, failed
    "strategy": "VARCHAR",
    "spec": "JSON",  # what reproduces it: config, search space, scheme, search, metric, data
    "folds": "JSON",  # per fold: windows, bars, chosen parameters, in/out-of-sample metrics
    "summary": "JSON",  # out-of-sample metrics, deflated Sharpe, PBO, degradation, readings
}
RUN_COLUMNS: dict[str, str] = {
    **RUN_COLUMNS_V1, "bar_spec": "VARCHAR", **RUN_COLUMNS_V3, **RUN_COLUMNS_V4,
}  # fmt: skip
JSON_COLUMNS = (
    "config", "stats", "settings", "versions", "warnings", "performance", "agreement",
)  # fmt: skip
TIMESTAMP_COLUMNS = ("created_at", "start", "end")

TRADES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("trade_no", pa.int32()),
        ("position_id", pa.string()),
        ("side", pa.string()),
        ("quantity", pa.float64()),
        ("entry_time", pa.timestamp("ns", tz="UTC")),
        ("exit_time", pa.timestamp("ns", tz="UTC")),
        ("entry_price", pa.float64()),
        ("exit_price", pa.float64()),
        ("realized_pnl", pa.float64()),
    ]
)
EQUITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("timestamp", pa.timestamp("ns", tz="UTC")),
        ("equity", pa.float64()),
    ]
)
_DDL_TYPES = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.float64(): "DOUBLE"}

# Columns list() returns, and the names it can sort by (with a few friendly aliases).
LIST_COLUMNS = (
    "id", "created_at", "status", "source", "strategy", "symbol", "start", "end", "trade_count",
    "total_return", *METRICS, *DETAIL_METRICS, "periods_per_year", "initial_capital",
    "final_capital", "duration_seconds",
    "sweep_id", "tags", "config", "config_hash", "error", "engine", "twin_id",
)  # fmt: skip
SORTABLE = (
    "created_at", "total_return", *METRICS, *DETAIL_METRICS, "trade_count", "final_capital",
    "initial_capital",
    "duration_seconds", "start", "end", "strategy", "symbol", "status",
)  # fmt: skip
SORT_ALIASES = {"return": "total_return", "trades": "trade_count", "created": "created_at"}


def ddl_type(kind: pa.DataType) -> str:
    """The DuckDB column type of an Arrow field type of the trades and equity schemas."""
    return "TIMESTAMPTZ" if pa.types.is_timestamp(kind) else _DDL_TYPES[kind]


def columns_of(schema: pa.Schema) -> dict[str, str]:
    """An Arrow schema as column -> DuckDB type."""
    return {f.name: ddl_type(f.type) for f in schema}


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
