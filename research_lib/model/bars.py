"""Bars as plain DataFrames: columns, bar specs, intervals, timestamps and fingerprints.

A bars frame has the columns ``timestamp`` (bar OPEN time, tz-aware UTC, ns), ``open``,
``high``, ``low``, ``close`` and ``volume``. Plain pandas and numpy: the conversion to
Nautilus ``Bar`` objects lives in :mod:`research_lib.engine.nautilus_bars`.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

from research_lib.errors import CatalogError

PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("timestamp", *PRICE_COLUMNS, "volume")
BAR_SPEC_PATTERN = re.compile(
    r"^([1-9][0-9]*)-(SECOND|MINUTE|HOUR|DAY|WEEK|MONTH)-(LAST|BID|ASK|MID)$"
)
BAR_UNITS = {
    "MONTH": pd.Timedelta(days=30),  # nominal, as Nautilus's; closes follow the calendar
    "WEEK": pd.Timedelta(weeks=1),
    "DAY": pd.Timedelta(days=1),
    "HOUR": pd.Timedelta(hours=1),
    "MINUTE": pd.Timedelta(minutes=1),
    "SECOND": pd.Timedelta(seconds=1),
}


def parse_bar_spec(bar_spec: str) -> str:
    """Return ``bar_spec`` if it reads ``<step>-<SECOND..MONTH>-<LAST|BID|ASK|MID>``, else
    raise."""
    if not isinstance(bar_spec, str) or not BAR_SPEC_PATTERN.fullmatch(bar_spec):
        raise CatalogError(
            f"invalid bar spec {bar_spec!r}: expected <step>-<SECOND|MINUTE|HOUR|DAY|WEEK|"
            "MONTH>-<LAST|BID|ASK|MID>, e.g. 1-MINUTE-LAST"
        )
    return bar_spec


def bar_interval(bar_spec: str) -> pd.Timedelta:
    """The length of one bar: ``bar_interval("5-MINUTE-LAST") == pd.Timedelta("5min")``
    (a month counts 30 days here; :func:`bar_closes` follows the calendar)."""
    step, unit, _ = parse_bar_spec(bar_spec).split("-")
    return int(step) * BAR_UNITS[unit]


# Exchange sessions by venue: (timezone, close). Bars of a day or longer on these venues
# close at the session close of their last day, so a daily bar's trades fall on its date.
SESSION_CLOSES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(
        ("NASDAQ", "XNAS", "NYSE", "XNYS", "ARCA", "ARCX", "AMEX", "BATS", "IEX", "CBOE"),
        ("America/New_York", "16:00"),
    ),
    **dict.fromkeys(("LSE", "XLON"), ("Europe/London", "16:30")),
    **dict.fromkeys(("XETRA", "XETR", "FWB"), ("Europe/Berlin", "17:30")),
    **dict.fromkeys(("EURONEXT", "XPAR", "XAMS"), ("Europe/Paris", "17:30")),
    **dict.fromkeys(("TSE", "XTKS", "JPX"), ("Asia/Tokyo", "15:00")),
    **dict.fromkeys(("HKEX", "XHKG"), ("Asia/Hong_Kong", "16:00")),
    **dict.fromkeys(("ASX", "XASX"), ("Australia/Sydney", "16:00")),
    **dict.fromkeys(("TSX", "XTSE"), ("America/Toronto", "16:00")),
}


def bar_closes(
    timestamps: pd.Series,
    bar_spec: str,
    venue: str | None = None,
    session: tuple[str, str] | str | None = None,
) -> pd.DatetimeIndex:
    """When each bar closes (UTC), from its open time.

    Bars shorter than a day close at open + interval. ``MONTH`` bars close that many
    calendar months after their open. Bars of a day or longer with an exchange session
    close instead at the session close, in its timezone, of their last weekday (a ``1-DAY``
    bar dated 2024-03-01 on NASDAQ closes 2024-03-01 16:00 New York; a week's bar on its
    Friday), never before they open; without a session (24x7, FX) at open + interval.
    The session is ``session``, a ``(timezone, "HH:MM")`` tuple, or ``"none"`` for no
    session; by default the venue's (:data:`SESSION_CLOSES`), if it has one.
    """
    starts = pd.DatetimeIndex(timestamps).tz_convert("UTC").as_unit("ns")
    step, unit, _ = parse_bar_spec(bar_spec).split("-")
    if unit == "MONTH":
        ends = starts + pd.DateOffset(months=int(step))
    else:
        ends = starts + int(step) * BAR_UNITS[unit]
    if session is None:
        session = SESSION_CLOSES.get(venue or "")
    elif session == "none":
        session = None
    elif isinstance(session, str) or len(session) != 2:
        raise CatalogError(f"session must be (timezone, 'HH:MM') or 'none', was {session!r}")
    if unit in ("SECOND", "MINUTE", "HOUR") or session is None:
        return ends.as_unit("ns")
    zone, close = session
    # The bar's last day: the venue-local date nearest to one day before its end, so a label
    # at midnight UTC, at midnight local time or at the session's open all name the same day.
    last_local = (ends - pd.Timedelta(days=1)).tz_convert(zone) + pd.Timedelta(hours=12)
    last_day = last_local.tz_localize(None).normalize()
    weekend = np.clip(last_day.day_of_week.to_numpy() - 4, 0, None)  # Sat 1, Sun 2
    last_day = last_day - pd.to_timedelta(weekend, unit="D")  # sessions end on Friday
    local = (last_day + pd.Timedelta(close + ":00")).tz_localize(zone, ambiguous="NaT")
    placed = local.tz_convert("UTC").as_unit("ns")
    keep = placed.notna() & (placed > starts)
    return pd.DatetimeIndex(np.where(keep, placed, ends), tz="UTC").as_unit("ns")


BAR_LABELS = ("auto", "open", "close")


def bar_opens(labels: pd.Series, bar_spec: str, label: str = "auto") -> pd.Series:
    """Bar open times from a file's timestamps, given what they mark.

    ``open``: the timestamps are the opens. ``close``: each bar opens one interval before
    its label; for daily and longer bars the label is the bar's last day: a ``1-DAY`` bar
    labelled 2024-03-01 opens 2024-03-01 00:00, a week labelled Friday 2024-01-05 opens on
    its Monday, a month labelled 2024-01-31 (or its last business day) opens 2024-01-01.
    ``auto`` (default): ``close`` for weekly bars labelled Friday to Sunday and monthly bars
    labelled on the last (business) day of the month, as most exports do; else ``open``.
    """
    if label not in BAR_LABELS:
        raise CatalogError(f"label must be one of {', '.join(BAR_LABELS)}, was {label!r}")
    step, unit, _ = parse_bar_spec(bar_spec).split("-")
    times = pd.DatetimeIndex(labels)
    if label == "auto":
        marks = None
        if unit == "MONTH":
            marks = _month_ends(times)
        elif unit == "WEEK":
            marks = np.asarray(times.day_of_week >= 4)
        label = "close" if marks is not None and len(marks) and marks.mean() > 0.5 else "open"
    if label == "open":
        return labels
    if unit in ("SECOND", "MINUTE", "HOUR"):
        return labels - int(step) * BAR_UNITS[unit]
    days = times.normalize()
    if unit == "MONTH":  # the first day of the label's month, step - 1 months back
        opens = days - pd.to_timedelta(days.day - 1, unit="D")
        opens = opens - pd.DateOffset(months=int(step) - 1)
    elif unit == "WEEK":  # the Monday of the label's week, step - 1 weeks back
        opens = days - pd.to_timedelta(days.day_of_week + 7 * (int(step) - 1), unit="D")
    else:
        opens = days + pd.Timedelta(days=1) - int(step) * BAR_UNITS[unit]
    return pd.Series(pd.DatetimeIndex(opens).as_unit("ns"), index=labels.index, name=labels.name)


def _month_ends(times: pd.DatetimeIndex) -> np.ndarray:
    """Whether each time falls on the last calendar or business day of its month."""
    days = times.normalize()
    business_end = (days + pd.offsets.BMonthEnd(0)).normalize() == days
    return np.asarray(days.is_month_end | business_end)


def timestamps_ns(timestamps: pd.Series) -> np.ndarray:
    """Int64 UTC nanoseconds of a tz-aware datetime Series of any unit (pandas 3 may use µs)."""
    return timestamps.dt.tz_convert("UTC").dt.as_unit("ns").to_numpy("datetime64[ns]").view("i8")


def bars_fingerprint(bars: pd.DataFrame) -> str:
    """Sha256 hex of exactly these bars: changes when any value does.

    The digest covers the int64 UTC-nanosecond timestamps, then each of open, high, low,
    close and volume as little-endian float64 bytes, in row order (about 10 ms per 1M rows).
    """
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(timestamps_ns(bars["timestamp"]), dtype="<i8").tobytes())
    for column in BAR_COLUMNS[1:]:
        digest.update(np.ascontiguousarray(bars[column], dtype="<f8").tobytes())
    return digest.hexdigest()


def to_utc(value: pd.Timestamp | pd.DatetimeIndex) -> pd.Timestamp | pd.DatetimeIndex:
    """The one UTC rule: naive times are read as UTC, aware ones are converted to UTC."""
    zone = value.tzinfo if isinstance(value, pd.Timestamp) else value.tz
    return value.tz_localize("UTC") if zone is None else value.tz_convert("UTC")
