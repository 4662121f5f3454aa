"""Read an OHLCV CSV file into a validated, sorted bars DataFrame (UTC, nanoseconds).

Accepted shapes: a header row whose names are matched case-insensitively after trimming
(``timestamp``/``datetime``/``date``/``time`` or separate ``date`` and ``time`` columns;
``open``/``o``, ``high``/``h``, ``low``/``l``, ``close``/``c``; optional ``volume``/``vol``/``v``,
0 when absent). Unnamed columns (a pandas ``to_csv()`` index: empty name or ``Unnamed: 0``)
and unknown columns are ignored. Timestamps are ISO 8601 with or without an offset, or plain
dates; naive ones are read in ``timezone`` and everything is converted to UTC.

Every row is validated and a file with any bad row is rejected whole with one
:class:`~research_lib.errors.ImportValidationError` line naming the file, the first bad lines
(1-based physical lines, the header is line 1) and the total count. Reading uses pyarrow's
multithreaded CSV reader and the checks are vectorised, so a 1M-row file takes well under a
second. Blank lines are skipped; quoted fields spanning lines are not supported.
"""

from __future__ import annotations

import csv
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from research_lib.errors import CatalogError, ImportValidationError, did_you_mean
from research_lib.model.bars import BAR_COLUMNS, BAR_UNITS, PRICE_COLUMNS

MAX_REPORTED = 3  # invalid rows described in an error message

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
# An offset after a time (...:00+05:00, ...:00Z), as opposed to the "-02" ending a date.
_OFFSET = re.compile(r"\d(?:Z|z|[+-]\d\d(?::?\d\d)?)$")
_NAT = np.iinfo(np.int64).min


