"""The notebooks as committed (paired, no outputs, thin) and running them with papermill."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillException, PapermillExecutionError

from research_lib.errors import NotebookError
from research_lib.store import ResultsStore
from research_lib.workflows import sweep as sweep_module
from research_lib.workflows.notebooks import (
    NotebookExecutionError,
    default_output,
    notebook_parameters,
    run_notebook,
)
from research_lib.workflows.sweep import ensure_demo_sweep

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PARAMETERISED = ROOT / "notebooks" / "03_parameterised_backtest.ipynb"


def test_the_five_notebooks_exist():
    assert [nb.name for nb in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_interactive_backtest.ipynb",
        "03_parameterised_backtest.ipynb",
        "04_compare_results.ipynb",
        "05_walk_forward.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_its_py_pair_have_the_same_cells(path):
    pair = path.with_suffix(".py")
    assert pair.exists(), f"{pair.name} missing: jupytext --set-formats ipynb,py:percent {path}"
    nb = nbformat.read(path, as_version=4)
    py = jupytext.read(pair)
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    got = [(c.cell_type, c.source) for c in nb.cells]
    want = [(c.cell_type, c.source) for c in py.cells]
    assert got == want, f"{path.name} and {pair.name} drifted: jupytext --sync {pair}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_defines_no_functions_or_classes(path):
    code = "\n".join(
        c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
    )
    defined = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
    ]
    assert defined == []


def test_parameterised_notebook_declares_its_parameters():
    nb = nbformat.read(PARAMETERISED, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = notebook_parameters(PARAMETERISED)
    for name in (
        "strategy", "config", "params", "symbol", "start", "end", "data", "catalog", "results",
        "source", "notebook_path", "tags", "sweep_id",
    ):  # fmt: skip
        assert name in declared
    assert declared["source"] == '"notebook"'
    assert declared["notebook_path"] == "None"


# -- paths ----------------------------------------------------------------------------------


def test_default_output_is_timestamped_under_notebooks_output():
    out = default_output("somewhere/03_parameterised_backtest.ipynb")
    assert out.parent == ROOT / "notebooks" / "output"
    assert out.name.startswith("03_parameterised_backtest-") and out.suffix == ".ipynb"
    assert out != default_output("03_parameterised_backtest.ipynb")


# -- papermill ------------------------------------------------------------------------------


def test_papermill_run_records_the_notebook_path(tmp_path):
    store = tmp_path / "results.duckdb"
    output = tmp_path / "out" / "run.ipynb"
    run = run_notebook(
        PARAMETERISED,
        {"params": {"fast_period": 5, "slow_period": 20}, "end": "2024-01-03", "tags": ("pm",)},
        output,
        results=store,
    )
    assert run.output == output.resolve() and output.exists()
    assert run.results == store.resolve()
    assert len(run.run_ids) == 1 and run.run_id == run.run_ids[0]
    assert run.parameters["source"] == "papermill"
    stored = ResultsStore(store).get(run.run_id)
    assert stored.status == "completed"
    assert stored.run["source"] == "papermill"
    assert stored.run["notebook_path"] == str(output.resolve())
    assert list(stored.run["tags"]) == ["pm"]
    assert stored.config["fast_period"] == 5 and stored.config["slow_period"] == 20
    executed = nbformat.read(output, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "fast_period" in injected[0].source
    assert "Kernel is running" not in json.dumps(executed)


def test_failing_notebook_is_recorded_once_and_raises(tmp_path):
    store = tmp_path / "results.duckdb"
    output = tmp_path / "failed.ipynb"
    with pytest.raises(NotebookError) as info:
        run_notebook(
            PARAMETERISED, {"params": {"fast_period": 30, "slow_period": 20}}, output, results=store
        )
    message = str(info.value)
    assert "\n" not in message
    assert "03_parameterised_backtest.ipynb failed in cell" in message
    assert "slow_period: must be greater than fast_period (30), was 20" in message
    assert str(output.resolve()) in message and output.exists()
    runs = ResultsStore(store).list(limit=None)
    assert len(runs) == 1  # recorded by run_backtest; run_notebook adds none
    assert runs["status"].iloc[0] == "failed"
    assert "slow_period" in runs["error"].iloc[0]
    assert info.value.run_ids == [runs["id"].iloc[0]]
    assert ResultsStore(store).get(runs["id"].iloc[0]).run["notebook_path"] == str(output.resolve())


def _fail_before_running(*args, **kwargs):
    """A papermill execution whose cell failed before any run_backtest call."""
    raise PapermillExecutionError(
        cell_index=3,
        exec_count=2,
        source="import missing_module\nmore",
        ename="ModuleNotFoundError",
        evalue="No module named 'missing_module'",
        traceback=["\x1b[0;31mModuleNotFoundError\x1b[0m", "No module named 'missing_module'"],
    )


def test_failure_before_the_backtest_is_recorded_by_run_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(papermill, "execute_notebook", _fail_before_running)
    store = tmp_path / "results.duckdb"
    output = tmp_path / "early.ipynb"
    with pytest.raises(NotebookExecutionError) as info:
        run_notebook(PARAMETERISED, {"symbol": "MSFT", "sweep_id": "s-1"}, output, results=store)
    assert "failed in cell [2] `import missing_module`" in str(info.value)
    assert "ModuleNotFoundError: No module named 'missing_module'" in str(info.value)
    stored = ResultsStore(store).get(info.value.run_ids[0])
    assert stored.status == "failed"
    assert stored.run["error"].startswith("ModuleNotFoundError: No module named 'missing_module'")
    assert "cell [2] of 03_parameterised_backtest.ipynb" in stored.run["error"]
    assert "\x1b" not in stored.run["traceback"]
    assert stored.run["source"] == "papermill" and stored.run["sweep_id"] == "s-1"
    assert stored.run["symbol"] == "MSFT"
    assert stored.run["notebook_path"] == str(output.resolve())


def test_unknown_parameter_is_refused_with_a_hint(tmp_path):
    with pytest.raises(NotebookError, match="has no parameter 'simbol'; did you mean 'symbol'"):
        run_notebook(PARAMETERISED, {"simbol": "AAPL"}, tmp_path / "x.ipynb")


def test_missing_and_unreadable_notebooks(tmp_path):
    with pytest.raises(NotebookError, match=r"did you mean '03_parameterised_backtest\.ipynb'"):
        run_notebook(ROOT / "notebooks" / "03_parameterized_backtest.ipynb", {})
    with pytest.raises(NotebookError, match="no notebook at"):
        run_notebook(tmp_path / "nowhere" / "x.ipynb", {})
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(NotebookError, match="cannot read notebook"):
        run_notebook(bad, {}, tmp_path / "out.ipynb")


def test_kernel_and_papermill_problems_become_notebook_errors(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import NoSuchKernel

    def no_kernel(*args, **kwargs):
        raise NoSuchKernel("research")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    with pytest.raises(NotebookError, match="no Jupyter kernel named 'research'"):
        run_notebook(PARAMETERISED, {}, tmp_path / "a.ipynb", kernel_name="research")

    def papermill_problem(*args, **kwargs):
        raise PapermillException("something papermill did not like")

    monkeypatch.setattr(papermill, "execute_notebook", papermill_problem)
    with pytest.raises(NotebookError, match="papermill did not like"):
        run_notebook(PARAMETERISED, {}, tmp_path / "b.ipynb")

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(papermill, "execute_notebook", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        run_notebook(PARAMETERISED, {}, tmp_path / "c.ipynb")


def test_execution_error_pickles_with_its_details(tmp_path):
    import pickle

    error = NotebookExecutionError("failed", tmp_path / "o.ipynb", ["abc"])
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.output, copy.run_ids) == ("failed", tmp_path / "o.ipynb", ["abc"])


def test_demo_sweep_is_made_once(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "results.duckdb")
    first = ensure_demo_sweep(store)
    runs = store.list(sweep_id=first, limit=None)
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}
    assert list(runs["tags"].iloc[0]) == ["demo"]
    monkeypatch.setattr("research_lib.workflows.sweep.sweep", None)  # a second sweep would fail
    assert ensure_demo_sweep(tmp_path / "results.duckdb") == first
    assert sweep_module.ensure_demo_sweep(store) == first
