"""The results store: every backtest, completed or failed, in one embedded DuckDB file.

The file is ``ResultsStore(path)``, else :func:`research_lib.settings.results_path`
(``$RESEARCH_LIB_RESULTS``, else ``results/results.duckdb`` under the project root). Its
tables are described in :mod:`research_lib.store.schema`.

Contract:

* Atomic: each saved run (its runs row, trades and equity curve) is one transaction, and so
  is each :meth:`ResultsStore.delete` and each schema step; a crash or an error leaves the
  store as it was before. A pending file is replaced atomically
  (:func:`research_lib.files.write_atomic`).
* Readers: DuckDB lets one process write a file at a time, and connections are held for one
  read or write only. Processes take turns through ``<store>.lock`` (:mod:`.db`): a reader
  waits for at most the one write under way, then sees every run that writer committed,
  and never a part of one.
* Nothing is lost when the store cannot be written: :meth:`ResultsStore.save_or_keep` then
  keeps the run in a pending file (:mod:`research_lib.store.pending`), warns with
  :class:`NotSavedWarning`, and the next write (or first read) ingests it.
* Errors: :class:`StoreUnavailableError` (a :class:`ResultsError`) when the file stays locked
  past ``lock_timeout`` or was made by a newer research-lib; :class:`ResultsError` for an
  unknown, ambiguous or empty run id (:meth:`get`, :meth:`resolve`, :meth:`compare`,
  :meth:`equity`, :meth:`delete`), a run id already stored (:meth:`save`,
  :meth:`save_failure`) and invalid :meth:`list` arguments; ``duckdb.Error`` and
  ``OSError`` pass through from :meth:`save` and :meth:`save_failure`, whereas the
  ``..._or_keep`` methods keep the run instead and raise only when no pending file can be
  written either.

This module does not import Nautilus.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from research_lib.errors import ResultsError, did_you_mean
from research_lib.model.bars import to_utc
from research_lib.model.metrics import COMPARE_METRICS
from research_lib.model.run import STATUSES, TRADE_COLUMNS, BacktestResult, RunRecord, StoredRun
from research_lib.settings import results_path
from research_lib.store import db, lookup, pending, schema
from research_lib.store.db import LOCK_TIMEOUT, StoreUnavailableError
from research_lib.store.lookup import HINT
from research_lib.store.migrations import migrate, schema_version
from research_lib.store.pending import NotSavedWarning
from research_lib.store.records import (
    Bundle,
    bundle_of,
    canonical,
    decode_row,
    failure_bundle,
    stored_bundle,
    stored_run,
)
from research_lib.store.schema import LIST_COLUMNS, SCHEMA_VERSION, SORT_ALIASES, SORTABLE
from research_lib.store.schema import quote as _q

__all__ = ["Comparison", "NotSavedWarning", "ResultsStore", "StoreUnavailableError"]

_SWEEP = object()  # where the resolved sweep id goes in list()'s query parameters
WRITE_ERRORS = (duckdb.Error, OSError, StoreUnavailableError)
_RUN_TABLES = (
    "FROM trades WHERE run_id = ? ORDER BY trade_no",
    "FROM equity_curves WHERE run_id = ? ORDER BY timestamp",
)


def default_path() -> Path:
    """Where ``ResultsStore()`` is: :func:`research_lib.settings.results_path`."""
    return results_path()


@dataclass
class Comparison:
    """Runs side by side: ``metrics`` (one column per run) and ``config_diff`` (only the
    parameters whose values differ; settings appear as ``settings.<name>``)."""

    run_ids: list[str]
    metrics: pd.DataFrame
    config_diff: pd.DataFrame


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
        return pending.pending_dir(self.path)

    # -- writing ---------------------------------------------------------------------------

    def save(self, result: BacktestResult) -> str:
        """Store a completed run; returns its id. Raises if the store cannot be written."""
        bundle = bundle_of(result)
        self._save_bundle(bundle)
        return bundle.id

    def save_failure(self, record: RunRecord) -> str:
        """Store a failed run (:meth:`RunRecord.failed`); returns its id."""
        bundle = failure_bundle(_failed(record))
        self._save_bundle(bundle)
        return bundle.id

    def save_or_keep(self, result: BacktestResult) -> str:
        """Store a run, or keep it in a pending file if the store cannot be written.

        Returns the store path, or the pending file's path (after a :class:`NotSavedWarning`).
        """
        return self._save_or_keep(bundle_of(result))

    def save_failure_or_keep(self, record: RunRecord) -> str:
        """:meth:`save_failure`, falling back to a pending file like :meth:`save_or_keep`."""
        return self._save_or_keep(failure_bundle(_failed(record)))

    def save_bundle_or_keep(self, bundle: Bundle) -> str:
        """Store a run made elsewhere (a sweep worker's, :meth:`bundles`), or keep it pending
        like :meth:`save_or_keep`; returns where it went."""
        return self._save_or_keep(bundle)

    def save_bundles_or_keep(self, bundles: Sequence[Bundle]) -> list[str]:
        """Store many runs in one transaction (a screened grid: thousands of rows in well
        under a second), or keep each in a pending file when the store cannot be written;
        returns where each went. Runs already stored are left as they are."""
        try:
            with self._writer() as con, db.transaction(con):
                for bundle in bundles:
                    if not _exists(con, bundle.id):
                        _insert_tables(con, bundle)
        except WRITE_ERRORS as exc:
            return [pending.keep(self.path, bundle, exc) for bundle in bundles]
        return [str(self.path)] * len(bundles)

    def bundles(self) -> list[Bundle]:
        """Every stored run as a :class:`Bundle`, oldest first (to save in another store)."""
        with self._reader() as con:
            rows = [] if con is None else db.query(con, "FROM runs ORDER BY created_at").to_pylist()
            tables = [[db.query(con, sql, [r["id"]]) for sql in _RUN_TABLES] for r in rows]
        return [stored_bundle(row, *both) for row, both in zip(rows, tables, strict=True)]

    def delete(self, run_ids: Iterable[str]) -> int:
        """Delete runs (ids or unique prefixes) with their trades and equity; returns the count."""
        with self._writer() as con:
            ids = _unique([lookup.resolve(con, self.path, rid) for rid in run_ids])
            with db.transaction(con):
                for table in ("trades", "equity_curves"):
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
                con.execute("DELETE FROM runs WHERE list_contains(?, id)", [ids])
        return len(ids)

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, run_id: str) -> str:
        """The full id of the run whose id is or starts with ``run_id``."""
        with self._reader() as con:
            return lookup.resolve(con, self.path, run_id)

    def get(self, run_id: str) -> StoredRun:
        """One run by id or unique id prefix."""
        with self._reader() as con:
            full = lookup.resolve(con, self.path, run_id)
            row = db.query(con, "SELECT * FROM runs WHERE id = ?", [full]).to_pylist()[0]
            cols = ", ".join(_q(c) for c in TRADE_COLUMNS)
            trades = db.query(
                con, f"SELECT {cols} FROM trades WHERE run_id = ? ORDER BY trade_no", [full]
            ).to_pandas()
            equity = db.query(
                con,
                "SELECT timestamp, equity FROM equity_curves WHERE run_id = ? ORDER BY timestamp",
                [full],
            ).to_pandas()
        return stored_run(row, trades, equity)

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
        notebook_path: str | Path | None = None,
        extra_columns: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Stored runs (:data:`LIST_COLUMNS`), filtered, best first by ``order_by`` (NULLs last).

        ``strategy`` matches the name or ``module:Class`` path; ``since`` is a date or
        timestamp (UTC if naive); ``sweep_id`` a sweep id or a unique prefix of one;
        ``notebook_path`` the executed notebook a run recorded; ``order_by`` is one of
        :data:`SORTABLE`; ``extra_columns`` more columns of the runs table to return
        (``bar_spec``, ``data_source``...). ``config`` is the config's JSON text.
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
            params.append(_SWEEP)  # the full id, resolved below
        if notebook_path is not None:
            where.append("notebook_path = ?")
            params.append(str(notebook_path))
        if limit is not None and limit < 1:
            raise ResultsError(f"limit must be at least 1, was {limit}")
        unknown = [c for c in extra_columns if c not in schema.RUN_COLUMNS]
        if unknown:
            raise ResultsError(f"no runs column {', '.join(map(repr, unknown))}")
        columns = [*LIST_COLUMNS, *(c for c in extra_columns if c not in LIST_COLUMNS)]
        sql = f"SELECT {', '.join(_q(c) for c in columns)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if descending else "ASC"
        sql += f" ORDER BY {_q(column)} {direction} NULLS LAST, created_at DESC, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._reader() as con:
            if con is None:
                return pd.DataFrame(columns=columns)
            if sweep_id:
                params[params.index(_SWEEP)] = lookup.resolve_sweep(con, self.path, sweep_id)
            return db.query(con, sql, params).to_pandas()

    def sweeps(self) -> pd.DataFrame:
        """One row per sweep, newest first (by its newest run), in one query.

        Columns: ``sweep_id``, ``runs`` (how many), ``created_at`` (of its newest run),
        ``configs`` (each run's config values as a dict, oldest run first), and for a screened
        sweep ``screened`` (its vector runs) and ``confirmed`` (its Nautilus confirmations).
        """
        sql = (
            "SELECT sweep_id, count(*) AS runs, max(created_at) AS created_at, "
            "list(config ORDER BY created_at NULLS LAST, id) AS configs, "
            "count(*) FILTER (WHERE engine = 'vector') AS screened, "
            "count(twin_id) AS confirmed "
            "FROM runs WHERE sweep_id IS NOT NULL GROUP BY sweep_id "
            "ORDER BY max(created_at) DESC NULLS LAST, sweep_id"
        )
        with self._reader() as con:
            if con is None:
                return pd.DataFrame(columns=[
                    "sweep_id", "runs", "created_at", "configs", "screened", "confirmed",
                ])  # fmt: skip
            frame = db.query(con, sql).to_pandas()
        frame["configs"] = [[_config(c) for c in configs] for configs in frame["configs"]]
        return frame

    def compare(self, run_ids: Sequence[str]) -> Comparison:
        """Metrics side by side and the differing configuration values of several runs."""
        with self._reader() as con:
            ids = _unique([lookup.resolve(con, self.path, rid) for rid in run_ids])
            if not ids:
                raise ResultsError("compare needs at least one run id " + HINT)
            rows = db.query(con, "SELECT * FROM runs WHERE list_contains(?, id)", [ids]).to_pylist()
        by_id = {row["id"]: decode_row(row) for row in rows}
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
        differing = [k for k in keys if len({canonical(f.get(k)) for f in flat}) > 1]
        diff = pd.DataFrame(
            {label: [f.get(k) for k in differing] for f, label in zip(flat, labels, strict=True)},
            index=pd.Index(differing, name="parameter"),
            dtype=object,
        )
        return Comparison(ids, metrics, diff)

    def equity(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Stored equity curves on one time index (union, forward-filled); a column per run."""
        with self._reader() as con:
            ids = _unique([lookup.resolve(con, self.path, rid) for rid in run_ids])
            frame = db.query(
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
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection on an up-to-date schema, after ingesting pending runs."""
        with db.connect(self.path, write=True, lock_timeout=self.lock_timeout) as con:
            if not self._schema_ok:
                migrate(con, self.path)
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
        # one turn for the check and the read, so a queued writer cannot slip in between
        with db.connect(self.path, write=False, lock_timeout=self.lock_timeout) as con:
            if self._read_checked or (
                not pending.pending_files(self.path) and schema_version(con) == SCHEMA_VERSION
            ):
                self._read_checked = True
                yield con
                return
        try:
            with self._writer():
                pass
        except WRITE_ERRORS:
            if self._stored_version() != SCHEMA_VERSION:
                raise
        self._read_checked = True
        with db.connect(self.path, write=False, lock_timeout=self.lock_timeout) as con:
            yield con

    def _stored_version(self) -> int:
        with db.connect(self.path, write=False, lock_timeout=self.lock_timeout) as con:
            return schema_version(con)

    # -- saving and pending files ----------------------------------------------------------

    def _save_bundle(self, bundle: Bundle) -> None:
        with self._writer() as con:
            if _exists(con, bundle.id):
                raise ResultsError(f"run {bundle.id} is already stored in {self.path}")
            _insert(con, bundle)

    def _save_or_keep(self, bundle: Bundle) -> str:
        try:
            self._save_bundle(bundle)
        except WRITE_ERRORS as exc:
            return pending.keep(self.path, bundle, exc)
        return str(self.path)

    def _ingest_pending(self, con: duckdb.DuckDBPyConnection) -> int:
        """Insert the runs waiting in pending files, deleting each file once stored."""
        count = 0
        for file in pending.pending_files(self.path):
            bundle = pending.read_pending(file)
            if bundle is None:
                continue
            if not _exists(con, bundle.id):
                _insert(con, bundle)
                count += 1
            with contextlib.suppress(OSError):
                file.unlink()
        if count:
            with contextlib.suppress(OSError):
                self.pending_dir.rmdir()  # only when empty
        return count


# -- internals -----------------------------------------------------------------------------


def _failed(record: RunRecord) -> RunRecord:
    if record.status != "failed":
        raise ResultsError(f"run {record.id} is {record.status}: save it with save()")
    return record


def _insert(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """One transaction: the runs row, then trades and equity (bulk, from Arrow)."""
    with db.transaction(con):
        _insert_tables(con, bundle)


def _insert_tables(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    db.insert_row(con, "runs", bundle.row)
    if bundle.trades.num_rows:
        db.insert_arrow(con, "trades", bundle.trades)
    if bundle.equity.num_rows:
        db.insert_arrow(con, "equity_curves", bundle.equity)


def _exists(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is not None


def _sort_column(order_by: str) -> str:
    column = SORT_ALIASES.get(order_by, order_by)
    if column not in SORTABLE:
        raise ResultsError(
            f"cannot sort by '{order_by}':{did_you_mean(order_by, [*SORTABLE, *SORT_ALIASES])} "
            f"use one of {', '.join(SORTABLE)}"
        )
    return column


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A run's comparable inputs: strategy, config values, and settings as ``settings.x``
    (how orders fill as ``fill_timing``, ``fill_volume`` and ``costs.<kind>``)."""
    flat: dict[str, Any] = {"strategy": row.get("strategy_path") or row.get("strategy")}
    flat.update(row.get("config") or {})
    settings = dict(row.get("settings") or {})
    execution = settings.pop("execution", None) or {}
    flat.update({f"settings.{k}": v for k, v in settings.items()})
    costs = execution.get("costs") or {}
    flat.update({k: v for k, v in execution.items() if k != "costs"})
    flat.update({f"costs.{k}": v for k, v in costs.items()})
    return flat


def _config(value: Any) -> dict[str, Any]:
    """A config column's value (JSON text, or NULL) as a dict."""
    return (json.loads(value) if isinstance(value, str) else value) or {}


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ResultsError(f"{what} must be a date like 2024-01-31, was '{value}'") from exc
    if pd.isna(ts) or not 1678 <= ts.year <= 2261:
        raise ResultsError(f"{what} must be a date like 2024-01-31, was '{value}'")
    return to_utc(ts)


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _labels(ids: Sequence[str]) -> list[str]:
    """8-character ids, or full ids if two would look the same."""
    short = [rid[:8] for rid in ids]
    return short if len(set(short)) == len(short) else list(ids)
