"""Dates and times as people type them: the one rule for ``--start``/``--end``, YAML
``backtest.start``/``end`` and the panel, and what a requested range says about the data.

ISO forms are read as written: ``2024-01-02``, ``2024-01-02T14:30``, ``2024-01-02 14:30:00+00:00``
(naive times are UTC: :func:`research_lib.model.bars.to_utc`); ``2024/01/02`` is read as
year-month-day too. A day and month before the year (``01/05/2024``) is 1 May in Europe and
5 January in the US, so it is refused unless the caller says how to read it: ``dayfirst`` or a
``date_format`` (``strptime`` codes). A bare date as an end means the whole of that day, as
:meth:`research_lib.data.catalog.Catalog.bars` reads it, so :func:`when_text` keeps dates bare
and leaves that to the catalog. Timestamps and ``datetime`` objects are instants, never days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

import pandas as pd

from research_lib.errors import ConfigError
from research_lib.model.bars import to_utc

__all__ = ["FORMAT_HINT", "coverage_warnings", "parse_when", "when_text"]

FORMAT_HINT = ", or pass --dayfirst / --date-format"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"  # 14:30, 14:30:00, 14:30:00.5
_TIME = rf"(?:[T ]({_CLOCK}))?"
_ISO = re.compile(rf"^\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{_CLOCK}\s*(?:Z|[+-]\d{{2}}(?::?\d{{2}})?)?)?$")
_YEAR_FIRST = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})" + _TIME + "$")
_YEAR_LAST = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})" + _TIME + "$")
_TIME_CODES = re.compile(r"%[HIMSfpXcTRz]")
ONE_NS = pd.Timedelta(1, "ns")

When = str | dt.date | pd.Timestamp


def parse_when(
    text: When, *, end: bool = False, dayfirst: bool = False, date_format: str | None = None
) -> pd.Timestamp:
    """``text`` as a UTC Timestamp (ns); with ``end`` a bare date is the last nanosecond of
    that day (the catalog's inclusive end).

    Raises :class:`ConfigError` for text that is not a date or time, and for a day-month
    form such as ``01/05/2024`` unless ``dayfirst`` (day, month, year) or ``date_format``
    says how to read it.
    """
    ts, bare = _read(text, dayfirst, date_format)
    return ts + pd.Timedelta(days=1) - ONE_NS if end and bare else ts


def when_text(
    value: When | None, *, dayfirst: bool = False, date_format: str | None = None
) -> str | None:
    """``value`` in the form the library passes on and records: ``2024-05-01`` for a date
    (still a whole day as an end), ``2024-01-02T14:30:00+00:00`` for a time; None stays None.

    Raises :class:`ConfigError` as :func:`parse_when` does.
    """
    if value is None:
        return None
    ts, bare = _read(value, dayfirst, date_format)
    return f"{ts:%Y-%m-%d}" if bare else ts.isoformat()


def coverage_warnings(
    label: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
    start: When | None,
    end: When | None,
    interval: pd.Timedelta = pd.Timedelta(0),
) -> list[str]:
    """What a requested range asks for that the data does not hold.

    ``first`` and ``last`` are the open times of the data's first and last bar (``interval``
    long); ``label`` names the data (``AAPL 1-MINUTE-LAST``). A bare date counts by day: a
    start of 2024-01-02 does not run past a first bar at 14:30 that day. Returns lines such
    as ``data for AAPL 1-MINUTE-LAST ends 2024-01-31 20:59 UTC; the range asked for ends
    2024-03-01``.
    """
    first, last = to_utc(pd.Timestamp(first)), to_utc(pd.Timestamp(last))
    notes = []
    if start is not None:
        ts, bare = _read(start, False, None)
        if (ts.date() < first.date()) if bare else ts < first:
            notes.append(
                f"data for {label} begins {first:%Y-%m-%d %H:%M} UTC; the range asked for "
                f"begins {_shown(ts, bare)}"
            )
    if end is not None:
        ts, bare = _read(end, False, None)
        covered = last + interval  # the last bar's close
        if (ts.date() > (covered - ONE_NS).date()) if bare else ts > covered:
            notes.append(
                f"data for {label} ends {last:%Y-%m-%d %H:%M} UTC; the range asked for ends "
                f"{_shown(ts, bare)}"
            )
    return notes


def _read(value: When, dayfirst: bool, date_format: str | None) -> tuple[pd.Timestamp, bool]:
    """(UTC Timestamp, whether ``value`` is a bare date)."""
    if isinstance(value, dt.datetime):  # pd.Timestamp too: an instant
        return to_utc(pd.Timestamp(value)).as_unit("ns"), False
    if isinstance(value, dt.date):
        return pd.Timestamp(value).tz_localize("UTC").as_unit("ns"), True
    if not isinstance(value, str):
        raise ConfigError(f"not a date or timestamp such as 2024-01-02, was {value!r}")
    text = value.strip()
    if _ISO.match(text):
        return _timestamp(text, value), len(text) == 10
    if date_format:
        try:
            parsed = dt.datetime.strptime(text, date_format)
        except ValueError:
            raise ConfigError(
                f"date {value!r} does not match --date-format {date_format!r}; or write it in "
                "ISO form such as 2024-01-02 or 2024-01-02T14:30"
            ) from None
        return to_utc(pd.Timestamp(parsed)).as_unit("ns"), not _TIME_CODES.search(date_format)
    if found := _YEAR_FIRST.match(text):
        year, month, day, time = found.groups()
        return _timestamp(_iso(year, month, day, time), value), time is None
    if found := _YEAR_LAST.match(text):
        a, _, b, year, time = found.groups()
        if dayfirst:
            return _timestamp(_iso(year, b, a, time), value), time is None
        raise ConfigError(_slash_problem(value, int(a), int(b), int(year), time))
    raise ConfigError(
        f"not a date or timestamp such as 2024-01-02 or 2024-01-02T14:30 (UTC), was {value!r}"
    )


def _timestamp(text: str, value: str) -> pd.Timestamp:
    try:
        return to_utc(pd.Timestamp(text)).as_unit("ns")
    except ValueError as exc:
        raise ConfigError(f"invalid date {value!r}: {exc}") from None


def _iso(year: str, month: str, day: str, time: str | None) -> str:
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}" + (f"T{time}" if time else "")


def _slash_problem(value: str, a: int, b: int, year: int, time: str | None) -> str:
    """Why a day-month form is refused, with the ISO form(s) it could mean."""
    readings = []  # (label, ISO) for day-first, then month-first
    for day, month in ((a, b), (b, a)):
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
            iso = _iso(str(year), str(month), str(day), time)
            readings.append((f"{day} {calendar.month_name[month]}", iso))
    readings = list(dict.fromkeys(readings))
    if not readings:
        return f"not a date or timestamp such as 2024-01-02, was {value!r}"
    if len(readings) == 1:
        return f"date {value!r} is not in ISO form: write it as {readings[0][1]}{FORMAT_HINT}"
    (one, iso), (other, _) = readings
    return f"ambiguous date {value!r} ({one} or {other}?): write it as {iso}{FORMAT_HINT}"


def _shown(ts: pd.Timestamp, bare: bool) -> str:
    return f"{ts:%Y-%m-%d}" if bare else f"{ts:%Y-%m-%d %H:%M} UTC"
