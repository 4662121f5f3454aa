"""The results store: every backtest, completed or failed, in one embedded DuckDB file.

The file is ``$RESEARCH_LIB_RESULTS`` or ``results/results.duckdb`` under the working directory
(:func:`default_path`). Three tables::

    runs           one row per run: status, error, source, tags, strategy and its full config
                   (JSON + sha256 ``config_hash``), data and period, capital, return, trade
                   count, the headline metrics as DOUBLE columns, every analyzer statistic
                   (JSON), and the reproducibility record (settings, data fingerprint, versions)
    trades         one row per closed position (run_id, trade_no, TRADE_COLUMNS)
    equity_curves  run_id, timestamp, equity: the curve, downsampled to at most
                   MAX_EQUITY_POINTS points (see :func:`downsample_equity`)
    meta           key/value; ``schema_version`` (older files are upgraded in place)

Timestamps are stored as TIMESTAMPTZ (microseconds, UTC).

Concurrency: DuckDB lets one process write a file at a time, so connections are opened only
for the duration of one read or write, and an open that meets another process's lock is
retried with jittered exponential backoff for up to ``lock_timeout`` seconds (30). Each run is
written in one transaction (run, trades, equity), so a crash leaves no partial run.

Nothing is lost when the store cannot be written: :meth:`ResultsStore.save_or_keep` then
writes the run to ``<store>.pending/<run_id>.json`` (or, if that folder is unwritable too, to
``<tempdir>/research-lib-pending/``), warns with :class:`NotSavedWarning`, and the next open of
the store for writing ingests and deletes the pending files.

This module does not import Nautilus; :func:`rerun` imports the runner when called.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from research_lib.errors import ResultsError, did_you_mean
from research_lib.model.metrics import COMPARE_METRICS, METRIC_STATISTICS
from research_lib.model.run import TRADE_COLUMNS, clean_number

if TYPE_CHECKING:  # pragma: no cover
    from research_lib.model.run import BacktestResult

__all__ = [
    "Comparison",
    "NotSavedWarning",
    "RerunReport",
    "ResultsStore",
    "StoreUnavailableError",
    "StoredRun",
    "default_path",
    "downsample_equity",
    "export_run",
    "rerun",
    "rerun_arguments",
]

SCHEMA_VERSION = 1  # 0: a file from before the meta table existed
MAX_EQUITY_POINTS = 5_000
LOCK_TIMEOUT = 30.0
METRICS = tuple(METRIC_STATISTICS)
STATUSES = ("completed", "failed")
HINT = "(research-lib backtest list-results)"

# The runs table, column -> type. New columns go at the end; older files gain them on open.
RUN_COLUMNS: dict[str, str] = {
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
JSON_COLUMNS = ("config", "stats", "settings", "versions", "warnings")
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
    "total_return", *METRICS, "initial_capital", "final_capital", "duration_seconds",
    "sweep_id", "tags", "config", "config_hash", "error",
)  # fmt: skip
SORTABLE = (
    "created_at", "total_return", *METRICS, "trade_count", "final_capital", "initial_capital",
    "duration_seconds", "start", "end", "strategy", "symbol", "status",
)  # fmt: skip
SORT_ALIASES = {"return": "total_return", "trades": "trade_count", "created": "created_at"}


class NotSavedWarning(UserWarning):
    """Warned when a run could not be written to the store and was kept in a pending file."""


class StoreUnavailableError(ResultsError):
    """Raised when the store cannot be opened for writing (locked past the retries, or made
    by a newer research-lib); :meth:`ResultsStore.save_or_keep` then keeps the run pending."""


def default_path() -> Path:
    """``$RESEARCH_LIB_RESULTS`` or ``results/results.duckdb`` (relative to the cwd)."""
    return Path(os.environ.get("RESEARCH_LIB_RESULTS", "results/results.duckdb"))


# -- stored objects ------------------------------------------------------------------------


@dataclass
class StoredRun:
    """One stored run: the ``runs`` row (JSON columns decoded), its trades and equity curve.

    ``equity`` is the stored (downsampled) curve; ``trades`` has :data:`TRADE_COLUMNS`.
    """

    run: dict[str, Any]
    config: dict[str, Any]
    stats: dict[str, Any]
    trades: pd.DataFrame
    equity: pd.Series

    @property
    def id(self) -> str:
        return self.run["id"]

    @property
    def status(self) -> str:
        return self.run["status"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.run.get("settings") or {}

    @property
    def metrics(self) -> dict[str, float | None]:
        """The headline metrics by short name, plus total return and trade count."""
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


@dataclass
class Comparison:
    """Runs side by side: ``metrics`` (one column per run) and ``config_diff`` (only the
    parameters whose values differ; settings appear as ``settings.<name>``)."""

    run_ids: list[str]
    metrics: pd.DataFrame
    config_diff: pd.DataFrame


@dataclass
class RerunReport:
    """What :func:`rerun` found: whether the data changed and, if not, whether the new run
    matches the stored one (trades, metrics, statistics and equity)."""

    original_id: str
    new_id: str | None
    data_changed: bool
    old_fingerprint: str | None
    new_fingerprint: str | None
    identical: bool | None
    differences: list[str] = field(default_factory=list)
    saved_to: str | None = None

    @property
    def ok(self) -> bool:
        """False when the data changed or the results differ."""
        return not self.data_changed and self.identical is not False

    @property
    def message(self) -> str:
        """One line for the CLI."""
        short, new = self.original_id[:8], _short(self.new_id)
        if self.data_changed:
            return (
                f"data changed since the run (fingerprint {_short(self.old_fingerprint)} → "
                f"{_short(self.new_fingerprint)}); not comparing"
            )
        if self.identical is None:
            return f"rerun {new} of {short} done; the original failed: nothing to compare"
        if self.identical:
            return f"rerun {new} of {short}: trades and metrics are identical"
        return f"rerun {new} of {short} differs: " + "; ".join(self.differences[:10])


# -- the store -----------------------------------------------------------------------------


class ResultsStore:
    """Runs stored in a DuckDB file (``path``, default :func:`default_path`)."""

    def __init__(self, path: str | Path | None = None, *, lock_timeout: float = LOCK_TIMEOUT):
        self.path = Path(path) if path is not None else default_path()
        self.lock_timeout = lock_timeout
        self._schema_ok = False
        self._read_checked = False

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    @property
    def pending_dir(self) -> Path:
        """Where runs that could not be written wait: ``<store>.pending/``."""
        return self.path.with_name(self.path.name + ".pending")

    # -- writing ---------------------------------------------------------------------------

    def save(self, result: BacktestResult) -> str:
        """Store a completed run; returns its id. Raises if the store cannot be written."""
        bundle = _bundle_from_result(result)
        self._save_bundle(bundle)
        return bundle.row["id"]

    def save_failure(self, context: dict[str, Any], error: str, traceback: str = "") -> str:
        """Store a failed run from what is known of it (see ``runner.run_backtest``)."""
        bundle = _failure_bundle(context, error, traceback)
        self._save_bundle(bundle)
        return bundle.row["id"]

    def save_or_keep(self, result: BacktestResult) -> str:
        """Store a run, or keep it in a pending file if the store cannot be written.

        Returns the store path, or the pending file's path (after a :class:`NotSavedWarning`).
        """
        return self._save_or_keep(_bundle_from_result(result))

    def save_failure_or_keep(self, context: dict[str, Any], error: str, traceback: str) -> str:
        """:meth:`save_failure`, falling back to a pending file like :meth:`save_or_keep`."""
        return self._save_or_keep(_failure_bundle(context, error, traceback))

    def delete(self, run_ids: Iterable[str]) -> int:
        """Delete runs (ids or unique prefixes) with their trades and equity; returns the count."""
        with self._writer() as con:
            ids = _unique([_resolve(con, self.path, rid) for rid in run_ids])
            con.execute("BEGIN TRANSACTION")
            try:
                for table in ("trades", "equity_curves"):
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
                con.execute("DELETE FROM runs WHERE list_contains(?, id)", [ids])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(ids)

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The full id of the run whose id is or starts with ``run_id``."""
        with self._reader() as con:
            return _resolve(con, self.path, run_id)

    def get(self, run_id: str) -> StoredRun:
        """One run by id or unique id prefix."""
        with self._reader() as con:
            full = _resolve(con, self.path, run_id)
            row = _query(con, "SELECT * FROM runs WHERE id = ?", [full]).to_pylist()[0]
            cols = ", ".join(_q(c) for c in TRADE_COLUMNS)
            trades = _query(
                con, f"SELECT {cols} FROM trades WHERE run_id = ? ORDER BY trade_no", [full]
            ).to_pandas()
            equity = _query(
                con,
                "SELECT timestamp, equity FROM equity_curves WHERE run_id = ? ORDER BY timestamp",
                [full],
            ).to_pandas()
        return _stored_run(row, trades, equity)

    def list(
        self,
        strategy: str | None = None,
        symbol: str | None = None,
        status: str | None = None,
        since: Any = None,
        tag: str | None = None,
        sweep_id: str | None = None,
        order_by: str = "created_at",
        descending: bool = True,
        limit: int | None = 50,
    ) -> pd.DataFrame:
        """Stored runs (:data:`LIST_COLUMNS`), filtered, best first by ``order_by`` (NULLs last).

        ``strategy`` matches the name or ``module:Class`` path; ``since`` is a date or
        timestamp (UTC if naive); ``order_by`` is one of :data:`SORTABLE`.
        """
        column = _sort_column(order_by)
        where, params = [], []
        if strategy:
            where.append("(strategy = ? OR strategy_path = ?)")
            params += [strategy, strategy]
        if symbol:
            where.append("symbol = ?")
            params.append(symbol)
        if status:
            if status not in STATUSES:
                raise ResultsError(
                    f"unknown status '{status}':{did_you_mean(status, STATUSES)} "
                    f"use one of {', '.join(STATUSES)}"
                )
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("created_at >= ?")
            params.append(_timestamp(since, "since").to_pydatetime())
        if tag:
            where.append("list_contains(tags, ?)")
            params.append(tag)
        if sweep_id:
            where.append("sweep_id = ?")
            params.append(sweep_id)
        if limit is not None and limit < 1:
            raise ResultsError(f"limit must be at least 1, was {limit}")
        sql = f"SELECT {', '.join(_q(c) for c in LIST_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if descending else "ASC"
        sql += f" ORDER BY {_q(column)} {direction} NULLS LAST, created_at DESC, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._reader() as con:
            if con is None:
                return pd.DataFrame(columns=list(LIST_COLUMNS))
            frame = _query(con, sql, params).to_pandas()
        return frame

    def compare(self, run_ids: Sequence[str]) -> Comparison:
        """Metrics side by side and the differing configuration values of several runs."""
        with self._reader() as con:
            ids = _unique([_resolve(con, self.path, rid) for rid in run_ids])
            if not ids:
                raise ResultsError("compare needs at least one run id " + HINT)
            rows = _query(con, "SELECT * FROM runs WHERE list_contains(?, id)", [ids]).to_pylist()
        by_id = {row["id"]: _decode_row(row) for row in rows}
        labels = _labels(ids)
        metrics = pd.DataFrame(
            {
                label: [by_id[rid].get(m) for m in COMPARE_METRICS]
                for rid, label in zip(ids, labels, strict=True)
            },
            index=pd.Index(COMPARE_METRICS, name="metric"),
        )
        flat = [_comparable(by_id[rid]) for rid in ids]
        keys = sorted(
            set().union(*flat), key=lambda k: (k.startswith("settings."), k != "strategy", k)
        )
        differing = [k for k in keys if len({_canonical(f.get(k)) for f in flat}) > 1]
        diff = pd.DataFrame(
            {label: [f.get(k) for k in differing] for f, label in zip(flat, labels, strict=True)},
            index=pd.Index(differing, name="parameter"),
            dtype=object,
        )
        return Comparison(ids, metrics, diff)

    def equity(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Stored equity curves on one time index (union, forward-filled); a column per run."""
        with self._reader() as con:
            ids = _unique([_resolve(con, self.path, rid) for rid in run_ids])
            frame = _query(
                con,
                "SELECT run_id, timestamp, equity FROM equity_curves "
                "WHERE list_contains(?, run_id) ORDER BY timestamp",
                [ids],
            ).to_pandas()
        labels = _labels(ids)
        wide = frame.pivot(index="timestamp", columns="run_id", values="equity")
        wide = wide.reindex(columns=ids).sort_index().ffill()
        wide.columns = pd.Index(labels, name="run")
        wide.index = pd.DatetimeIndex(wide.index, name="timestamp").as_unit("ns")
        return wide

    # -- connections -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held only for the block; lock conflicts are retried with backoff."""
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        attempt = 0
        with _process_lock(self.path):
            while True:
                try:
                    con = _open(str(self.path), read_only=not write)
                    break
                except duckdb.IOException as exc:
                    if not _is_lock_conflict(exc):
                        raise
                    delay = min(0.25, 0.005 * 2**attempt) * random.uniform(0.5, 1.5)
                    if time.monotonic() + delay > deadline:
                        raise StoreUnavailableError(
                            f"the results store {self.path} stayed locked by another process "
                            f"for {self.lock_timeout:g} s; retry, or close the process holding it"
                        ) from exc
                    time.sleep(delay)
                    attempt += 1
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection on an up-to-date schema, after ingesting pending runs."""
        with self._connect(write=True) as con:
            if not self._schema_ok:
                _migrate(con, self.path)
                self._schema_ok = True
            self._ingest_pending(con)
            yield con

    @contextlib.contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection, or None when the store file does not exist yet.

        The first read of a store object upgrades an old file and ingests pending runs.
        """
        if not self.path.exists():
            yield None
            return
        if not self._read_checked:
            if self._pending_files() or self._stored_version() != SCHEMA_VERSION:
                try:
                    with self._writer():
                        pass
                except (duckdb.Error, OSError, StoreUnavailableError):
                    if self._stored_version() != SCHEMA_VERSION:
                        raise
            self._read_checked = True
        with self._connect(write=False) as con:
            yield con

    def _stored_version(self) -> int:
        with self._connect(write=False) as con:
            return _schema_version(con)

    # -- saving and pending files ----------------------------------------------------------

    def _save_bundle(self, bundle: _Bundle) -> None:
        with self._writer() as con:
            if _exists(con, bundle.row["id"]):
                raise ResultsError(f"run {bundle.row['id']} is already stored in {self.path}")
            _insert(con, bundle)

    def _save_or_keep(self, bundle: _Bundle) -> str:
        try:
            self._save_bundle(bundle)
        except (duckdb.Error, OSError, StoreUnavailableError) as exc:
            return self._keep(bundle, exc)
        return str(self.path)

    def _keep(self, bundle: _Bundle, reason: BaseException) -> str:
        run_id = bundle.row["id"]
        text = json.dumps(bundle.to_json(str(self.path.resolve())))
        note = ""
        try:
            kept = _write_atomic(self.pending_dir / f"{run_id}.json", text)
        except OSError as exc:
            try:
                kept = _write_atomic(_temp_pending_dir() / f"{self._key()}-{run_id}.json", text)
            except OSError as exc2:
                raise ResultsError(
                    f"run {run_id} could not be saved to {self.path} ({_one_line(reason)}) "
                    f"nor kept in {self.pending_dir} ({exc}) or the temp folder ({exc2})"
                ) from reason
            note = f" ({self.pending_dir} is not writable either: {exc.strerror or exc})"
        warnings.warn(
            f"run {run_id} was NOT saved to {self.path} ({_one_line(reason)}); it was kept in "
            f"{kept}{note} and will be added to the store the next time it can be written",
            NotSavedWarning,
            stacklevel=3,
        )
        return str(kept)

    def _key(self) -> str:
        return hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]

    def _pending_files(self) -> list[Path]:
        files = []
        if self.pending_dir.is_dir():
            files += sorted(self.pending_dir.glob("*.json"))
        temp = _temp_pending_dir()
        if temp.is_dir():
            files += sorted(temp.glob(f"{self._key()}-*.json"))
        return files

    def _ingest_pending(self, con: duckdb.DuckDBPyConnection) -> int:
        """Insert the runs waiting in pending files, deleting each file once stored."""
        count = 0
        for file in self._pending_files():
            try:
                bundle = _Bundle.from_json(json.loads(file.read_text()))
            except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
                warnings.warn(f"skipping unreadable pending run {file}: {exc}", stacklevel=4)
                continue
            if not _exists(con, bundle.row["id"]):
                _insert(con, bundle)
                count += 1
            with contextlib.suppress(OSError):
                file.unlink()
        if count:
            with contextlib.suppress(OSError):
                self.pending_dir.rmdir()  # only when empty
        return count


