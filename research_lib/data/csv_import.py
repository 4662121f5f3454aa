"""Read a bars file (CSV, compressed CSV, Parquet) into a validated, sorted bars DataFrame.

Columns are found by :mod:`.readers` (names in any case, a pandas index, or
``timestamp_column``); columns not used are reported, not read. Timestamps are ISO 8601 with
or without an offset, plain dates, or dates in another layout given by ``date_format``
(strftime, ``%d/%m/%Y %H:%M``) or ``dayfirst`` (True: ``31/01/2024``, False: ``01/31/2024``).
Day-month dates (``01/03/2023``) without either are refused, never guessed. Naive times are
read in ``timezone``; everything is converted to UTC.

Every row is validated and a file with any bad row is rejected whole with one
:class:`~research_lib.errors.ImportValidationError` line naming the file, the first bad lines
(1-based physical lines, the header is line 1; rows for Parquet) and the total count. Reading
uses pyarrow's multithreaded CSV reader, dates are parsed by Arrow's ``strptime`` and the
checks are vectorised, so a 1M-row file takes well under a second. Blank lines are skipped.
Before parsing, :mod:`.inputs` refuses what is not a regular file, binary data, lines over
64 KiB and quoted fields spanning lines; timestamps must lie in 1678-2261 (nanosecond times)
and prices and volumes at most :data:`PRICE_MAX` and :data:`VOLUME_MAX` (Nautilus's limits).
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research_lib.data.readers import (
    DAY_MONTH_FIELDS,
    MAX_REPORTED,
    RawBars,
    day_month_format,
    guess_format,
    read_raw,
)
from research_lib.data.spacing import infer_bar_spec, infer_price_precision
from research_lib.errors import CatalogError, ImportValidationError, did_you_mean, one_line
from research_lib.model.bars import PRICE_COLUMNS

__all__ = [
    "BarsFile",
    "check_timezone",
    "infer_bar_spec",
    "infer_price_precision",
    "read_bars_csv",
    "read_bars_file",
]

# An offset after a time (...:00+05:00, ...:00Z), as opposed to the "-02" ending a date.
_OFFSET = re.compile(r"\d(?:Z|z|[+-]\d\d(?::?\d\d)?)$")
_NAT = np.iinfo(np.int64).min
_OUT = _NAT + 1  # a parsed time outside the years nanosecond times hold (1678-2261)
_FIRST_NS = pd.Timestamp("1678-01-01").value
_END_NS = pd.Timestamp("2262-01-01").value  # exclusive
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
# Nautilus's PRICE_MAX and QUANTITY_MAX (model.objects; tests check they still match): a
# larger price or volume would import, then fail every backtest.
PRICE_MAX = 17_014_118_346_046.0
VOLUME_MAX = 34_028_236_692_093.0


class BarsFile(NamedTuple):
    """A validated bars file: the bars (sorted by time) and the columns it did not use."""

    bars: pd.DataFrame
    ignored_columns: tuple[str, ...]


def check_timezone(timezone: str) -> str:
    """Return ``timezone`` if it is an IANA name (``America/New_York``, ``UTC``), else raise."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        hint = did_you_mean(str(timezone), zoneinfo.available_timezones())
        raise CatalogError(
            f"unknown timezone {timezone!r};{hint} use an IANA name such as "
            "'America/New_York' or 'UTC'"
        ) from None
    return timezone


def read_bars_file(
    path: str | Path,
    timezone: str = "UTC",
    *,
    timestamp_column: str | None = None,
    date_format: str | None = None,
    dayfirst: bool | None = None,
) -> BarsFile:
    """Read and validate a CSV, compressed CSV or Parquet file of bars (see the module
    docstring). The bars have columns ``timestamp`` (``datetime64[ns, UTC]``), ``open``,
    ``high``, ``low``, ``close``, ``volume`` (float64). Raises :class:`ImportValidationError`
    naming the file, the place and the reason if the file or any row is invalid.
    """
    timezone = check_timezone(timezone)
    raw = read_raw(path, timestamp_column)
    validator = _Validator(raw, timezone, date_format, dayfirst)
    return BarsFile(validator.bars(), raw.ignored)


