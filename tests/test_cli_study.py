"""``research-lib study run|resume|list|show|report`` through click's test runner, on real
(small) mock studies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from research_lib.cli import cli
from research_lib.store import ResultsStore
from research_lib.store.studies import list_studies

MOCK = ["--data", "mock", "--start", "2024-01-02", "--end", "2024-03-14", "--no-progress"]
GRID = ["--grid", "fast_period=5:15:5", "--grid", "slow_period=20,40"]
SCHEME = ["--walk-forward", "train=1M,test=2W"]


def cli_on(results: Path):
    def run(*args: str):
        return CliRunner().invoke(cli, ["--results", str(results), *args])

    return run


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    """One small completed walk-forward study (3 folds of 6 points) in its own store; the
    store's path and the output of ``study run``."""
    path = tmp_path_factory.mktemp("study") / "r.duckdb"
    result = cli_on(path)("study", "run", "sma_crossover", *MOCK, *GRID, *SCHEME)
    assert result.exit_code == 0, result.output
    (study_id,) = list_studies(ResultsStore(path))["id"]
    return path, study_id, result


@pytest.fixture
def copied(studied, tmp_path):
    """A copy of the studied store, to run bad commands against."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(studied[0], path)
    return path


def snapshot(path: Path) -> tuple:
    """What a store holds: its runs and its studies (with when they last changed)."""
    if not path.exists():
        return ()
    store = ResultsStore(path)
    studies = list_studies(store)
    rows = sorted(zip(studies["id"], studies["status"], map(str, studies["updated_at"]),
                      strict=True))  # fmt: skip
    return tuple(sorted(store.list(limit=None)["id"])), tuple(rows)


def one_line_error(result, phrase: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    assert phrase in lines[0], result.output


# -- a study end to end --------------------------------------------------------------------


def test_study_run_prints_the_folds_the_readings_and_the_report_command(studied):
    _, study_id, result = studied
    out = result.stdout
    assert f"study {study_id[:8]} (completed): sma_crossover" in out
    assert "IS sharpe" in out and "OOS sharpe" in out
    for number in (1, 2, 3):
        assert any(line.strip().startswith(f"{number} ") for line in out.splitlines()), out
    readings = [line for line in out.splitlines() if line.startswith("- ")]
    assert len(readings) == 4, out
    assert readings[0].startswith("- out of sample (3 test windows stitched")
    flat = " ".join(out.split())  # the readings wrap at the console's width
    assert "over 3 folds the Sharpe went from" in flat
    assert "after 6 trials, the best Sharpe" in flat  # the deflated Sharpe ratio
    assert "chance of reflecting real skill" in flat
    assert "splits the in-sample best of 6 trials ranked in the bottom half" in flat  # PBO
    assert readings[3].startswith("- PBO ")
    assert f"research-lib study report {study_id[:8]}" in out
    assert "Traceback" not in result.output
    assert f"study {study_id[:8]}: 3 folds, grid search: all 6 valid points" in result.stderr


def test_study_list_and_show_by_id_and_by_prefix(studied):
    path, study_id, _ = studied
    run = cli_on(path)
    listed = run("study", "list")
    assert listed.exit_code == 0, listed.output
    assert study_id[:8] in listed.output and "completed" in listed.output
    rows = json.loads(run("study", "list", "--format", "json").stdout)
    assert [r["id"] for r in rows] == [study_id]
    assert rows[0]["folds"] == 3 and rows[0]["trials"] == 6
    for given in (study_id, study_id[:8]):
        shown = run("study", "show", given)
        assert shown.exit_code == 0, shown.output
        assert f"study {study_id[:8]} (completed)" in shown.output
        assert "2024-02-02..2024-02-15" in shown.output  # fold 1's test window
        assert "Sharpe went from" in shown.output


def test_study_show_as_json_has_the_folds_and_the_summary(studied):
    path, study_id, _ = studied
    shown = cli_on(path)("study", "show", study_id[:6], "--format", "json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["id"] == study_id and data["status"] == "completed"
    assert [f["number"] for f in data["folds"]] == [1, 2, 3]
    assert all(f["trials"] == 6 for f in data["folds"])
    assert {"oos", "dsr", "pbo", "degradation", "readings"} <= set(data["summary"])
    assert data["spec"]["walk_forward"] == "train=1M,test=2W"
    table = cli_on(path)("study", "show", study_id, "--format", "csv")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].startswith("fold,train,test,trials,fast_period")
    assert len(table.stdout.strip().splitlines()) == 4


def test_study_report_writes_a_file(studied, tmp_path):
    path, study_id, _ = studied
    output = tmp_path / "f.html"
    result = cli_on(path)("study", "report", study_id[:8], "-o", str(output))
    assert result.exit_code == 0, result.output
    assert output.is_file() and output.stat().st_size > 0
    assert f"wrote {output}" in result.output
    assert "<html" in output.read_text(encoding="utf-8").lower()


# -- bad input: one line, a non-zero exit, the store unchanged ------------------------------

BAD_RUNS = [
    ("no scheme", [*MOCK, *GRID],
     "give a validation scheme: --walk-forward, or --train and --test"),
    ("train without test", [*MOCK, *GRID, "--train", "2024-01-02:2024-01-31"],
     "a split needs both --train START:END and --test START:END"),
    ("bad walk-forward", [*MOCK, *GRID, "--walk-forward", "train=12X,test=1M"],
     "train '12X' is not a whole number of days, weeks, months or years"),
    ("longer than the data", [*MOCK, *GRID, "--walk-forward", "train=6M,test=2M"],
     "the data runs 2024-01-02 to 2024-03-14 (73 days), shorter than one fold"),
    ("too few bars", [*MOCK, *GRID, "--train", "2024-01-02:2024-01-31", "--test",
                      "2024-02-03:2024-02-04"],
     "the test window 2024-02-03..2024-02-04 holds 0 bars, fewer than the minimum"),
    ("too few for the warmup", [*MOCK, "--grid", "slow_period=400", "--train",
                                "2024-01-02:2024-01-31", "--test", "2024-02-01:2024-02-01"],
     "holds 390 bars, fewer than the minimum 402"),
    ("optuna without trials", [*MOCK, *GRID, *SCHEME, "--search", "optuna"],
     "optuna search needs --trials N"),
    ("random without trials", [*MOCK, *GRID, *SCHEME, "--search", "random"],
     "random search needs --trials N"),
    ("unknown metric", [*MOCK, *GRID, *SCHEME, "--sort", "sharp"],
     "cannot choose points by 'sharp'; did you mean 'sharpe'?"),
    ("no grid", [*MOCK, *SCHEME], "no grid: give at least one --grid"),
    ("overlapping split", [*MOCK, *GRID, "--train", "2024-01-02:2024-02-15", "--test",
                           "2024-02-01:2024-03-14"], "overlaps the train window"),
    # a grid parameter ranks a sweep's table, but no trial has it as a metric to select by
    ("a parameter as the metric", [*MOCK, *GRID, *SCHEME, "--sort", "fast_period"],
     "'fast_period'"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "phrase"), [b[1:] for b in BAD_RUNS],
                         ids=[b[0] for b in BAD_RUNS])  # fmt: skip
def test_bad_study_run_is_one_line_and_stores_nothing(copied, args, phrase):
    before = snapshot(copied)
    result = cli_on(copied)("study", "run", "sma_crossover", *args)
    one_line_error(result, phrase)
    assert snapshot(copied) == before
    assert not copied.with_name(copied.name + ".studies").exists()


@pytest.mark.parametrize("command", ["show", "resume", "report"])
def test_an_unknown_study_id_is_one_line(copied, command):
    before = snapshot(copied)
    result = cli_on(copied)("study", command, "abcdef12")
    one_line_error(result, f"no study 'abcdef12' in {copied}; research-lib study list shows them")
    assert snapshot(copied) == before


def test_resuming_a_completed_study_changes_nothing(copied):
    (study_id,) = list_studies(ResultsStore(copied))["id"]
    before = snapshot(copied)
    result = cli_on(copied)("study", "resume", study_id[:8])
    assert result.exit_code == 0, result.output
    assert f"study {study_id[:8]} is already completed" in result.stderr
    assert f"study {study_id[:8]} (completed)" in result.stdout
    assert snapshot(copied) == before


# -- the study: section of a config file -----------------------------------------------------

CONFIG = """\
strategy: sma_crossover
backtest:
  data: mock
  start: "2024-01-02"
  end: "2024-03-14"
study:
  grid: {fast_period: "5:15:5"}
  walk_forward: "train=1M,test=2W"
"""


def test_the_study_section_of_a_config_runs_without_grid_or_scheme(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(CONFIG)
    path = tmp_path / "r.duckdb"
    result = cli_on(path)("study", "run", str(config), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "(completed): sma_crossover" in result.stdout
    (row,) = list_studies(ResultsStore(path)).to_dict("records")
    assert row["status"] == "completed"
    assert row["spec"]["walk_forward"] == "train=1M,test=2W"
    assert row["spec"]["grid"] == {"fast_period": [5, 10, 15]}
    assert row["summary"]["folds"] == 3


def test_a_bad_key_in_the_study_section_names_the_file_the_line_and_the_fix(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.replace("  walk_forward:", "  walkforward:"))
    path = tmp_path / "r.duckdb"
    result = cli_on(path)("study", "run", str(config), "--no-progress")
    one_line_error(
        result, f"{config}:8: study.walkforward: unknown key; did you mean 'walk_forward'?"
    )
    assert snapshot(path) == ()
