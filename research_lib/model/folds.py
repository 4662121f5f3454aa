"""Validation splits on a bar calendar: walk-forward folds and a single train/test split.

Windows are calendar spans, bars are counted from the data. A window length is a whole number
of days, weeks, months or years (``30D``, ``2W``, ``3M``, ``1Y``); months and years follow the
calendar (``pandas.DateOffset``: 2024-01-31 + 1M = 2024-02-29). A window covers
``start <= timestamp <= end`` of the bars' open times, ``end`` inclusive to the nanosecond as
:meth:`research_lib.data.catalog.Catalog.bars` reads it: a walk-forward window that starts at
2024-01-01 and lasts 3M ends at 2024-03-31 23:59:59.999999999 and the next starts at
2024-04-01. A bare end date in a split (``2024-01-01:2024-06-30``) is the whole of that day,
as in :func:`research_lib.model.dates.parse_when`.

Walk-forward, for bars whose first timestamp falls on day D0 (UTC midnight; windows start at
midnights) and whose last falls on day D1, the data covers [D0, D1 + 1 day):

- rolling: fold k (k = 0, 1, ...) trains on [D0 + k*step, + train) and tests on the ``test``
  that follows; anchored: it trains on [D0, D0 + train + k*step) and tests on what follows;
- a fold whose test window ends within the data is complete; the first one that runs past
  the data end is *partial*: kept, cut at the data end and marked ``partial``, if its test
  window holds at least ``min_bars`` bars, else dropped; no fold follows it;
- a complete fold whose train or test window holds fewer than ``min_bars`` bars is an error
  (a hole in the data, or a window too short for the bar size), as is no complete fold at all.

Timestamps are the bars' open times: a DatetimeIndex (or anything ``pandas.DatetimeIndex``
takes), sorted; naive times are UTC. Gaps (nights, weekends, missing days) are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.bars import to_utc
from research_lib.model.dates import ONE_NS, parse_when

__all__ = [
    "Duration",
    "Fold",
    "Span",
    "WalkForward",
    "parse_duration",
    "parse_split",
    "parse_walk_forward",
    "split_fold",
    "walk_forward_folds",
]

DAY = pd.Timedelta(days=1)
UNITS = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}
ACCEPTED = "a whole number of days, weeks, months or years such as 30D, 2W, 3M or 1Y"
KEYS = ("train", "test", "step", "anchored")
_DURATION = re.compile(r"^\s*([1-9][0-9]*)\s*([DdWwMmYy])\s*$")
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")
_SPLIT_AT = re.compile(r":(?=\s*\d{4}[-/.]\d)")  # the ':' before the end date's year


@dataclass(frozen=True)
class Duration:
    """A window length: ``count`` calendar ``unit``\\s (``"days"``, ``"weeks"``, ``"months"``
    or ``"years"``); ``text`` is the compact form, ``12M``."""

    count: int
    unit: str

    @property
    def text(self) -> str:
        return f"{self.count}{next(k for k, v in UNITS.items() if v == self.unit)}"

    def after(self, start: pd.Timestamp, times: int = 1) -> pd.Timestamp:
        """``start`` plus ``times`` of this length, in one calendar step (so 2024-01-31 plus
        2 x 1M is 2024-03-31, not 2024-03-29)."""
        return start + pd.DateOffset(**{self.unit: self.count * times})

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str | Duration, what: str = "window length") -> Duration:
    """``"12M"`` -> ``Duration(12, "months")``; D, W, M, Y (days, weeks, months, years; the
    letter in either case, except that a lower-case ``m`` is refused: months are ``M``).

    Raises :class:`ConfigError` naming the text and what is accepted.
    """
    if isinstance(text, Duration):
        return text
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None or found.group(2) == "m":
        hint = "; months are M (3M), minutes are not a window length" if found else ""
        raise ConfigError(f"{what} {text!r} is not {ACCEPTED}{hint}")
    return Duration(int(found.group(1)), UNITS[found.group(2).upper()])


@dataclass(frozen=True)
class WalkForward:
    """A walk-forward spec: train on ``train``, test on the ``test`` that follows, move on by
    ``step``; ``anchored`` trains from the first bar each time (an expanding window) instead of
    rolling. ``text`` is the spec in the form :func:`parse_walk_forward` reads."""

    train: Duration
    test: Duration
    step: Duration
    anchored: bool = False

    @property
    def text(self) -> str:
        anchored = ",anchored=true" if self.anchored else ""
        return f"train={self.train},test={self.test},step={self.step}{anchored}"

    def __str__(self) -> str:
        return self.text


def parse_walk_forward(text: str, anchored: bool | None = None) -> WalkForward:
    """``"train=12M,test=3M,step=3M"`` (``step`` defaults to ``test``; ``anchored=true`` for
    an expanding train window) -> :class:`WalkForward`. ``anchored``, when given, sets the
    mode; the text must then not say otherwise.

    Raises :class:`ConfigError` for an entry that is not ``key=value``, an unknown key (with
    the closest known one), a repeated key, a missing train or test, or a bad length.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"walk-forward spec {text!r} is empty: write e.g. train=12M,test=3M")
    where = f"walk-forward spec {text!r}"
    entries: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"{where}: {part.strip()!r} is not key=value (e.g. train=12M)")
        if key not in KEYS:
            raise ConfigError(
                f"{where}: unknown key {key!r};{did_you_mean(key, KEYS) or ''} "
                f"(keys: {', '.join(KEYS)})".replace("; (", " (")
            )
        if key in entries:
            raise ConfigError(f"{where}: {key} is given twice")
        entries[key] = value
    lengths = {
        key: parse_duration(entries[key], f"{where}: {key}")
        for key in ("train", "test", "step")
        if key in entries
    }
    for key in ("train", "test"):
        if key not in lengths:
            raise ConfigError(f"{where}: {key}= is missing (e.g. train=12M,test=3M)")
    train, test = lengths["train"], lengths["test"]
    step = lengths.get("step", test)
    if _days(step) < _days(test):
        raise ConfigError(
            f"{where}: step {step} is shorter than test {test}: the test windows would "
            "overlap, and the out-of-sample curve is their test windows one after another"
        )
    said = entries.get("anchored")
    mode = None if said is None else _flag(said, where)
    if anchored is not None and mode is not None and anchored != mode:
        raise ConfigError(f"{where}: says anchored={said} but anchored={anchored} was asked for")
    return WalkForward(train, test, step, bool(anchored if anchored is not None else mode))


