"""The files researchers have, end to end: each shape imported into a catalog (the rows that
come back), each refusal as its one line with the catalog unchanged, and several files at once
through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from factories import BAD, GOOD, utc
from factories import file_digests as tree

from research_lib.cli import cli
from research_lib.data.catalog import Catalog, FileImport
from research_lib.errors import ImportValidationError

SEVERAL = GOOD / "several"


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog")


@pytest.fixture
def invoke(tmp_path):
    """Run the CLI on the temp catalog; returns the click Result."""

    def run(*args: str):
        return CliRunner().invoke(cli, ["--catalog", str(tmp_path / "catalog"), *args])

    return run


def times(frame: pd.DataFrame) -> list[pd.Timestamp]:
    return frame["timestamp"].tolist()


def refused(cat: Catalog, path: Path, **options) -> str:
    """The one-line message of an import that must fail, checking the catalog is unchanged."""
    before = tree(cat.root)
    with pytest.raises(ImportValidationError) as caught:
        cat.import_csv(path, "X", **options)
    assert tree(cat.root) == before
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- pandas layouts ------------------------------------------------------------------------


def test_pandas_index_with_offsets_is_the_timestamp(cat):
    report = cat.import_csv(GOOD / "pandas_index_ny.csv", "AAPL")
    bars = cat.bars("AAPL")
    assert times(bars) == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:31"),
        utc("2024-01-02 14:32"),
    ]
    assert bars["open"].tolist() == [187.15, 188.02, 187.75]
    assert bars["volume"].tolist() == [1452380.0, 983410.0, 1210000.0]
    assert (report.bar_spec, report.ignored_columns) == ("1-MINUTE-LAST", ())


def test_pandas_index_without_offsets_is_read_in_the_timezone(cat):
    cat.import_csv(GOOD / "pandas_index_naive.csv", "AAPL", timezone="America/New_York")
    assert times(cat.bars("AAPL"))[0] == utc("2024-07-01 13:30")  # 09:30 EDT


def test_unnamed_0_index_is_the_timestamp(cat):
    cat.import_csv(GOOD / "unnamed_0.csv", "KO")
    bars = cat.bars("KO")
    assert times(bars) == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:31"),
        utc("2024-01-02 14:32"),
    ]
    assert bars["close"].tolist() == [97.30, 97.05, 97.15]


def test_a_named_time_column_wins_over_the_index_and_the_index_is_reported(cat):
    report = cat.import_csv(GOOD / "pandas_index.csv", "MSFT")
    assert report.ignored_columns == ("(unnamed column 1)",)
    assert times(cat.bars("MSFT"))[0] == utc("2024-01-02 14:30")


def test_timestamp_column_picks_the_column(cat, tmp_path):
    path = tmp_path / "two_times.csv"
    path.write_text(
        "utc,local,open,high,low,close\n"
        "2024-01-02T14:30:00Z,2024-01-02 09:31,1,2,0.5,1.5\n"
        "2024-01-02T14:31:00Z,2024-01-02 09:32,1,2,0.5,1.5\n"
    )
    report = cat.import_csv(path, "AAPL", timestamp_column="Local", timezone="America/New_York")
    assert times(cat.bars("AAPL")) == [utc("2024-01-02 14:31"), utc("2024-01-02 14:32")]
    assert report.ignored_columns == ("utc",)


def test_unknown_timestamp_column_lists_the_header(cat):
    path = GOOD / "adj_close.csv"
    assert refused(cat, path, timestamp_column="Datum") == (
        f"{path}: line 1: no column 'Datum' for --timestamp-column; did you mean 'Date'? the "
        "header has 'Date', 'Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume', 'Dividends'"
    )


def test_ignored_columns_are_reported(cat, invoke):
    report = cat.import_csv(GOOD / "adj_close.csv", "AAPL")
    assert report.ignored_columns == ("Adj Close", "Dividends")
    assert cat.bars("AAPL")["close"].tolist() == [185.64, 184.25, 181.91, 181.18]  # not adjusted
    result = invoke("data", "import-csv", "--file", str(GOOD / "adj_close.csv"), "--symbol", "SPY")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "ignored columns: Adj Close, Dividends"


# -- day-month dates -----------------------------------------------------------------------


def test_ambiguous_slash_dates_are_refused_naming_the_options(cat):
    path = GOOD / "us_dates.csv"
    assert refused(cat, path) == (
        f"{path}: line 2: ambiguous date '01/03/2023' (1 March or 3 January?): pass --dayfirst "
        "or --monthfirst (or --date-format '%m/%d/%Y')"
    )


def test_day_first_looking_dates_are_refused_saying_so(cat):
    path = GOOD / "eu_dates.csv"
    assert refused(cat, path) == (
        f"{path}: line 4: date '13/03/2023 08:00' looks day-first (13 is not a month): pass "
        "--dayfirst (or --date-format '%d/%m/%Y %H:%M')"
    )


def test_month_first_looking_dates_are_refused_saying_so(cat, tmp_path):
    path = tmp_path / "us.csv"
    path.write_text("date,open,high,low,close\n01/12/2024,1,2,0.5,1.5\n01/13/2024,1,2,0.5,1.5\n")
    assert refused(cat, path) == (
        f"{path}: line 3: date '01/13/2024' looks month-first (13 is not a month): pass "
        "--monthfirst (or --date-format '%m/%d/%Y')"
    )


@pytest.mark.parametrize(
    "options",
    [{"dayfirst": False}, {"date_format": "%m/%d/%Y"}],
    ids=["monthfirst", "date_format"],
)
def test_us_dates_with_an_option(cat, options):
    cat.import_csv(GOOD / "us_dates.csv", "AAPL", **options)
    bars = cat.bars("AAPL")
    assert times(bars) == [utc(f"2023-01-0{d}") for d in (3, 4, 5, 6, 9)]
    assert bars["open"].tolist() == [130.28, 126.89, 127.13, 126.01, 130.47]
    assert cat.bar_specs("AAPL") == ["1-DAY-LAST"]


def test_dayfirst_reads_the_same_file_the_other_way(cat):
    cat.import_csv(GOOD / "us_dates.csv", "AAPL", dayfirst=True)
    assert times(cat.bars("AAPL"))[:2] == [utc("2023-03-01"), utc("2023-04-01")]


@pytest.mark.parametrize(
    "options",
    [{"dayfirst": True}, {"date_format": "%d/%m/%Y %H:%M"}],
    ids=["dayfirst", "date_format"],
)
def test_eu_dates_with_an_option_in_a_timezone(cat, options):
    cat.import_csv(
        GOOD / "eu_dates.csv", "EUR/USD", venue="SIM", timezone="Europe/Berlin", **options
    )
    bars = cat.bars("EUR/USD")
    assert times(bars) == [
        utc("2023-03-10 13:00"),  # CET, UTC+1
        utc("2023-03-10 14:00"),
        utc("2023-03-13 07:00"),
        utc("2023-03-13 08:00"),
    ]
    assert bars["close"].tolist() == [1.0612, 1.0630, 1.0722, 1.0711]
    assert cat.instrument("EUR/USD").price_precision == 4


def test_rows_not_matching_the_date_format_are_named(cat):
    path = GOOD / "eu_dates.csv"
    assert refused(cat, path, dayfirst=False) == (
        f"{path}: 2 invalid rows; line 4: timestamp '13/03/2023 08:00' does not match the date "
        "format '%m/%d/%Y %H:%M'; line 5: timestamp '13/03/2023 09:00' does not match the date "
        "format '%m/%d/%Y %H:%M'"
    )


def test_bad_date_format_is_one_line(cat):
    path = GOOD / "eu_dates.csv"
    assert refused(cat, path, date_format="%d/%m/%Q") == (
        f"{path}: invalid --date-format '%d/%m/%Q': 'Q' is a bad directive in format '%d/%m/%Q'"
    )


def test_ambiguous_dates_through_the_cli_change_nothing(invoke, tmp_path):
    result = invoke("data", "import-csv", "-f", str(BAD / "ambiguous_dates.csv"), "--symbol", "X")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {BAD / 'ambiguous_dates.csv'}: line 2: ambiguous date '01/03/2023' (1 March or "
        "3 January?): pass --dayfirst or --monthfirst (or --date-format '%m/%d/%Y')"
    )
    assert not (tmp_path / "catalog").exists()
    ok = invoke(
        "data", "import-csv", "-f", str(BAD / "ambiguous_dates.csv"), "--symbol", "X", "--dayfirst"
    )
    assert ok.exit_code == 0, ok.output
    assert "3 rows read, 3 added" in ok.output


# -- compressed CSV and Parquet ------------------------------------------------------------


def test_gzipped_csv_reads_as_the_plain_one(cat):
    cat.import_csv(GOOD / "daily_dates.csv.gz", "SPY")
    cat.import_csv(GOOD / "daily_dates.csv", "QQQ")
    pd.testing.assert_frame_equal(cat.bars("SPY"), cat.bars("QQQ"))
    assert len(cat.bars("SPY")) == 10


def test_corrupt_gzip_is_one_line(cat):
    path = BAD / "not_gzip.csv.gz"
    assert refused(cat, path) == (
        f"{path}: cannot read the file: zlib inflate failed: incorrect header check"
    )


def daily_frame() -> pd.DataFrame:
    return pd.read_csv(GOOD / "adj_close.csv", parse_dates=["Date"])


def test_parquet_with_a_pandas_datetime_index(cat, tmp_path):
    frame = daily_frame().set_index("Date")
    frame.index = frame.index.tz_localize("America/New_York") + pd.Timedelta(hours=16)
    frame.index.name = None  # stored as __index_level_0__
    frame.to_parquet(tmp_path / "aapl.parquet")
    report = cat.import_csv(tmp_path / "aapl.parquet", "AAPL")
    bars = cat.bars("AAPL")
    assert times(bars)[:2] == [utc("2024-01-02 21:00"), utc("2024-01-03 21:00")]
    assert bars["close"].tolist() == [185.64, 184.25, 181.91, 181.18]
    assert report.ignored_columns == ("Adj Close", "Dividends")


def test_parquet_with_a_named_naive_index_uses_the_timezone(cat, tmp_path):
    frame = daily_frame().rename(columns={"Date": "Day"}).set_index("Day")
    frame.to_parquet(tmp_path / "aapl.parquet")
    cat.import_csv(tmp_path / "aapl.parquet", "AAPL", timezone="America/New_York")
    assert times(cat.bars("AAPL"))[0] == utc("2024-01-02 05:00")
    assert cat.bar_specs("AAPL") == ["1-DAY-LAST"]


def test_parquet_with_columns_and_text_dates(cat, tmp_path):
    frame = daily_frame()
    frame["Date"] = frame["Date"].dt.strftime("%d.%m.%Y")
    frame.to_parquet(tmp_path / "aapl.parquet", index=False)
    cat.import_csv(tmp_path / "aapl.parquet", "AAPL", dayfirst=True)
    assert times(cat.bars("AAPL"))[-1] == utc("2024-01-05")


def test_bad_parquet_row_is_named_by_row(cat, tmp_path):
    frame = daily_frame().set_index("Date")
    frame.iloc[2, frame.columns.get_loc("High")] = 100.0
    frame.to_parquet(tmp_path / "bad.parquet")
    assert refused(cat, tmp_path / "bad.parquet") == (
        f"{tmp_path / 'bad.parquet'}: 1 invalid row; row 3: high 100.0 is below low 180.88"
    )


def test_not_a_parquet_file_is_one_line(cat, tmp_path):
    path = tmp_path / "x.parquet"
    shutil.copy(GOOD / "daily_dates.csv", path)
    assert refused(cat, path).startswith(f"{path}: cannot read the Parquet file: ")


# -- weekly and monthly bars ---------------------------------------------------------------


def test_weekly_and_month_end_bars_get_their_spec(cat):
    assert cat.import_csv(GOOD / "weekly.csv", "SPY").bar_spec == "1-WEEK-LAST"
    report = cat.import_csv(GOOD / "month_end.csv", "SPY")
    assert report.bar_spec == "1-MONTH-LAST"
    assert cat.bar_specs("SPY") == ["1-MONTH-LAST", "1-WEEK-LAST"]
    monthly = cat.bars("SPY", bar_spec="1-MONTH-LAST")
    # Month-end labels mark each bar's close (--label auto): the bars open on the 1st.
    assert times(monthly)[:3] == [utc("2023-01-01"), utc("2023-02-01"), utc("2023-03-01")]
    assert len(monthly) == 12
    weekly = cat.bars("SPY", bar_spec="1-WEEK-LAST")
    assert times(weekly)[:2] == [utc("2024-01-01"), utc("2024-01-08")]  # Monday labels: opens


# -- several files -------------------------------------------------------------------------


def copy_several(folder: Path, bad: bool = False) -> Path:
    folder.mkdir()
    for path in SEVERAL.glob("*.csv"):
        shutil.copy(path, folder / path.name)
    if bad:
        shutil.copy(BAD / "high_below_low.csv", folder / "TSLA.csv")
    return folder


def test_a_glob_with_symbols_from_file_names(invoke, tmp_path):
    folder = copy_several(tmp_path / "in")
    result = invoke(
        "data", "import-csv", "--file", str(folder / "*.csv"), "--symbol-from", "filename"
    )
    assert result.exit_code == 0, result.output
    for name, spec in [
        ("AAPL", "1-MINUTE-LAST"),
        ("EURUSD_1h", "1-HOUR-LAST"),
        ("MSFT", "1-MINUTE-LAST"),
    ]:
        assert any(
            name in line and spec in line and "ok" in line for line in result.output.splitlines()
        )
    cat = Catalog(tmp_path / "catalog")
    assert cat.symbols()["symbol"].tolist() == ["AAPL", "EURUSD_1h", "MSFT"]
    assert cat.bars("MSFT")["close"].tolist() == [375.50, 375.80]
    assert cat.bars("EURUSD_1h")["volume"].tolist() == [812.5, 640.25, 905.0]


def test_one_bad_file_among_good_ones(invoke, tmp_path):
    folder = copy_several(tmp_path / "in", bad=True)
    result = invoke(
        "data", "import-csv", "--file", str(folder / "*.csv"), "--symbol-from", "filename"
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any("TSLA.csv" in line and "failed" in line for line in lines)  # the table row
    assert (
        f"failed: {folder / 'TSLA.csv'}: 1 invalid row; line 5: high 99.5 is below low 100.2"
        in lines
    )
    assert lines[-1] == "Error: 1 of 4 files failed (TSLA.csv); the others were imported"
    cat = Catalog(tmp_path / "catalog")
    assert cat.symbols()["symbol"].tolist() == ["AAPL", "EURUSD_1h", "MSFT"]
    assert len(cat.bars("AAPL")) == 3


def test_several_file_options_into_one_symbol(cat, invoke, tmp_path):
    first, second = tmp_path / "2023.csv", tmp_path / "2024.csv"
    lines = (GOOD / "daily_dates.csv").read_text().splitlines()
    first.write_text("\n".join(lines[:6]) + "\n")
    second.write_text("\n".join([lines[0], *lines[6:]]) + "\n")
    result = invoke("data", "import-csv", "-f", str(first), "-f", str(second), "--symbol", "SPY")
    assert result.exit_code == 0, result.output
    assert len(cat.bars("SPY")) == 10


def test_a_file_name_that_is_no_symbol(invoke, tmp_path):
    folder = copy_several(tmp_path / "in")
    shutil.copy(SEVERAL / "AAPL.csv", folder / "_draft.csv")
    result = invoke(
        "data", "import-csv", "--file", str(folder / "*.csv"), "--symbol-from", "filename"
    )
    assert result.exit_code == 1
    message = (
        f"{folder / '_draft.csv'}: the file name gives the symbol '_draft', which is not a valid "
        "symbol (letters, digits, '.', '-', '_'): rename the file or pass --symbol"
    )
    assert f"failed: {message}" in result.output.splitlines()
    single = invoke(
        "data", "import-csv", "--file", str(folder / "_draft.csv"), "--symbol-from", "filename"
    )
    assert (single.exit_code, single.output.strip()) == (1, f"Error: {message}")


def test_symbol_options_and_empty_globs(invoke, tmp_path):
    both = invoke("data", "import-csv", "-f", "x.csv", "--symbol", "A", "--symbol-from", "filename")
    assert both.exit_code == 2 and "pass --symbol or --symbol-from filename" in both.output
    assert invoke("data", "import-csv", "-f", "x.csv").exit_code == 2
    none = invoke("data", "import-csv", "-f", str(tmp_path / "*.csv"), "--symbol-from", "filename")
    assert (none.exit_code, none.output.strip()) == (
        1,
        f"Error: no files match '{tmp_path / '*.csv'}'",
    )


def test_import_files_reports_each_file_and_calls_back(cat, tmp_path):
    folder = copy_several(tmp_path / "in", bad=True)
    seen = []
    outcomes = cat.import_files(
        [folder / "MSFT.csv", str(folder / "T*.csv")],
        symbol_from="filename",
        on_file=lambda path, position, total: seen.append((path.name, position, total)),
        venue="NYSE",
    )
    assert seen == [("MSFT.csv", 0, 2), ("TSLA.csv", 1, 2)]
    msft, tsla = outcomes
    assert msft.report is not None and msft.report.rows_added == 2 and msft.error is None
    assert tsla == FileImport(
        str(folder / "TSLA.csv"),
        "TSLA",
        error=f"{folder / 'TSLA.csv'}: 1 invalid row; line 5: high 99.5 is below low 100.2",
    )
    assert cat.instrument("MSFT").venue == "NYSE"


# -- show ----------------------------------------------------------------------------------


def test_show_uses_the_price_precision_and_whole_volumes(invoke):
    invoke("data", "import-csv", "--file", str(GOOD / "pandas_index_ny.csv"), "--symbol", "AAPL")
    invoke("data", "import-csv", "--file", str(GOOD / "unnamed_0.csv"), "--symbol", "KO")
    aapl = invoke("data", "show", "AAPL").output
    assert "187.15" in aapl and "1,452,380" in aapl and "e+06" not in aapl
    ko = invoke("data", "show", "KO").output
    assert "97.10" in ko and "97.50" in ko and "97.1 " not in ko
    assert "1,200" in ko
