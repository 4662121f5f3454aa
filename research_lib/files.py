"""Durable file writes shared by the catalog and the results store.

:func:`write_atomic` is the one way a single file is replaced: the data goes to a temporary
file in the same folder, is fsynced, moved over the target with ``os.replace`` and the folder
is fsynced, so a reader (or a crash at any moment) sees the old file or the new one, never a
part. The catalog's multi-file commit builds on :func:`write_synced`, :func:`fsync_dir`,
:func:`link_or_copy` and :func:`make_dirs`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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


def link_or_copy(source: Path, backup: Path) -> None:
    """Keep ``source``'s bytes reachable at ``backup`` (a hard link, or a copy)."""
    try:
        os.link(source, backup)  # the old bytes stay reachable after os.replace
    except OSError:  # pragma: no cover - filesystems without hard links
        shutil.copy2(source, backup)


def make_dirs(directory: Path, created: list[Path]) -> None:
    """``mkdir -p``, appending the directories that were new to ``created`` (outermost first)."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for d in reversed(missing):
        d.mkdir()
        created.append(d)
