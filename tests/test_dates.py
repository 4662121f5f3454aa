"""The one date rule (:mod:`research_lib.model.dates`): what is read and how, what is refused
with which message, what a range past the data says, and the same rule at the CLI and in
YAML run configs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from factories import make_bars

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.engine.run_config import RunConfigError, load_run_config
from research_lib.errors import ConfigError
from research_lib.model.dates import coverage_warnings, parse_when, when_text
from research_lib.store import ResultsStore

AMBIGUOUS = (
    "ambiguous date '01/05/2024' (1 May or 5 January?): write it as 2024-05-01, "
    "or pass --dayfirst / --date-format"
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize(
    ("value", "expected", "text"),
    [
        ("2024-01-02", "2024-01-02 00:00", "2024-01-02"),
        (" 2024-01-02 ", "2024-01-02 00:00", "2024-01-02"),
        ("2024-01-02T14:30", "2024-01-02 14:30", "2024-01-02T14:30:00+00:00"),
        ("2024-01-02 14:30:00+00:00", "2024-01-02 14:30", "2024-01-02T14:30:00+00:00"),
        ("2024-01-02T14:30:15Z", "2024-01-02 14:30:15", "2024-01-02T14:30:15+00:00"),
        ("2024-01-02T09:30-05:00", "2024-01-02 14:30", "2024-01-02T14:30:00+00:00"),
        ("2024/01/05", "2024-01-05 00:00", "2024-01-05"),  # year first: one reading
        (dt.date(2024, 1, 2), "2024-01-02 00:00", "2024-01-02"),
        (dt.datetime(2024, 1, 2, 14, 30), "2024-01-02 14:30", "2024-01-02T14:30:00+00:00"),
        (
            pd.Timestamp("2024-01-02 09:30", tz="America/New_York"),
            "2024-01-02 14:30",
            "2024-01-02T14:30:00+00:00",
        ),
    ],
)
def test_iso_dates_times_and_date_objects_are_read_as_utc(value, expected, text):
    got = parse_when(value)
    assert got == utc(expected) and str(got.tz) == "UTC" and got.unit == "ns"
    assert when_text(value) == text
    assert parse_when(when_text(value)) == got  # the text reads back the same


def test_a_bare_end_date_is_the_whole_day_and_a_time_is_itself():
    assert parse_when("2024-01-31", end=True) == utc("2024-01-31 23:59:59.999999999")
    assert parse_when(dt.date(2024, 1, 31), end=True) == utc("2024-01-31 23:59:59.999999999")
    assert parse_when("2024-01-31T20:59", end=True) == utc("2024-01-31 20:59")
    # A Timestamp is an instant, as Catalog.bars reads it: midnight, not the day.
    assert parse_when(pd.Timestamp("2024-01-31"), end=True) == utc("2024-01-31")
    assert when_text(None) is None


def test_the_catalog_reads_the_texts_as_parse_when_does(tmp_path: Path):
    path = tmp_path / "bars.csv"
    make_bars([100.0] * 600, start="2024-01-02 14:30").to_csv(path, index=False)  # into Jan 3
    catalog = Catalog(tmp_path / "catalog")
    catalog.import_csv(path, "AAPL")
    for start, end in [("2024-01-02", "2024-01-02"), ("2024-01-02T15:00", "2024-01-03T00:10")]:
        got = catalog.bars("AAPL", when_text(start), when_text(end))["timestamp"]
        assert got.iloc[0] >= parse_when(start) and got.iloc[-1] <= parse_when(end, end=True)
        all_bars = catalog.bars("AAPL")["timestamp"]
        inside = all_bars[(all_bars >= parse_when(start)) & (all_bars <= parse_when(end, end=True))]
        assert got.tolist() == inside.tolist()


def test_day_first_and_formats_say_how_to_read_a_slash_date():
    assert parse_when("01/05/2024", dayfirst=True) == utc("2024-05-01")
    assert when_text("01.05.2024 14:30", dayfirst=True) == "2024-05-01T14:30:00+00:00"
    assert when_text("01/05/2024", date_format="%m/%d/%Y") == "2024-01-05"
    assert when_text("05.01.2024 09:30", date_format="%d.%m.%Y %H:%M") == (
        "2024-01-05T09:30:00+00:00"
    )
    assert parse_when("01/05/2024", end=True, dayfirst=True) == utc("2024-05-01 23:59:59.999999999")
    assert when_text("2024-01-02", dayfirst=True) == "2024-01-02"  # ISO is always ISO


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("01/05/2024", AMBIGUOUS),
        ("01-05-2024", AMBIGUOUS.replace("01/05/2024", "01-05-2024")),
        (
            "13/05/2024",
            "date '13/05/2024' is not in ISO form: write it as 2024-05-13, or pass --dayfirst / "
            "--date-format",
        ),
        ("13/13/2024", "not a date or timestamp such as 2024-01-02, was '13/13/2024'"),
        (
            "yesterday",
            "not a date or timestamp such as 2024-01-02 or 2024-01-02T14:30 (UTC), was 'yesterday'",
        ),
        ("2024-02-30", "invalid date '2024-02-30': day is out of range for month"),
        (20240102, "not a date or timestamp such as 2024-01-02, was 20240102"),
    ],
)
def test_what_is_refused_and_why(value, message):
    with pytest.raises(ConfigError) as caught:
        parse_when(value)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_a_format_that_does_not_match_names_the_format():
    with pytest.raises(ConfigError, match=r"date '2024\.01\.05' does not match --date-format"):
        parse_when("2024.01.05", date_format="%d/%m/%Y")


# -- a range past the data ------------------------------------------------------------------

FIRST, LAST = utc("2024-01-02 14:30"), utc("2024-01-31 20:59")
MINUTE = pd.Timedelta("1min")


def test_a_range_past_the_data_is_named_at_both_ends():
    notes = coverage_warnings("AAPL 1-MINUTE-LAST", FIRST, LAST, "2024-01-01", "2024-03-01", MINUTE)
    assert notes == [
        "data for AAPL 1-MINUTE-LAST begins 2024-01-02 14:30 UTC; the range asked for begins "
        "2024-01-01",
        "data for AAPL 1-MINUTE-LAST ends 2024-01-31 20:59 UTC; the range asked for ends "
        "2024-03-01",
    ]


def test_bare_dates_count_by_day_and_times_by_the_bar():
    label = "AAPL 1-MINUTE-LAST"
    assert coverage_warnings(label, FIRST, LAST, "2024-01-02", "2024-01-31", MINUTE) == []
    assert coverage_warnings(label, FIRST, LAST, None, None, MINUTE) == []
    # the last bar opens at 20:59 and closes at 21:00: an end at 21:00 is inside the data
    assert coverage_warnings(label, FIRST, LAST, None, "2024-01-31T21:00", MINUTE) == []
    assert coverage_warnings(
        label, FIRST, LAST, "2024-01-02T14:00", "2024-01-31T21:30", MINUTE
    ) == [
        "data for AAPL 1-MINUTE-LAST begins 2024-01-02 14:30 UTC; the range asked for begins "
        "2024-01-02 14:00 UTC",
        "data for AAPL 1-MINUTE-LAST ends 2024-01-31 20:59 UTC; the range asked for ends "
        "2024-01-31 21:30 UTC",
    ]
    # a daily bar covers its whole day, a weekly one its week
    day = pd.Timedelta(days=1)
    assert coverage_warnings("X 1-DAY-LAST", FIRST.normalize(), utc("2024-01-31"), None,
                             "2024-01-31", day) == []  # fmt: skip
    week = pd.Timedelta(weeks=1)
    assert coverage_warnings("X 1-WEEK-LAST", FIRST.normalize(), utc("2024-01-29"), None,
                             "2024-02-04", week) == []  # fmt: skip


# -- the same rule at the CLI and in YAML ---------------------------------------------------


def invoke(tmp_path: Path, *args: str):
    results = str(tmp_path / "results.duckdb")
    return CliRunner().invoke(
        cli, ["--results", results, "backtest", "run", "--data", "mock", *args]
    )


def test_the_cli_refuses_a_slash_date_in_one_line(tmp_path: Path):
    result = invoke(tmp_path, "--start", "01/05/2024")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {AMBIGUOUS}"
    assert not (tmp_path / "results.duckdb").exists()  # refused before anything ran


def test_the_cli_reads_day_first_dates_and_records_them_in_iso(tmp_path: Path):
    result = invoke(tmp_path, "--dayfirst", "--start", "02/01/2024", "--end", "03/01/2024")
    assert result.exit_code == 0, result.output
    result = invoke(tmp_path, "--date-format", "%Y%m%d", "--start", "20240104", "--end", "20240104")
    assert result.exit_code == 0, result.output
    runs = ResultsStore(tmp_path / "results.duckdb").list(order_by="created_at", descending=False)
    stored = [ResultsStore(tmp_path / "results.duckdb").get(i) for i in runs["id"]]
    assert [(s.settings["start"], s.settings["end"]) for s in stored] == [
        ("2024-01-02", "2024-01-03"),
        ("2024-01-04", "2024-01-04"),
    ]
    assert stored[0].bar_count == 2 * 390 and stored[1].bar_count == 390  # whole days


def test_a_yaml_slash_date_is_a_problem_on_its_line(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "strategy: sma\nbacktest:\n  data: mock\n  start: 01/05/2024\n  end: 2024-05-31\n",
        encoding="utf-8",
    )
    with pytest.raises(RunConfigError) as caught:
        load_run_config(path)
    assert str(caught.value) == (
        f"{path}:4: backtest.start: ambiguous date '01/05/2024' (1 May or 5 January?): "
        "write it as 2024-05-01"
    )  # a file has no --dayfirst: the fix is the ISO form


def test_yaml_dates_are_kept_in_iso_form_and_a_bare_end_is_its_day(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "strategy: sma\nbacktest:\n  data: mock\n  start: 2024-01-31 14:30\n  end: 2024-01-31\n",
        encoding="utf-8",
    )
    backtest = load_run_config(path).backtest
    assert (backtest.start, backtest.end) == ("2024-01-31T14:30:00+00:00", "2024-01-31")
    path.write_text("strategy: sma\nbacktest:\n  start: 2024-02-01\n  end: 2024-01-31\n")
    with pytest.raises(RunConfigError, match=r"end \(2024-01-31\) is before start \(2024-02-01\)"):
        load_run_config(path)
