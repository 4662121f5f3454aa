"""Finding runs and sweeps by id or unique id prefix, with one-line errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from research_lib.errors import ResultsError

HINT = "(research-lib backtest list-results)"


def resolve(con: duckdb.DuckDBPyConnection | None, path: Path, run_id: str) -> str:
    prefix = str(run_id).strip().lower()
    if not prefix:
        raise ResultsError(f"empty run id {HINT}")
    matches = []
    if con is not None:
        matches = [
            r[0]
            for r in con.execute(
                "SELECT id FROM runs WHERE starts_with(id, ?) ORDER BY id LIMIT 6", [prefix]
            ).fetchall()
        ]
    if not matches:
        raise ResultsError(f"no run '{run_id}' in {path}; {HINT} shows the stored runs")
    if len(matches) > 1 and prefix not in matches:
        raise ambiguous("run", run_id, matches)
    return prefix if prefix in matches else matches[0]


def ambiguous(what: str, given: str, matches: Sequence[str]) -> ResultsError:
    width = max(8, len(given.strip()) + 4)
    shown = ", ".join(m[:width] + "…" for m in matches[:5]) + (", …" if len(matches) > 5 else "")
    return ResultsError(
        f"{what} id prefix '{given}' is ambiguous: matches {shown}; give more characters"
    )


def resolve_sweep(con: duckdb.DuckDBPyConnection, path: Path, sweep_id: str) -> str:
    """The full id of the sweep whose id is or starts with ``sweep_id``."""
    prefix = str(sweep_id).strip().lower()
    sql = "SELECT DISTINCT sweep_id FROM runs WHERE starts_with(lower(sweep_id), ?) ORDER BY 1"
    matches = [r[0] for r in con.execute(sql + " LIMIT 6", [prefix]).fetchall()]
    exact = [m for m in matches if m.lower() == prefix]
    if exact:
        return exact[0]
    if not matches:
        raise ResultsError(
            f"no sweep '{sweep_id}' in {path}; research-lib sweep prints the ids of its sweeps"
        )
    if len(matches) > 1:
        raise ambiguous("sweep", sweep_id, matches)
    return matches[0]
