"""Validation splits (:mod:`research_lib.model.folds`) on hand-made calendars: the expected
window dates are written out here as literals, and the expected bar counts are counted from
the timestamps with pandas boolean masks, not with the module's helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from research_lib.errors import ConfigError
from research_lib.model.dates import parse_when
from research_lib.model.folds import (
    Duration,
    Fold,
    Span,
    WalkForward,
    parse_duration,
    parse_split,
    parse_walk_forward,
    split_fold,
    walk_forward_folds,
)

NS = pd.Timedelta(1, "ns")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def weekday_minutes(first: str, last: str, per_day: int = 60) -> pd.DatetimeIndex:
    """Minute bars from 14:30 UTC, ``per_day`` a day, Monday to Friday only (weekend gaps)."""
    days = pd.date_range(first, last, freq="D", tz="UTC")
    days = days[days.day_of_week < 5]
    minutes = pd.Timedelta("14h30min") + pd.to_timedelta(np.arange(per_day), "min")
    return pd.DatetimeIndex([day + m for day in days for m in minutes])


def count(times: pd.DatetimeIndex, start: str, stop: str) -> int:
    """Bars with start <= t < stop (stop exclusive: the next window's start)."""
    return int(((times >= utc(start)) & (times < utc(stop))).sum())


def expected(times, number, train: tuple[str, str], test: tuple[str, str], partial=False) -> Fold:
    """The fold with windows [train) and [test) written as (start, exclusive stop)."""
    return Fold(
        number=number,
        train_start=utc(train[0]),
        train_end=utc(train[1]) - NS,
        test_start=utc(test[0]),
        test_end=utc(test[1]) - NS,
        train_bars=count(times, *train),
        test_bars=count(times, *test),
        partial=partial,
    )


MINUTES = weekday_minutes("2024-01-01", "2024-07-15")  # Monday 1 January to Monday 15 July


# --- Window lengths and specs ---


@pytest.mark.parametrize(
    ("text", "count_", "unit"),
    [
        ("12M", 12, "months"),
        ("3M", 3, "months"),
        ("30D", 30, "days"),
        ("90D", 90, "days"),
        ("2W", 2, "weeks"),
        (" 2w ", 2, "weeks"),
        ("1Y", 1, "years"),
        ("1y", 1, "years"),
    ],
)
def test_durations(text, count_, unit):
    duration = parse_duration(text)
    assert duration == Duration(count_, unit)
    assert duration.text == text.strip().upper()


@pytest.mark.parametrize("text", ["0M", "12", "M", "1.5M", "3 months", "-1D", "12H", ""])
def test_bad_durations(text):
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f"window length {text!r} is not a whole number of days, weeks, months or years such "
        "as 30D, 2W, 3M or 1Y"
    )


def test_lower_case_m_is_refused_as_ambiguous():
    with pytest.raises(ConfigError) as caught:
        parse_duration("30m")
    assert str(caught.value).endswith("; months are M (3M), minutes are not a window length")


def test_months_follow_the_calendar():
    assert Duration(1, "months").after(utc("2024-01-31")) == utc("2024-02-29")
    assert Duration(1, "months").after(utc("2024-01-31"), 2) == utc("2024-03-31")  # not 03-29
    assert Duration(1, "years").after(utc("2024-02-29")) == utc("2025-02-28")


def test_a_step_shorter_than_the_test_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="step 2W is shorter than test 30D: the test windows"):
        parse_walk_forward("train=1Y,test=30D,step=2W")


def test_month_trains_and_week_tests_give_test_windows_end_to_end() -> None:
    # 1M + 2W from different starts is not 2W apart: each test start counts from the first
    minutes = pd.date_range("2024-01-02 14:30", "2024-04-30 20:59", freq="1min", tz="UTC")
    minutes = minutes[minutes.day_of_week < 5]
    folds = walk_forward_folds(minutes, "train=1M,test=2W")
    for before, after in itertools.pairwise(folds):
        assert after.test_start == before.test_end + pd.Timedelta(1, "ns")
    assert [f.test_start.strftime("%m-%d") for f in folds[:4]] == [
        "02-02", "02-16", "03-01", "03-15",
    ]  # fmt: skip


