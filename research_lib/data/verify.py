"""``research-lib data verify``: check every file of a catalog, and quarantine the damaged.

:func:`verify_catalog` first finishes or discards an interrupted change
(:func:`research_lib.data.commit.recover`), then checks:

- ``instruments.parquet``: a readable Parquet file whose rows are valid instruments;
- every ``bars/symbol=*/bar_spec=*/data.parquet``: a readable Parquet file (all of its
  pages decode) with the bar columns and types, timestamps strictly increasing, a valid
  symbol and bar spec in its folder names, and an instrument row for its symbol;
- that ``bars/`` holds nothing else (a stray ``data.parquet.tmp`` left by another tool).

With ``repair=True`` every damaged or stray file is moved to
``ROOT/quarantine/<UTC time>/<its path in the catalog>``, where no read looks, so the rest of
the catalog works again; move a file back (or re-import its data) to restore it.

:func:`read_failure` turns an error met while reading a catalog file into a one-line
:class:`~research_lib.errors.CatalogError` naming the file and this command.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from research_lib.data.commit import HINT, QUARANTINE_DIR, reading, writing
from research_lib.data.instruments import InstrumentSpec
from research_lib.data.partitions import BAR_SCHEMA, INSTRUMENT_SCHEMA, PARTITION_FILE
from research_lib.errors import CatalogError, ResearchError
from research_lib.files import fsync_dir, make_dirs
from research_lib.model.bars import parse_bar_spec

INSTRUMENTS_FILE = "instruments.parquet"
ORPHAN = "no instrument row for"  # a problem of the instruments, not of the bar file
_SKIPPED = {".lock", QUARANTINE_DIR}


@dataclass
class VerifyReport:
    """What :func:`verify_catalog` found (``problems``: (path, reason)) and did."""

    root: Path
    partitions: int = 0
    instruments: int = 0
    recovered: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (path, new path)

    @property
    def ok(self) -> bool:
        """True when nothing is (any longer) damaged."""
        return len(self.quarantined) == len(self.problems)

    def lines(self) -> list[str]:
        out = list(self.recovered)
        moved = dict(self.quarantined)
        for path, reason in self.problems:
            out.append(f"damaged: {path}: {reason}")
            if path in moved:
                out.append(f"  quarantined to {moved[path]}")
            elif reason.startswith(ORPHAN):
                out.append("  kept: give it an instrument with research-lib data instrument "
                           "SYMBOL --venue VENUE, or import it again")  # fmt: skip
        if self.problems and not self.quarantined:
            out.append(f"{len(self.problems)} damaged: {HINT} --repair quarantines them")
        out.append(
            f"checked {self.partitions} bar files and {self.instruments} instruments: "
            + ("ok" if not self.problems else "repaired" if self.ok else "damaged")
        )
        return out


def verify_catalog(root: Path, repair: bool = False) -> VerifyReport:
    """Check every file of the catalog at ``root`` (see the module docstring)."""
    report = VerifyReport(root)
    if not root.exists():
        return report
    # A catalog we may write is checked under the write lock, so an interrupted change is
    # finished (and said so) first; a read-only one is only read.
    writable = repair or os.access(root, os.W_OK)
    with writing(root, recovered=report.recovered) if writable else reading(root):
        symbols = _check_instruments(root, report)
        _check_bars(root, symbols, report)
        if repair and report.problems:
            _quarantine(root, report)
    return report


def read_failure(path: Path, exc: BaseException) -> CatalogError:
    """A one-line error for an unreadable catalog file ``path``."""
    reason = _reason(exc).replace(f"'{path}'", "the file").replace(str(path), "the file")
    return CatalogError(
        f"{path}: cannot read this catalog file ({reason}); run {HINT} "
        "(--repair quarantines damaged files)"
    )


def first_damaged(paths: list[Path]) -> Path | None:
    """The first of ``paths`` whose Parquet footer cannot be read, or None."""
    for path in paths:
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            return path
    return None


# -- checks ------------------------------------------------------------------------------


def _check_instruments(root: Path, report: VerifyReport) -> set[str] | None:
    """The stored symbols, or None when the instruments file is damaged."""
    path = root / INSTRUMENTS_FILE
    if not path.exists():
        return set()
    try:
        table = pq.read_table(path)
        missing = [n for n in ("symbol", "venue") if n not in table.schema.names]
        if missing:
            raise ValueError(f"no {', '.join(missing)} column")
        names = set(INSTRUMENT_SCHEMA.names)
        specs = [
            InstrumentSpec(**{k: v for k, v in row.items() if k in names})
            for row in table.to_pylist()
        ]
    except (OSError, pa.ArrowException, ValueError, TypeError, ResearchError) as exc:
        report.problems.append((INSTRUMENTS_FILE, f"unreadable ({_reason(exc)})"))
        return None
    report.instruments = len(specs)
    return {s.symbol for s in specs}


def _check_bars(root: Path, symbols: set[str] | None, report: VerifyReport) -> None:
    bars_dir = root / "bars"
    for dirpath, dirnames, filenames in os.walk(bars_dir):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name != PARTITION_FILE:
                problem = "not a catalog file (a leftover of another program?)"
            elif path.parent.parent.parent != bars_dir:
                problem = "not in a bars/symbol=.../bar_spec=... folder"
            else:
                report.partitions += 1
                problem = _partition_problem(path, symbols)
            if problem is not None:
                report.problems.append((path.relative_to(root).as_posix(), problem))
    _check_root_entries(root, report)


def _partition_problem(path: Path, symbols: set[str] | None) -> str | None:
    spec_dir, symbol_dir = path.parent.name, path.parent.parent.name
    if not spec_dir.startswith("bar_spec=") or not symbol_dir.startswith("symbol="):
        return "not in a bars/symbol=.../bar_spec=... folder"
    try:
        parse_bar_spec(spec_dir.removeprefix("bar_spec="))
        symbol = InstrumentSpec(unquote(symbol_dir.removeprefix("symbol="))).symbol
    except ResearchError as exc:
        return f"bad folder name ({exc})"
    try:
        table = pq.read_table(path)  # decodes every page: truncation and bit rot show here
    except (OSError, pa.ArrowException) as exc:
        reason = _reason(exc).replace(f"'{path}'", "the file").replace(str(path), "the file")
        return f"not a readable Parquet file ({reason})"
    if not table.schema.remove_metadata().equals(BAR_SCHEMA):
        return f"unexpected columns {', '.join(table.schema.names)}"
    ts = table.column("timestamp").cast(pa.int64()).to_numpy(zero_copy_only=False)
    if table.column("timestamp").null_count or (ts.size > 1 and not (np.diff(ts) > 0).all()):
        return "timestamps are not unique and in time order"
    if symbols is not None and symbol not in symbols:
        return f"{ORPHAN} {symbol} in {INSTRUMENTS_FILE}"
    return None


def _check_root_entries(root: Path, report: VerifyReport) -> None:
    """Leftover temporary files in the root (``.instruments.parquet.<id>.tmp``...); other
    files of yours there are left alone."""
    for entry in sorted(root.iterdir()):
        if entry.name in _SKIPPED or not entry.is_file():
            continue
        if entry.name.endswith(".tmp") or (entry.name.startswith(".") and "parquet" in entry.name):
            report.problems.append((entry.name, "a leftover temporary file"))


def _quarantine(root: Path, report: VerifyReport) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = root / QUARANTINE_DIR / stamp
    for relative, reason in report.problems:
        if reason.startswith(ORPHAN):  # the bars are sound: never quarantined
            continue
        source = root / relative
        target = base / relative
        make_dirs(target.parent, [])
        os.rename(source, target)
        fsync_dir(source.parent)
        fsync_dir(target.parent)
        report.quarantined.append((relative, target.relative_to(root).as_posix()))
        parent = source.parent
        while parent != root and parent != root / "bars":  # drop emptied folders
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _reason(exc: BaseException) -> str:
    """The first line of an error, shortened (DuckDB adds the query on later lines)."""
    lines = str(exc).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