# -- rerun and export ----------------------------------------------------------------------


def rerun_arguments(run: StoredRun) -> dict[str, Any]:
    """Keyword arguments for ``runner.run_backtest`` that repeat a stored run."""
    row, settings = run.run, run.settings
    if not row.get("strategy_path") or not row.get("config_path"):
        raise ResultsError(f"run {run.id[:8]} has no stored strategy path, so it cannot be rerun")
    data = settings.get("data") or row.get("data_source")
    if data not in ("mock", "catalog"):
        raise ResultsError(
            f"run {run.id[:8]} used data '{data}' (bars passed in memory, not stored); "
            "only mock and catalog runs can be rerun"
        )
    params = {k: v for k, v in run.config.items() if k not in ("instrument_id", "bar_type")}
    balance = settings.get("starting_balance") or row.get("initial_capital")
    return {
        "strategy": row["strategy_path"],
        "params": params,
        "config_path": row["config_path"],
        "data": data,
        "symbol": settings.get("symbol") or row.get("symbol"),
        "start": settings.get("start"),
        "end": settings.get("end"),
        "starting_balance": float(balance) if balance is not None else 100_000.0,
        "catalog": settings.get("catalog"),
        "seed": int(settings.get("seed", 42)),
    }


def rerun(store: ResultsStore, run_id: str, source: str = "python") -> RerunReport:
    """Run a stored run's configuration again on the same data source and compare.

    The data's fingerprint is checked first: if the bars changed since, nothing is run and
    the report says so (``data_changed``). The new run is saved with tag ``rerun-of:<id>``.
    """
    from research_lib.engine.runner import load_market_data, run_backtest

    original = store.get(run_id)
    kwargs = rerun_arguments(original)
    old = original.run.get("data_fingerprint")
    market = load_market_data(
        kwargs["data"], kwargs["symbol"], kwargs["start"], kwargs["end"],
        kwargs["catalog"], kwargs["seed"],
    )  # fmt: skip
    if old and market.fingerprint != old:
        return RerunReport(original.id, None, True, old, market.fingerprint, None)
    result = run_backtest(**kwargs, results=store, source=source, tags=[f"rerun-of:{original.id}"])
    report = RerunReport(
        original.id, result.run_id, False, old, result.data_fingerprint, None,
        saved_to=result.saved_to,
    )  # fmt: skip
    if original.status == "completed":
        report.differences = _differences(original, result)
        report.identical = not report.differences
    return report


