"""The README's papermill command runs as written (the line is read from the README)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from research_lib.cli import cli
from research_lib.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]


def readme_line(pattern: str) -> list[str]:
    """The arguments after ``uv run research-lib`` of the README line matching ``pattern``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [line] = [m for m in re.findall(r"^uv run research-lib (.+)$", text, re.M) if pattern in m]
    return shlex.split(line.split("#")[0])


@pytest.mark.slow
def test_the_readme_notebook_run_line_runs_momentum(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    args = readme_line("notebook run notebooks/03")
    assert args[:2] == ["notebook", "run"] and "momentum" in args
    results = tmp_path / "r.duckdb"
    output = tmp_path / "out.ipynb"
    result = CliRunner().invoke(cli, ["--results", str(results), *args, "--output", str(output)])
    assert result.exit_code == 0, result.output
    [run] = ResultsStore(results).list()["id"]
    stored = ResultsStore(results).get(run)
    assert stored.strategy == "momentum" and stored.status == "completed"
    assert stored.config["rsi_period"] == 14  # the strategy's defaults, not SMA's
