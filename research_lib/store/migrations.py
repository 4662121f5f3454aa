"""Numbered schema steps: a new file runs them all, an older file the ones it lacks.

:data:`MIGRATIONS` lists ``(version, step)`` in order. Each step runs in its own transaction
together with the ``schema_version`` it reaches, so a file is always at one version or the
next, never in between. A file at a version newer than this code's is refused.

1. create the tables (or, for a file from before the ``meta`` table, add what it lacks);
2. add ``runs.bar_spec`` and fill it in from ``bar_type`` for the runs already stored;
3. add the mark-to-market metric columns and ``performance`` (NULL for older runs, whose
   headline columns keep the analyzer's realized-P&L figures they were stored with);
4. add ``engine`` (filled in as ``'nautilus'`` for the runs already stored), ``twin_id``
   and ``agreement`` (a screened point and the Nautilus run that confirmed it), ``study_id``,
   and the ``studies`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from research_lib.store.db import StoreUnavailableError, transaction
from research_lib.store.schema import (
    EQUITY_SCHEMA,
    RUN_COLUMNS_V1,
    RUN_COLUMNS_V3,
    RUN_COLUMNS_V4,
    SCHEMA_VERSION,
    STUDY_COLUMNS,
    TRADES_SCHEMA,
    columns_of,
    quote,
)

Step = Callable[[duckdb.DuckDBPyConnection], None]


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Version 1: meta, runs, trades and equity_curves, with every column of version 1."""
    run_cols = ", ".join(f"{quote(c)} {t}" for c, t in RUN_COLUMNS_V1.items() if c != "id")
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(f"CREATE TABLE IF NOT EXISTS runs (id VARCHAR PRIMARY KEY, {run_cols})")
    for name, schema in (("trades", TRADES_SCHEMA), ("equity_curves", EQUITY_SCHEMA)):
        cols = ", ".join(f"{quote(c)} {t}" for c, t in columns_of(schema).items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
    for table, wanted in (
        ("runs", RUN_COLUMNS_V1),
        ("trades", columns_of(TRADES_SCHEMA)),
        ("equity_curves", columns_of(EQUITY_SCHEMA)),
    ):
        have = _columns(con, table)
        for column, kind in wanted.items():
            if column not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(column)} {kind}")


# The bar spec inside a bar type: "AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL" -> "1-MINUTE-LAST".
# Anchored at the end, so symbols with dashes ("BRK-B.NYSE") are read correctly.
BAR_SPEC_OF_BAR_TYPE = r"([0-9]+-[A-Z]+-[A-Z]+)-(?:EXTERNAL|INTERNAL)$"


def _add_bar_spec(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2: ``runs.bar_spec``, back-filled from ``bar_type``."""
    if "bar_spec" not in _columns(con, "runs"):
        con.execute("ALTER TABLE runs ADD COLUMN bar_spec VARCHAR")
    con.execute(
        "UPDATE runs SET bar_spec = nullif(regexp_extract(bar_type, ?, 1), '') "
        "WHERE bar_spec IS NULL AND bar_type IS NOT NULL",
        [BAR_SPEC_OF_BAR_TYPE],
    )


def _add_performance(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3: the detail metric columns, ``periods_per_year`` and ``performance``."""
    have = _columns(con, "runs")
    for column, kind in RUN_COLUMNS_V3.items():
        if column not in have:
            con.execute(f"ALTER TABLE runs ADD COLUMN {quote(column)} {kind}")


def _add_engine(con: duckdb.DuckDBPyConnection) -> None:
    """Version 4: ``engine`` (``'nautilus'`` for every run so far), ``twin_id``,
    ``agreement``, ``study_id``; the ``studies`` table."""
    have = _columns(con, "runs")
    for column, kind in RUN_COLUMNS_V4.items():
        if column not in have:
            con.execute(f"ALTER TABLE runs ADD COLUMN {quote(column)} {kind}")
    con.execute("UPDATE runs SET engine = 'nautilus' WHERE engine IS NULL")
    columns = ", ".join(f"{quote(c)} {t}" for c, t in STUDY_COLUMNS.items() if c != "id")
    con.execute(f"CREATE TABLE IF NOT EXISTS studies (id VARCHAR PRIMARY KEY, {columns})")


MIGRATIONS: list[tuple[int, Step]] = [
    (1, _create_tables),
    (2, _add_bar_spec),
    (3, _add_performance),
    (4, _add_engine),
]
assert [v for v, _ in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1)), "one step a version"


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version (0 for a file without the ``meta`` table, or empty)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" not in tables:
        return 0
    found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    return int(found[0][0]) if found else 0  # fetchall: fetchone leaves the result open


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Bring the file up to :data:`SCHEMA_VERSION`; returns the version it was at.

    Raises :class:`StoreUnavailableError` for a file made by a newer research-lib.
    """
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise StoreUnavailableError(
            f"{path} has results schema version {current}, newer than this research-lib "
            f"understands ({SCHEMA_VERSION}); upgrade research-lib"
        )
    for version, step in MIGRATIONS:
        if version <= current:
            continue
        with transaction(con):
            step(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
    return current


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}