def infer_bar_spec(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> str:
    """The ``<step>-<unit>-LAST`` spec of the most common positive spacing between bars.

    Session breaks, weekends and holidays are rarer than the bar spacing, so they do not
    change the answer. Raises :class:`CatalogError` for fewer than two distinct times or a
    spacing below one second.
    """
    ns = _as_ns(timestamps)
    diffs = np.diff(ns)
    if (diffs < 0).any():
        diffs = np.diff(np.sort(ns))
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        raise CatalogError(
            "cannot infer the bar interval from a single timestamp; pass bar_spec, "
            "e.g. bar_spec='1-DAY-LAST'"
        )
    values, counts = np.unique(diffs, return_counts=True)
    spacing = pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")
    for unit, length in BAR_UNITS.items():
        if spacing % length == pd.Timedelta(0):
            return f"{spacing // length}-{unit}-LAST"
    raise CatalogError(
        f"cannot infer the bar interval: the most common spacing is {spacing}, below one "
        "second; pass bar_spec, e.g. bar_spec='1-SECOND-LAST'"
    )


def infer_price_precision(bars: pd.DataFrame) -> int:
    """Decimals needed to hold every price exactly: the smallest of 2..9 that fits, else 9.

    Inferred from the float values (not the CSV text), so ``100.10`` counts as 1 decimal;
    the floor of 2 makes that irrelevant for cents.
    """
    prices = [np.asarray(bars[c], dtype=np.float64) for c in PRICE_COLUMNS]
    for decimals in range(2, 9):
        scale = 10.0**decimals
        if all(_fits(p * scale) for p in prices):
            return decimals
    return 9


def check_timezone(timezone: str) -> str:
    """Return ``timezone`` if it is an IANA name (``America/New_York``, ``UTC``), else raise."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        hint = did_you_mean(str(timezone), zoneinfo.available_timezones())
        raise CatalogError(
            f"unknown timezone {timezone!r};{hint} use an IANA name such as "
            "'America/New_York' or 'UTC'"
        ) from None
    return timezone


def read_bars_csv(path: str | Path, timezone: str = "UTC") -> pd.DataFrame:
    """Read and validate an OHLCV CSV file; return bars sorted by time.

    Columns: ``timestamp`` (``datetime64[ns, UTC]``), ``open``, ``high``, ``low``, ``close``,
    ``volume`` (all float64). Raises :class:`ImportValidationError` if any row is invalid.
    """
    timezone = check_timezone(timezone)
    name = str(path)
    header = _read_header(Path(path), name)
    columns = _map_columns(header, name)
    table = _read_table(Path(path), name, header, columns)
    return _Validator(table, name, timezone).bars()


# -- reading -------------------------------------------------------------------------------


def _read_header(path: Path, name: str) -> list[str]:
    with path.open("rb") as f:
        first = f.readline()
        rest = f.read(1 << 16) if not first.strip() else b""
    if not first.strip():
        if rest.strip():
            raise ImportValidationError(
                f"{name}: line 1 is blank; expected a header such as "
                "timestamp,open,high,low,close,volume"
            )
        raise ImportValidationError(f"{name}: the file is empty")
    text = first.decode("utf-8-sig", errors="replace")
    return next(csv.reader([text.rstrip("\r\n")]))


def _map_columns(header: list[str], name: str) -> dict[str, list[int]]:
    """Canonical column -> header positions (two positions for separate date and time)."""
    found: dict[str, int] = {}
    for i, raw in enumerate(header):
        key = raw.strip().lower()
        if key in _TIMESTAMP_NAMES:
            found.setdefault(key, i)
        elif key in _ALIASES:
            found.setdefault(_ALIASES[key], i)
    columns = {c: [found[c]] for c in (*PRICE_COLUMNS, "volume") if c in found}
    if "timestamp" in found or "datetime" in found:
        columns["timestamp"] = [found.get("timestamp", found.get("datetime"))]
    elif "date" in found and "time" in found:
        columns["timestamp"] = [found["date"], found["time"]]
    elif "date" in found or "time" in found:
        columns["timestamp"] = [found.get("date", found.get("time"))]
    missing = [c for c in BAR_COLUMNS[:5] if c not in columns]
    if missing:
        what = ", ".join("timestamp (or datetime/date)" if c == "timestamp" else c for c in missing)
        shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
        raise ImportValidationError(
            f"{name}: line 1: missing column{'s' if len(missing) > 1 else ''} {what}; "
            f"the header has {shown}; expected timestamp,open,high,low,close[,volume]"
        )
    return columns


def _read_table(
    path: Path, name: str, header: list[str], columns: dict[str, list[int]]
) -> dict[str, pa.ChunkedArray]:
    """The needed columns: timestamp text, and numbers as float64 (or text if unparseable)."""
    names = [f"c{i}" for i in range(len(header))]
    number_cols = {c: names[pos[0]] for c, pos in columns.items() if c != "timestamp"}
    ts_cols = [names[i] for i in columns["timestamp"]]
    try:
        try:
            table = _pyarrow_read(path, names, ts_cols, number_cols.values(), pa.float64())
        except pa.ArrowInvalid as exc:
            if "conversion error to double" not in str(exc):
                raise
            # Some value is not a number: read text, so each bad row can be named.
            table = _pyarrow_read(path, names, ts_cols, number_cols.values(), pa.string())
    except pa.ArrowInvalid as exc:
        reason = " ".join(str(exc).split())
        raise ImportValidationError(f"{name}: cannot parse the CSV: {reason}") from None
    out = {c: table.column(col) for c, col in number_cols.items()}
    ts = table.column(ts_cols[0])
    if len(ts_cols) == 2:  # separate date and time columns
        ts = pc.binary_join_element_wise(ts, table.column(ts_cols[1]), " ")
    out["timestamp"] = ts
    return out


def _pyarrow_read(path, names, ts_cols, number_cols, number_type) -> pa.Table:
    bad_rows: list = []

    def on_invalid(row) -> str:
        bad_rows.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            path,
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
        raise ImportValidationError(
            f"{path}: {count} malformed row{'s' if count > 1 else ''}; {described}" + _more(count)
        )
    return table


# -- validation ----------------------------------------------------------------------------


class _Validator:
    """Parses the columns and collects every problem as a (row mask, describe row) check."""

    def __init__(self, columns: dict[str, pa.ChunkedArray], name: str, timezone: str) -> None:
        self.name = name
        self.timezone = timezone
        self.raw = columns
        blank = np.logical_and.reduce([c.is_null().to_numpy() for c in columns.values()])
        self.lines = np.flatnonzero(~blank) + 2  # physical line of each kept row
        if self.lines.size == 0:
            raise ImportValidationError(f"{name}: no data rows after the header (line 1)")
        self.keep = None if self.lines.size == blank.size else pa.array(~blank)
        self.checks: list[tuple[np.ndarray, Callable[[int], str]]] = []
        self.parsed: dict[str, np.ndarray] = {}  # column -> rows holding a number

    def check(self, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        """Record a problem: ``mask`` marks the bad rows, ``describe(i)`` explains row i."""
        if mask.any():
            self.checks.append((mask, describe))

    def bars(self) -> pd.DataFrame:
        """The validated bars sorted by time, or raise naming the first problems."""
        ts = self._timestamps()
        v = {c: self._numbers(c) for c in (*PRICE_COLUMNS, "volume")}
        num = _num
        for c in (*PRICE_COLUMNS, "volume"):
            self.check(
                ~np.isfinite(v[c]) & self.parsed[c],
                lambda i, c=c: f"{c} {num(v[c][i])} is not a finite number",
            )
        for c in PRICE_COLUMNS:
            self.check(v[c] <= 0, lambda i, c=c: f"{c} {num(v[c][i])} is not positive")
        o, h, lo, cl, vol = v["open"], v["high"], v["low"], v["close"], v["volume"]
        self.check(h < lo, lambda i: f"high {num(h[i])} is below low {num(lo[i])}")
        self.check(h < o, lambda i: f"high {num(h[i])} is below open {num(o[i])}")
        self.check(h < cl, lambda i: f"high {num(h[i])} is below close {num(cl[i])}")
        self.check(lo > o, lambda i: f"low {num(lo[i])} is above open {num(o[i])}")
        self.check(lo > cl, lambda i: f"low {num(lo[i])} is above close {num(cl[i])}")
        self.check(vol < 0, lambda i: f"volume {num(vol[i])} is negative")
        order = np.argsort(ts, kind="stable")
        self._duplicates(ts, order)
        self._raise_if_invalid()
        return pd.DataFrame(
            {
                "timestamp": pd.to_datetime(ts[order], unit="ns", utc=True).as_unit("ns"),
                **{c: v[c][order] for c in (*PRICE_COLUMNS, "volume")},
            }
        )

    def _kept(self, array: pa.ChunkedArray) -> pa.ChunkedArray:
        return array if self.keep is None else array.filter(self.keep)

    def _numbers(self, column: str) -> np.ndarray:
        """Float64 values (NaN where missing or not a number); records those problems."""
        n = self.lines.size
        if column not in self.raw:  # optional volume
            self.parsed[column] = np.ones(n, dtype=bool)
            return np.zeros(n, dtype=np.float64)
        array = self._kept(self.raw[column])
        missing = array.is_null().to_numpy()
        self.check(missing, lambda i: f"{column} is missing")
        self.parsed[column] = ~missing
        if pa.types.is_string(array.type):
            try:
                array = array.cast(pa.float64())
            except pa.ArrowInvalid:
                return self._numbers_from_text(column, array, missing)
        return pc.fill_null(array, np.nan).to_numpy().astype(np.float64, copy=False)

    def _numbers_from_text(
        self, column: str, array: pa.ChunkedArray, missing: np.ndarray
    ) -> np.ndarray:
        text = array.to_pandas()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        nan_text = text.str.strip().str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()
        not_number = np.isnan(values) & ~nan_text & ~missing
        self.check(not_number, lambda i: f"{column} {text.iloc[i]!r} is not a number")
        self.parsed[column] = ~missing & ~not_number
        return values

    def _timestamps(self) -> np.ndarray:
        """Int64 UTC nanoseconds (``_NAT`` where invalid); records the problems."""
        self.ts_text = array = self._kept(self.raw["timestamp"])
        missing = array.is_null().to_numpy()
        self.check(missing, lambda i: "timestamp is missing")
        first = next(iter(array.drop_null().slice(0, 1).to_pylist()), "")
        casts = [pa.timestamp("ns"), pa.timestamp("ns", "UTC")]
        if _OFFSET.search(first.strip()):
            casts.reverse()  # try the likely type first: a failed cast costs a pass
        for target in casts:
            try:
                parsed = array.cast(target)
            except pa.ArrowInvalid:
                continue
            ns = pc.fill_null(parsed.cast(pa.int64()), _NAT).to_numpy()
            return self._localize(ns) if target.tz is None else ns
        return self._timestamps_from_text(array, missing)

    def _timestamps_from_text(self, array: pa.ChunkedArray, missing: np.ndarray) -> np.ndarray:
        """Slow path for mixed naive/aware or unparseable timestamps."""
        text = array.to_pandas().str.strip()
        aware = text.str.contains(_OFFSET, na=False).to_numpy()
        ns = np.full(len(text), _NAT, dtype=np.int64)
        unparsed = np.zeros(len(text), dtype=bool)
        if aware.any():
            parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
            ns[aware] = _as_ns(parsed)
            unparsed[aware] = parsed.isna().to_numpy()
        if (~aware).any():
            parsed = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
            ns[~aware] = self._localize(_as_ns(parsed), rows=np.flatnonzero(~aware))
            unparsed[~aware] = parsed.isna().to_numpy()
        self.check(
            unparsed & ~missing,
            lambda i: f"timestamp {text.iloc[i]!r} is not a date or ISO timestamp",
        )
        return ns

    def _localize(self, naive: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Naive wall-clock ns in ``self.timezone`` -> UTC ns; flags DST gaps and repeats.

        ``rows`` maps positions in ``naive`` to row numbers (all rows when None).
        """
        if self.timezone == "UTC":
            return naive
        valid = naive != _NAT
        local = pd.DatetimeIndex(np.where(valid, naive, 0).view("M8[ns]"))
        utc = local.tz_localize(self.timezone, ambiguous="NaT", nonexistent="NaT")
        out = np.where(valid, _as_ns(utc), _NAT)
        problem = valid & (out == _NAT)
        if problem.any():
            mask = np.zeros(self.lines.size, dtype=bool)
            mask[np.flatnonzero(problem) if rows is None else rows[problem]] = True
            self.check(
                mask,
                lambda i: (
                    f"timestamp {self.ts_text[i].as_py()!r} does not exist or is "
                    f"ambiguous in {self.timezone} (a daylight saving change)"
                ),
            )
        return out

    def _duplicates(self, ts: np.ndarray, order: np.ndarray) -> None:
        ordered = ts[order]
        same = (ordered[1:] == ordered[:-1]) & (ordered[1:] != _NAT)
        if not same.any():
            return
        mask = np.zeros(ts.size, dtype=bool)
        mask[order[1:][same]] = True  # every occurrence after the first in file order
        self.check(
            mask,
            lambda i: (
                f"duplicate timestamp {pd.Timestamp(int(ts[i]), tz='UTC')} "
                f"(also on line {self.lines[np.flatnonzero(ts == ts[i])[0]]})"
            ),
        )

    def _raise_if_invalid(self) -> None:
        if not self.checks:
            return
        invalid = np.logical_or.reduce([mask for mask, _ in self.checks])
        count = int(invalid.sum())
        described = []
        for i in np.flatnonzero(invalid)[:MAX_REPORTED]:
            reason = next(describe(i) for mask, describe in self.checks if mask[i])
            described.append(f"line {self.lines[i]}: {reason}")
        raise ImportValidationError(
            f"{self.name}: {count} invalid row{'s' if count > 1 else ''}; "
            + "; ".join(described)
            + _more(count)
        )


# -- helpers -------------------------------------------------------------------------------


def _more(count: int) -> str:
    return f"; and {count - MAX_REPORTED} more" if count > MAX_REPORTED else ""


def _num(value: float) -> str:
    return repr(float(value))


def _fits(scaled: np.ndarray) -> bool:
    """True if every value is an integer up to float rounding."""
    return bool(np.all(np.abs(scaled - np.rint(scaled)) <= np.abs(scaled) * 1e-12 + 1e-9))


def _as_ns(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Int64 UTC nanoseconds from datetimes of any unit (tz-aware ones are UTC-converted)."""
    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind == "i":
        return timestamps.astype(np.int64, copy=False)
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8