def export_run(
    store: ResultsStore, run_id: str, fmt: str = "json", output: str | Path | None = None
) -> list[Path]:
    """Write a run's trades and stored equity curve; returns the files written.

    ``json``: one file ``output`` with ``run``, ``trades`` and ``equity``. ``csv``: two files,
    ``<output>_trades.csv`` and ``<output>_equity.csv`` (a ``.csv`` suffix on ``output`` is
    dropped first). ``output`` defaults to ``run-<id8>`` (``run-<id8>.json``) in the cwd.
    """
    if fmt not in ("csv", "json"):
        raise ResultsError(
            f"unknown export format '{fmt}':{did_you_mean(fmt, ['csv', 'json'])} use csv or json"
        )
    run = store.get(run_id)
    default = f"run-{run.id[:8]}" + (".json" if fmt == "json" else "")
    output = Path(output if output is not None else default)
    output.parent.mkdir(parents=True, exist_ok=True)
    equity = run.equity.rename("equity").reset_index()
    if fmt == "csv":
        stem = output.with_suffix("") if output.suffix.lower() == ".csv" else output
        files = [Path(f"{stem}_trades.csv"), Path(f"{stem}_equity.csv")]
        run.trades.to_csv(files[0], index=False)
        equity.to_csv(files[1], index=False)
        return files
    document = {
        "run": _json_safe(run.run),
        "trades": _json_safe(run.trades.to_dict(orient="records")),
        "equity": _json_safe(equity.to_dict(orient="records")),
    }
    output.write_text(json.dumps(document, indent=1))
    return [output]


