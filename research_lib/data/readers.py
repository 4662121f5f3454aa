"""The files of an import: finding them, reading their columns, telling the layout of their
dates, and the reports of what became of them.

:func:`read_raw` opens a CSV (plain or compressed) or Parquet file and returns a
:class:`RawBars`: the timestamp, open, high, low, close and (optional) volume columns as Arrow
arrays, not yet parsed or checked (:mod:`.csv_import` does that), and the names of the columns
left unused. Column names are matched case-insensitively after trimming:
``timestamp``/``datetime``/``date``/``time`` (or separate ``date`` and ``time`` columns),
``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``, ``volume``/``vol``/``v``.
Without a named time column, a pandas index is the timestamp: the unnamed first CSV column
``df.to_csv()`` writes (an empty name or ``Unnamed: 0``), or the index columns named in a
Parquet file's pandas metadata (``__index_level_0__`` or the index name).

CSV files ending in ``.gz``, ``.bz2``, ``.zst`` or ``.lz4`` are decompressed on the fly;
``.parquet``/``.pq`` files are read with pyarrow, only the needed columns.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.tseries.api import guess_datetime_format

from research_lib.data.inputs import check_regular_file, check_text, file_bytes
from research_lib.data.instruments import validate_symbol
from research_lib.errors import (
    CatalogError,
    ImportValidationError,
    InvalidSymbolError,
    ResearchError,
    did_you_mean,
    one_line,
)
from research_lib.model.bars import BAR_COLUMNS, PRICE_COLUMNS

MAX_REPORTED = 3  # invalid rows described in an error message
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
_DATA_SUFFIXES = (".csv", ".txt", *PARQUET_SUFFIXES)
_ALIASES = {
    "open": "open",
    "o": "open",
    "high": "high",
    "h": "high",
    "low": "low",
    "l": "low",
    "close": "close",
    "c": "close",
    "volume": "volume",
    "vol": "volume",
    "v": "volume",
}
_TIMESTAMP_NAMES = ("timestamp", "datetime", "date", "time")  # in order of preference
_UNNAMED_CSV_INDEX = ("", "unnamed: 0")
_PARQUET_INDEX = "__index_level_0__"
# A day and a month in either order, then the year: 01/03/2023, 1.3.23, 01-03-2023 ...
_DAY_MONTH = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.\-])(.*)$")
# The same for Arrow's extract_regex (RE2: no back-references): fields a and b.
DAY_MONTH_FIELDS = r"^(?P<a>\d{1,2})[/.\-](?P<b>\d{1,2})[/.\-](?:\d{4}|\d{2})(?:$|[^\d/.\-])"
_ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\d")


@dataclass(frozen=True)
class RawBars:
    """The columns of one bars file before parsing: ``columns`` maps timestamp, open, high,
    low, close and (if present) volume to Arrow arrays; ``ignored`` names the unused columns.

    Rows are named ``f"{place} {first + i}"`` in messages: physical lines for CSV (the header
    is line 1, blank lines count and are skipped), 1-based rows for Parquet.
    """

    name: str
    columns: dict[str, pa.ChunkedArray]
    ignored: tuple[str, ...] = ()
    place: str = "line"
    first: int = 2
    skip_blank: bool = True


@dataclass(frozen=True)
class ImportReport:
    """What one :meth:`Catalog.import_csv` call did (a rejected file raises instead)."""

    file: str
    symbol: str
    bar_spec: str
    rows_read: int
    rows_added: int
    rows_replaced: int
    rows_unchanged: int
    rows_rejected: int
    first: pd.Timestamp
    last: pd.Timestamp
    ignored_columns: tuple[str, ...] = ()  # columns of the file the import did not use

    def summary(self) -> str:
        """One line: ``AAPL 1-MINUTE-LAST: 8190 rows read, 8190 added, ... UTC``."""
        return (
            f"{self.symbol} {self.bar_spec}: {self.rows_read} rows read, {self.rows_added} "
            f"added, {self.rows_replaced} replaced, {self.rows_rejected} rejected, "
            f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M} UTC"
        )


@dataclass(frozen=True)
class FileImport:
    """One file of :meth:`Catalog.import_files`: its ``report``, or the one-line ``error``
    that rejected it (``symbol`` is None when the file name gave no valid symbol)."""

    file: str
    symbol: str | None
    report: ImportReport | None = None
    error: str | None = None


def read_raw(path: str | Path, timestamp_column: str | None = None) -> RawBars:
    """The columns of the CSV or Parquet file at ``path`` (see the module docstring).

    ``timestamp_column`` names the time column explicitly. Raises
    :class:`ImportValidationError` for a missing file, one that is not a regular file (checked
    before opening it), a missing column or unreadable data; CSV text is checked first by
    :func:`~research_lib.data.inputs.check_text` (binary data, line length, multi-line
    fields, size).
    """
    path, name = Path(path), str(path)
    check_regular_file(path, name)
    lower = path.name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return _read_parquet(path, name, timestamp_column)
    compressed = lower.endswith(COMPRESSED_SUFFIXES)
    data = file_bytes(path, name, compressed)
    check_text(data, name)
    return _read_csv(pa.py_buffer(data) if compressed else path, name, timestamp_column)


def expand_files(patterns: str | Path | list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """Paths, with glob patterns (``data/*.csv``, ``**`` included) expanded in sorted order;
    duplicates are dropped. A pattern matching nothing raises :class:`ImportValidationError`."""
    if isinstance(patterns, str | Path):
        patterns = [patterns]
    found: dict[Path, None] = {}
    for pattern in patterns:
        text = os.path.expanduser(str(pattern))
        if not glob.has_magic(text):
            found.setdefault(Path(text))
            continue
        matches = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not matches:
            raise ImportValidationError(f"no files match {str(pattern)!r}")
        for match in matches:
            found.setdefault(Path(match))
    return list(found)


def symbol_from_filename(path: str | Path) -> str:
    """The symbol a file's name gives: its name without data and compression suffixes
    (``AAPL.csv`` -> ``AAPL``, ``EURUSD_1h.csv.gz`` -> ``EURUSD_1h``), checked as a symbol."""
    stem = Path(path).name
    for suffixes in (COMPRESSED_SUFFIXES, _DATA_SUFFIXES):
        stem = next((stem[: -len(s)] for s in suffixes if stem.lower().endswith(s)), stem)
    try:
        return validate_symbol(stem)
    except InvalidSymbolError:
        raise ImportValidationError(
            f"{path}: the file name gives the symbol {stem!r}, which is not a valid symbol "
            "(letters, digits, '.', '-', '_'): rename the file or pass --symbol"
        ) from None


def import_each(
    paths: list[Path],
    import_one: Callable[..., ImportReport],
    symbol: str | None,
    symbol_from: str | None,
    on_file: Callable[[Path, int, int], None] | None,
    options: Mapping[str, object],
) -> list[FileImport]:
    """Run ``import_one(path, symbol, **options)`` for each path, catching each file's
    error (see :meth:`Catalog.import_files`)."""
    if (symbol is None) == (symbol_from is None):
        raise CatalogError("pass symbol or symbol_from='filename' (one of them)")
    if symbol_from not in (None, "filename"):
        raise CatalogError(f"symbol_from must be 'filename', was {symbol_from!r}")
    outcomes = []
    for position, path in enumerate(paths):
        if on_file is not None:
            on_file(path, position, len(paths))
        name = symbol
        try:
            name = symbol or symbol_from_filename(path)
            outcomes.append(FileImport(str(path), name, import_one(path, name, **options)))
        except (ResearchError, OSError) as exc:
            outcomes.append(FileImport(str(path), name, error=one_line(exc)))
    return outcomes


# -- column mapping ------------------------------------------------------------------------


def map_columns(
    header: list[str],
    name: str,
    timestamp_column: str | None = None,
    index: tuple[int, ...] = (),
    where: str = "line 1: ",
) -> tuple[dict[str, list[int]], tuple[str, ...]]:
    """Canonical column -> header positions (two for separate date and time), and the names
    of the unused columns. ``index`` holds the positions of a pandas index, the timestamp
    when no column is named as one; ``where`` starts the message of a missing column."""
    columns: dict[str, list[int]] = {}
    if timestamp_column is not None:
        columns["timestamp"] = [_find_column(header, name, timestamp_column, where)]
    found: dict[str, int] = {}
    for i, raw in enumerate(header):
        key = raw.strip().lower()
        if i in columns.get("timestamp", ()):
            continue
        if key in _TIMESTAMP_NAMES and timestamp_column is None:
            found.setdefault(key, i)
        elif key in _ALIASES:
            found.setdefault(_ALIASES[key], i)
    columns.update({c: [found[c]] for c in (*PRICE_COLUMNS, "volume") if c in found})
    if "timestamp" in columns:
        pass  # named by timestamp_column
    elif "timestamp" in found or "datetime" in found:
        columns["timestamp"] = [found.get("timestamp", found.get("datetime"))]
    elif "date" in found and "time" in found:
        columns["timestamp"] = [found["date"], found["time"]]
    elif "date" in found or "time" in found:
        columns["timestamp"] = [found.get("date", found.get("time"))]
    elif index:
        columns["timestamp"] = [index[0]]
    missing = [c for c in BAR_COLUMNS[:5] if c not in columns]
    if missing:
        what = ", ".join("timestamp (or datetime/date)" if c == "timestamp" else c for c in missing)
        hint = " (or pass --timestamp-column)" if "timestamp" in missing else ""
        raise ImportValidationError(
            f"{name}: {where}missing column{'s' if len(missing) > 1 else ''} {what}; "
            f"{_has(where)} {_shown(header)}; expected timestamp,open,high,low,close[,volume]"
            + hint
        )
    used = {i for positions in columns.values() for i in positions}
    ignored = tuple(_label(h, i) for i, h in enumerate(header) if i not in used)
    return columns, ignored


def _find_column(header: list[str], name: str, wanted: str, where: str) -> int:
    for matches in (
        lambda h: h == wanted,
        lambda h: h.strip().lower() == wanted.strip().lower(),
    ):
        for i, h in enumerate(header):
            if matches(h):
                return i
    raise ImportValidationError(
        f"{name}: {where}no column {wanted!r} for --timestamp-column;"
        f"{did_you_mean(wanted, header)} {_has(where)} {_shown(header)}"
    )


def _has(where: str) -> str:
    return "the header has" if where else "the columns are"  # CSV, Parquet


def _shown(header: list[str]) -> str:
    return ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")


def _label(header_name: str, position: int) -> str:
    return header_name.strip() or f"(unnamed column {position + 1})"


# -- CSV -----------------------------------------------------------------------------------


def _read_csv(path: Path | pa.Buffer, name: str, timestamp_column: str | None) -> RawBars:
    """``path``: a plain CSV file, or the decompressed bytes of a compressed one."""
    header = _read_header(path, name)
    index = (0,) if header and header[0].strip().lower() in _UNNAMED_CSV_INDEX else ()
    columns, ignored = map_columns(header, name, timestamp_column, index)
    return RawBars(name, _read_table(path, name, header, columns), ignored)


def _read_header(path: Path, name: str) -> list[str]:
    head = b""
    try:
        with pa.input_stream(path if isinstance(path, pa.Buffer) else str(path)) as f:
            while b"\n" not in head.lstrip(b"\r\n") and len(head) < 1 << 20:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                head += chunk
    except (OSError, pa.ArrowInvalid) as exc:
        raise ImportValidationError(f"{name}: cannot read the file: {_reason(exc)}") from None
    first, _, rest = head.partition(b"\n")
    if not first.strip():
        if rest.strip():
            raise ImportValidationError(
                f"{name}: line 1 is blank; expected a header such as "
                "timestamp,open,high,low,close,volume"
            )
        raise ImportValidationError(f"{name}: the file is empty")
    try:
        text = first.decode("utf-8-sig")
        return next(csv.reader([text.rstrip("\r\n")]))
    except UnicodeDecodeError:
        raise ImportValidationError(f"{name}: line 1 is not UTF-8 text (a binary file?)") from None
    except csv.Error as exc:
        raise ImportValidationError(f"{name}: line 1 is not a CSV header: {exc}") from None


def _read_table(
    path: Path, name: str, header: list[str], columns: dict[str, list[int]]
) -> dict[str, pa.ChunkedArray]:
    """The needed columns: timestamp text, and numbers as float64 (or text if unparseable)."""
    names = [f"c{i}" for i in range(len(header))]
    number_cols = {c: names[pos[0]] for c, pos in columns.items() if c != "timestamp"}
    ts_cols = [names[i] for i in columns["timestamp"]]
    try:
        try:
            table = _pyarrow_read(path, name, names, ts_cols, number_cols.values(), pa.float64())
        except pa.ArrowInvalid as exc:
            if "conversion error to double" not in str(exc):
                raise
            # Some value is not a number: read text, so each bad row can be named.
            table = _pyarrow_read(path, name, names, ts_cols, number_cols.values(), pa.string())
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportValidationError(f"{name}: cannot parse the CSV: {_reason(exc)}") from None
    out = {c: table.column(col) for c, col in number_cols.items()}
    ts = table.column(ts_cols[0])
    if len(ts_cols) == 2:  # separate date and time columns
        ts = pc.binary_join_element_wise(ts, table.column(ts_cols[1]), " ")
    out["timestamp"] = ts
    return out


def _pyarrow_read(path, name, names, ts_cols, number_cols, number_type) -> pa.Table:
    bad_rows: list = []

    def on_invalid(row) -> str:
        bad_rows.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(path) if isinstance(path, pa.Buffer) else path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=use_threads
            ),
            parse_options=pacsv.ParseOptions(
                ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[*ts_cols, *number_cols],
                column_types={
                    **{c: pa.string() for c in ts_cols},
                    **{c: number_type for c in number_cols},
                },
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    table = read(use_threads=True)
    if bad_rows:
        bad_rows.clear()
        read(use_threads=False)  # single-threaded so the reader reports line numbers
        described = "; ".join(
            f"line {row.number}: expected {row.expected_columns} fields, found {row.actual_columns}"
            for row in bad_rows[:MAX_REPORTED]
        )
        count = len(bad_rows)
        more = f"; and {count - MAX_REPORTED} more" if count > MAX_REPORTED else ""
        raise ImportValidationError(
            f"{name}: {count} malformed row{'s' if count > 1 else ''}; {described}{more}"
        )
    return table


# -- date layouts ------------------------------------------------------------------------


def day_month_format(value: str, dayfirst: bool) -> str | None:
    """The strftime format of a day-month date such as ``01/03/2023 14:30`` read day-first
    (``%d/%m/%Y %H:%M``) or month-first; None if ``value`` is not one or its time part is
    not recognised."""
    match = _DAY_MONTH.match(value.strip())
    if match is None:
        return None
    sep, year, rest = match[2], "%Y" if len(match[4]) == 4 else "%y", match[5]
    date = sep.join(("%d", "%m", year) if dayfirst else ("%m", "%d", year))
    if not rest:
        return date
    iso = "%Y-%m-%d"
    guessed = guess_datetime_format(f"2000-01-01{rest}")
    return None if guessed is None or not guessed.startswith(iso) else date + guessed[len(iso) :]


def guess_format(value: str) -> str | None:
    """The strftime layout of a date that is not ISO and reads one way only (``20240102``,
    ``2024/01/02``, ``Jan 2 2024``), else None."""
    value = value.strip()
    return None if _ISO_DATE.match(value) else guess_datetime_format(value)


# -- Parquet -------------------------------------------------------------------------------


def _read_parquet(path: Path, name: str, timestamp_column: str | None) -> RawBars:
    try:
        schema = pq.read_schema(path)
        header = list(schema.names)
        meta = schema.pandas_metadata or {}
        stored_index = [c for c in meta.get("index_columns", ()) if isinstance(c, str)]
        index = tuple(i for i, h in enumerate(header) if h in stored_index or h == _PARQUET_INDEX)
        columns, ignored = map_columns(header, name, timestamp_column, index, where="")
        wanted = {c: header[pos[0]] for c, pos in columns.items()}
        if len(columns["timestamp"]) == 2:
            wanted["time"] = header[columns["timestamp"][1]]
        table = pq.read_table(path, columns=sorted(set(wanted.values())))
    except (OSError, pa.ArrowInvalid) as exc:
        raise ImportValidationError(
            f"{name}: cannot read the Parquet file: {_reason(exc)}"
        ) from None
    out = {
        c: _parquet_number(table.column(col), name, col)
        for c, col in wanted.items()
        if c not in ("timestamp", "time")
    }
    out["timestamp"] = ts = table.column(wanted["timestamp"])
    if pa.types.is_large_string(ts.type):  # pandas 3 writes text as large strings
        out["timestamp"] = ts.cast(pa.string())
    if "time" in wanted:  # separate date and time columns
        date, time = (table.column(wanted[c]).cast(pa.string()) for c in ("timestamp", "time"))
        out["timestamp"] = pc.binary_join_element_wise(date, time, " ")
    return RawBars(name, out, ignored, place="row", first=1, skip_blank=False)


def _parquet_number(array: pa.ChunkedArray, name: str, column: str) -> pa.ChunkedArray:
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return array.cast(pa.float64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.cast(pa.string())
    raise ImportValidationError(f"{name}: column {column!r} holds {kind} values, not numbers")


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())