def read_bars_csv(
    path: str | Path,
    timezone: str = "UTC",
    *,
    timestamp_column: str | None = None,
    date_format: str | None = None,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """The bars of :func:`read_bars_file`, without the list of ignored columns."""
    return read_bars_file(
        path,
        timezone,
        timestamp_column=timestamp_column,
        date_format=date_format,
        dayfirst=dayfirst,
    ).bars


# -- validation ----------------------------------------------------------------------------


class _Validator:
    """Parses the columns and collects every problem as a (row mask, describe row) check."""

    def __init__(
        self, raw: RawBars, timezone: str, date_format: str | None, dayfirst: bool | None
    ) -> None:
        self.name, self.place = raw.name, raw.place
        self.timezone, self.date_format, self.dayfirst = timezone, date_format, dayfirst
        self.raw = columns = raw.columns
        rows = len(columns["timestamp"])
        blank = np.zeros(rows, dtype=bool)
        if raw.skip_blank:
            blank = np.logical_and.reduce([_nulls(c) for c in columns.values()])
        self.lines = np.flatnonzero(~blank) + raw.first  # line (or row) of each kept row
        if self.lines.size == 0:
            where = " after the header (line 1)" if raw.place == "line" else ""
            raise ImportValidationError(f"{raw.name}: no data rows{where}")
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
        edge = ((ts < _FIRST_NS) & (ts > _OUT)) | (ts >= _END_NS)  # 1677 and 2262 times
        if edge.any():
            ts = np.where(edge, _OUT, ts)
        self.check(
            ts == _OUT,
            lambda i: (
                f"timestamp {str(self.ts_text[i].as_py()).strip()!r} is outside the years "
                "1678-2261 that nanosecond times can hold"
            ),
        )
        v = {c: self._numbers(c) for c in (*PRICE_COLUMNS, "volume")}
        num = _num
        for c in (*PRICE_COLUMNS, "volume"):
            self.check(
                ~np.isfinite(v[c]) & self.parsed[c],
                lambda i, c=c: f"{c} {num(v[c][i])} is not a finite number",
            )
        for c in PRICE_COLUMNS:
            self.check(v[c] <= 0, lambda i, c=c: f"{c} {num(v[c][i])} is not positive")
            self.check(
                (v[c] > PRICE_MAX) & np.isfinite(v[c]),
                lambda i, c=c: (
                    f"{c} {num(v[c][i])} is above {PRICE_MAX:,.0f}, the largest "
                    "price a backtest can hold"
                ),
            )
        self.check(
            (v["volume"] > VOLUME_MAX) & np.isfinite(v["volume"]),
            lambda i: (
                f"volume {num(v['volume'][i])} is above {VOLUME_MAX:,.0f}, the largest "
                "a backtest can hold"
            ),
        )
        o, h, lo, cl, vol = v["open"], v["high"], v["low"], v["close"], v["volume"]
        self.check(h < lo, lambda i: f"high {num(h[i])} is below low {num(lo[i])}")
        self.check(h < o, lambda i: f"high {num(h[i])} is below open {num(o[i])}")
        self.check(h < cl, lambda i: f"high {num(h[i])} is below close {num(cl[i])}")
        self.check(lo > o, lambda i: f"low {num(lo[i])} is above open {num(o[i])}")
        self.check(lo > cl, lambda i: f"low {num(lo[i])} is above close {num(cl[i])}")
        self.check(vol < 0, lambda i: f"volume {num(vol[i])} is negative")
        in_order = bool((np.diff(ts) >= 0).all())  # the usual case: no sort, no copies
        order = np.arange(ts.size) if in_order else np.argsort(ts, kind="stable")
        self._duplicates(ts, order)
        self._raise_if_invalid()
        if in_order:
            order = slice(None)
        return pd.DataFrame(
            {
                "timestamp": pd.to_datetime(ts[order], unit="ns", utc=True).as_unit("ns"),
                **{c: v[c][order] for c in (*PRICE_COLUMNS, "volume")},
            },
            copy=False,
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
        missing = _nulls(array)
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
        missing = _nulls(array)
        self.check(missing, lambda i: "timestamp is missing")
        kind = array.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):  # typed (Parquet)
            aware = pa.types.is_timestamp(kind) and kind.tz is not None
            if pa.types.is_date(kind):  # days since the epoch
                days = pc.fill_null(array.cast(pa.date32()).cast(pa.int32()), 0).to_numpy()
                raw = np.where(_nulls(array), _NAT, days.astype(np.int64) * 86_400)
                ns = _scaled(raw, "s")
            else:
                raw = pc.fill_null(array.cast(pa.int64()), _NAT).to_numpy()
                ns = _scaled(raw, kind.unit)
            return ns if aware else self._localize(ns)
        if not pa.types.is_string(kind):
            raise ImportValidationError(
                f"{self.name}: the timestamp column holds {kind} values, not dates or times; "
                "pass --timestamp-column to choose another"
            )
        if self.date_format is not None:
            return self._with_format(array, missing, self.date_format)
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
        text = pc.utf8_trim_whitespace(array)
        day_month = pc.extract_regex(text, DAY_MONTH_FIELDS)
        if day_month.null_count < len(day_month):
            return self._day_month(text, missing, day_month)
        guessed = guess_format(first)
        if guessed is not None:  # one unambiguous layout: 20240102, 2024/01/02, Jan 2 2024...
            return self._with_format(text, missing, guessed)
        return self._timestamps_from_text(array, missing)

    def _day_month(
        self, text: pa.ChunkedArray, missing: np.ndarray, fields: pa.ChunkedArray
    ) -> np.ndarray:
        """Dates such as 01/03/2023: read as ``dayfirst`` says, else refused naming the fix."""
        rows = np.flatnonzero(~_nulls(fields))
        value = text[int(rows[0])].as_py()
        if self.dayfirst is not None:
            fmt = day_month_format(value, self.dayfirst)
            if fmt is None:
                raise ImportValidationError(
                    f"{self.name}: {self._at(rows[0])}: cannot tell the time format of "
                    f"{value!r}; pass --date-format, e.g. '%d/%m/%Y %H:%M'"
                )
            return self._with_format(text, missing, fmt)
        day = pc.fill_null(pc.struct_field(fields, "a").cast(pa.int32()), 0).to_numpy()
        month = pc.fill_null(pc.struct_field(fields, "b").cast(pa.int32()), 0).to_numpy()
        fmt = day_month_format(value, dayfirst=True) or "%d/%m/%Y"
        if (day > 12).any():
            i = int(np.argmax(day > 12))
            raise ImportValidationError(
                f"{self.name}: {self._at(i)}: date {text[i].as_py()!r} looks day-first "
                f"({day[i]} is not a month): pass --dayfirst (or --date-format {fmt!r})"
            )
        us = day_month_format(value, dayfirst=False) or "%m/%d/%Y"
        if (month > 12).any():
            i = int(np.argmax(month > 12))
            raise ImportValidationError(
                f"{self.name}: {self._at(i)}: date {text[i].as_py()!r} looks month-first "
                f"({month[i]} is not a month): pass --monthfirst (or --date-format {us!r})"
            )
        i = int(rows[0])
        a, b = int(day[i]), int(month[i])
        readings = f"{a} {calendar.month_name[b]} or {b} {calendar.month_name[a]}"
        raise ImportValidationError(
            f"{self.name}: {self._at(i)}: ambiguous date {value!r} ({readings}?): pass "
            f"--dayfirst or --monthfirst (or --date-format {us!r})"
        )

    def _with_format(self, text: pa.ChunkedArray, missing: np.ndarray, fmt: str) -> np.ndarray:
        """Times read with the strftime ``fmt``, by Arrow (fast), then by pandas for the rows
        Arrow cannot read (``%f``); a row in another layout is invalid."""
        text = pc.utf8_trim_whitespace(text)
        aware = "%z" in fmt
        ns = np.full(len(text), _NAT, dtype=np.int64)
        try:
            parsed = pc.strptime(text, format=fmt, unit="ns", error_is_null=True)
            ns[:] = pc.fill_null(parsed.cast(pa.int64()), _NAT).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # a format Arrow does not know: pandas reads every row
        retry = (ns == _NAT) & ~missing
        if retry.any():
            values = text.filter(pa.array(retry)).to_pandas()
            try:
                again = pd.to_datetime(values, format=fmt, errors="coerce", utc=aware)
            except ValueError as exc:
                raise ImportValidationError(
                    f"{self.name}: invalid --date-format {fmt!r}: {one_line(exc)}"
                ) from None
            ns[retry] = _as_ns(again)
        self.check(
            (ns == _NAT) & ~missing,
            lambda i: f"timestamp {text[i].as_py()!r} does not match the date format {fmt!r}",
        )
        return ns if aware else self._localize(ns)

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

    def _at(self, i: int) -> str:
        return f"{self.place} {self.lines[i]}"

    def _localize(self, naive: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Naive wall-clock ns in ``self.timezone`` -> UTC ns; flags DST gaps and repeats.

        ``rows`` maps positions in ``naive`` to row numbers (all rows when None).
        """
        if self.timezone == "UTC":
            return naive
        valid = (naive != _NAT) & (naive != _OUT)
        local = pd.DatetimeIndex(np.where(valid, naive, 0).view("M8[ns]"))
        utc = local.tz_localize(self.timezone, ambiguous="NaT", nonexistent="NaT")
        out = np.where(valid, _as_ns(utc), naive)
        problem = valid & ((out == _NAT) | (out == _OUT))
        if problem.any():
            mask = np.zeros(self.lines.size, dtype=bool)
            mask[np.flatnonzero(problem) if rows is None else rows[problem]] = True
            self.check(
                mask,
                lambda i: (
                    f"timestamp {str(self.ts_text[i].as_py())!r} does not exist or is "
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
            described.append(f"{self._at(i)}: {reason}")
        raise ImportValidationError(
            f"{self.name}: {count} invalid row{'s' if count > 1 else ''}; "
            + "; ".join(described)
            + _more(count)
        )


# -- helpers -------------------------------------------------------------------------------


def _nulls(array: pa.ChunkedArray) -> np.ndarray:
    return array.is_null().to_numpy(zero_copy_only=False)


def _more(count: int) -> str:
    return f"; and {count - MAX_REPORTED} more" if count > MAX_REPORTED else ""


def _num(value: float) -> str:
    return repr(float(value))


def _as_ns(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Int64 UTC nanoseconds from datetimes of any unit (tz-aware ones are UTC-converted);
    NaT is ``_NAT``, a time outside 1678-2261 is ``_OUT``."""
    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind == "i":
        return timestamps.astype(np.int64, copy=False)
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return _scaled(index.asi8, index.unit)


def _scaled(raw: np.ndarray, unit: str) -> np.ndarray:
    """Int64 times in ``unit`` (``_NAT`` for missing) as nanoseconds, out of range as _OUT."""
    factor = _UNIT_NS[unit]
    present = raw != _NAT
    inside = present & (raw >= _FIRST_NS // factor) & (raw < _END_NS // factor)
    if factor == 1 and inside.sum() == present.sum():
        return raw
    out = np.where(present, _OUT, _NAT)
    out[inside] = raw[inside] * factor
    return out