# -- equity downsampling -------------------------------------------------------------------


def downsample_equity(equity: pd.Series, max_points: int = MAX_EQUITY_POINTS) -> pd.Series:
    """At most ``max_points`` points of a curve, keeping its shape (M4 downsampling).

    The curve is cut into ``max_points // 4`` equal-count buckets; each keeps its first and
    last point and its minimum and maximum (earliest on ties), in time order. So the first
    and last values and the global extremes (hence the max drawdown's peak and trough) survive.
    Curves with ``max_points`` points or fewer are returned unchanged.
    """
    n = len(equity)
    if n <= max_points:
        return equity
    buckets = max(1, max_points // 4)
    values = equity.to_numpy(dtype=float)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:]
    bucket = np.repeat(np.arange(buckets), ends - starts)
    order = np.lexsort((values, bucket))  # by bucket, then value; stable
    keep = np.unique(np.concatenate([starts, ends - 1, order[starts], order[ends - 1]]))
    return equity.iloc[keep]


# -- internals: rows and bundles -----------------------------------------------------------


@dataclass
class _Bundle:
    """A run ready to insert: the runs row (JSON-native values) and its two tables."""

    row: dict[str, Any]
    trades: pa.Table
    equity: pa.Table

    def to_json(self, store: str) -> dict[str, Any]:
        return {
            "format": "research-lib pending run v1",
            "store": store,
            "row": self.row,
            "trades": _table_to_json(self.trades),
            "equity": _table_to_json(self.equity),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> _Bundle:
        return cls(
            doc["row"],
            _table_from_json(doc["trades"], TRADES_SCHEMA),
            _table_from_json(doc["equity"], EQUITY_SCHEMA),
        )


def _bundle_from_result(result: BacktestResult) -> _Bundle:
    config = _json_safe(result.config)
    equity = downsample_equity(result.equity)
    row = {
        "id": result.run_id,
        "created_at": _now(),
        "status": "completed",
        "source": result.source,
        "sweep_id": result.sweep_id,
        "tags": [str(t) for t in result.tags],
        "strategy": result.strategy,
        "strategy_path": result.strategy_path,
        "config_path": result.config_path,
        "config": _canonical(config),
        "config_hash": config_hash(config),
        "symbol": result.symbol,
        "instrument_id": result.instrument_id,
        "bar_type": result.bar_type,
        "start": _iso(result.start),
        "end": _iso(result.end),
        "bar_count": int(result.bar_count),
        "currency": result.currency,
        "initial_capital": clean_number(result.initial_capital),
        "final_capital": clean_number(result.final_capital),
        "total_return": clean_number(result.total_return),
        "trade_count": len(result.trades),
        **result.metrics,
        "stats": json.dumps(_json_safe(result.stats)),
        "duration_seconds": clean_number(result.duration_seconds),
        "data_source": result.data_source,
        "data_fingerprint": result.data_fingerprint,
        "settings": json.dumps(_json_safe(result.settings)),
        "notebook_path": result.notebook_path,
        "research_lib_version": _version_of(result.versions, "research-lib", "research_lib"),
        "nautilus_trader_version": _version_of(result.versions, "nautilus_trader"),
        "versions": json.dumps(_json_safe(result.versions)),
        "warnings": json.dumps([str(w) for w in result.warnings]),
        "equity_length": len(result.equity),
    }
    return _Bundle(
        row, _trades_table(result.run_id, result.trades), _equity_table(result.run_id, equity)
    )


def _failure_bundle(context: dict[str, Any], error: str, traceback: str) -> _Bundle:
    settings = _json_safe(context.get("settings") or {})
    config = context.get("config", context.get("params"))
    config = _json_safe(config) if config is not None else None
    versions = _installed_versions()
    run_id = str(context.get("run_id") or uuid.uuid4())
    row = {
        "id": run_id,
        "created_at": _now(),
        "status": "failed",
        "error": str(error),
        "traceback": traceback or None,
        "source": context.get("source", "python"),
        "sweep_id": context.get("sweep_id"),
        "tags": [str(t) for t in context.get("tags") or []],
        "strategy": context.get("strategy"),
        "strategy_path": context.get("strategy_path"),
        "config_path": context.get("config_path"),
        "config": None if config is None else _canonical(config),
        "config_hash": None if config is None else config_hash(config),
        "symbol": settings.get("symbol"),
        "start": _lenient_iso(settings.get("start")),
        "end": _lenient_iso(settings.get("end")),
        "initial_capital": clean_number(settings.get("starting_balance")),
        "trade_count": 0,
        "duration_seconds": clean_number(context.get("duration_seconds")),
        "data_source": settings.get("data"),
        "settings": json.dumps(settings),
        "notebook_path": context.get("notebook_path"),
        "research_lib_version": versions.get("research-lib"),
        "nautilus_trader_version": versions.get("nautilus_trader"),
        "versions": json.dumps(versions),
        "warnings": "[]",
        "equity_length": 0,
    }
    return _Bundle(row, _trades_table(run_id, None), _equity_table(run_id, None))


def _trades_table(run_id: str, trades: pd.DataFrame | None) -> pa.Table:
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


def _equity_table(run_id: str, equity: pd.Series | None) -> pa.Table:
    if equity is None or len(equity) == 0:
        return EQUITY_SCHEMA.empty_table()
    index = pd.DatetimeIndex(equity.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(equity), pa.string()),
            "timestamp": pa.array(index.as_unit("ns"), EQUITY_SCHEMA.field("timestamp").type),
            "equity": pa.array(equity.to_numpy(dtype=float), pa.float64()),
        },
        schema=EQUITY_SCHEMA,
    )


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


