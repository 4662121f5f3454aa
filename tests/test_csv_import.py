"""Tests for research_lib.data.csv_import and .readers: CSV shapes, validation messages, date
layouts, spec inference, file names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import BAD, GOOD, utc

from research_lib.data.csv_import import (
    check_timezone,
    infer_bar_spec,
    infer_price_precision,
    read_bars_csv,
)
from research_lib.data.readers import day_month_format, expand_files, symbol_from_filename
from research_lib.data.synthetic import generate_bars, mock_bars, write_csv
from research_lib.errors import CatalogError, ImportValidationError
from research_lib.model.bars import bar_interval, parse_bar_spec


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- good shapes ---------------------------------------------------------------------------


def test_round_trip_of_synthetic_csv_is_exact(tmp_path):
    bars = generate_bars("2024-01-02", "2024-01-03")
    write_csv(bars, tmp_path / "bars.csv")
    got = read_bars_csv(tmp_path / "bars.csv")
    assert list(got.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(got["timestamp"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_series_equal(got["timestamp"], bars["timestamp"])
    for column in ["open", "high", "low", "close"]:
        np.testing.assert_array_equal(got[column].to_numpy(), bars[column].to_numpy())
    np.testing.assert_array_equal(got["volume"].to_numpy(), bars["volume"].to_numpy(float))


def test_pandas_index_column_and_header_case_and_spaces_are_accepted():
    got = read_bars_csv(GOOD / "pandas_index.csv")
    assert got["timestamp"].tolist() == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:31"),
        utc("2024-01-02 14:32"),
    ]
    assert got["open"].tolist() == [100.0, 100.2, 100.4]
    assert got["close"].tolist() == [100.2, 100.4, 100.3]
    assert got["volume"].tolist() == [1000.0, 1200.0, 900.0]


def test_unnamed_0_header_as_written_by_older_pandas_is_ignored(tmp_path):
    bars = mock_bars(5)
    bars["timestamp"] = bars["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    bars.to_csv(tmp_path / "bars.csv", index_label="Unnamed: 0")
    got = read_bars_csv(tmp_path / "bars.csv")
    assert got["open"].tolist() == bars["open"].tolist()
    assert got["timestamp"].iloc[0] == utc("2024-01-02 14:30")


def test_naive_times_in_new_york_become_utc_across_dst():
    got = read_bars_csv(GOOD / "ny_naive.csv", timezone="America/New_York")
    assert got["timestamp"].tolist() == [
        utc("2024-01-02 14:30"),  # EST, UTC-5
        utc("2024-01-02 14:31"),
        utc("2024-01-02 14:32"),
        utc("2024-07-01 13:30"),  # EDT, UTC-4
    ]


def test_aware_timestamps_are_converted_to_utc_and_timezone_is_ignored_for_them(tmp_path):
    path = write(
        tmp_path,
        "timestamp,open,high,low,close\n"
        "2024-01-02T09:30:00-05:00,1,2,0.5,1.5\n"
        "2024-01-02T15:31:00.5+01:00,1,2,0.5,1.5\n",
    )
    got = read_bars_csv(path, timezone="Asia/Tokyo")
    assert got["timestamp"].tolist() == [utc("2024-01-02 14:30"), utc("2024-01-02 14:31:00.5")]
    assert got["volume"].tolist() == [0.0, 0.0]  # no volume column -> 0


def test_mixed_naive_and_aware_rows_use_the_timezone_for_naive_ones(tmp_path):
    path = write(
        tmp_path,
        "time,o,h,l,c,v\n2024-01-02 09:30,1,2,0.5,1.5,3\n2024-01-02T14:31:00Z,1,2,0.5,1.5,3\n",
    )
    got = read_bars_csv(path, timezone="America/New_York")
    assert got["timestamp"].tolist() == [utc("2024-01-02 14:30"), utc("2024-01-02 14:31")]


def test_separate_date_and_time_columns_are_joined(tmp_path):
    path = write(
        tmp_path,
        "Date,Time,Open,High,Low,Close,Volume\n"
        "2024-01-02,14:30,1,2,0.5,1.5,10\n2024-01-02,14:35,1,2,0.5,1.5,10\n",
    )
    got = read_bars_csv(path)
    assert got["timestamp"].tolist() == [utc("2024-01-02 14:30"), utc("2024-01-02 14:35")]


def test_rows_are_sorted_and_blank_lines_skipped(tmp_path):
    path = write(
        tmp_path,
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 14:32,3,3,3,3,1\n\n2024-01-02 14:30,1,1,1,1,1\n2024-01-02 14:31,2,2,2,2,1\n\n",
    )
    got = read_bars_csv(path)
    assert got["open"].tolist() == [1.0, 2.0, 3.0]


def test_daily_dates_only_file():
    got = read_bars_csv(GOOD / "daily_dates.csv")
    assert got["timestamp"].iloc[0] == utc("2024-01-02")
    assert len(got) == 10
    assert infer_bar_spec(got["timestamp"]) == "1-DAY-LAST"


# -- rejected files: one fixture each ------------------------------------------------------


BAD_CASES = {
    "missing_column.csv": "line 1: missing column close; the header has 'timestamp', 'open', "
    "'high', 'low', 'volume'; expected timestamp,open,high,low,close[,volume]",
    "bad_timestamp.csv": "1 invalid row; line 5: timestamp 'yesterday' is not a date or ISO "
    "timestamp",
    "non_numeric_price.csv": "1 invalid row; line 4: open 'abc' is not a number",
    "nonpositive_price.csv": "2 invalid rows; line 3: low -1.0 is not positive; "
    "line 6: open 0.0 is not positive",
    "nan_inf_price.csv": "2 invalid rows; line 3: close nan is not a finite number; "
    "line 5: high inf is not a finite number",
    "high_below_low.csv": "1 invalid row; line 5: high 99.5 is below low 100.2",
    "high_below_close.csv": "1 invalid row; line 4: high 100.3 is below close 100.4",
    "low_above_open.csv": "1 invalid row; line 3: low 100.1 is above open 100.0",
    "negative_volume.csv": "1 invalid row; line 5: volume -5.0 is negative",
    "duplicate_timestamp.csv": "1 invalid row; line 4: duplicate timestamp "
    "2024-01-02 14:30:00+00:00 (also on line 2)",
    "empty.csv": "the file is empty",
    "header_only.csv": "no data rows after the header (line 1)",
    "malformed_row.csv": "1 malformed row; line 4: expected 6 fields, found 5",
    "missing_value.csv": "1 invalid row; line 3: close is missing",
    "many_problems.csv": "5 invalid rows; line 3: high 99.0 is below low 99.5; line 4: high "
    "99.0 is below low 99.5; line 6: high 99.0 is below low 99.5; and 2 more",
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_file_is_rejected_with_file_line_and_reason(name):
    path = BAD / name
    with pytest.raises(ImportValidationError) as caught:
        read_bars_csv(path)
    message = str(caught.value)
    assert message == f"{path}: {BAD_CASES[name]}"
    assert "\n" not in message


def test_nonexistent_local_time_is_rejected():
    path = BAD / "dst_gap.csv"
    with pytest.raises(ImportValidationError) as caught:
        read_bars_csv(path, timezone="America/New_York")
    assert str(caught.value) == (
        f"{path}: 1 invalid row; line 3: timestamp '2024-03-10 02:30:00' does not exist or is "
        "ambiguous in America/New_York (a daylight saving change)"
    )
    assert len(read_bars_csv(path)) == 3  # fine in UTC


def test_nonexistent_local_time_in_mixed_file_is_rejected(tmp_path):
    path = write(
        tmp_path,
        "timestamp,open,high,low,close\n2024-03-10T06:00:00Z,1,2,0.5,1.5\n"
        "2024-03-10 02:30,1,2,0.5,1.5\nnot a time,1,2,0.5,1.5\n",
    )
    with pytest.raises(ImportValidationError) as caught:
        read_bars_csv(path, timezone="America/New_York")
    assert str(caught.value) == (
        f"{path}: 2 invalid rows; line 3: timestamp '2024-03-10 02:30' does not exist or is "
        "ambiguous in America/New_York (a daylight saving change); line 4: timestamp "
        "'not a time' is not a date or ISO timestamp"
    )


def test_line_numbers_count_blank_lines_and_report_missing_timestamp(tmp_path):
    path = write(
        tmp_path,
        "timestamp,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n\n,1,2,0.5,1.5\n",
    )
    with pytest.raises(ImportValidationError, match=r"1 invalid row; line 4: timestamp is missing"):
        read_bars_csv(path)


def test_first_reason_per_row_and_only_the_row_count(tmp_path):
    path = write(tmp_path, "timestamp,open,high,low,close,volume\n2024-01-02,abc,-1,x,5,-3\n")
    with pytest.raises(ImportValidationError) as caught:
        read_bars_csv(path)
    assert str(caught.value) == f"{path}: 1 invalid row; line 2: open 'abc' is not a number"


def test_blank_first_line_and_unparseable_csv(tmp_path):
    blank = write(tmp_path, "\n\ntimestamp,open\n", "blank.csv")
    with pytest.raises(ImportValidationError, match="line 1 is blank; expected a header"):
        read_bars_csv(blank)
    quoted = write(tmp_path, 'timestamp,open,high,low,close\n"2024-01-02,1,2,0.5,1.5\n', "q.csv")
    with pytest.raises(
        ImportValidationError, match="line 2: a quoted field runs past the end of its line"
    ):
        read_bars_csv(quoted)
    short = write(tmp_path, "timestamp,open,high,low,close\n2024-01-02\n", "short.csv")
    with pytest.raises(ImportValidationError, match="line 2: expected 5 fields, found 1"):
        read_bars_csv(short)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"timestamp,open,high,low,close\n2024-01-02\xe9,1,2,0.5,1.5\n")
    with pytest.raises(ImportValidationError, match=r"latin1\.csv: cannot parse the CSV: .*UTF8"):
        read_bars_csv(latin1)


def test_missing_timestamp_column_names_the_accepted_names(tmp_path):
    path = write(tmp_path, "when,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    with pytest.raises(
        ImportValidationError, match=r"missing column timestamp \(or datetime/date\)"
    ):
        read_bars_csv(path)


def test_invalid_timezone_is_a_clear_error(tmp_path):
    with pytest.raises(
        CatalogError, match="unknown timezone 'America/New_Yrok'; did you mean 'America/New_York'"
    ):
        read_bars_csv(GOOD / "ny_naive.csv", timezone="America/New_Yrok")
    assert check_timezone("Europe/London") == "Europe/London"


# -- bar specs and precision ---------------------------------------------------------------


def test_infer_bar_spec_ignores_session_and_weekend_gaps():
    minutes = generate_bars("2024-01-01", "2024-01-14")["timestamp"]  # two weeks, nasdaq hours
    assert infer_bar_spec(minutes) == "1-MINUTE-LAST"
    hourly = generate_bars("2024-01-01", "2024-01-14", freq="1h", session="24x7")["timestamp"]
    assert infer_bar_spec(hourly) == "1-HOUR-LAST"
    weekdays = pd.bdate_range("2024-01-01", "2024-03-01", tz="UTC")
    assert infer_bar_spec(weekdays) == "1-DAY-LAST"
    assert (
        infer_bar_spec(pd.date_range("2024-01-01", periods=9, freq="W", tz="UTC")) == "1-WEEK-LAST"
    )
    assert infer_bar_spec(pd.date_range("2024-01-01", periods=9, freq="5min")) == "5-MINUTE-LAST"
    assert infer_bar_spec(pd.date_range("2024-01-01", periods=9, freq="90min")) == "90-MINUTE-LAST"
    assert infer_bar_spec(pd.date_range("2024-01-01", periods=9, freq="15s")) == "15-SECOND-LAST"
    shuffled = pd.date_range("2024-01-01", periods=9, freq="2D").as_unit("ns").asi8[::-1]
    assert infer_bar_spec(shuffled.copy()) == "2-DAY-LAST"


def test_infer_bar_spec_needs_two_times_and_whole_seconds():
    with pytest.raises(CatalogError, match="single timestamp; pass bar_spec"):
        infer_bar_spec(pd.DatetimeIndex(["2024-01-01", "2024-01-01"]))
    with pytest.raises(CatalogError, match="below one second"):
        infer_bar_spec(pd.date_range("2024-01-01", periods=5, freq="500ms"))


def test_parse_bar_spec_and_interval():
    assert parse_bar_spec("1-MINUTE-LAST") == "1-MINUTE-LAST"
    assert bar_interval("5-MINUTE-BID") == pd.Timedelta("5min")
    assert bar_interval("1-WEEK-LAST") == pd.Timedelta(days=7)
    assert bar_interval("4-HOUR-MID") == pd.Timedelta(hours=4)
    for bad in ["1-MINUTES-LAST", "0-MINUTE-LAST", "1-minute-last", "../1-DAY-LAST", 5]:
        with pytest.raises(CatalogError, match="invalid bar spec"):
            parse_bar_spec(bad)


def test_infer_price_precision_from_values():
    def frame(prices: list[float]) -> pd.DataFrame:
        return pd.DataFrame({c: prices for c in ["open", "high", "low", "close"]})

    assert infer_price_precision(frame([100.0, 101.5])) == 2
    assert infer_price_precision(frame([1.08525, 1.1])) == 5
    assert infer_price_precision(frame([0.123456789])) == 9
    assert infer_price_precision(frame([1 / 3])) == 9  # capped
    assert infer_price_precision(frame([123456.789])) == 3


@pytest.mark.parametrize(
    ("freq", "periods", "spec"),
    [
        ("ME", 12, "1-MONTH-LAST"),  # month ends: 28 to 31 days apart
        ("MS", 12, "1-MONTH-LAST"),
        ("BME", 12, "1-MONTH-LAST"),  # last business day: 26 to 35 days
        ("ME", 2, "1-MONTH-LAST"),  # Jan 31 -> Feb 29: 29 days
        ("QS", 8, "3-MONTH-LAST"),
        ("W-MON", 10, "1-WEEK-LAST"),
        ("W-FRI", 10, "1-WEEK-LAST"),
        ("4W", 10, "4-WEEK-LAST"),  # even 28-day steps are weeks, not months
        ("30D", 10, "30-DAY-LAST"),  # even 30-day steps are days
    ],
)
def test_infer_bar_spec_weeks_and_calendar_months(freq, periods, spec):
    index = pd.date_range("2020-01-01", periods=periods, freq=freq, tz="UTC")
    assert infer_bar_spec(index) == spec


def test_monthly_bars_with_a_missing_month_are_still_monthly():
    index = pd.date_range("2023-01-31", periods=12, freq="ME", tz="UTC").delete(5)
    assert infer_bar_spec(index) == "1-MONTH-LAST"


@pytest.mark.parametrize(
    ("value", "dayfirst", "fmt"),
    [
        ("01/03/2023", True, "%d/%m/%Y"),
        ("01/03/2023", False, "%m/%d/%Y"),
        ("1.3.23 9:30", True, "%d.%m.%y %H:%M"),
        ("13-03-2023T14:30:00Z", True, "%d-%m-%YT%H:%M:%S%z"),
        ("01/03/2023 14:30:00.250", False, "%m/%d/%Y %H:%M:%S.%f"),
        ("2023-01-03", True, None),  # not day-month
        ("01/03/2023 half past two", True, None),
    ],
)
def test_day_month_format(value, dayfirst, fmt):
    assert day_month_format(value, dayfirst) == fmt


def bars_text(times: list[str]) -> str:
    return "ts,open,high,low,close\n" + "".join(f"{t},1,2,0.5,1.5\n" for t in times)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (["20240102", "20240103"], ["2024-01-02", "2024-01-03"]),
        (["2024/01/02 10:00", "2024/01/02 10:05"], ["2024-01-02 10:00", "2024-01-02 10:05"]),
    ],
)
def test_other_layouts_that_read_one_way_are_accepted(tmp_path, times, expected):
    path = write(tmp_path, bars_text(times))
    got = read_bars_csv(path, timestamp_column="TS")
    assert got["timestamp"].tolist() == [utc(v) for v in expected]


def test_fractional_seconds_in_day_month_dates_are_read_by_pandas(tmp_path):
    path = write(tmp_path, bars_text(["01/02/2024 10:00:00.5", "01/02/2024 10:05:00.25"]))
    with pytest.raises(ImportValidationError, match=r"ambiguous date '01/02/2024 10:00:00\.5'"):
        read_bars_csv(path, timestamp_column="ts")
    got = read_bars_csv(path, timestamp_column="ts", dayfirst=True)
    assert got["timestamp"].tolist() == [
        utc("2024-02-01 10:00:00.5"),
        utc("2024-02-01 10:05:00.25"),
    ]


def test_symbols_from_file_names_and_globs(tmp_path):
    assert symbol_from_filename("data/AAPL.csv") == "AAPL"
    assert symbol_from_filename("EURUSD_1h.csv.gz") == "EURUSD_1h"
    assert symbol_from_filename("BRK.B.parquet") == "BRK.B"
    with pytest.raises(ImportValidationError, match="gives the symbol 'my file'"):
        symbol_from_filename("my file.csv")
    for name in ("b.csv", "a.csv", "c.txt"):
        write(tmp_path, "x", name)
    assert expand_files([str(tmp_path / "*.csv"), tmp_path / "a.csv"]) == [
        tmp_path / "a.csv",
        tmp_path / "b.csv",
    ]
    with pytest.raises(ImportValidationError, match=r"no files match '.*\*\.parquet'"):
        expand_files(str(tmp_path / "*.parquet"))


def test_missing_file_and_directory_are_one_line(tmp_path):
    with pytest.raises(ImportValidationError, match=r"nope\.csv: no such file$"):
        read_bars_csv(tmp_path / "nope.csv")
    with pytest.raises(ImportValidationError, match="is a directory, not a regular file"):
        read_bars_csv(tmp_path)