@dataclass(frozen=True)
class Span:
    """A date range ``start <= t <= end`` (UTC Timestamps, ``end`` inclusive)."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __str__(self) -> str:
        return f"{_shown(self.start)}..{_shown(self.end, end=True)}"


def parse_split(text: str, what: str = "split") -> Span:
    """``"2024-01-01:2024-06-30"`` (as for ``--train``/``--test``) -> :class:`Span` from the
    start of 2024-01-01 to the end of 2024-06-30, UTC. Either side may be any form
    :func:`research_lib.model.dates.parse_when` reads (``2024-01-02T14:30:2024-02-01``).

    Raises :class:`ConfigError` for text that is not START:END, a bad date, or an end before
    the start.
    """
    parts = _SPLIT_AT.split(text.strip()) if isinstance(text, str) else []
    if len(parts) != 2:
        raise ConfigError(f"{what} {text!r} is not START:END, e.g. 2024-01-01:2024-06-30")
    start, end = parse_when(parts[0]), parse_when(parts[1], end=True)
    if end < start:
        raise ConfigError(f"{what} {text!r} ends before it starts")
    return Span(start, end)


@dataclass(frozen=True)
class Fold:
    """One train/test split. ``number`` counts from 1. Each window covers ``start <= t <= end``
    (UTC, ``end`` inclusive to the nanosecond, ready for ``Catalog.bars(start=, end=)``);
    ``train_bars``/``test_bars`` count the bars whose timestamps fall in it. ``partial`` marks
    a last walk-forward fold whose test window was cut at the end of the data."""

    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_bars: int
    test_bars: int
    partial: bool = False

    @property
    def train(self) -> Span:
        return Span(self.train_start, self.train_end)

    @property
    def test(self) -> Span:
        return Span(self.test_start, self.test_end)

    def __str__(self) -> str:
        cut = " (cut at the data end)" if self.partial else ""
        return (
            f"fold {self.number}: train {self.train} ({self.train_bars:,} bars), "
            f"test {self.test} ({self.test_bars:,} bars){cut}"
        )


def walk_forward_folds(timestamps: Any, spec: WalkForward | str, min_bars: int = 1) -> list[Fold]:
    """The walk-forward folds of ``spec`` (a :class:`WalkForward` or its text) over bars
    opening at ``timestamps``, by the rules in the module notes.

    Raises :class:`ConfigError` when a fold's window holds fewer than ``min_bars`` bars
    (naming the fold, its dates, the count and the minimum), when the data is too short for
    one fold (saying how long it is and what the spec needs), or for bad timestamps.
    """
    spec = parse_walk_forward(spec) if isinstance(spec, str) else spec
    times = _times(timestamps)
    minimum = _min_bars(min_bars)
    origin = pd.Timestamp(times[0]).tz_localize("UTC").floor("D")
    data_end = pd.Timestamp(times[-1]).tz_localize("UTC").floor("D") + DAY  # exclusive
    folds: list[Fold] = []
    first_test = spec.train.after(origin)
    k = -1
    while True:  # windows move on by a positive step, so one soon runs past the data end
        k += 1
        # Test windows start one calendar step apart from the first one and never overlap
        # (a month is not a whole number of weeks: each start is computed from the first).
        train_stop = spec.step.after(first_test, k)
        following = spec.step.after(first_test, k + 1)
        train_start = origin if spec.anchored else max(origin, train_stop - _offset(spec.train))
        test_stop = min(spec.test.after(train_stop), following)
        partial = test_stop > data_end
        if partial:
            if not folds or train_stop >= data_end:
                break
            test_stop = data_end
        fold = _fold(times, len(folds) + 1, train_start, train_stop, train_stop, test_stop, partial)
        if partial:
            if fold.test_bars >= minimum:
                folds.append(fold)
            break
        _check(fold, minimum)
        folds.append(fold)
    if not folds:
        days = (data_end - origin) // DAY
        raise ConfigError(
            f"walk-forward {spec.text}: the data runs {origin:%Y-%m-%d} to "
            f"{data_end - ONE_NS:%Y-%m-%d} ({days} days), shorter than one fold: train "
            f"{spec.train} + test {spec.test} (to {test_stop - ONE_NS:%Y-%m-%d})"
        )
    return folds


_DAYS = {"days": 1.0, "weeks": 7.0, "months": 30.44, "years": 365.25}


def _days(length: Duration) -> float:
    """A length in days, roughly (a month is 30.44): for comparing lengths."""
    return length.count * _DAYS[length.unit]


def _offset(length: Duration) -> pd.DateOffset:
    return pd.DateOffset(**{length.unit: length.count})


def split_fold(timestamps: Any, train: Span | str, test: Span | str, min_bars: int = 1) -> Fold:
    """The single fold (number 1) that trains on ``train`` and tests on ``test`` (each a
    :class:`Span` or its ``START:END`` text), with the bars of ``timestamps`` counted in each.

    Raises :class:`ConfigError` when the test window starts before the train window ends
    (overlap, or test first), when either holds fewer than ``min_bars`` bars, or for bad
    timestamps or split texts.
    """
    train = parse_split(train, "--train") if isinstance(train, str) else train
    test = parse_split(test, "--test") if isinstance(test, str) else test
    if test.start <= train.end:
        relation = (
            "starts before the train window"
            if test.start < train.start
            else ("overlaps the train window")
        )
        raise ConfigError(
            f"the test window {test} {relation} {train}: the test must start after the train "
            "window ends"
        )
    times = _times(timestamps)
    fold = _fold(times, 1, train.start, train.end + ONE_NS, test.start, test.end + ONE_NS, False)
    _check(fold, _min_bars(min_bars))
    return fold


def _fold(
    times: np.ndarray,
    number: int,
    train_start: pd.Timestamp,
    train_stop: pd.Timestamp,
    test_start: pd.Timestamp,
    test_stop: pd.Timestamp,
    partial: bool,
) -> Fold:
    """A fold of the windows [train_start, train_stop) and [test_start, test_stop)."""
    edges = np.array([t.value for t in (train_start, train_stop, test_start, test_stop)])
    at = np.searchsorted(times, edges, side="left")
    return Fold(
        number=number,
        train_start=train_start,
        train_end=train_stop - ONE_NS,
        test_start=test_start,
        test_end=test_stop - ONE_NS,
        train_bars=int(at[1] - at[0]),
        test_bars=int(at[3] - at[2]),
        partial=partial,
    )


def _check(fold: Fold, minimum: int) -> None:
    for name, span, count in (
        ("train", fold.train, fold.train_bars),
        ("test", fold.test, fold.test_bars),
    ):
        if count < minimum:
            raise ConfigError(
                f"fold {fold.number} (train {fold.train}, test {fold.test}): the {name} window "
                f"{span} holds {count:,} bars, fewer than the minimum {minimum:,}"
            )


def _times(timestamps: Any) -> np.ndarray:
    """The timestamps as sorted int64 UTC nanoseconds."""
    try:
        index = to_utc(pd.DatetimeIndex(timestamps))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"timestamps: not date-times ({exc})") from None
    if len(index) == 0:
        raise ConfigError("timestamps: no bars to split")
    if index.hasnans:
        raise ConfigError("timestamps: contain missing values (NaT)")
    if not index.is_monotonic_increasing:
        raise ConfigError("timestamps: not sorted in time order")
    return index.as_unit("ns").asi8


def _min_bars(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"min_bars must be a whole number of at least 1, was {value!r}")
    return int(value)


def _flag(value: str, where: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ConfigError(f"{where}: anchored={value!r} is not true or false")


def _shown(ts: pd.Timestamp, end: bool = False) -> str:
    """2024-03-31 for a start at midnight or an end at the last nanosecond of a day, else the
    time to the minute (and seconds when it has them), UTC."""
    if (ts + ONE_NS if end else ts) == (ts + ONE_NS if end else ts).floor("D"):
        return f"{ts:%Y-%m-%d}"
    return f"{ts:%Y-%m-%d %H:%M}" + (f":{ts:%S}" if ts.second else "") + " UTC"
