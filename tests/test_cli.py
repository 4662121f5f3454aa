"""The foundation's commands end to end: generate -> import -> backtest, and their errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from factories import file_digests as tree_digest

from research_lib.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_AAPL.csv"


@pytest.fixture
def invoke(tmp_path):
    """Run the CLI with a temp catalog and results store; returns the click Result."""

    def run(*args: str):
        base = ["--catalog", str(tmp_path / "cat"), "--results", str(tmp_path / "r.duckdb")]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    return run


@pytest.fixture
def imported(invoke):
    result = invoke("data", "import-csv", "--file", str(SAMPLE), "--symbol", "AAPL")
    assert result.exit_code == 0, result.output
    return invoke


def test_generate_writes_the_same_file_for_the_same_seed(invoke, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    args = ["data", "generate", "--symbol", "AAPL", "--start", "2024-01-02", "--end", "2024-01-03"]
    assert invoke(*args, "--output", str(a)).exit_code == 0
    result = invoke(*args, "--output", str(b))
    assert "wrote 780 bars of AAPL" in result.output
    assert a.read_bytes() == b.read_bytes()
    lines = a.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert lines[1].startswith("2024-01-02T09:30:00-05:00,")


def test_sample_file_is_the_generator_output(invoke, tmp_path):
    out = tmp_path / "s.csv"
    invoke("data", "generate", "--start", "2024-01-01", "--end", "2024-01-31", "-o", str(out))
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_generate_rejects_a_range_without_sessions(invoke):
    result = CliRunner().invoke(
        cli, ["data", "generate", "--start", "2024-01-06", "--end", "2024-01-07", "-o", "x.csv"]
    )
    assert result.exit_code == 1
    assert "no bars between 2024-01-06 and 2024-01-07" in result.output


def test_import_reports_and_reimport_adds_nothing(invoke):
    first = invoke("data", "import-csv", "--file", str(SAMPLE), "--symbol", "AAPL")
    assert first.exit_code == 0
    assert "8190 rows read, 8190 added, 0 replaced, 0 rejected" in first.output
    again = invoke("data", "import-csv", "--file", str(SAMPLE), "--symbol", "AAPL")
    assert "8190 rows read, 0 added, 0 replaced" in again.output


def test_import_missing_file_is_one_line(invoke, tmp_path):
    result = invoke("data", "import-csv", "--file", str(tmp_path / "nope.csv"), "--symbol", "AAPL")
    assert result.exit_code == 1
    assert "nope.csv" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_import_of_a_bad_file_changes_nothing(imported, tmp_path):
    before = tree_digest(tmp_path / "cat")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-02-01T14:30:00Z,10,11,9,10,100\n"
        "2024-02-01T14:31:00Z,10,9,11,10,100\n"
    )
    result = imported("data", "import-csv", "--file", str(bad), "--symbol", "AAPL")
    assert result.exit_code == 1
    assert "bad.csv" in result.output and "line 3" in result.output
    assert tree_digest(tmp_path / "cat") == before


def test_import_refuses_a_path_like_symbol(invoke, tmp_path):
    result = invoke("data", "import-csv", "--file", str(SAMPLE), "--symbol", "../x")
    assert result.exit_code == 1
    assert "invalid symbol '../x'" in result.output
    assert not (tmp_path / "x").exists()


def test_list_and_show(imported):
    listing = imported("data", "list")
    assert "AAPL" in listing.output and "8,190" in listing.output
    assert "1-MINUTE-LAST" in listing.output
    shown = imported(
        "data", "show", "AAPL", "--start", "2024-01-05", "--end", "2024-01-05", "--limit", "2"
    )
    assert "2 of 390 bars" in shown.output
    assert "2024-01-05 14:30 " in shown.output


def test_list_of_an_empty_catalog(invoke):
    assert "the catalog is empty" in invoke("data", "list").output


def test_show_unknown_symbol_suggests(imported):
    result = imported("data", "show", "AAPLE")
    assert result.exit_code == 1
    assert "unknown symbol 'AAPLE'" in result.output and "did you mean 'AAPL'" in result.output


def test_backtest_run_on_the_catalog_is_saved(imported, tmp_path):
    from research_lib.store import ResultsStore

    result = imported(
        "backtest", "run", "--strategy", "sma", "--symbol", "AAPL",
        "--start", "2024-01-02", "--end", "2024-01-05", "--fast", "5", "--slow", "30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sma_crossover on AAPL" in result.output
    assert "1,560" in result.output  # 4 sessions x 390 bars
    runs = ResultsStore(tmp_path / "r.duckdb").list()
    assert len(runs) == 1
    run = runs.iloc[0]
    assert (run["strategy"], run["symbol"], run["source"], run["status"]) == (
        "sma_crossover",
        "AAPL",
        "cli",
        "completed",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "MSFT"], "unknown symbol 'MSFT'"),
        (["--symbol", "AAPL", "--start", "2024-03-01", "--end", "2024-03-31"], "No bars for AAPL"),
        (["--symbol", "AAPL", "--start", "someday"], "someday"),
        (["--strategy", "smaa", "--symbol", "AAPL"], "did you mean 'sma'"),
        (["--symbol", "AAPL", "--fast", "30", "--slow", "10"], "slow_period: must be greater"),
        (["--symbol", "AAPL", "-p", "fast_perod=5"], "did you mean 'fast_period'"),
        (["--symbol", "AAPL", "-p", "fast_period"], "key=value"),
    ],
)
def test_backtest_run_errors(imported, args, message):
    result = imported("backtest", "run", *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert result.output.startswith("Error: ")
    assert "Traceback" not in result.output


def test_failed_cli_run_is_recorded(imported, tmp_path):
    from research_lib.store import ResultsStore

    imported("backtest", "run", "--symbol", "AAPL", "--start", "2024-03-01", "--end", "2024-03-02")
    runs = ResultsStore(tmp_path / "r.duckdb").list(status="failed")
    assert len(runs) == 1 and "No bars for AAPL" in runs.iloc[0]["error"]


def test_verbose_shows_the_traceback(tmp_path):
    args = ["--catalog", str(tmp_path), "--verbose", "data", "show", "AAPL"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert "unknown symbol 'AAPL'" in result.output


def test_run_simple(invoke, tmp_path):
    from research_lib.store import ResultsStore

    result = invoke("run-simple")
    assert result.exit_code == 0, result.output
    for label in ("Period", "Bars", "Trades", "Final capital", "Total return", "Sharpe"):
        assert label in result.output
    assert "8,190" in result.output
    assert ResultsStore(tmp_path / "r.duckdb").list().iloc[0]["strategy"] == "sma_crossover"


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run(
        [sys.executable, "-m", "research_lib", "--help"], capture_output=True, text=True, check=True
    )
    assert "run-simple" in out.stdout and "backtest" in out.stdout