def test_walk_forward_specs():
    assert parse_walk_forward("train=12M,test=3M") == WalkForward(
        Duration(12, "months"), Duration(3, "months"), Duration(3, "months"), anchored=False
    )
    spec = parse_walk_forward(" train = 1Y , test=2W, step=30D, anchored=true ")
    assert spec == WalkForward(
        Duration(1, "years"), Duration(2, "weeks"), Duration(30, "days"), anchored=True
    )
    assert spec.text == "train=1Y,test=2W,step=30D,anchored=true"
    assert parse_walk_forward(spec.text) == spec
    assert parse_walk_forward("train=12M,test=3M", anchored=True).anchored
    assert parse_walk_forward("train=12M,test=3M,anchored=no", anchored=False).anchored is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train=12M", "walk-forward spec 'train=12M': test= is missing (e.g. train=12M,test=3M)"),
        (
            "trian=12M,test=3M",
            "walk-forward spec 'trian=12M,test=3M': unknown key 'trian'; did you mean 'train'? "
            "(keys: train, test, step, anchored)",
        ),
        (
            "train=12M,test=3M,window=2",
            "walk-forward spec 'train=12M,test=3M,window=2': unknown key 'window' "
            "(keys: train, test, step, anchored)",
        ),
        (
            "train=12M,test=3M,train=6M",
            "walk-forward spec 'train=12M,test=3M,train=6M': train is given twice",
        ),
        (
            "train=12M,test",
            "walk-forward spec 'train=12M,test': 'test' is not key=value (e.g. train=12M)",
        ),
        (
            "train=12M;test=3M",
            "walk-forward spec 'train=12M;test=3M': train '12M;test=3M' is not a whole number "
            "of days, weeks, months or years such as 30D, 2W, 3M or 1Y",
        ),
        (
            "train=12M,test=3M,anchored=maybe",
            "walk-forward spec 'train=12M,test=3M,anchored=maybe': anchored='maybe' is not "
            "true or false",
        ),
        ("", "walk-forward spec '' is empty: write e.g. train=12M,test=3M"),
    ],
)
def test_bad_walk_forward_specs(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_walk_forward(text)
    assert str(caught.value) == message


def test_conflicting_anchored():
    with pytest.raises(ConfigError, match="says anchored=false but anchored=True was asked for"):
        parse_walk_forward("train=12M,test=3M,anchored=false", anchored=True)


# --- Splits ---


def test_split_ends_include_the_end_day_as_the_catalog_does():
    span = parse_split("2024-01-01:2024-06-30")
    assert span == Span(utc("2024-01-01"), utc("2024-07-01") - NS)
    assert span.end == parse_when("2024-06-30", end=True)
    assert str(span) == "2024-01-01..2024-06-30"
    timed = parse_split("2024-01-02T14:30:2024-02-01T20:00")
    assert timed == Span(utc("2024-01-02 14:30"), utc("2024-02-01 20:00"))
    assert str(timed) == "2024-01-02 14:30 UTC..2024-02-01 20:00 UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-01-01", "split '2024-01-01' is not START:END, e.g. 2024-01-01:2024-06-30"),
        ("2024-01-01:", "split '2024-01-01:' is not START:END, e.g. 2024-01-01:2024-06-30"),
        ("2024-06-30:2024-01-01", "split '2024-06-30:2024-01-01' ends before it starts"),
    ],
)
def test_bad_splits(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_split(text)
    assert str(caught.value) == message


def test_bad_split_date_is_parse_whens_message():
    with pytest.raises(ConfigError, match=r"^invalid date '2024-13-01': "):
        parse_split("2024-13-01:2024-12-31")


def test_split_fold_counts_bars_with_the_end_day_included():
    daily = pd.date_range("2024-01-01", "2024-12-31", freq="D", tz="UTC")
    fold = split_fold(daily, "2024-01-01:2024-06-30", "2024-07-01:2024-09-30")
    assert fold == Fold(
        1,
        utc("2024-01-01"),
        utc("2024-07-01") - NS,
        utc("2024-07-01"),
        utc("2024-10-01") - NS,
        train_bars=int(((daily >= utc("2024-01-01")) & (daily <= utc("2024-06-30"))).sum()),
        test_bars=92,  # July 31 + August 31 + September 30 days
    )
    assert fold.train_bars == 182  # 2024 is a leap year: 31+29+31+30+31+30
    assert str(fold) == (
        "fold 1: train 2024-01-01..2024-06-30 (182 bars), test 2024-07-01..2024-09-30 (92 bars)"
    )


def test_split_fold_refuses_overlap_and_test_first():
    with pytest.raises(ConfigError) as caught:
        split_fold(MINUTES, "2024-01-01:2024-03-31", "2024-03-31:2024-04-30")
    assert str(caught.value) == (
        "the test window 2024-03-31..2024-04-30 overlaps the train window "
        "2024-01-01..2024-03-31: the test must start after the train window ends"
    )
    with pytest.raises(ConfigError) as caught:
        split_fold(MINUTES, "2024-03-01:2024-03-31", "2024-01-01:2024-01-31")
    assert str(caught.value) == (
        "the test window 2024-01-01..2024-01-31 starts before the train window "
        "2024-03-01..2024-03-31: the test must start after the train window ends"
    )


def test_split_fold_with_too_few_bars():
    with pytest.raises(ConfigError) as caught:
        split_fold(MINUTES, "2024-01-01:2024-03-31", "2024-04-06:2024-04-07", min_bars=10)
    assert str(caught.value) == (
        "fold 1 (train 2024-01-01..2024-03-31, test 2024-04-06..2024-04-07): the test window "
        "2024-04-06..2024-04-07 holds 0 bars, fewer than the minimum 10"  # a weekend
    )


# --- Walk-forward folds ---


def test_rolling_folds_on_weekday_minute_bars():
    folds = walk_forward_folds(MINUTES, "train=2M,test=1M")
    assert folds == [
        expected(MINUTES, 1, ("2024-01-01", "2024-03-01"), ("2024-03-01", "2024-04-01")),
        expected(MINUTES, 2, ("2024-02-01", "2024-04-01"), ("2024-04-01", "2024-05-01")),
        expected(MINUTES, 3, ("2024-03-01", "2024-05-01"), ("2024-05-01", "2024-06-01")),
        expected(MINUTES, 4, ("2024-04-01", "2024-06-01"), ("2024-06-01", "2024-07-01")),
        # The last test window, July, is cut at the end of the data's last day (15 July).
        expected(MINUTES, 5, ("2024-05-01", "2024-07-01"), ("2024-07-01", "2024-07-16"), True),
    ]
    # Independent of the masks: weekdays x 60 bars. Jan+Feb 2024 have 23 + 21 weekdays.
    assert (folds[0].train_bars, folds[0].test_bars) == (44 * 60, 21 * 60)
    assert folds[-1].test_bars == 11 * 60  # 1-5, 8-12 and 15 July
    assert str(folds[-1]) == (
        "fold 5: train 2024-05-01..2024-06-30 (2,580 bars), test 2024-07-01..2024-07-15 "
        "(660 bars) (cut at the data end)"
    )


def test_a_short_partial_last_fold_is_dropped():
    folds = walk_forward_folds(MINUTES, "train=2M,test=1M", min_bars=1000)
    assert [f.number for f in folds] == [1, 2, 3, 4]
    assert not any(f.partial for f in folds)


def test_anchored_folds():
    spec = parse_walk_forward("train=3M,test=1M,anchored=true")
    assert walk_forward_folds(MINUTES, spec) == [
        expected(MINUTES, 1, ("2024-01-01", "2024-04-01"), ("2024-04-01", "2024-05-01")),
        expected(MINUTES, 2, ("2024-01-01", "2024-05-01"), ("2024-05-01", "2024-06-01")),
        expected(MINUTES, 3, ("2024-01-01", "2024-06-01"), ("2024-06-01", "2024-07-01")),
        expected(MINUTES, 4, ("2024-01-01", "2024-07-01"), ("2024-07-01", "2024-07-16"), True),
    ]


def test_step_longer_than_test_and_windows_from_the_first_bars_day():
    # The first bar is Wednesday 3 January 14:30: windows start at midnight that day.
    times = weekday_minutes("2024-01-03", "2024-06-28", per_day=30)
    folds = walk_forward_folds(times, "train=30D,test=2W,step=6W")
    assert folds == [
        expected(times, 1, ("2024-01-03", "2024-02-02"), ("2024-02-02", "2024-02-16")),
        expected(times, 2, ("2024-02-14", "2024-03-15"), ("2024-03-15", "2024-03-29")),
        expected(times, 3, ("2024-03-27", "2024-04-26"), ("2024-04-26", "2024-05-10")),
        expected(times, 4, ("2024-05-08", "2024-06-07"), ("2024-06-07", "2024-06-21")),
    ]


# A calendar of daily bars (one at midnight each weekday) missing the week of 12 February.
def daily_missing_a_week() -> pd.DatetimeIndex:
    days = pd.date_range("2024-01-01", "2024-03-29", freq="D", tz="UTC")
    missing = (days >= utc("2024-02-12")) & (days < utc("2024-02-17"))
    return days[(days.day_of_week < 5) & ~missing]


DAILY = daily_missing_a_week()


def test_a_missing_week_is_counted_from_the_timestamps():
    folds = walk_forward_folds(DAILY, "train=8W,test=2W")
    assert folds == [
        expected(DAILY, 1, ("2024-01-01", "2024-02-26"), ("2024-02-26", "2024-03-11")),
        expected(DAILY, 2, ("2024-01-15", "2024-03-11"), ("2024-03-11", "2024-03-25")),
        expected(DAILY, 3, ("2024-01-29", "2024-03-25"), ("2024-03-25", "2024-03-30"), True),
    ]
    assert folds[0].train_bars == 8 * 5 - 5  # eight weeks of weekdays, one week missing


def test_a_fold_with_too_few_bars_names_the_fold_and_its_dates():
    with pytest.raises(ConfigError) as caught:
        walk_forward_folds(DAILY, "train=4W,test=1W")
    assert str(caught.value) == (
        "fold 3 (train 2024-01-15..2024-02-11, test 2024-02-12..2024-02-18): the test window "
        "2024-02-12..2024-02-18 holds 0 bars, fewer than the minimum 1"
    )
    with pytest.raises(ConfigError) as caught:
        walk_forward_folds(DAILY, "train=4W,test=2W", min_bars=6)
    assert str(caught.value) == (
        "fold 2 (train 2024-01-15..2024-02-11, test 2024-02-12..2024-02-25): the test window "
        "2024-02-12..2024-02-25 holds 5 bars, fewer than the minimum 6"  # half the test missing
    )
    with pytest.raises(ConfigError) as caught:
        walk_forward_folds(MINUTES, "train=1M,test=1M", min_bars=1500)
    assert str(caught.value) == (
        "fold 1 (train 2024-01-01..2024-01-31, test 2024-02-01..2024-02-29): the train "
        "window 2024-01-01..2024-01-31 holds 1,380 bars, fewer than the minimum 1,500"
    )


def test_no_folds_says_how_long_the_data_is_and_what_the_spec_needs():
    with pytest.raises(ConfigError) as caught:
        walk_forward_folds(MINUTES, "train=6M,test=3M")
    assert str(caught.value) == (
        "walk-forward train=6M,test=3M,step=3M: the data runs 2024-01-01 to 2024-07-15 "
        "(197 days), shorter than one fold: train 6M + test 3M (to 2024-09-30)"
    )


@pytest.mark.parametrize(
    ("timestamps", "message"),
    [
        (pd.DatetimeIndex([], tz="UTC"), "timestamps: no bars to split"),
        (
            pd.DatetimeIndex([utc("2024-01-02"), utc("2024-01-01")]),
            "timestamps: not sorted in time order",
        ),
    ],
)
def test_bad_timestamps(timestamps, message):
    with pytest.raises(ConfigError) as caught:
        walk_forward_folds(timestamps, "train=1M,test=1M")
    assert str(caught.value) == message


def test_naive_timestamps_are_utc():
    naive = MINUTES.tz_localize(None)
    assert walk_forward_folds(naive, "train=2M,test=1M") == walk_forward_folds(
        MINUTES, "train=2M,test=1M"
    )
