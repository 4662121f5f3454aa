"""Shared fixtures (temp results stores, the CLI on temp folders). Builders of test data live
in ``tests/factories.py``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from research_lib.cli import cli


@pytest.fixture
def invoke(tmp_path):
    """Run the CLI on a temp catalog and results store; returns the click Result (modules
    that need other folders or options define their own ``invoke``)."""

    def run(*args: str):
        base = ["--catalog", str(tmp_path / "cat"), "--results", str(tmp_path / "r.duckdb")]
        return CliRunner().invoke(cli, [*base, *args])

    return run


@pytest.fixture
def results_path(tmp_path, monkeypatch):
    """A results database in a temp folder, also set as the default for the test."""
    path = tmp_path / "results" / "results.duckdb"
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(path))
    return path
