"""Shared fixtures (temp results stores). Builders of test data live in ``tests/factories.py``."""

from __future__ import annotations

import pytest


@pytest.fixture
def results_path(tmp_path, monkeypatch):
    """A results database in a temp folder, also set as the default for the test."""
    path = tmp_path / "results" / "results.duckdb"
    monkeypatch.setenv("RESEARCH_LIB_RESULTS", str(path))
    return path
