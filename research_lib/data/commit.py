"""The catalog's commit, its lock and its recovery: a write is all there or not there at all.

Every change to a catalog (an import, an instrument edit, a delete, a resample) is one
*commit* of new files and folders to remove, made under the catalog's lock:

1. The writer holds an exclusive ``flock`` on ``ROOT/.lock`` for the whole read, merge and
   commit, so concurrent writers take turns (waiting at most ``RESEARCH_LIB_LOCK_TIMEOUT``
   seconds, default 60, then a one-line :class:`CatalogBusyError`). Readers hold a shared
   lock, so they never see half of a commit.
2. Each new file is written to ``ROOT/.tmp/`` and fsynced.
3. **The commit point**: ``ROOT/.tmp/journal.json``, naming every move and removal, is
   written atomically (:func:`research_lib.files.write_atomic`). Before it exists the
   catalog is exactly as it was; once it exists the commit will happen.
4. The journal is applied: folders to remove are renamed into ``ROOT/.trash/``, each staged
   file is moved over its target with ``os.replace``; then the journal, ``.tmp`` and
   ``.trash`` are removed.

A process killed at any step leaves either no journal (the leftovers in ``.tmp`` are
deleted) or a journal, which the next command on the catalog applies again (every step is
idempotent): :func:`recover` runs before any read or write finds ``.tmp`` or ``.trash``.

Tests kill a commit at a named step with ``RESEARCH_LIB_TEST_KILL_AT=<step>``
(:data:`KILL_ENV`): ``locked``, ``staged-<i>``, ``journal``, ``removed-<i>``,
``moved-<i>``, ``done`` (see :func:`commit_steps`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from research_lib.data import partitions
from research_lib.errors import CatalogError
from research_lib.files import fsync_dir, locked, make_dirs, write_atomic

TMP_DIR = ".tmp"
QUARANTINE_DIR = "quarantine"  # damaged files moved aside by data verify --repair
TRASH_DIR = ".trash"  # removed folders, outside ROOT/bars: invisible to every read
LOCK_FILE = ".lock"
JOURNAL = "journal.json"
KILL_ENV = "RESEARCH_LIB_TEST_KILL_AT"
TIMEOUT_ENV = "RESEARCH_LIB_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
HINT = "research-lib data verify"

_held = threading.local()  # per thread: resolved root -> "write" | "read"


class CatalogBusyError(CatalogError):
    """Raised when another process holds the catalog's lock for longer than the timeout."""


