"""Checks on a file before it is parsed: what kind of file it is, its size, and its text.

:func:`check_regular_file` runs before the file is opened: FIFOs (which would block),
devices (``/dev/zero`` never ends), sockets and directories are refused, and so are files
larger than :func:`max_file_bytes`. :func:`check_text` then scans the bytes of a CSV file
(:func:`file_bytes`: decompressed once when it is compressed) and refuses, naming the line:

- a NUL byte (a binary file, not text);
- a line longer than :data:`MAX_LINE_BYTES` (64 KiB; a bar is well under 200 bytes);
- more than :data:`MAX_EMPTY_LINES` empty lines in a row;
- a quoted field that runs past the end of its line (a multi-line field would shift every
  line number after it, and no bars file needs one);
- more than :func:`max_file_bytes` of decompressed data, or a quarter of the free memory
  (a small compressed file can hold gigabytes).

The limits are generous for bars; ``RESEARCH_LIB_IMPORT_MAX_BYTES`` raises the size limit.
A plain file is scanned through ``mmap`` (a few ms for 55 MB).
"""

from __future__ import annotations

import csv
import mmap
import os
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa

from research_lib.errors import ImportValidationError

MAX_LINE_BYTES = 64 * 1024
MAX_EMPTY_LINES = 1_000  # in a row: each would cost the parser a row
DEFAULT_MAX_FILE_BYTES = 16 * 1024**3
MAX_BYTES_ENV = "RESEARCH_LIB_IMPORT_MAX_BYTES"
_CHUNK = 16 * 1024**2
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def max_file_bytes() -> int:
    """The size limit of an imported file: ``RESEARCH_LIB_IMPORT_MAX_BYTES``, else 16 GiB."""
    text = os.environ.get(MAX_BYTES_ENV)
    if text is None:
        return DEFAULT_MAX_FILE_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ImportValidationError(f"{MAX_BYTES_ENV} must be a positive number of bytes")
    return value


def check_regular_file(path: Path, name: str) -> int:
    """Refuse anything but a regular file no larger than the limit; returns its size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImportValidationError(f"{name}: no such file") from None
    except OSError as exc:
        raise ImportValidationError(f"{name}: cannot read it: {exc.strerror or exc}") from None
    for test, kind in _KINDS:
        if test(info.st_mode):
            raise ImportValidationError(f"{name}: is {kind}, not a regular file")
    if not stat.S_ISREG(info.st_mode):  # pragma: no cover - other special files
        raise ImportValidationError(f"{name}: is not a regular file")
    _check_size(name, info.st_size)
    if not os.access(path, os.R_OK):
        raise ImportValidationError(f"{name}: cannot read it: permission denied")
    return info.st_size


def file_bytes(path: Path, name: str, compressed: bool) -> bytes | mmap.mmap:
    """The bytes of a CSV file to scan and parse: an ``mmap`` of a plain file (no copy), the
    decompressed data of a compressed one (decompressed once, within the size limit)."""
    limit = max_file_bytes()
    if compressed:  # decompressed in memory: at most a quarter of what is free
        limit = min(limit, max(_available_memory() // 4, 64 * 1024**2))
    try:
        if not compressed:
            with path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    return b""
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        chunks, size = [], 0
        with pa.input_stream(str(path), compression="detect") as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                _check_size(name, size, limit)
                chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, pa.ArrowInvalid) as exc:
        reason = " ".join(str(exc).split())
        raise ImportValidationError(f"{name}: cannot read the file: {reason}") from None


def _available_memory() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return DEFAULT_MAX_FILE_BYTES


def check_text(data: bytes | mmap.mmap, name: str) -> None:
    """Refuse NUL bytes, over-long lines and quoted fields spanning lines, naming the line.

    The line length check hops from a line's start to the last newline within the next
    ``MAX_LINE_BYTES + 1`` bytes (``rfind``, memchr-fast), so it costs about one pass over
    the data and no work per line.
    """
    nul = data.find(b"\0")
    if nul != -1:
        _fail(data, name, nul, "a NUL byte (a binary file, not CSV text)")
    empty = data.find(b"\n" * (MAX_EMPTY_LINES + 1))
    if empty != -1:
        _fail(data, name, empty + 1, f"more than {MAX_EMPTY_LINES:,} empty lines in a row "
              "(not a bars file?)")  # fmt: skip
    size, start = len(data), 0
    while size - start > MAX_LINE_BYTES:
        newline = data.rfind(b"\n", start, start + MAX_LINE_BYTES + 1)
        if newline == -1:
            _fail(
                data,
                name,
                start,
                f"longer than {MAX_LINE_BYTES:,} bytes, the line length limit (not a bars file?)",
            )
        start = newline + 1
    if data.find(b'"') != -1:
        _check_quotes(data, name)


def _check_quotes(data: bytes | mmap.mmap, name: str) -> None:
    """Refuse a quoted field that is still open at the end of its line.

    Only a line with an odd number of quotes can end inside one; those (rare) lines are read
    with the csv module's rules, where a quote inside an unquoted field (``5" display``) is
    an ordinary character."""
    array = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(array == 10)
    quotes = np.flatnonzero(array == 34)
    ends = np.append(newlines, len(array))
    per_line = np.diff(np.concatenate(([0], np.searchsorted(quotes, ends))))
    for line in np.flatnonzero(per_line % 2 == 1):
        start = int(ends[line - 1]) + 1 if line else 0
        text = bytes(data[start : int(ends[line])]).decode("utf-8", "replace").rstrip("\r")
        try:
            next(csv.reader([text], strict=True))
        except csv.Error:
            _fail(
                data, name, start,
                "a quoted field runs past the end of its line (fields spanning lines are "
                "not supported)",
            )  # fmt: skip


def _fail(data: bytes | mmap.mmap, name: str, position: int, reason: str) -> None:
    line = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8, count=position) == 10)) + 1
    raise ImportValidationError(f"{name}: line {line}: {reason}")


def _check_size(name: str, size: int, limit: int | None = None) -> None:
    limit = max_file_bytes() if limit is None else limit
    if size > limit:
        hint = (
            f"set {MAX_BYTES_ENV} to raise it"
            if limit == max_file_bytes()
            else ("decompressed in memory: a quarter of the free memory; decompress it first")
        )
        raise ImportValidationError(f"{name}: more than {limit:,} bytes (the import size "
                                    f"limit; {hint})")  # fmt: skip
