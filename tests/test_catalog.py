"""Tests for the data catalog: imports, merges, atomicity, DuckDB queries, Nautilus bars."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from factories import BAD, GOOD, utc
from factories import file_digests as snapshot

from research_lib.data import catalog as catalog_module
from research_lib.data import partitions
from research_lib.data.catalog import Catalog, ImportReport
from research_lib.data.instruments import InstrumentSpec
from research_lib.data.synthetic import generate_bars, write_csv
from research_lib.engine.nautilus_bars import to_nautilus_bars
from research_lib.errors import (
    CatalogError,
    DataRangeError,
    ImportValidationError,
    InvalidSymbolError,
    UnknownSymbolError,
)
from research_lib.model.bars import bar_interval


@pytest.fixture
def january() -> pd.DataFrame:
    """Minute bars for January 2024 (NASDAQ hours)."""
    return generate_bars("2024-01-01", "2024-01-31")


@pytest.fixture
def catalog(tmp_path: Path, january: pd.DataFrame) -> Catalog:
    """A catalog holding AAPL minute bars for January 2024."""
    write_csv(january, tmp_path / "aapl.csv")
    cat = Catalog(tmp_path / "catalog")
    cat.import_csv(tmp_path / "aapl.csv", "AAPL")
    return cat


# -- import --------------------------------------------------------------------------------


def test_import_round_trip_is_exact(tmp_path, january):
    write_csv(january, tmp_path / "aapl.csv")
    cat = Catalog(tmp_path / "catalog")
    report = cat.import_csv(tmp_path / "aapl.csv", "AAPL")
    n = len(january)
    assert report == ImportReport(
        file=str(tmp_path / "aapl.csv"),
        symbol="AAPL",
        bar_spec="1-MINUTE-LAST",
        rows_read=n,
        rows_added=n,
        rows_replaced=0,
        rows_unchanged=0,
        rows_rejected=0,
        first=january["timestamp"].iloc[0],
        last=january["timestamp"].iloc[-1],
    )
    assert report.summary() == (
        f"AAPL 1-MINUTE-LAST: {n} rows read, {n} added, 0 replaced, 0 rejected, "
        "2024-01-02 14:30 .. 2024-01-31 20:59 UTC"
    )
    got = cat.bars("AAPL")
    assert str(got["timestamp"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_series_equal(got["timestamp"], january["timestamp"])
    for column in ["open", "high", "low", "close"]:
        np.testing.assert_array_equal(got[column].to_numpy(), january[column].to_numpy())
    np.testing.assert_array_equal(got["volume"].to_numpy(), january["volume"].to_numpy(float))
    assert cat.instrument("AAPL") == InstrumentSpec("AAPL", "NASDAQ", "equity", "USD", 2, 0)
    partition = cat.root / "bars" / "symbol=AAPL" / "bar_spec=1-MINUTE-LAST" / "data.parquet"
    schema = pq.read_schema(partition)
    assert str(schema.field("timestamp").type) == "timestamp[ns, tz=UTC]"
    assert [str(schema.field(c).type) for c in ["open", "volume"]] == ["double", "double"]


def test_reimport_adds_nothing_and_leaves_files_untouched(catalog, tmp_path, january):
    before = snapshot(catalog.root)
    report = catalog.import_csv(tmp_path / "aapl.csv", "AAPL")
    assert (report.rows_added, report.rows_replaced, report.rows_unchanged) == (
        0,
        0,
        len(january),
    )
    assert snapshot(catalog.root) == before


def test_overlapping_import_merges_and_later_values_win(catalog, tmp_path, january):
    overlap = generate_bars("2024-01-29", "2024-02-09", seed=7)  # 3 days overlap, new values
    overlap.loc[0, ["open", "high", "low", "close"]] = january.iloc[-3 * 390][
        ["open", "high", "low", "close"]
    ].to_numpy()
    overlap.loc[0, "volume"] = january.iloc[-3 * 390]["volume"]  # one overlapping row same
    write_csv(overlap, tmp_path / "overlap.csv")
    report = catalog.import_csv(tmp_path / "overlap.csv", "AAPL")
    overlapping = int(overlap["timestamp"].isin(january["timestamp"]).sum())
    assert overlapping == 3 * 390
    assert report.rows_read == len(overlap)
    assert report.rows_replaced == overlapping - 1
    assert report.rows_unchanged == 1
    assert report.rows_added == len(overlap) - overlapping
    got = catalog.bars("AAPL")
    assert len(got) == len(january) + report.rows_added
    assert got["timestamp"].is_monotonic_increasing and got["timestamp"].is_unique
    late = got[got["timestamp"] >= overlap["timestamp"].iloc[0]].reset_index(drop=True)
    np.testing.assert_array_equal(late["close"].to_numpy(), overlap["close"].to_numpy())
    early = got[got["timestamp"] < overlap["timestamp"].iloc[0]]
    np.testing.assert_array_equal(
        early["close"].to_numpy(), january["close"].to_numpy()[: len(early)]
    )


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*.csv")))
def test_rejected_file_leaves_catalog_unchanged(catalog, name):
    before = snapshot(catalog.root)
    for symbol in ["AAPL", "NEW"]:
        with pytest.raises(ImportValidationError) as caught:
            catalog.import_csv(BAD / name, symbol, timezone="America/New_York")
        assert str(caught.value).startswith(f"{BAD / name}: ")
        assert snapshot(catalog.root) == before
    assert not (catalog.root / ".tmp").exists()


def test_bad_file_message_names_line_reason_and_count(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    path = BAD / "high_below_low.csv"
    with pytest.raises(ImportValidationError) as caught:
        cat.import_csv(path, "AAPL")
    assert str(caught.value) == f"{path}: 1 invalid row; line 5: high 99.5 is below low 100.2"
    assert not cat.root.exists()


def test_single_row_file_needs_a_bar_spec(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n")
    cat = Catalog(tmp_path / "catalog")
    with pytest.raises(ImportValidationError, match=r"one.csv: cannot infer .* pass bar_spec"):
        cat.import_csv(path, "AAPL")
    report = cat.import_csv(path, "AAPL", bar_spec="1-DAY-LAST")
    assert (report.bar_spec, report.rows_added) == ("1-DAY-LAST", 1)
    with pytest.raises(CatalogError, match="invalid bar spec '1-DAYS-LAST'"):
        cat.import_csv(path, "AAPL", bar_spec="1-DAYS-LAST")


def test_date_only_file_is_daily_bars_at_midnight_utc(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    report = cat.import_csv(GOOD / "daily_dates.csv", "SPY", venue="ARCA")
    assert report.bar_spec == "1-DAY-LAST"
    got = cat.bars("SPY")
    assert got["timestamp"].iloc[:2].tolist() == [utc("2024-01-02"), utc("2024-01-03")]
    assert got["close"].iloc[0] == 100.5


def test_naive_new_york_times_are_stored_in_utc(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    cat.import_csv(GOOD / "ny_naive.csv", "AAPL", timezone="America/New_York")
    assert cat.bars("AAPL")["timestamp"].tolist() == [
        utc("2024-01-02 14:30"),
        utc("2024-01-02 14:31"),
        utc("2024-01-02 14:32"),
        utc("2024-07-01 13:30"),
    ]
    with pytest.raises(CatalogError, match="unknown timezone 'Mars/Olympus'"):
        cat.import_csv(GOOD / "ny_naive.csv", "AAPL", timezone="Mars/Olympus")


def test_pandas_index_file_with_odd_header_case(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    report = cat.import_csv(GOOD / "pandas_index.csv", "MSFT")
    assert report.rows_added == 3
    assert cat.bars("MSFT")["open"].tolist() == [100.0, 100.2, 100.4]


def test_price_precision_is_inferred_and_only_grows(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    path = tmp_path / "fx.csv"
    path.write_text(
        "timestamp,open,high,low,close\n2024-01-02 00:00,1.10,1.20,1.00,1.15\n"
        "2024-01-02 00:01,1.15,1.25,1.05,1.20\n"
    )
    cat.import_csv(path, "EUR/USD", venue="SIM")
    assert cat.instrument("EUR/USD") == InstrumentSpec("EUR/USD", "SIM", "fx", "USD", 2, 0)
    path.write_text("timestamp,open,high,low,close\n2024-01-02 00:02,1.08525,1.2,1.0,1.1\n")
    cat.import_csv(path, "EUR/USD", venue="SIM", bar_spec="1-MINUTE-LAST")
    assert cat.instrument("EUR/USD").price_precision == 5
    path.write_text("timestamp,open,high,low,close\n2024-01-02 00:03,1.1,1.2,1.0,1.1\n")
    cat.import_csv(path, "EUR/USD", venue="SIM", bar_spec="1-MINUTE-LAST")
    assert cat.instrument("EUR/USD").price_precision == 5
    cat.import_csv(path, "EUR/USD", venue="SIM", bar_spec="1-MINUTE-LAST", price_precision=6)
    assert cat.instrument("EUR/USD").price_precision == 6


def test_same_symbol_with_another_venue_or_currency_is_refused(catalog, tmp_path):
    before = snapshot(catalog.root)
    with pytest.raises(CatalogError, match="AAPL is stored with venue 'NASDAQ', not 'NYSE'"):
        catalog.import_csv(tmp_path / "aapl.csv", "AAPL", venue="NYSE")
    with pytest.raises(CatalogError, match="stored with currency 'USD', not 'EUR'"):
        catalog.import_csv(tmp_path / "aapl.csv", "AAPL", currency="EUR")
    with pytest.raises(InvalidSymbolError, match="invalid venue"):
        catalog.import_csv(tmp_path / "aapl.csv", "MSFT", venue="nyse")
    assert snapshot(catalog.root) == before


# -- atomicity -----------------------------------------------------------------------------


def failing_replace(monkeypatch, fail_on_call: int, error: type[BaseException] = OSError):
    """Make the ``fail_on_call``-th ``os.replace`` raise; later calls work."""
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise error("simulated crash during commit")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_a_failure_before_the_journal_leaves_the_catalog_as_before(catalog, tmp_path, monkeypatch):
    # os.replace call 1 puts the commit journal in place: failing it means no commit
    write_csv(generate_bars("2024-01-02", "2024-01-05", seed=3), tmp_path / "msft.csv")
    before = snapshot(catalog.root)
    failing_replace(monkeypatch, 1)
    with pytest.raises(OSError, match="simulated crash"):
        catalog.import_csv(tmp_path / "msft.csv", "MSFT")
    assert snapshot(catalog.root) == before
    assert not (catalog.root / "bars" / "symbol=MSFT").exists()
    assert not (catalog.root / ".tmp").exists()
    monkeypatch.undo()
    assert catalog.import_csv(tmp_path / "msft.csv", "MSFT").rows_added > 0


def test_a_failed_move_after_the_journal_is_retried_and_completes(catalog, tmp_path, monkeypatch):
    write_csv(generate_bars("2024-01-02", "2024-01-05", seed=3), tmp_path / "msft.csv")
    calls = failing_replace(monkeypatch, 2)  # the first move fails once
    report = catalog.import_csv(tmp_path / "msft.csv", "MSFT")
    assert calls["n"] == 4  # journal, failed move, then both moves again
    assert not (catalog.root / ".tmp").exists()
    assert len(catalog.bars("MSFT")) == report.rows_added
    assert catalog.instrument("MSFT").venue == "NASDAQ"


def test_an_interrupt_after_the_journal_is_finished_by_the_next_read(
    catalog, tmp_path, monkeypatch
):
    # A 3-decimal price grows the stored precision, so both the partition and the
    # instruments table are replaced; Ctrl-C hits between the two moves.
    bars = generate_bars("2024-01-30", "2024-02-02", seed=5)
    bars.loc[0, "close"] = bars.loc[0, "low"] + 0.001
    write_csv(bars, tmp_path / "more.csv")
    failing_replace(monkeypatch, 3, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        catalog.import_csv(tmp_path / "more.csv", "AAPL")
    monkeypatch.undo()
    assert (catalog.root / ".tmp" / "journal.json").is_file()  # decided, not yet complete
    assert catalog.instrument("AAPL").price_precision == 3  # the read finished it
    assert not (catalog.root / ".tmp").exists()
    assert catalog.bars("AAPL")["timestamp"].max() > pd.Timestamp("2024-02-01", tz="UTC")


def test_failed_parquet_write_cleans_its_temp_files(catalog, tmp_path, monkeypatch):
    write_csv(generate_bars("2024-01-02", "2024-01-03", seed=3), tmp_path / "msft.csv")
    before = snapshot(catalog.root)
    real_write = partitions.write_parquet

    def write_half_then_fail(table, path):
        real_write(table.slice(0, 10), path)
        raise OSError("disk full")

    monkeypatch.setattr(partitions, "write_parquet", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        catalog.import_csv(tmp_path / "msft.csv", "MSFT")
    assert snapshot(catalog.root) == before
    assert not (catalog.root / ".tmp").exists()


def test_failed_first_import_leaves_an_empty_catalog(tmp_path, monkeypatch):
    write_csv(generate_bars("2024-01-02", "2024-01-03"), tmp_path / "aapl.csv")
    cat = Catalog(tmp_path / "catalog")
    failing_replace(monkeypatch, 1)
    with pytest.raises(OSError):
        cat.import_csv(tmp_path / "aapl.csv", "AAPL")
    assert sorted(p.name for p in cat.root.iterdir()) == [".lock"]  # the lock file only
    assert cat.symbols().empty


# -- symbols and paths ---------------------------------------------------------------------


NASTY_SYMBOLS = ["../x", "a/../../b", "/etc/passwd", "..", "x\0y", "C:\\x", "", "a/b/c", " AAPL"]


@pytest.mark.parametrize("symbol", NASTY_SYMBOLS)
def test_path_escaping_symbols_are_refused(tmp_path, symbol):
    write_csv(generate_bars("2024-01-02", "2024-01-03"), tmp_path / "bars.csv")
    cat = Catalog(tmp_path / "root" / "catalog")
    with pytest.raises(InvalidSymbolError):
        cat.import_csv(tmp_path / "bars.csv", symbol)
    with pytest.raises(InvalidSymbolError):
        cat.bars(symbol)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bars.csv"]


def test_partition_paths_must_stay_inside_the_root(tmp_path):
    root = tmp_path / "catalog"
    catalog_module._require_inside(root / "bars" / "symbol=..%2Fx", root)
    for outside in [root / "bars" / ".." / "..", root, tmp_path / "elsewhere"]:
        with pytest.raises(InvalidSymbolError, match="resolves outside"):
            catalog_module._require_inside(outside, root)


def test_eur_usd_is_url_encoded_on_disk_and_decoded_by_duckdb(tmp_path, january):
    write_csv(january.iloc[:100], tmp_path / "eurusd.csv")
    cat = Catalog(tmp_path / "catalog")
    cat.import_csv(tmp_path / "eurusd.csv", "EUR/USD", venue="SIM")
    assert [p.name for p in (cat.root / "bars").iterdir()] == ["symbol=EUR%2FUSD"]
    assert cat.sql("SELECT DISTINCT symbol FROM bars")["symbol"].tolist() == ["EUR/USD"]
    assert len(cat.bars("EUR/USD")) == 100
    assert cat.instrument("EUR/USD").asset_class == "fx"


# -- queries -------------------------------------------------------------------------------


def test_bars_range_filter_includes_the_whole_end_day(catalog, january):
    got = catalog.bars("AAPL", "2024-01-03", "2024-01-04")
    assert got["timestamp"].iloc[0] == utc("2024-01-03 14:30")
    assert got["timestamp"].iloc[-1] == utc("2024-01-04 20:59")
    assert len(got) == 2 * 390
    same = catalog.bars("AAPL", dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    pd.testing.assert_frame_equal(got, same)
    exact = catalog.bars("AAPL", utc("2024-01-03 14:30"), pd.Timestamp("2024-01-03 14:32"))
    assert len(exact) == 3  # a Timestamp end is an instant, inclusive
    naive_ny = catalog.bars("AAPL", "2024-01-03T09:30-05:00", "2024-01-03 14:31:00")
    assert naive_ny["timestamp"].tolist() == [utc("2024-01-03 14:30"), utc("2024-01-03 14:31")]
    assert len(catalog.bars("AAPL", start="2024-01-31")) == 390
    assert len(catalog.bars("AAPL", end="2024-01-02")) == 390


def test_empty_range_names_the_available_dates(catalog):
    with pytest.raises(DataRangeError) as caught:
        catalog.bars("AAPL", "2024-03-01", "2024-03-31")
    assert str(caught.value) == (
        "No bars for AAPL between 2024-03-01 and 2024-03-31; the catalog has "
        "2024-01-02..2024-01-31 (research-lib data list)"
    )
    with pytest.raises(DataRangeError, match="between the start and 2023-12-31;"):
        catalog.bars("AAPL", end=dt.date(2023, 12, 31))
    with pytest.raises(DataRangeError, match="between 2024-06-01 and the end;"):
        catalog.bars("AAPL", start=dt.datetime(2024, 6, 1))
    with pytest.raises(DataRangeError, match="between 2024-06-01 09:30:00 and the end;"):
        catalog.bars("AAPL", start=dt.datetime(2024, 6, 1, 9, 30))
    with pytest.raises(DataRangeError, match="start 2024-01-05 is after end 2024-01-04"):
        catalog.bars("AAPL", "2024-01-05", "2024-01-04")
    with pytest.raises(DataRangeError, match="invalid date or time 'soon'"):
        catalog.bars("AAPL", "soon")


def test_unknown_symbol_suggests_the_closest(catalog):
    with pytest.raises(UnknownSymbolError) as caught:
        catalog.bars("AAPX")
    assert str(caught.value) == (
        "unknown symbol 'AAPX'; did you mean 'AAPL'? the catalog has: AAPL (research-lib data list)"
    )
    with pytest.raises(UnknownSymbolError, match=r"^unknown symbol 'ZZZ'; the catalog has: AAPL"):
        catalog.instrument("ZZZ")
    with pytest.raises(UnknownSymbolError, match="is empty"):
        Catalog(catalog.root.parent / "nothing").bars("AAPL")


def test_several_bar_specs_must_be_chosen(catalog):
    catalog.import_csv(GOOD / "daily_dates.csv", "AAPL")
    assert catalog.bar_specs("AAPL") == ["1-DAY-LAST", "1-MINUTE-LAST"]
    with pytest.raises(CatalogError, match=r"several bar specs \(1-DAY-LAST, 1-MINUTE-LAST\)"):
        catalog.bars("AAPL")
    assert len(catalog.bars("AAPL", bar_spec="1-DAY-LAST")) == 10
    with pytest.raises(CatalogError, match="no 1-HOUR-LAST bars for AAPL"):
        catalog.bars("AAPL", bar_spec="1-HOUR-LAST")


def test_symbol_without_bar_files_says_so(catalog):
    (catalog.root / "bars" / "symbol=AAPL" / "bar_spec=1-MINUTE-LAST" / "data.parquet").unlink()
    assert catalog.bar_specs("AAPL") == []
    with pytest.raises(CatalogError, match="no bars stored for AAPL"):
        catalog.bars("AAPL")
    for directory in ["bar_spec=1-MINUTE-LAST", ""]:
        (catalog.root / "bars" / "symbol=AAPL" / directory).rmdir()
    assert catalog.bar_specs("AAPL") == []


def test_sql_and_symbols(catalog, tmp_path):
    catalog.import_csv(GOOD / "daily_dates.csv", "SPY", venue="ARCA")
    assert catalog.sql("select count(*) as n from bars where symbol = 'AAPL'")["n"].item() == (
        len(catalog.bars("AAPL"))
    )
    by_param = catalog.sql("select max(high) as h from bars where symbol = ?", ["SPY"])
    assert by_param["h"].item() == 102.25
    joined = catalog.sql(
        "select distinct b.symbol, i.venue from bars b join instruments i using (symbol) order by 1"
    )
    assert joined.values.tolist() == [["AAPL", "NASDAQ"], ["SPY", "ARCA"]]
    symbols = catalog.symbols()
    assert list(symbols.columns) == ["symbol", "bar_spec", "venue", "first", "last", "rows"]
    assert symbols.to_dict("records") == [
        {
            "symbol": "AAPL",
            "bar_spec": "1-MINUTE-LAST",
            "venue": "NASDAQ",
            "first": utc("2024-01-02 14:30"),
            "last": utc("2024-01-31 20:59"),
            "rows": len(catalog.bars("AAPL")),
        },
        {
            "symbol": "SPY",
            "bar_spec": "1-DAY-LAST",
            "venue": "ARCA",
            "first": utc("2024-01-02"),
            "last": utc("2024-01-15"),
            "rows": 10,
        },
    ]


def test_empty_catalog_has_empty_views(tmp_path):
    cat = Catalog(tmp_path / "nothing")
    assert cat.sql("select count(*) as n from bars")["n"].item() == 0
    assert cat.sql("select * from instruments").empty
    symbols = cat.symbols()
    assert symbols.empty
    assert list(symbols.columns) == ["symbol", "bar_spec", "venue", "first", "last", "rows"]


def test_default_root_reads_the_environment(monkeypatch):
    monkeypatch.delenv("RESEARCH_LIB_CATALOG", raising=False)
    root = Path(__file__).resolve().parent.parent  # the project holding pyproject.toml
    assert Catalog.default_root() == root / "parquet_catalog"
    assert Catalog().root == root / "parquet_catalog"
    monkeypatch.setenv("RESEARCH_LIB_CATALOG", "/data/cat")
    assert Catalog.default_root() == Path("/data/cat")
    assert repr(Catalog("/data/cat")) == "Catalog('/data/cat')"


def test_fingerprint_is_stable_and_tracks_values(catalog, tmp_path, january):
    first = catalog.fingerprint("AAPL")
    expected = hashlib.sha256(january["timestamp"].dt.as_unit("ns").astype("int64").to_numpy())
    for column in ["open", "high", "low", "close", "volume"]:
        expected.update(january[column].to_numpy(dtype=np.float64))
    assert first == expected.hexdigest()  # the documented algorithm
    assert catalog.fingerprint("AAPL") == first
    week = catalog.fingerprint("AAPL", "2024-01-08", "2024-01-12")
    assert week != first
    assert catalog.fingerprint("AAPL", "2024-01-08", "2024-01-12") == week
    changed = january.iloc[[390 * 5]].copy()  # one bar in that week
    changed["volume"] += 1
    write_csv(changed, tmp_path / "fix.csv")
    catalog.import_csv(tmp_path / "fix.csv", "AAPL", bar_spec="1-MINUTE-LAST")
    assert catalog.fingerprint("AAPL", "2024-01-08", "2024-01-12") != week
    assert catalog.fingerprint("AAPL", "2024-01-15", "2024-01-19") == catalog.fingerprint(
        "AAPL", "2024-01-15", "2024-01-19"
    )


# -- Nautilus ------------------------------------------------------------------------------


def test_to_nautilus_bars_stamps_bars_at_their_close(catalog):
    df = catalog.bars("AAPL", "2024-01-03", "2024-01-03")
    bars = to_nautilus_bars(df, catalog.instrument("AAPL"), "1-MINUTE-LAST")
    assert len(bars) == 390
    bar, row = bars[0], df.iloc[0]
    assert str(bar.bar_type) == "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL"
    assert bar.open.as_double() == row["open"]
    assert bar.high.as_double() == row["high"]
    assert bar.low.as_double() == row["low"]
    assert bar.close.as_double() == row["close"]
    assert bar.volume.as_double() == row["volume"]
    assert bar.open.precision == 2
    close_time = utc("2024-01-03 14:31")
    assert bar.ts_event == bar.ts_init == close_time.value
    assert bars[-1].ts_event == utc("2024-01-03 21:00").value


def test_to_nautilus_bars_accepts_microsecond_frames(catalog):
    df = catalog.bars("AAPL", "2024-01-03", "2024-01-03").head(2)
    df["timestamp"] = df["timestamp"].dt.as_unit("us")
    bars = to_nautilus_bars(df, catalog.instrument("AAPL"), "5-MINUTE-LAST")
    assert bars[1].ts_event == (utc("2024-01-03 14:31") + pd.Timedelta("5min")).value


def test_bar_interval_is_exported():
    assert bar_interval("1-HOUR-LAST") == pd.Timedelta(hours=1)
