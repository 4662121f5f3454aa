"""DuckDB connections to a store file: short-lived, retried on lock conflicts, one writer.

DuckDB lets one process write a file at a time, so a connection is held only for one read
or write (:func:`connect`); an open that meets another process's lock is retried with
jittered exponential backoff for up to ``lock_timeout`` seconds, then raises
:class:`StoreUnavailableError`. Within this process one lock per file serialises the
connections (DuckDB refuses a second, differently configured connection to a file this
process already has open). Every write runs inside :func:`transaction`.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from research_lib.errors import ResultsError
from research_lib.store.schema import quote

LOCK_TIMEOUT = 30.0
MAX_BACKOFF = 0.25  # seconds between two attempts at most (before jitter)


class StoreUnavailableError(ResultsError):
    """Raised when the store cannot be opened for writing (locked past the retries, or made
    by a newer research-lib); :meth:`ResultsStore.save_or_keep` then keeps the run pending."""


def open_file(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` (a seam for tests)."""
    return duckdb.connect(path, read_only=read_only)


_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def process_lock(path: Path) -> threading.RLock:
    """The one lock of the store file ``path`` within this process."""
    key = str(path.resolve())
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.RLock())


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether a DuckDB error says another process holds the file."""
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


@contextlib.contextmanager
def connect(
    path: Path, write: bool, lock_timeout: float = LOCK_TIMEOUT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to ``path`` held only for the block (session time zone UTC).

    Lock conflicts are retried with backoff until ``lock_timeout`` seconds have passed.
    """
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    attempt = 0
    with process_lock(path):
        while True:
            try:
                con = open_file(str(path), read_only=not write)
                break
            except duckdb.IOException as exc:
                if not is_lock_conflict(exc):
                    raise
                delay = min(MAX_BACKOFF, 0.005 * 2**attempt) * random.uniform(0.5, 1.5)
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailableError(
                        f"the results store {path} stayed locked by another process "
                        f"for {lock_timeout:g} s; retry, or close the process holding it"
                    ) from exc
                time.sleep(delay)
                attempt += 1
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT``; any exception (Ctrl-C included) rolls back and is re-raised."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    """The result of ``sql`` as an Arrow table."""
    return con.sql(sql, params=params or []).to_arrow_table()


def insert_row(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    """Insert one row given as column -> value."""
    cols = list(row)
    con.execute(
        f"INSERT INTO {table} ({', '.join(quote(c) for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})",
        [row[c] for c in cols],
    )


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Insert every row of an Arrow table (bulk; nothing for an empty one)."""
    if rows.num_rows == 0:
        return
    view = f"_incoming_{table}"
    cols = ", ".join(quote(c) for c in rows.column_names)
    con.register(view, rows)
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {view}")
    finally:
        con.unregister(view)
