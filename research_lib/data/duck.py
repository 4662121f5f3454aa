"""DuckDB for the catalog's reads: in-memory connections in UTC, Arrow to pandas, and
one-line errors naming a damaged bar file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from research_lib.data.verify import first_damaged, read_failure

EMPTY_BARS_VIEW = (
    "SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS bar_spec, "
    "NULL::TIMESTAMPTZ_NS AS timestamp, NULL::DOUBLE AS open, NULL::DOUBLE AS high, "
    "NULL::DOUBLE AS low, NULL::DOUBLE AS close, NULL::DOUBLE AS volume WHERE false"
)


_engine: duckdb.DuckDBPyConnection | None = None


@contextlib.contextmanager
def naming_damage(files: list[Path]) -> Iterator[None]:
    """Turn a DuckDB error caused by a damaged bar file into one line naming that file."""
    try:
        yield
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        damaged = first_damaged(files)
        if damaged is None:
            raise
        raise read_failure(damaged, exc) from None


@contextlib.contextmanager
def connect(fresh: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on an in-memory DuckDB database with the UTC time zone.

    Opening a database costs ~15 ms, more than a month-range query itself, so the plain
    reads share one database per process; ``fresh=True`` (user SQL with its views) gets
    its own, so nothing a query creates outlives it.
    """
    global _engine
    if fresh:
        database = duckdb.connect(":memory:")
        database.execute("SET TimeZone = 'UTC'")
        try:
            yield database
        finally:
            database.close()
        return
    if _engine is None:
        _engine = duckdb.connect(":memory:")
        _engine.execute("SET TimeZone = 'UTC'")
    con = _engine.cursor()
    try:
        yield con
    finally:
        con.close()


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas keeping tz-aware timestamps, normalised to UTC nanoseconds."""
    frame = table.to_pandas()
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.as_unit("ns")
    return frame
