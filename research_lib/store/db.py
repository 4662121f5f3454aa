"""DuckDB connections to a store file: short-lived, readers first, one writer.

DuckDB lets one process write a file at a time, and no process read it meanwhile, so a
connection is held only for one read or write (:func:`connect`). research_lib processes
take turns through POSIX locks on three bytes of ``<store>.lock`` (:class:`TurnLock`), so a
reader waits for at most the one write under way, never behind a queue of writers:

- byte 2, the writers' queue: a writer holds it exclusively for its whole write, so writers
  go one at a time;
- byte 1, readers waiting: a reader holds it shared from the moment it asks until it is done;
  a writer first waits (at most :data:`READER_GRACE` seconds) until no reader holds it;
- byte 0, the file itself: shared by readers, exclusive for the writer while its DuckDB
  connection is open.

A DuckDB lock held by another program (a notebook's own ``duckdb.connect``) is still
retried with jittered exponential backoff; past ``lock_timeout`` seconds
:class:`StoreUnavailableError` is raised, as it is for a store path that is a folder, or a
file DuckDB cannot open (unreadable, not a database). Within this process one lock per file
serialises the connections (DuckDB refuses a second, differently configured connection to a
file this process already has open). Every write runs inside :func:`transaction`.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from research_lib.errors import ResultsError, one_line
from research_lib.store.schema import quote

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: DuckDB's own lock and the backoff only
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT = 30.0
MAX_BACKOFF = 0.25  # seconds between two attempts at most (before jitter)
READER_GRACE = 2.0  # seconds a writer lets waiting readers go first, at most
POLL = 0.002  # seconds between two tries of a turn lock
FILE, READERS, WRITERS = 0, 1, 2  # the bytes of <store>.lock


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


class TurnLock:
    """The turn-taking locks of one store file within this process (see the module doc).

    POSIX record locks belong to the process, so the lock file stays open for the life of
    the process (closing any descriptor of it would drop every lock) and nested
    connections of this process take no second turn. A lock file that cannot be opened (a
    read-only folder) means no turns: DuckDB's own lock and the backoff still apply.
    """

    _open: dict[tuple[int, str], TurnLock] = {}

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self.fd: int | None = None
        self.writable = False
        self.depth = 0

    @classmethod
    def of(cls, path: Path) -> TurnLock:
        key = (os.getpid(), str(path.resolve()))
        found = cls._open.get(key)
        if found is None:
            found = cls._open[key] = cls(path)
        return found

    def _descriptor(self, write: bool) -> int | None:
        if fcntl is None:
            return None
        if self.fd is None or (write and not self.writable):
            flags = os.O_RDWR | os.O_CREAT if write else os.O_RDONLY
            for mode in (flags, os.O_RDWR | os.O_CREAT, os.O_RDONLY):
                try:
                    extra = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
                    fd = os.open(self.path, mode | extra, 0o666)  # the umask applies
                except OSError:
                    continue
                if self.fd is not None:  # pragma: no cover - only while no turn is held
                    os.close(self.fd)
                self.fd, self.writable = fd, bool(mode & os.O_RDWR)
                break
        return None if write and not self.writable else self.fd

    def _take(self, byte: int, exclusive: bool, deadline: float) -> bool:
        """Lock ``byte``, polling until ``deadline``; whether it was taken."""
        kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        while True:
            try:
                fcntl.lockf(self.fd, kind | fcntl.LOCK_NB, 1, byte)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(POLL * random.uniform(0.5, 1.5))

    def _drop(self, byte: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, byte)

    @contextlib.contextmanager
    def turn(self, write: bool, deadline: float) -> Iterator[None]:
        """Hold this process's turn at the file (nothing for a nested connection)."""
        if self.depth or self._descriptor(write) is None:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        held: list[int] = []
        try:
            if write:
                if not self._take(WRITERS, True, deadline):
                    raise _busy(self.path, deadline)
                held.append(WRITERS)
                grace = min(deadline, time.monotonic() + READER_GRACE)
                if self._take(READERS, True, grace):  # no reader waits: go
                    self._drop(READERS)
            else:
                if not self._take(READERS, False, deadline):
                    raise _busy(self.path, deadline)
                held.append(READERS)
            if not self._take(FILE, write, deadline):
                raise _busy(self.path, deadline)
            held.append(FILE)
            self.depth += 1
            yield
        finally:
            if FILE in held:
                self.depth -= 1
            for byte in reversed(held):
                self._drop(byte)


def _busy(lock: Path, deadline: float) -> StoreUnavailableError:
    store = lock.with_name(lock.name.removesuffix(".lock"))
    return StoreUnavailableError(
        f"the results store {store} stayed busy with other processes' writes; retry"
    )


@contextlib.contextmanager
def connect(
    path: Path, write: bool, lock_timeout: float = LOCK_TIMEOUT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to ``path`` held only for the block (session time zone UTC).

    Readers go first (see the module doc); a DuckDB lock held by another program is retried
    with backoff until ``lock_timeout`` seconds have passed. A path that is a folder, or a
    file DuckDB cannot open, raises :class:`StoreUnavailableError` in one line.
    """
    if path.is_dir():
        raise StoreUnavailableError(
            f"the results store {path} is a folder; expected a DuckDB file "
            "(give --results a file path such as results/results.duckdb)"
        )
    if path.exists() and not path.is_file():  # a FIFO would block, a device never end
        raise StoreUnavailableError(
            f"the results store {path} is not a regular file (a pipe or a device?); expected "
            "a DuckDB file"
        )
    if write:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the folder of the results store {path}: {exc.strerror or exc}"
            ) from exc
    deadline = time.monotonic() + lock_timeout
    with process_lock(path), TurnLock.of(path).turn(write, deadline):
        con = _open(path, write, deadline, lock_timeout)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


def _open(
    path: Path, write: bool, deadline: float, lock_timeout: float
) -> duckdb.DuckDBPyConnection:
    """``open_file``, retrying DuckDB lock conflicts with backoff until ``deadline``."""
    attempt = 0
    while True:
        try:
            return open_file(str(path), read_only=not write)
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise _unopenable(path, exc) from exc
            delay = min(MAX_BACKOFF, 0.005 * 2**attempt) * random.uniform(0.5, 1.5)
            if time.monotonic() + delay > deadline:
                raise StoreUnavailableError(
                    f"the results store {path} stayed locked by another process "
                    f"for {lock_timeout:g} s; retry, or close the process holding it"
                ) from exc
            time.sleep(delay)
            attempt += 1
        except duckdb.Error as exc:
            raise _unopenable(path, exc) from exc


def _unopenable(path: Path, exc: BaseException) -> StoreUnavailableError:
    text = one_line(exc)
    if "not a valid DuckDB database" in text or "database file" in text:
        text = "not a DuckDB database file"
    return StoreUnavailableError(f"cannot open the results store {path}: {text}")


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
