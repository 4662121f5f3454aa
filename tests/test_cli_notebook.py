"""``research-lib notebook run``, ``sweep`` and ``lab`` through click's test runner."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from factories import make_result

from research_lib.cli import cli
from research_lib.store import ResultsStore, db
from research_lib.workflows import executor, notebooks
from research_lib.workflows.notebooks import NotebookExecutionError, NotebookRun

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = str(ROOT / "notebooks" / "03_parameterised_backtest.ipynb")


@pytest.fixture
def invoke(tmp_path):
    """Run the CLI with a temp results store and catalog."""
    runner = CliRunner()
    base = ["--results", str(tmp_path / "results.duckdb"), "--catalog", str(tmp_path / "cat")]

    def run(*args: str):
        return runner.invoke(cli, [*base, *args], catch_exceptions=False)

    return run


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """Replace run_notebook; record what the command passed."""
    calls = []

    def fake(path, parameters, output, **kwargs):
        calls.append({"path": path, "parameters": parameters, "output": output, **kwargs})
        return NotebookRun(
            Path(path), tmp_path / "out.ipynb", parameters, ["run-1", "run-2"], tmp_path / "r"
        )

    monkeypatch.setattr(notebooks, "run_notebook", fake)
    return calls


def test_notebook_run_parses_parameters_and_prints_the_runs(invoke, fake_run, tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text("symbol: MSFT\nparams: {fast_period: 5}\nend: 2024-01-05\n")
    result = invoke(
        "notebook", "run", NOTEBOOK, "-f", str(params_file), "-p", "symbol", "AAPL",
        "-p", "params", "{fast_period: 5, slow_period: 20}", "-p", "tags", "[a, b]",
        "--output", str(tmp_path / "o.ipynb"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    call = fake_run[0]
    assert call["parameters"]["symbol"] == "AAPL"  # -p wins over -f
    assert call["parameters"]["params"] == {"fast_period": 5, "slow_period": 20}
    assert call["parameters"]["tags"] == ["a", "b"]
    assert call["output"] == str(tmp_path / "o.ipynb")
    assert call["results"] == str(tmp_path / "results.duckdb")
    assert call["catalog"] == str(tmp_path / "cat")
    assert f"output notebook: {tmp_path / 'out.ipynb'}" in result.output
    assert "run run-1 saved to" in result.output and "run run-2" in result.output


def test_notebook_run_values_are_yaml(invoke, fake_run):
    result = invoke("notebook", "run", NOTEBOOK, "-p", "seed", "7", "-p", "start", "[oops")
    assert result.exit_code == 0, result.output
    assert fake_run[0]["parameters"] == {"seed": 7, "start": "[oops"}
    assert fake_run[0]["output"] is None


def test_notebook_run_without_runs_says_so(invoke, monkeypatch, tmp_path):
    monkeypatch.setattr(
        notebooks, "run_notebook", lambda *a, **k: NotebookRun(Path(a[0]), tmp_path / "o", {})
    )
    result = invoke("notebook", "run", NOTEBOOK)
    assert "no runs recorded" in result.output


def test_notebook_run_failure_is_one_line(invoke, monkeypatch, tmp_path):
    def failing(*args, **kwargs):
        raise NotebookExecutionError("x.ipynb failed in cell [5] `run()`: E: bad", tmp_path, [])

    monkeypatch.setattr(notebooks, "run_notebook", failing)
    result = invoke("notebook", "run", NOTEBOOK)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: x.ipynb failed in cell [5] `run()`: E: bad"


def test_notebook_run_errors(invoke, tmp_path):
    missing = invoke("notebook", "run", str(tmp_path / "nope.ipynb"))
    assert missing.exit_code == 1 and "Error: no notebook at" in missing.output
    bad = tmp_path / "p.yaml"
    bad.write_text("- a\n- b\n")
    result = invoke("notebook", "run", NOTEBOOK, "-f", str(bad))
    assert result.exit_code == 1 and "expected a mapping of parameter: value" in result.output
    bad.write_text("a: [1\n")
    result = invoke("notebook", "run", NOTEBOOK, "-f", str(bad))
    assert result.exit_code == 1 and "not valid YAML" in result.output
    bad.write_text("")
    unknown = invoke("notebook", "run", NOTEBOOK, "-f", str(bad), "-p", "simbol", "X")
    assert unknown.exit_code == 1 and "did you mean 'symbol'" in unknown.output


def test_sweep_prints_skipped_points_and_the_ranked_table(invoke, tmp_path, monkeypatch):
    monkeypatch.setattr(executor, "cpu_count", lambda: 1)  # the default: one worker a core
    result = invoke(
        "sweep", "sma_crossover", "--grid", "fast_period=5,10", "--grid", "slow_period=10:20:10",
        "--data", "mock", "--start", "2024-01-02", "--end", "2024-01-03", "--sort", "return",
        "--tag", "cli", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "skipped fast_period=10, slow_period=10: slow_period: must be greater" in out
    assert out.index("skipped") < out.index("best return first")
    assert "3 of 4 points to run (1 worker, via runner)" in out
    assert "3 completed, 0 failed, 1 skipped" in out
    runs = ResultsStore(tmp_path / "results.duckdb").list(limit=None)
    assert len(runs) == 3 and set(runs["source"]) == {"sweep"}
    assert runs["sweep_id"].nunique() == 1 and runs["sweep_id"].iloc[0] in out


def test_sweep_reports_failed_points(invoke):
    result = invoke(
        "sweep", "sma", "-g", "slow_period=20,500", "--data", "mock", "--start", "2024-01-02",
        "--end", "2024-01-02", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "failed slow_period=500: DataRangeError" in result.output
    assert "1 completed, 1 failed, 0 skipped" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "fast_period"], "Error: --grid expects name=a,b,c"),
        (["--grid", "fast_perod=5"], "did you mean 'fast_period'"),
        (["--grid", "fast_period=5", "--sort", "sharp"], "cannot rank by 'sharp'; did you mean"),
        (["--grid", "fast_period=30,40", "--grid", "slow_period=20"], "none of the 2 grid points"),
    ],
)
def test_sweep_errors(invoke, args, message):
    result = invoke("sweep", "sma_crossover", "--data", "mock", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_sweep_needs_a_grid(invoke):
    result = invoke("sweep", "sma_crossover")
    assert result.exit_code == 2 and "Missing option '--grid'" in result.output


def test_lab_without_jupyterlab_says_how_to_install(invoke, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name)
    )
    monkeypatch.setattr(os, "execvp", lambda *a: pytest.fail("must not start anything"))
    result = invoke("lab")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: JupyterLab is not installed: run `uv sync --extra lab`, then `uv run jupyter lab`"
    )


def test_lab_execs_jupyter_lab_in_this_environment(invoke, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "jupyterlab" else real(name),
    )
    calls = []
    monkeypatch.setattr(os, "execvp", lambda file, args: calls.append((file, args)))
    result = invoke("lab", "--no-browser")
    assert result.exit_code == 0, result.output
    file, args = calls[0]
    assert file == sys.executable
    assert args[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert f"--ServerApp.root_dir={ROOT}" in args and args[-1] == "--no-browser"


def test_notebook_run_takes_yaml_dates_times_and_sets(invoke, tmp_path):
    # YAML reads 2024-01-02T14:30:00 as a datetime and !!set as a set: the notebook gets
    # ISO text and a sorted list (papermill writes parameters as JSON).
    params_file = tmp_path / "params.yaml"
    params_file.write_text("tags: !!set {zeta, alpha}\nend: 2024-01-03T21:00:00\n")
    result = invoke(
        "notebook", "run", NOTEBOOK, "-f", str(params_file), "-p", "start",
        "2024-01-02T14:30:00", "-p", "data", "mock", "--output", str(tmp_path / "o.ipynb"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    store = ResultsStore(tmp_path / "results.duckdb")
    run = store.get(store.list()["id"].iloc[0])
    assert run.status == "completed" and list(run.tags) == ["alpha", "zeta"]
    assert run.settings["start"] == "2024-01-02T14:30:00"
    assert run.settings["end"] == "2024-01-03T21:00:00"
    assert str(run.start) == "2024-01-02 14:30:00+00:00"


def test_notebook_run_refuses_a_value_a_notebook_cannot_take(tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text("tags: !!binary aGVsbG8=\n")
    result = CliRunner().invoke(
        cli,
        ["--results", str(tmp_path / "r.duckdb"), "notebook", "run", NOTEBOOK, "-f",
         str(params_file)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: parameter 'tags': a bytes cannot be passed to a notebook; give text, a "
        "number, true/false, a list or a mapping"
    )
    assert not (tmp_path / "r.duckdb").exists()


def test_sweep_caps_workers_at_the_cores_with_a_warning(invoke, monkeypatch):
    monkeypatch.setattr(executor, "cpu_count", lambda: 1)
    result = invoke(
        "sweep", "sma", "-g", "fast_period=5", "--data", "mock", "--start", "2024-01-02",
        "--end", "2024-01-02", "--workers", "16", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: 16 workers asked for, 1 started: 1 cores" in result.output
    assert "1 of 1 points to run (1 worker, via runner)" in result.output


def test_sweep_on_a_read_only_store_says_the_runs_were_kept(invoke, tmp_path, monkeypatch):
    store = tmp_path / "results.duckdb"
    ResultsStore(store).save(make_result())  # the file exists; from now on it cannot be written
    real_open = db.open_file

    def read_only(path: str, read_only: bool):
        if not read_only:
            raise duckdb.IOException("IO Error: Cannot open file: Permission denied")
        return real_open(path, read_only)

    monkeypatch.setattr(db, "open_file", read_only)
    result = invoke(
        "sweep", "sma", "-g", "fast_period=5,10", "--data", "mock", "--start", "2024-01-02",
        "--end", "2024-01-02", "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output.replace("\n", "")  # long lines wrap at 80 columns
    assert "2 completed, 0 failed, 0 skipped" in out
    assert f"2 runs NOT saved to {store} (not writable): kept in {store}.pending" in out
    assert "; saved to" not in out
    monkeypatch.undo()
    assert len(ResultsStore(store).list()) == 3  # added on the next open


def test_parameter_values_become_what_a_notebook_can_hold():
    import datetime as dt

    value = {
        "when": dt.datetime(2024, 1, 2, 14, 30), "day": dt.date(2024, 1, 2),
        "where": Path("/tmp/x"), "pair": (1, {3, 2}), "mixed": {1, "a"},
    }  # fmt: skip
    assert notebooks._plain(value, "p") == {
        "when": "2024-01-02T14:30:00", "day": "2024-01-02", "where": "/tmp/x",
        "pair": [1, [2, 3]], "mixed": ["a", 1],
    }  # fmt: skip
