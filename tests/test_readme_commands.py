"""Every ``uv run research-lib ...`` line of the README runs as written.

The lines are read from the README's ``bash`` blocks and run in their order, in a copy of
the project (configs, notebooks) in a temp folder, so that they build on each other as they
do for a reader: generate the sample, import it, backtest it, list, show, compare, rerun,
export and report the runs. The README's own placeholders are filled in the way a reader
would: ``[--option value]`` is optional (left out), ``RUN_ID`` is the newest stored run,
``...`` more of the same, and the files a reader brings (``eurusd.csv``,
``downloads/*.csv.gz``) are made first. The two lines that start servers (``lab``,
``dashboard``) are run by the browser tests instead (``tests/test_browser.py``).
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from research_lib.cli import cli
from research_lib.store import ResultsStore
from research_lib.store.studies import list_studies

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"lab", "dashboard"}  # long-running: started by tests/test_browser.py
# A cluster of the reader's own (README "Scaling out"): tests/test_dask_processes.py starts
# a scheduler and workers on 127.0.0.1 and runs a sweep against it instead.
PLACEHOLDER_HOSTS = ("scheduler-host",)


def readme_commands() -> list[str]:
    """The README's ``uv run research-lib`` lines (after ``uv run research-lib``, comments cut),
    from its ``bash`` blocks, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            found = re.search(r"(?:^|&& )uv run research-lib (.+)$", line)
            if found:
                lines.append(re.split(r"\s+#\s", found.group(1))[0].strip())
    return lines


def as_written(line: str, newest_runs: list[str]) -> list[str]:
    """The arguments of one README line with its placeholders filled in."""
    line = re.sub(r"\s*\[[^\]]*\]", "", line)  # [--venue NASDAQ]: optional
    args = shlex.split(line)
    if "RUN_ID" in args:
        ids = iter(newest_runs)
        args = [next(ids) if a == "RUN_ID" else a for a in args if a != "..."]
    return args


def _expand_globs(args: list[str], cwd: Path) -> list[str]:
    """What the shell does to an unquoted ``configs/examples/*.yaml``."""
    out: list[str] = []
    for arg in args:
        if "*" in arg and not arg.startswith("--") and "downloads/" not in arg:
            out += sorted(str(p.relative_to(cwd)) for p in cwd.glob(arg))
        else:
            out.append(arg)
    return out


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A fresh project folder: the repository's configs and notebooks, the files a reader
    brings, and no catalog or results yet."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'readme-check'\n", encoding="utf-8")
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "data").mkdir()
    (root / "eurusd.csv").write_text(
        "date,time,open,high,low,close,volume\n"
        + "".join(
            f"0{d}/01/2024,10:{m:02d},1.1{m:02d}0,1.1{m:02d}5,1.1{m:02d}0,1.1{m:02d}2,100\n"
            for d in (2, 3)
            for m in range(30)
        ),
        encoding="utf-8",
    )
    for name in ("RESEARCH_LIB_CATALOG", "RESEARCH_LIB_RESULTS", "RESEARCH_LIB_NOTEBOOKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root)
    return root


def _bring_downloads(project: Path) -> None:
    """``downloads/MSFT.csv.gz``, made from the generated sample (a reader's own files)."""
    (project / "downloads").mkdir(exist_ok=True)
    sample = (project / "data" / "sample_AAPL.csv").read_bytes()
    (project / "downloads" / "MSFT.csv.gz").write_bytes(gzip.compress(sample))


def test_the_readme_has_the_commands_this_test_runs() -> None:
    lines = readme_commands()
    assert lines[0] == "run-simple"
    names = {shlex.split(line)[0] for line in lines}
    assert {"data", "backtest", "strategy", "notebook", "sweep", "dashboard"} <= names
    assert any(line.startswith("backtest report") for line in lines)


@pytest.mark.slow
def test_every_readme_command_runs_as_written(project: Path) -> None:
    runner = CliRunner()
    ran = []
    for line in readme_commands():
        if shlex.split(line)[0] in SERVERS or any(h in line for h in PLACEHOLDER_HOSTS):
            continue
        if "downloads/" in line:
            _bring_downloads(project)
        if "RUN_ID" in line:
            store = ResultsStore(project / "results" / "results.duckdb")
            args = as_written(line, list(store.list(status="completed", limit=2)["id"]))
        else:
            args = as_written(line, [])
        args = _expand_globs(args, project)
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, f"`research-lib {line}` failed:\n{result.output}"
        assert "Traceback" not in result.output, line
        ran.append(args[:2])

    store = ResultsStore(project / "results" / "results.duckdb")
    runs = store.list(limit=None)
    assert (runs["status"] == "completed").all(), runs[["strategy", "status", "error"]]
    # the commands' effects, as a reader would check them
    assert set(runs["strategy"]) == {"sma_crossover", "mean_reversion", "momentum"}
    sizes = sorted(runs["sweep_id"].dropna().value_counts())
    # the 3 x 2 grids (tour, scaling out), fast_period=5:15:5, and the screened 11 x 10 grid
    # (110 points screened, the best 3 confirmed in Nautilus, every one agreeing)
    assert sizes == [3, 6, 6, 113]
    confirming = runs[runs["twin_id"].notna()]
    screened = runs[runs["sweep_id"] == confirming["sweep_id"].iloc[0]]
    assert len(confirming) == 3 and (screened["engine"] == "vector").sum() == 110
    agreements = store.list(limit=None, extra_columns=("agreement",))["agreement"].dropna()
    assert [json.loads(a)["agrees"] for a in agreements] == [True] * 3
    # the walk-forward study: completed, its trials and test runs carrying its id
    [study] = list_studies(store).to_dict("records")
    assert study["status"] == "completed" and study["summary"]["folds"] >= 2
    in_study = store.list(limit=None, extra_columns=("study_id",)).query("study_id == @study['id']")
    assert len(in_study) > study["summary"]["folds"]
    assert (project / "report.html").stat().st_size > 100_000
    assert list((project / "out").glob("run*")), "export wrote nothing"
    from research_lib.data.catalog import Catalog

    symbols = set(Catalog(project / "parquet_catalog").symbols()["symbol"].astype(str))
    assert {"AAPL", "EUR/USD", "MSFT"} <= symbols
    assert ["notebook", "run"] in ran and ["backtest", "rerun"] in ran
