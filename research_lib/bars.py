"""Bars as plain DataFrames, and their conversion to Nautilus ``Bar`` objects.

A bars frame has the columns ``timestamp`` (bar OPEN time, tz-aware UTC, ns), ``open``,
``high``, ``low``, ``close`` and ``volume``. Nautilus stamps external bars at their CLOSE
time, so the conversion sets ``ts_event = ts_init = timestamp + interval``.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from nautilus_trader.model.data import Bar

    from research_lib.instruments import InstrumentSpec

PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_SPEC_PATTERN = re.compile(r"^(\d+)-(SECOND|MINUTE|HOUR|DAY|WEEK)-(LAST|BID|ASK|MID)$")
_UNITS = {"SECOND": "s", "MINUTE": "min", "HOUR": "h", "DAY": "D", "WEEK": "W"}


def bar_interval(bar_spec: str) -> pd.Timedelta:
    """``1-MINUTE-LAST`` -> ``Timedelta('1min')``."""
    match = BAR_SPEC_PATTERN.match(bar_spec)
    if not match:
        raise ValueError(
            f"invalid bar spec {bar_spec!r}: expected STEP-UNIT-PRICE such as 1-MINUTE-LAST"
        )
    step, unit, _ = match.groups()
    if unit == "WEEK":
        return pd.Timedelta(weeks=int(step))
    return pd.Timedelta(int(step), _UNITS[unit])


def timestamps_ns(timestamps: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch as int64 (pandas 3 may hand back µs units)."""
    return timestamps.dt.as_unit("ns").astype("int64").to_numpy()


def bars_fingerprint(bars: pd.DataFrame) -> str:
    """A sha256 of exactly these bars (timestamps and OHLCV values, in order)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(timestamps_ns(bars["timestamp"])).tobytes())
    for column in (*PRICE_COLUMNS, "volume"):
        digest.update(np.ascontiguousarray(bars[column].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def to_nautilus_bars(bars: pd.DataFrame, spec: InstrumentSpec, bar_spec: str) -> list[Bar]:
    """Nautilus bars for the engine, built straight from the arrays (no per-row Python).

    ``Bar.from_raw_arrays_to_list`` needs writable, contiguous float64/uint64 arrays; pandas 3
    hands out read-only views, so the arrays are copied (BarDataWrangler fails on them).
    """
    from nautilus_trader.model.data import Bar, BarType

    bar_type = BarType.from_str(spec.bar_type(bar_spec))
    step = bar_interval(bar_spec).value
    ts = np.array(timestamps_ns(bars["timestamp"]) + step, dtype=np.uint64, copy=True)

    def column(name: str) -> np.ndarray:
        return np.array(bars[name].to_numpy(dtype=np.float64), dtype=np.float64, copy=True)

    return Bar.from_raw_arrays_to_list(
        bar_type,
        spec.price_precision,
        spec.size_precision,
        column("open"),
        column("high"),
        column("low"),
        column("close"),
        column("volume"),
        ts,
        ts.copy(),
    )
