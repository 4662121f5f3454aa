"""Pending files: runs that could not be written to the store, waiting to be added.

A run the store cannot take is written, atomically, to the first private folder that works:

1. ``<store>.pending/<run_id>.json``, next to the store;
2. ``<tempdir>/research-lib-pending-<uid>/<key>-<run_id>.json`` (``key`` names the store);
3. ``$XDG_STATE_HOME/research-lib/pending/`` (default ``~/.local/state/...``), same names.

Each folder is created with mode 0700 and used only while it is a real folder (not a link)
owned by the current user that no one else can write to, so another local user can neither
read a kept run, delete it, nor plant one. When no folder can be used the run is printed in
full as JSON on stderr, with the reason, and :class:`ResultsError` is raised: it is never
lost silently.

The next write to the store ingests and deletes them. A pending file is ingested only when
it is a regular file owned by the current user, at most :data:`MAX_PENDING_BYTES`, in the
pending format, meant for this store and named after the run it holds; any other is left
where it is and reported in a warning. Files of the shared ``<tempdir>/research-lib-pending``
folder of earlier versions are read under the same rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa

from research_lib.errors import ResultsError, one_line
from research_lib.files import write_atomic
from research_lib.store.records import PENDING_FORMAT, Bundle

MAX_PENDING_BYTES = 1 << 30  # a run's equity curve is downsampled: far below this


class NotSavedWarning(UserWarning):
    """Warned when a run could not be written to the store and was kept in a pending file."""


class PendingSkippedWarning(UserWarning):
    """Warned when a pending file is not ingested (someone else's, or not a pending run)."""


def pending_dir(store: Path) -> Path:
    """Where runs that could not be written to ``store`` wait first: ``<store>.pending/``."""
    return store.with_name(store.name + ".pending")


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def temp_dir() -> Path:
    """The first fallback folder: ``<tempdir>/research-lib-pending-<uid>``, this user's."""
    return Path(tempfile.gettempdir()) / f"research-lib-pending-{_uid()}"


def state_dir() -> Path:
    """The last fallback folder: ``$XDG_STATE_HOME/research-lib/pending`` (default
    ``~/.local/state/research-lib/pending``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "research-lib" / "pending"


def legacy_dir() -> Path:
    """The folder earlier versions shared between users (read only, under the rules)."""
    return Path(tempfile.gettempdir()) / "research-lib-pending"


def store_key(store: Path) -> str:
    """A short hash naming ``store`` in the fallback folders."""
    return hashlib.sha256(str(store.resolve()).encode()).hexdigest()[:12]


def private_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a private folder of this user (None when it is)."""
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "is not a folder (a link or a file)"
    if _uid() >= 0 and info.st_uid != _uid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"others can write to it (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def make_private(folder: Path) -> Path:
    """Create ``folder`` (mode 0700) or check an existing one; raises ``OSError`` unless it is
    this user's private folder."""
    if not os.path.lexists(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
    with contextlib.suppress(OSError):
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == _uid() and info.st_mode & 0o077:
            os.chmod(folder, 0o700)  # a folder of an earlier version: make it private
    problem = private_problem(folder)
    if problem:
        raise PermissionError(f"{folder} {problem}")
    return folder


def pending_files(store: Path) -> list[Path]:
    """The pending files of ``store`` that may be ingested: its own folder's, then the
    fallback folders'. Files owned by someone else, links and other oddities are reported
    (:class:`PendingSkippedWarning`) and left out."""
    found: list[Path] = []
    own = pending_dir(store)
    candidates = sorted(own.glob("*.json")) if own.is_dir() else []
    key = store_key(store)
    for folder in (temp_dir(), state_dir(), legacy_dir()):
        if folder.is_dir():
            candidates += sorted(folder.glob(f"{key}-*.json"))
    for file in candidates:
        problem = _file_problem(file)
        if problem:
            _skip(file, problem)
        else:
            found.append(file)
    return found


def keep(store: Path, bundle: Bundle, reason: BaseException) -> str:
    """Write ``bundle`` to a private pending file of ``store`` and warn; returns its path.

    When no folder can be used the run is printed as JSON on stderr and
    :class:`ResultsError` is raised.
    """
    run_id = bundle.id
    text = json.dumps(bundle.to_json(str(store.resolve())))
    own = pending_dir(store)
    targets = [(own, f"{run_id}.json")] + [
        (folder, f"{store_key(store)}-{run_id}.json") for folder in (temp_dir(), state_dir())
    ]
    refused: list[str] = []
    for folder, name in targets:
        try:
            kept = write_atomic(make_private(folder) / name, text)
        except OSError as exc:
            refused.append(f"{folder}: {exc.strerror or one_line(exc)}")
            continue
        note = f" ({'; '.join(refused)}: that is not writable either)" if refused else ""
        warnings.warn(
            f"run {run_id} was NOT saved to {store} ({one_line(reason)}); it was kept in "
            f"{kept}{note} and will be added to the store the next time it can be written",
            NotSavedWarning,
            stacklevel=3,
        )
        return str(kept)
    why = f"run {run_id} could not be saved to {store} ({one_line(reason)})"
    print(json.dumps({"not_saved": why, "folders_refused": refused, "run": json.loads(text)}),
          file=sys.stderr)  # fmt: skip
    raise ResultsError(
        f"{why} nor kept in {'; '.join(refused)}; the run was printed as JSON on stderr"
    ) from reason


def read_pending(file: Path) -> Bundle | None:
    """The run a pending file holds, or None (after a warning) when it is not one to ingest:
    unreadable, someone else's, not in the pending format, or meant for another store."""
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        _skip(file, f"unreadable ({exc.strerror or exc})", unreadable=True)
        return None
    with os.fdopen(fd, "rb") as handle:
        problem = _stat_problem(os.fstat(handle.fileno()))
        if problem:
            _skip(file, problem)
            return None
        raw = handle.read(MAX_PENDING_BYTES + 1)
    try:
        doc = json.loads(raw)
        problem = _shape_problem(file, doc)
        if problem:
            _skip(file, problem)
            return None
        return Bundle.from_json(doc)
    except (ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
        _skip(file, one_line(exc), unreadable=True)
        return None


_REPORTED: set[tuple[str, str]] = set()  # each skipped file is reported once per process


def _skip(file: Path, reason: str, unreadable: bool = False) -> None:
    if (str(file), reason) in _REPORTED:
        return
    _REPORTED.add((str(file), reason))
    what = "skipping unreadable pending run" if unreadable else "skipping pending run"
    warnings.warn(
        f"{what} {file}: {reason}; it was not added to the store",
        PendingSkippedWarning,
        stacklevel=5,
    )


def _file_problem(file: Path) -> str | None:
    try:
        return _stat_problem(os.lstat(file))
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"


def _stat_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a link, a folder...)"
    if _uid() >= 0 and info.st_uid != _uid():
        return f"it belongs to another user (uid {info.st_uid}), not to you (uid {_uid()})"
    if info.st_size > MAX_PENDING_BYTES:
        return f"larger than {MAX_PENDING_BYTES:,} bytes"
    return None


def _shape_problem(file: Path, doc: object) -> str | None:
    """Why ``doc`` is not a pending run of the store ``file`` was found for, or None."""
    if not isinstance(doc, dict) or doc.get("format") != PENDING_FORMAT:
        return "not a research-lib pending run"
    row, store = doc.get("row"), doc.get("store")
    if (
        not isinstance(row, dict)
        or not isinstance(store, str)
        or not isinstance(row.get("id"), str)
    ):
        return "not a research-lib pending run"
    folder = file.parent
    if folder.name.endswith(".pending"):
        expected = folder.with_name(folder.name.removesuffix(".pending"))
        if Path(store).resolve() != expected.resolve():
            return f"it is meant for the store {store}"
        name = row["id"]
    else:
        key = file.name.split("-", 1)[0]
        if store_key(Path(store)) != key:
            return f"it is meant for the store {store}"
        name = f"{key}-{row['id']}"
    if file.stem != name:
        return f"its name does not match the run it holds ({row['id']})"
    return None
