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
BAR_SPEC_PATTERN = re.compile(r"^([1-9][0-9]*)-(SECOND|MINUTE|HOUR|DAY|WEEK)-(LAST|BID|ASK|MID)$")
BAR_UNITS = {
    "WEEK": pd.Timedelta(weeks=1),
    "DAY": pd.Timedelta(days=1),
    "HOUR": pd.Timedelta(hours=1),
    "MINUTE": pd.Timedelta(minutes=1),
    "SECOND": pd.Timedelta(seconds=1),
}


def parse_bar_spec(bar_spec: str) -> str:
    """Return ``bar_spec`` if it reads ``<step>-<SECOND..WEEK>-<LAST|BID|ASK|MID>``, else raise."""
    if not isinstance(bar_spec, str) or not BAR_SPEC_PATTERN.match(bar_spec):
        raise CatalogError(
            f"invalid bar spec {bar_spec!r}: expected <step>-<SECOND|MINUTE|HOUR|DAY|WEEK>-"
            "<LAST|BID|ASK|MID>, e.g. 1-MINUTE-LAST"
        )
    return bar_spec


def bar_interval(bar_spec: str) -> pd.Timedelta:
    """The length of one bar: ``bar_interval("5-MINUTE-LAST") == pd.Timedelta("5min")``."""
    step, unit, _ = parse_bar_spec(bar_spec).split("-")
    return int(step) * BAR_UNITS[unit]


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