def _insert(con: duckdb.DuckDBPyConnection, bundle: _Bundle) -> None:
    """One transaction: the runs row, then trades and equity (bulk, from Arrow)."""
    row = bundle.row
    cols = list(row)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"INSERT INTO runs ({', '.join(_q(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )
        _insert_table(con, "trades", bundle.trades)
        _insert_table(con, "equity_curves", bundle.equity)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _insert_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    view = f"_incoming_{name}"
    cols = ", ".join(_q(c) for c in table.column_names)
    con.register(view, table)
    try:
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {view}")
    finally:
        con.unregister(view)


# -- internals: schema ---------------------------------------------------------------------


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" not in tables:
        return 0
    found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 0


def _migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Create the tables, or bring an older file up to :data:`SCHEMA_VERSION` in place."""
    current = _schema_version(con)
    if current == SCHEMA_VERSION:
        return
    if current > SCHEMA_VERSION:
        raise StoreUnavailableError(
            f"{path} has results schema version {current}, newer than this research-lib "
            f"understands ({SCHEMA_VERSION}); upgrade research-lib"
        )
    run_cols = ", ".join(f"{_q(c)} {t}" for c, t in RUN_COLUMNS.items() if c != "id")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute(f"CREATE TABLE IF NOT EXISTS runs (id VARCHAR PRIMARY KEY, {run_cols})")
        for name, schema in (("trades", TRADES_SCHEMA), ("equity_curves", EQUITY_SCHEMA)):
            cols = ", ".join(f"{_q(f.name)} {_ddl_type(f.type)}" for f in schema)
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
        for table, wanted in (
            ("runs", RUN_COLUMNS),
            ("trades", {f.name: _ddl_type(f.type) for f in TRADES_SCHEMA}),
            ("equity_curves", {f.name: _ddl_type(f.type) for f in EQUITY_SCHEMA}),
        ):
            have = {
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
                ).fetchall()
            }
            for column, kind in wanted.items():
                if column not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {_q(column)} {kind}")
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _ddl_type(kind: pa.DataType) -> str:
    return "TIMESTAMPTZ" if pa.types.is_timestamp(kind) else _DDL_TYPES[kind]


# -- internals: queries --------------------------------------------------------------------


def _open(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` (a seam for tests)."""
    return duckdb.connect(path, read_only=read_only)


