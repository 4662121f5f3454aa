"""Hostile input to ``data import-csv``, ``data generate`` and the catalog path: each is
refused with one line and a non-zero exit, and the catalog stays byte-identical."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import file_digests as tree
from nautilus_trader.model import objects

from research_lib.cli import cli
from research_lib.data import csv_import
from research_lib.data.catalog import Catalog
from research_lib.data.inputs import MAX_BYTES_ENV, MAX_LINE_BYTES
from research_lib.data.synthetic import generate_bars, write_csv

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture
def root(tmp_path) -> Path:
    """A catalog holding AAPL bars (so it has its lock file and both kinds of file)."""
    write_csv(generate_bars("2024-01-02", "2024-01-05"), tmp_path / "aapl.csv")
    catalog = Catalog(tmp_path / "cat")
    catalog.import_csv(tmp_path / "aapl.csv", "AAPL")
    return catalog.root


def run(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--catalog", str(root), *args])


def refused(root: Path, args: list[str], *parts: str) -> str:
    """Run the CLI; assert exit 1, one stderr line holding ``parts``, an unchanged catalog."""
    before = tree(root)
    result = run(root, *args)
    assert result.exit_code == 1, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert tree(root) == before
    return lines[0]


def import_args(path: Path | str, symbol: str = "X") -> list[str]:
    return ["data", "import-csv", "--file", str(path), "--symbol", symbol]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("binary.csv", ["binary.csv: line 4: a NUL byte (a binary file, not CSV text)"]),
        ("nul_in_row.csv", ["nul_in_row.csv: line 3: a NUL byte"]),
        ("bad_utf8.csv", ["bad_utf8.csv: cannot parse the CSV", "invalid UTF8"]),
        (
            "year_2300.csv",
            [
                "year_2300.csv: 1 invalid row; line 3: timestamp '2300-01-03' is outside the "
                "years 1678-2261"
            ],
        ),
        (
            "multiline_quoted.csv",
            ["multiline_quoted.csv: line 2: a quoted field runs past the end of its line"],
        ),
        ("unclosed_quote.csv", ["unclosed_quote.csv: line 3: a quoted field"]),
        (
            "price_1e14.csv",
            [
                "price_1e14.csv: 1 invalid row; line 3: open 100000000000000.0 is above "
                "17,014,118,346,046, the largest price a backtest can hold"
            ],
        ),
    ],
)
def test_a_hostile_fixture_is_one_line_and_changes_nothing(root, name, parts):
    refused(root, import_args(HOSTILE / name), *parts)


def test_a_fifo_nobody_writes_to_is_refused_before_opening(root, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused(root, import_args(fifo), f"{fifo}: is a FIFO (named pipe), not a regular file")


@pytest.mark.parametrize(
    ("path", "kind"), [("/dev/zero", "a character device"), ("/tmp", "a directory")]
)
def test_devices_and_directories_are_refused(root, path, kind):
    refused(root, import_args(path), f"{path}: is {kind}, not a regular file")


def test_a_50_mb_line_is_refused_naming_it(root, tmp_path):
    path = tmp_path / "long.csv"
    with path.open("w") as f:
        f.write(HEADER + "2024-01-02,1,2,0.5,1.5,10\n2024-01-03," + "1" * 50_000_000 + "\n")
    refused(root, import_args(path), f"long.csv: line 3: longer than {MAX_LINE_BYTES:,} bytes")


def test_a_long_header_line_is_refused(root, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("x" * (MAX_LINE_BYTES + 1) + "\n2024-01-02,1,2,0.5,1.5,10\n")
    refused(root, import_args(path), "header.csv: line 1: longer than")


def test_a_line_at_the_limit_is_read(root, tmp_path):
    # the limit counts bytes before the newline: a 64 KiB line is allowed
    path = tmp_path / "wide.csv"
    row = "2024-01-02,1,2,0.5,1.5,10,"
    path.write_text(HEADER.strip() + ",note\n" + row + "n" * (MAX_LINE_BYTES - len(row)) + "\n")
    result = run(root, *import_args(path), "--bar-spec", "1-DAY-LAST")
    assert result.exit_code == 0, result.output


def test_a_gzipped_long_line_is_refused_after_decompression(root, tmp_path):
    path = tmp_path / "long.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(HEADER + "2024-01-02," + "9" * (MAX_LINE_BYTES + 10) + "\n")
    refused(root, import_args(path), "long.csv.gz: line 2: longer than")


def test_the_size_limit_is_configurable(root, monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, "50")
    refused(root, import_args(HOSTILE / "year_2300.csv"), "more than 50 bytes", MAX_BYTES_ENV)


def test_a_symbol_with_a_newline_or_control_character_is_refused(root):
    good = HOSTILE.parent / "good" / "daily_dates.csv"
    refused(root, import_args(good, "x\n"), "invalid symbol 'x\\n'")
    refused(root, import_args(good, "a\tb"), "invalid symbol 'a\\tb'")


def test_a_catalog_path_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "catalog.txt"
    path.write_text("not a folder\n")
    for args in (["data", "list"], import_args(HOSTILE / "year_2300.csv")):
        refused(path, args, f"the catalog path {path} is a file, not a folder")
    assert path.read_text() == "not a folder\n"


def test_the_price_limits_are_nautiluss():
    assert csv_import.PRICE_MAX == objects.PRICE_MAX
    assert csv_import.VOLUME_MAX == objects.QUANTITY_MAX


def test_a_price_just_below_the_limit_is_accepted(root, tmp_path):
    path = tmp_path / "high.csv"
    price = "17014118346045"
    path.write_text(HEADER + "".join(f"2024-01-0{d},{price},{price},{price},{price},1\n"
                                     for d in (2, 3, 4)))  # fmt: skip
    assert run(root, *import_args(path)).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--freq", "1ns", "--start", "2024-01-01", "--end", "2024-12-31"],
            "more than the limit of 5,000,000",
        ),
        (["--start", "2300-01-02", "--end", "2300-01-05"], "start 2300-01-02 is outside"),
        (["--freq", "0min"], "the bar interval must be positive"),
    ],
)
def test_generate_refuses_impossible_requests(tmp_path, args, message):
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["data", "generate", *args, "--output", str(out)])
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not out.exists()


def test_mock_bars_in_2300_are_refused_by_the_generator():
    from research_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="start 2300-01-02 is outside the years 1678-2261"):
        generate_bars("2300-01-02", "2300-01-05")


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2024-01-02", "2300-01-03", "2024-01-04"], "timestamp[us]"),
        (["2024-01-02", "2300-01-03", "2024-01-04"], "date32"),
        (["2024-01-02", "1500-01-03", "2024-01-04"], "timestamp[s, tz=UTC]"),
    ],
)
def test_typed_parquet_times_out_of_range_are_refused_by_row(root, tmp_path, values, kind):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = np.array(values, dtype="datetime64[D]")
    if kind == "date32":
        times = pa.array(days, pa.date32())
    else:
        unit, _, tz = kind.removeprefix("timestamp[").removesuffix("]").partition(", tz=")
        times = pa.array(days.astype(f"datetime64[{unit}]"), pa.timestamp(unit, tz or None))
    prices = pa.array([1.0, 1.0, 1.0])
    table = pa.table(
        {"timestamp": times, "open": prices, "high": prices, "low": prices, "close": prices}
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    year = values[1][:4]
    refused(
        root,
        import_args(tmp_path / "typed.parquet"),
        "typed.parquet: 1 invalid row; row 2: timestamp",
        f"{year}-01-03",
        "outside the years 1678-2261",
    )


def test_a_bar_spec_with_a_newline_is_refused(root):
    good = HOSTILE.parent / "good" / "daily_dates.csv"
    refused(
        root, [*import_args(good), "--bar-spec", "1-DAY-LAST\n"], "invalid bar spec '1-DAY-LAST\\n'"
    )


# -- found in review: what must still be accepted, and the rest of the limits ------------------


def test_a_quote_inside_an_unquoted_field_is_an_ordinary_character(root, tmp_path):
    path = tmp_path / "inch.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume,note\n"
        '2024-01-08 14:30,1,2,0.5,1.5,10,5" display\n'
        "2024-01-08 14:31,1,2,0.5,1.5,10,ok\n"
        '2024-01-08 14:32,1,2,0.5,1.5,10,"a, b"\n',
        encoding="utf-8",
    )
    result = run(root, *import_args(path, "INCH"))
    assert result.exit_code == 0, result.output
    assert "3 rows read, 3 added" in result.output


def test_a_small_gzip_of_empty_lines_is_refused_without_filling_memory(root, tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(HEADER.encode() + b"\n" * 50_000_000))  # 50 kB on disk
    refused(root, import_args(bomb), "line 2: more than 1,000 empty lines in a row")


def test_a_lock_timeout_that_is_not_a_number_is_one_line(root, monkeypatch):
    monkeypatch.setenv("RESEARCH_LIB_LOCK_TIMEOUT", "nan")
    result = run(root, "data", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: RESEARCH_LIB_LOCK_TIMEOUT must be a number of seconds (0 or more)\n"
    )


def test_staged_files_of_a_commit_never_made_do_not_stop_a_read(root):
    before = tree(root)
    (root / ".tmp").mkdir()
    (root / ".tmp" / "0123abcd.parquet").write_bytes(b"staged by a writer that died")
    listed = run(root, "data", "list")
    assert listed.exit_code == 0, listed.output
    assert "AAPL" in listed.stdout
    assert tree(root) == before  # the leftover was tidied away, nothing else changed
