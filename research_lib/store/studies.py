"""The ``studies`` table: one row per study, written as the study goes (status ``running``
after each fold, then ``completed`` or ``failed``), read back by id or unique id prefix.

A study's trial and out-of-sample runs are ordinary runs carrying its ``study_id``
(:meth:`ResultsStore.list` with ``extra_columns=("study_id",)``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from research_lib.errors import ResultsError
from research_lib.store import db
from research_lib.store.lookup import ambiguous
from research_lib.store.records import json_safe
from research_lib.store.schema import STUDY_COLUMNS
from research_lib.store.store import ResultsStore

__all__ = ["get_study", "list_studies", "save_study"]

_JSON = ("spec", "folds", "summary")
LISTED = ("id", "created_at", "updated_at", "status", "strategy", "spec", "summary")


def save_study(store: ResultsStore, study: dict[str, Any]) -> None:
    """Insert or replace the row of ``study`` (keys of :data:`STUDY_COLUMNS`; ``spec``,
    ``folds`` and ``summary`` as JSON-ready values), in one transaction."""
    now = datetime.now(UTC).isoformat()
    row = {k: study.get(k) for k in STUDY_COLUMNS}
    row["created_at"] = row["created_at"] or now
    row["updated_at"] = now
    for name in _JSON:
        row[name] = json.dumps(json_safe(row[name]))
    with store._writer() as con, db.transaction(con):
        con.execute("DELETE FROM studies WHERE id = ?", [row["id"]])
        db.insert_row(con, "studies", row)


def list_studies(store: ResultsStore) -> pd.DataFrame:
    """Every study, newest first (``spec`` and ``summary`` decoded)."""
    columns = ", ".join(LISTED)
    with store._reader() as con:
        if con is None:
            return pd.DataFrame(columns=list(LISTED))
        frame = db.query(con, f"SELECT {columns} FROM studies ORDER BY created_at DESC").to_pandas()
    for name in ("spec", "summary"):
        frame[name] = [json.loads(v) if isinstance(v, str) else v for v in frame[name]]
    return frame


def get_study(store: ResultsStore, study_id: str) -> dict[str, Any]:
    """One study by id or unique id prefix, its JSON columns decoded."""
    prefix = str(study_id).strip().lower()
    with store._reader() as con:
        rows = [] if con is None else db.query(
            con, "SELECT * FROM studies WHERE starts_with(id, ?) ORDER BY id LIMIT 6", [prefix]
        ).to_pylist()  # fmt: skip
    exact = [r for r in rows if r["id"] == prefix]
    if not rows:
        raise ResultsError(
            f"no study '{study_id}' in {store.path}; research-lib study list shows them"
        )
    if len(rows) > 1 and not exact:
        raise ambiguous("study", study_id, [r["id"] for r in rows])
    row = dict((exact or rows)[0])
    for name in _JSON:
        row[name] = json.loads(row[name]) if isinstance(row[name], str) else row[name]
    return row