_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    """One lock per store file within this process (DuckDB refuses a second, differently
    configured connection to a file this process already has open)."""
    key = str(path.resolve())
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pa.Table:
    return con.sql(sql, params=params).to_arrow_table()


def _exists(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is not None


def _resolve(con: duckdb.DuckDBPyConnection | None, path: Path, run_id: str) -> str:
    prefix = str(run_id).strip().lower()
    if not prefix:
        raise ResultsError(f"empty run id {HINT}")
    matches = []
    if con is not None:
        matches = [
            r[0]
            for r in con.execute(
                "SELECT id FROM runs WHERE starts_with(id, ?) ORDER BY id LIMIT 6", [prefix]
            ).fetchall()
        ]
    if not matches:
        raise ResultsError(f"no run '{run_id}' in {path}; {HINT} shows the stored runs")
    if len(matches) > 1 and prefix not in matches:
        width = max(8, len(prefix) + 4)
        shown = ", ".join(m[:width] + "…" for m in matches[:5])
        more = ", …" if len(matches) > 5 else ""
        raise ResultsError(
            f"run id prefix '{run_id}' is ambiguous: matches {shown}{more}; give more characters"
        )
    return prefix if prefix in matches else matches[0]


def _sort_column(order_by: str) -> str:
    column = SORT_ALIASES.get(order_by, order_by)
    if column not in SORTABLE:
        raise ResultsError(
            f"cannot sort by '{order_by}':{did_you_mean(order_by, [*SORTABLE, *SORT_ALIASES])} "
            f"use one of {', '.join(SORTABLE)}"
        )
    return column


def _stored_run(row: dict[str, Any], trades: pd.DataFrame, equity: pd.DataFrame) -> StoredRun:
    row = _decode_row(row)
    for name in ("entry_time", "exit_time"):
        trades[name] = pd.to_datetime(trades[name], utc=True).dt.as_unit("ns")
    index = pd.DatetimeIndex(pd.to_datetime(equity["timestamp"], utc=True), name="timestamp")
    curve = pd.Series(
        equity["equity"].to_numpy(dtype=float), index=index.as_unit("ns"), name="equity"
    )
    return StoredRun(row, row.get("config") or {}, row.get("stats") or {}, trades, curve)


def _decode_row(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for name in JSON_COLUMNS:
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    for name in ("created_at", "start", "end"):
        if row.get(name) is not None:
            row[name] = pd.Timestamp(row[name]).tz_convert("UTC")
    return row


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A run's comparable inputs: strategy, config values, and settings as ``settings.x``."""
    flat: dict[str, Any] = {"strategy": row.get("strategy_path") or row.get("strategy")}
    flat.update(row.get("config") or {})
    flat.update({f"settings.{k}": v for k, v in (row.get("settings") or {}).items()})
    return flat


def _differences(original: StoredRun, result: BacktestResult) -> list[str]:
    """What differs between a stored run and a new result (empty when identical)."""
    diffs = []
    old, new = original.trades, result.trades
    if len(old) != len(new):
        diffs.append(f"trade count {len(old)} → {len(new)}")
    else:
        for name in TRADE_COLUMNS[1:]:  # position ids carry fresh UUIDs on every run
            a, b = old[name].reset_index(drop=True), new[name].reset_index(drop=True)
            if name.endswith("_time"):
                a = pd.to_datetime(a, utc=True).dt.as_unit("us")
                b = pd.to_datetime(b, utc=True).dt.as_unit("us")
            elif name != "side":
                a, b = a.astype(float), b.astype(float)
            changed = int((a.astype(str) != b.astype(str)).sum())
            if changed:
                diffs.append(f"{changed} trades differ in {name}")
    new_values = {
        "initial_capital": result.initial_capital,
        "final_capital": result.final_capital,
        "total_return": result.total_return,
        "trade_count": result.trade_count,
        **result.metrics,
    }
    for name, value in new_values.items():
        if not _same_number(original.run.get(name), value):
            diffs.append(f"{name} {original.run.get(name)} → {value}")
    for name in sorted(set(original.stats) | set(result.stats)):
        if name in METRIC_STATISTICS.values():
            continue
        if not _same_number(original.stats.get(name), result.stats.get(name)):
            diffs.append(
                f"statistic '{name}' {original.stats.get(name)} → {result.stats.get(name)}"
            )
    curve = downsample_equity(result.equity)
    if len(curve) != len(original.equity) or not np.allclose(
        curve.to_numpy(dtype=float), original.equity.to_numpy(dtype=float), rtol=1e-9, atol=1e-9
    ):
        diffs.append("equity curve differs")
    return diffs


# -- internals: small helpers --------------------------------------------------------------


def config_hash(config: Any) -> str:
    """Sha256 hex of the canonical JSON of ``config`` (sorted keys, compact)."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(_json_safe(value), sort_keys=True, separators=(",", ":"))


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN/inf -> None, timestamps -> ISO strings, numpy -> Python."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
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


def _same_number(a: Any, b: Any) -> bool:
    a, b = clean_number(a), clean_number(b)
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(value: Any) -> str:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()


def _lenient_iso(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return _iso(value)
    except (ValueError, TypeError):
        return None


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ResultsError(f"{what} must be a date like 2024-01-31, was '{value}'") from exc
    if pd.isna(ts):
        raise ResultsError(f"{what} must be a date like 2024-01-31, was '{value}'")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _version_of(versions: dict[str, str], *names: str) -> str | None:
    return next((versions[n] for n in names if n in versions), None)


def _installed_versions() -> dict[str, str]:
    """research-lib and nautilus_trader versions from package metadata (no imports)."""
    found = {}
    for name in ("research-lib", "nautilus_trader"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _labels(ids: Sequence[str]) -> list[str]:
    """8-character ids, or full ids if two would look the same."""
    short = [rid[:8] for rid in ids]
    return short if len(set(short)) == len(short) else list(ids)


def _short(value: str | None) -> str:
    return "?" if value is None else value[:12]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _temp_pending_dir() -> Path:
    return Path(tempfile.gettempdir()) / "research-lib-pending"


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
