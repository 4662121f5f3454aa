"""Pending files: runs that could not be written to the store, waiting to be added.

A run the store cannot take is written, atomically, to ``<store>.pending/<run_id>.json``, or
when that folder is unwritable too to ``<tempdir>/research-lib-pending/<key>-<run_id>.json``
(``key`` names the store). The next write to the store ingests and deletes them.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa

from research_lib.errors import ResultsError, one_line
from research_lib.files import write_atomic
from research_lib.store.records import Bundle


class NotSavedWarning(UserWarning):
    """Warned when a run could not be written to the store and was kept in a pending file."""


def pending_dir(store: Path) -> Path:
    """Where runs that could not be written to ``store`` wait: ``<store>.pending/``."""
    return store.with_name(store.name + ".pending")


def temp_dir() -> Path:
    """The fallback folder, shared by every store (files carry the store's key)."""
    return Path(tempfile.gettempdir()) / "research-lib-pending"


def store_key(store: Path) -> str:
    """A short hash naming ``store`` in the shared fallback folder."""
    return hashlib.sha256(str(store.resolve()).encode()).hexdigest()[:12]


def pending_files(store: Path) -> list[Path]:
    """The pending files of ``store``: its own folder's, then the fallback folder's."""
    files = []
    own = pending_dir(store)
    if own.is_dir():
        files += sorted(own.glob("*.json"))
    temp = temp_dir()
    if temp.is_dir():
        files += sorted(temp.glob(f"{store_key(store)}-*.json"))
    return files


def keep(store: Path, bundle: Bundle, reason: BaseException) -> str:
    """Write ``bundle`` to a pending file of ``store`` and warn; returns the file's path.

    Raises :class:`ResultsError` when neither folder can be written.
    """
    run_id = bundle.id
    text = json.dumps(bundle.to_json(str(store.resolve())))
    own = pending_dir(store)
    note = ""
    try:
        kept = write_atomic(own / f"{run_id}.json", text)
    except OSError as exc:
        try:
            kept = write_atomic(temp_dir() / f"{store_key(store)}-{run_id}.json", text)
        except OSError as exc2:
            raise ResultsError(
                f"run {run_id} could not be saved to {store} ({one_line(reason)}) "
                f"nor kept in {own} ({exc}) or the temp folder ({exc2})"
            ) from reason
        note = f" ({own} is not writable either: {exc.strerror or exc})"
    warnings.warn(
        f"run {run_id} was NOT saved to {store} ({one_line(reason)}); it was kept in "
        f"{kept}{note} and will be added to the store the next time it can be written",
        NotSavedWarning,
        stacklevel=3,
    )
    return str(kept)


def read_pending(file: Path) -> Bundle | None:
    """The run a pending file holds, or None (after a warning) when it cannot be read."""
    try:
        return Bundle.from_json(json.loads(file.read_text()))
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        warnings.warn(f"skipping unreadable pending run {file}: {exc}", stacklevel=5)
        return None
