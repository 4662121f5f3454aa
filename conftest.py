"""Test-session settings shared by tests/ and the notebooks run by nbmake.

Notebooks and CLI calls without explicit paths use the default catalog and results store;
during tests those point at a temporary folder so the repository is never written to.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_session_dir = tempfile.mkdtemp(prefix="research-lib-tests-")
atexit.register(shutil.rmtree, _session_dir, ignore_errors=True)
os.environ["RESEARCH_LIB_CATALOG"] = os.path.join(_session_dir, "parquet_catalog")
os.environ["RESEARCH_LIB_RESULTS"] = os.path.join(_session_dir, "results.duckdb")
os.environ.setdefault("MPLBACKEND", "Agg")
