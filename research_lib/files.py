"""Durable file writes shared by the catalog and the results store.

:func:`write_atomic` is the one way a single file is replaced: the data goes to a temporary
file in the same folder, is fsynced, moved over the target with ``os.replace`` and the folder
is fsynced, so a reader (or a crash at any moment) sees the old file or the new one, never a
part. The catalog's multi-file commit (:mod:`research_lib.data.commit`) builds on it,
:func:`write_synced`, :func:`fsync_dir` and :func:`make_dirs`, and serialises its writers
with :func:`locked`.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, writers must take turns
    fcntl = None

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a lock file planted as a symlink is not followed


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (no-op where folders cannot be fsynced)."""
    if os.name != "posix":  # pragma: no cover - directories cannot be fsynced on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create ``path`` with ``write(handle)`` and fsync it, so a rename afterwards is durable."""
    with path.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is UTF-8) atomically and durably; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # hidden, unique sibling
    try:
        write_synced(tmp, lambda handle: handle.write(payload))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return path


def make_dirs(directory: Path, created: list[Path]) -> None:
    """``mkdir -p``, appending the directories that were new to ``created`` (outermost first)."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for d in reversed(missing):
        d.mkdir()
        created.append(d)


@contextlib.contextmanager
def locked(path: Path, exclusive: bool = True, timeout: float = 30.0) -> Iterator[bool]:
    """Hold an advisory ``flock`` on ``path`` (created if missing) for the ``with`` block.

    ``exclusive=False`` takes a shared lock (readers), which exclusive holders (writers) wait
    for and the other way round. Waits at most ``timeout`` seconds, then raises
    :class:`TimeoutError`. Yields False, without locking, when ``path`` cannot be created or
    opened (a read-only folder) and only a shared lock was asked for: reads go ahead. The
    kernel drops the lock when the process dies, so a ``kill -9`` leaves nothing stale.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o666)  # the umask applies
    except OSError:
        if exclusive:
            raise
        try:
            fd = os.open(path, os.O_RDONLY | NOFOLLOW)
        except OSError:
            yield False
            return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} is locked by another process") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