def checkpoint(step: str) -> None:
    """Test hook: SIGKILL this process at ``step`` when ``RESEARCH_LIB_TEST_KILL_AT`` names it."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def commit_steps(writes: int, removals: int = 0) -> list[str]:
    """The kill points of a commit of ``writes`` files and ``removals`` folders, in order."""
    return [
        "locked",
        *(f"staged-{i}" for i in range(1, writes + 1)),
        "journal",
        *(f"removed-{i}" for i in range(1, removals + 1)),
        *(f"moved-{i}" for i in range(1, writes + 1)),
        "done",
    ]


def check_root(root: Path) -> None:
    """Refuse a catalog path that exists but is not a folder."""
    if root.exists() and not root.is_dir():
        raise CatalogError(f"the catalog path {root} is a file, not a folder: pass --catalog DIR")


@contextlib.contextmanager
def writing(root: Path, create: bool = False, recovered: list[str] | None = None) -> Iterator[None]:
    """Hold the catalog's exclusive lock, finishing or removing what an interrupted commit
    left first (what was done is appended to ``recovered``). Re-entrant within a thread. A
    catalog not yet created is created with ``create=True`` (an import), else there is
    nothing to lock."""
    check_root(root)
    if not create and not root.exists():
        yield
        return
    key = str(root.resolve())
    held = _holdings()
    if held.get(key) == "write":
        yield
        return
    if key in held:  # pragma: no cover - a programming error, not a user's
        raise RuntimeError(f"cannot write {root} inside a read of it")
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root, exclusive=True):
        held[key] = "write"
        try:
            actions = recover(root)
            if recovered is not None:
                recovered.extend(actions)
            checkpoint("locked")
            yield
        finally:
            del held[key]


@contextlib.contextmanager
def reading(root: Path) -> Iterator[None]:
    """Hold the catalog's shared lock while reading (no lock for a catalog not yet created or
    a read-only one); leftovers of an interrupted commit are dealt with first."""
    check_root(root)
    if not root.is_dir():
        yield
        return
    key = str(root.resolve())
    held = _holdings()
    if key in held:
        yield
        return
    tidied = False
    while True:
        with _lock(root, exclusive=False):
            # Under the shared lock no writer is half-way: a journal is an interrupted commit
            # that must be finished before reading; staged files without one change nothing.
            journal = (root / TMP_DIR / JOURNAL).exists()
            tidy = (not journal and not tidied and needs_recovery(root)
                    and os.access(root, os.W_OK))  # fmt: skip
            if not journal and not tidy:
                held[key] = "read"
                try:
                    yield
                finally:
                    del held[key]
                return
        if tidy:  # leftovers that change nothing: removed once if we may, else ignored
            tidied = True
            with contextlib.suppress(OSError, CatalogError), writing(root):
                pass
            continue
        try:
            with writing(root):
                pass  # entering recovers
        except OSError as exc:
            raise CatalogError(
                f"{root}: an interrupted write needs finishing, but {exc.strerror or exc}; "
                f"run {HINT} where the catalog can be written"
            ) from None


def needs_recovery(root: Path) -> bool:
    return (root / TMP_DIR).exists() or (root / TRASH_DIR).exists()


def commit(root: Path, writes: Sequence[tuple[Path, pa.Table]], removals: Sequence[Path] = ()):
    """Make ``writes`` (target path, table) and the removal of ``removals`` (folders) visible
    at once; call inside :func:`writing`. See the module docstring for the steps."""
    if not writes and not removals:
        return
    tmp_dir = root / TMP_DIR
    moves, staged = [], []
    try:
        make_dirs(tmp_dir, [])
        for i, (target, table) in enumerate(writes, 1):
            tmp = tmp_dir / f"{uuid.uuid4().hex}.parquet"
            staged.append(tmp)
            partitions.write_parquet(table, tmp)
            moves.append([tmp.name, _relative(root, target)])
            checkpoint(f"staged-{i}")
        drops = [[_relative(root, f), f"{uuid.uuid4().hex}-{f.name}"] for f in removals]
        plan = {"moves": moves, "removals": drops}
        write_atomic(tmp_dir / JOURNAL, json.dumps(plan, indent=1))
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)  # nothing visible has changed
        raise
    checkpoint("journal")
    try:
        _apply(root, plan)
    except Exception as exc:
        try:  # a transient failure (the commit is decided): try once more
            _apply(root, plan)
        except Exception:
            raise CatalogError(
                f"{root}: the change is recorded but could not be completed ({exc}); the "
                f"next command on the catalog finishes it, or run {HINT}"
            ) from exc


def recover(root: Path) -> list[str]:
    """Finish (journal present) or discard (no journal) an interrupted commit and remove the
    trash; call under the exclusive lock. Returns what was done, one line per action."""
    done = []
    tmp_dir = root / TMP_DIR
    journal = tmp_dir / JOURNAL
    if journal.is_file():
        try:
            plan = json.loads(journal.read_text(encoding="utf-8"))
            moves, removals = plan["moves"], plan["removals"]
        except (ValueError, KeyError, TypeError, OSError):
            # Damaged on disk (write_atomic never leaves half a journal): keep it for
            # inspection, out of the way, and let data verify judge the files.
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = root / QUARANTINE_DIR / f"{stamp}-{TMP_DIR.lstrip('.')}"
            kept.parent.mkdir(exist_ok=True)
            os.rename(tmp_dir, kept)
            fsync_dir(root)
            done.append(f"moved an unreadable commit journal to {kept.relative_to(root)}")
        else:
            _apply(root, {"moves": moves, "removals": removals})
            done.append(
                f"finished an interrupted change ({len(moves)} files, {len(removals)} removals)"
            )
    elif tmp_dir.exists():
        leftovers = sum(1 for _ in tmp_dir.rglob("*"))
        shutil.rmtree(tmp_dir)
        fsync_dir(root)
        done.append(f"removed {leftovers} leftover files of an interrupted change ({TMP_DIR})")
    if (root / TRASH_DIR).exists():
        shutil.rmtree(root / TRASH_DIR)
        fsync_dir(root)
        done.append(f"removed deleted data left in {TRASH_DIR}")
    return done


# -- internals -----------------------------------------------------------------------------


def _apply(root: Path, plan: dict) -> None:
    """Apply a journal; every step may run again after a crash."""
    tmp_dir = root / TMP_DIR
    for i, (folder_name, trash_name) in enumerate(plan["removals"], 1):
        folder = _inside(root, folder_name)
        if folder.exists():
            trash_dir = root / TRASH_DIR
            trash_dir.mkdir(exist_ok=True)
            os.rename(folder, trash_dir / trash_name)
            fsync_dir(folder.parent)
            if folder.parent.name.startswith("symbol="):
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()  # only if that was its last bar spec
        checkpoint(f"removed-{i}")
    for i, (tmp_name, target_name) in enumerate(plan["moves"], 1):
        tmp, target = tmp_dir / tmp_name, _inside(root, target_name)
        if tmp.exists():
            make_dirs(target.parent, [])
            os.replace(tmp, target)
            fsync_dir(target.parent)
        checkpoint(f"moved-{i}")
    (tmp_dir / JOURNAL).unlink(missing_ok=True)
    fsync_dir(tmp_dir)
    checkpoint("done")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    shutil.rmtree(root / TRASH_DIR, ignore_errors=True)
    fsync_dir(root)


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _inside(root: Path, name: str) -> Path:
    path = root / name
    if ".." in Path(name).parts or Path(name).is_absolute():
        raise CatalogError(f"{root / TMP_DIR / JOURNAL}: path {name!r} leaves the catalog")
    return path


def _holdings() -> dict[str, str]:
    if not hasattr(_held, "roots"):
        _held.roots = {}
    return _held.roots


@contextlib.contextmanager
def _lock(root: Path, exclusive: bool) -> Iterator[None]:
    try:
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and timeout >= 0):
        raise CatalogError(f"{TIMEOUT_ENV} must be a number of seconds (0 or more)")
    acquired = False
    try:
        with locked(root / LOCK_FILE, exclusive=exclusive, timeout=timeout):
            acquired = True
            yield
    except TimeoutError:
        if acquired:  # raised by the work done under the lock, not by the wait
            raise
        raise CatalogBusyError(
            f"the catalog at {root} is busy: another process has held {root / LOCK_FILE} "
            f"for {timeout:g} s (an import or edit); try again when it is done, or set "
            f"{TIMEOUT_ENV} to wait longer"
        ) from None
