"""Where the catalog, results store and notebooks are: one rule for the CLI, notebooks and API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from research_lib import settings
from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.store import ResultsStore
from research_lib.workflows.notebooks import PARAMETERISED, notebook_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_env(monkeypatch):
    for name in settings.ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)


def test_project_root_is_found_from_the_root_notebooks_and_below(monkeypatch):
    assert settings.project_root(ROOT) == ROOT
    assert settings.project_root(ROOT / "notebooks") == ROOT
    assert settings.project_root(ROOT / "research_lib" / "cli") == ROOT
    monkeypatch.chdir(ROOT / "notebooks")
    assert settings.project_root() == ROOT
    assert notebook_path() == ROOT / "notebooks" / PARAMETERISED


def test_outside_any_project_the_current_directory_is_used(tmp_path, monkeypatch, no_env):
    assert settings.find_project_root(tmp_path) is None
    assert settings.project_root(tmp_path) == tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    where = settings.locate("results")
    assert where == settings.Location(tmp_path / "results" / "results.duckdb", "current directory")


def test_argument_then_environment_then_project_root(monkeypatch, tmp_path, no_env):
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(tmp_path / "r.duckdb"))
    monkeypatch.setenv("RESEARCH_LIB_CATALOG", str(tmp_path / "cat"))
    assert settings.results_path() == tmp_path / "r.duckdb"
    assert settings.catalog_root() == tmp_path / "cat"
    assert settings.locate("catalog").origin == "$RESEARCH_LIB_CATALOG"
    assert settings.results_path("x.duckdb") == Path("x.duckdb")
    assert settings.catalog_root("c") == Path("c")
    assert settings.locate("catalog", "c").origin == "argument"
    assert settings.catalog_root(Catalog(tmp_path / "given")) == tmp_path / "given"
    assert settings.results_path(ResultsStore(tmp_path / "s.duckdb")) == tmp_path / "s.duckdb"
    monkeypatch.delenv("RESEARCH_LIB_RESULTS")
    monkeypatch.delenv("RESEARCH_LIB_CATALOG")
    monkeypatch.chdir(ROOT / "notebooks")  # not relative to the cwd
    assert settings.results_path() == ROOT / "results" / "results.duckdb"
    assert settings.catalog_root() == ROOT / "parquet_catalog"
    assert settings.notebooks_dir() == ROOT / "notebooks"
    assert settings.locate("results").origin == "project root"


def test_catalog_and_store_defaults_follow_the_same_rule(monkeypatch, tmp_path, no_env):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    monkeypatch.chdir(project / "notebooks")
    assert ResultsStore().path == project / "results" / "results.duckdb"
    assert Catalog().root == project / "parquet_catalog"


def test_cli_in_a_subfolder_uses_the_projects_catalog_and_store(tmp_path, no_env):
    """Run from notebooks/, the CLI imports into and saves to the project's own folders."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    csv = ROOT / "data" / "sample_AAPL.csv"

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {
            k: v for k, v in __import__("os").environ.items() if k not in settings.ENV_VARS.values()
        }
        return subprocess.run(
            [sys.executable, "-m", "research_lib", *args],
            cwd=project / "notebooks",
            env=env,
            capture_output=True,
            text=True,
        )

    imported = run("data", "import-csv", "--file", str(csv), "--symbol", "AAPL")
    assert imported.returncode == 0, imported.stderr
    assert (project / "parquet_catalog" / "instruments.parquet").is_file()
    ran = run("backtest", "run", "--symbol", "AAPL", "--start", "2024-01-02", "--end", "2024-01-02")
    assert ran.returncode == 0, ran.stderr
    assert (project / "results" / "results.duckdb").is_file()
    assert not (project / "notebooks" / "results").exists()
    assert not (project / "notebooks" / "parquet_catalog").exists()
    assert len(ResultsStore(project / "results" / "results.duckdb").list()) == 1


def test_info_prints_each_location_and_why(tmp_path, monkeypatch, no_env):
    monkeypatch.chdir(ROOT / "notebooks")
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(tmp_path / "r.duckdb"))
    result = CliRunner().invoke(cli, ["--catalog", str(tmp_path / "cat"), "info"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert str(ROOT) in lines["project"]
    assert str(tmp_path / "cat") in lines["catalog"] and "--catalog" in lines["catalog"]
    assert str(tmp_path / "r.duckdb") in lines["results"]
    assert "$RESEARCH_LIB_RESULTS" in lines["results"]
    assert str(ROOT / "notebooks") in lines["notebooks"] and "project root" in lines["notebooks"]


# -- trusted code ---------------------------------------------------------------------------


def test_untrusted_code_is_found_without_running_it(tmp_path, monkeypatch):
    package = tmp_path / "pkg_untrusted_x"
    package.mkdir()
    marker = tmp_path / "ran.txt"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (package / "mod.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert settings.module_origin("pkg_untrusted_x.mod") == package / "mod.py"
    reason = settings.untrusted("pkg_untrusted_x.mod:Thing")
    assert reason == (
        f"module pkg_untrusted_x.mod ({package / 'mod.py'}) is outside the installed "
        "packages and the project"
    )
    assert settings.defines_class("pkg_untrusted_x.mod:Thing") is None
    assert settings.defines_class("pkg_untrusted_x.mod:Other") == (
        f"{package / 'mod.py'} defines no class Other"
    )
    assert not marker.exists() and "pkg_untrusted_x" not in sys.modules


def test_installed_and_project_code_is_trusted():
    assert settings.untrusted("research_lib.strategies.momentum:Momentum") is None
    assert settings.untrusted("nautilus_trader.trading.strategy:Strategy") is None
    assert settings.untrusted("json.decoder:JSONDecoder") is None
    assert settings.untrusted("no_such_module_anywhere:X") is None  # the import then fails
