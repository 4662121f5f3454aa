"""Inferring what a file's bars are: the bar spec from their spacing and the price
precision from their values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from research_lib.errors import CatalogError
from research_lib.model.bars import BAR_UNITS, PRICE_COLUMNS, parse_bar_spec

_DAY_NS = 86_400 * 10**9


def infer_bar_spec(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> str:
    """The ``<step>-<unit>-LAST`` spec of the most common positive spacing between bars.

    Session breaks, weekends and holidays are rarer than the bar spacing, so they do not
    change the answer. Bars a calendar month apart (month ends, month starts: 28 to 31 days)
    are ``1-MONTH-LAST`` when :func:`~research_lib.model.bars.parse_bar_spec` accepts MONTH.
    Raises :class:`CatalogError` for fewer than two distinct times or a spacing below one
    second.
    """
    ns = np.sort(_as_ns(timestamps))  # fast on sorted input; np.unique hashes (0.3 s/1M)
    ns = ns[np.concatenate(([True], np.diff(ns) != 0))] if ns.size else ns
    diffs = np.diff(ns)
    if diffs.size == 0:
        raise CatalogError(
            "cannot infer the bar interval from a single timestamp; pass bar_spec, "
            "e.g. bar_spec='1-DAY-LAST'"
        )
    months = _month_step(ns, diffs)
    if months is not None and _accepted(f"{months}-MONTH-LAST"):
        return f"{months}-MONTH-LAST"
    spacing = pd.Timedelta(int(_most_common(diffs)), unit="ns")
    for unit, length in BAR_UNITS.items():
        if unit != "MONTH" and spacing % length == pd.Timedelta(0):  # months: calendar
            return f"{spacing // length}-{unit}-LAST"
    raise CatalogError(
        f"cannot infer the bar interval: the most common spacing is {spacing}, below one "
        "second; pass bar_spec, e.g. bar_spec='1-SECOND-LAST'"
    )


def _most_common(values: np.ndarray) -> int:
    """The most frequent value (the smallest of a tie), by sorting: runs of equal values."""
    ordered = np.sort(values)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
    lengths = np.diff(np.concatenate((starts, [ordered.size])))
    return int(ordered[starts[np.argmax(lengths)]])


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


def _accepted(bar_spec: str) -> bool:
    try:
        parse_bar_spec(bar_spec)
    except CatalogError:
        return False
    return True


def _month_step(ns: np.ndarray, diffs: np.ndarray) -> int | None:
    """k when most bars are k calendar months apart (28k-4 to 31k+4 days, in uneven steps,
    as month ends or starts are), else None. Sorted unique ``ns`` and their ``diffs``."""
    months = ns.view("M8[ns]").astype("M8[M]").astype(np.int64)
    steps = np.diff(months)
    values, counts = np.unique(steps, return_counts=True)
    k = int(values[np.argmax(counts)])
    if k < 1:
        return None
    days = diffs / _DAY_NS
    fits = (steps == k) & (days >= 28 * k - 4) & (days <= 31 * k + 4)
    if fits.sum() * 2 <= steps.size:
        return None
    spacing = np.unique(days[fits])
    if spacing.size == 1 and (fits.sum() >= 3 or spacing[0] % 7 == 0):
        return None  # even steps: 4 weeks, or 30 days; calendar months are uneven
    return k


def _fits(scaled: np.ndarray) -> bool:
    """True if every value is an integer up to float rounding."""
    return bool(np.all(np.abs(scaled - np.rint(scaled)) <= np.abs(scaled) * 1e-12 + 1e-9))


def _as_ns(timestamps: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind == "i":
        return timestamps.astype(np.int64, copy=False)
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8
