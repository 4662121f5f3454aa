"""Benchmarks 2 and 3: CSV import and a one-month range query, ours versus DuckDB alone.

Both run in this process on files under ``workdir``; each repetition of the import writes to
a fresh catalog folder (and a fresh Parquet file for DuckDB), so every import starts empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from benchmarks.timing import repeat

SYMBOL = "AAPL"
SEED = 42
QUERY_START, QUERY_END = "2024-03-01", "2024-03-31"  # mock bars start 2024-01-02 14:30 UTC


def write_bars_csv(rows: int, path: Path, seed: int = SEED) -> Path:
    """The seeded benchmark CSV (``mock_bars(rows)`` via ``write_csv``), written once."""
    from research_lib.data.synthetic import mock_bars, write_csv

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(mock_bars(rows, seed), str(path))
    return path


def bench_import(rows: int, workdir: Path, repeats: int = 3) -> dict[str, Any]:
    """``Catalog.import_csv`` (validation included) vs DuckDB ``COPY ... TO parquet``."""
    from research_lib.data.catalog import Catalog

    csv_path = write_bars_csv(rows, workdir / f"bars_{rows}.csv")
    target = workdir / "import"
    reports = []

    def fresh() -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)

    def ours() -> None:
        reports.append(Catalog(target / "catalog").import_csv(csv_path, SYMBOL))

    def raw() -> None:
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT * FROM read_csv('{csv_path}')) "
                f"TO '{target / 'raw.parquet'}' (FORMAT parquet)"
            )

    ours_t = repeat(ours, repeats, setup=fresh)
    raw_t = repeat(raw, repeats, setup=fresh)
    raw_rows = duckdb.sql(f"SELECT count(*) FROM '{target / 'raw.parquet'}'").fetchall()[0][0]
    shutil.rmtree(target, ignore_errors=True)
    return {
        "rows": rows,
        "csv_mb": csv_path.stat().st_size / 2**20,
        "ours": ours_t.to_json(),
        "duckdb": raw_t.to_json(),
        "ratio": ours_t.wall / raw_t.wall,
        "cpu_ratio": ours_t.cpu / raw_t.cpu,
        "rows_imported": reports[-1].rows_added,
        "same_rows": reports[-1].rows_added == raw_rows == rows,
    }


def build_query_catalog(rows: int, workdir: Path, seed: int = SEED) -> tuple[Any, Path]:
    """A catalog holding ``rows`` consecutive 1-minute bars of AAPL (500k is ~1 year)."""
    from research_lib.data.catalog import Catalog

    catalog = Catalog(workdir / f"query_catalog_{rows}")
    path = catalog.root / "bars" / f"symbol={SYMBOL}" / "bar_spec=1-MINUTE-LAST" / "data.parquet"
    if not path.exists():
        catalog.import_csv(write_bars_csv(rows, workdir / f"bars_{rows}.csv", seed), SYMBOL)
    return catalog, path


def bench_query(
    rows: int,
    workdir: Path,
    repeats: int = 7,
    start: str = QUERY_START,
    end: str = QUERY_END,
) -> dict[str, Any]:
    """``Catalog.bars(symbol, start, end)`` vs a DuckDB query of the same Parquet file.

    The raw query keeps one connection open (as a notebook user would); ``end`` is inclusive
    (the whole day), so the raw query's upper bound is the next midnight, exclusive.
    """
    catalog, path = build_query_catalog(rows, workdir)
    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    frames: dict[str, pd.DataFrame] = {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        sql = (
            "SELECT * FROM read_parquet(?) WHERE timestamp >= CAST(? AS TIMESTAMPTZ_NS) "
            "AND timestamp < CAST(? AS TIMESTAMPTZ_NS)"
        )

        def raw() -> None:
            frames["raw"] = (
                con.sql(sql, params=[str(path), lo.isoformat(), hi.isoformat()])
                .to_arrow_table()
                .to_pandas()
            )

        def ours() -> None:
            frames["ours"] = catalog.bars(SYMBOL, start, end)

        raw()  # warm the OS file cache and DuckDB's metadata cache for both
        ours()
        raw_t = repeat(raw, repeats)
        ours_t = repeat(ours, repeats)
    same = len(frames["ours"]) == len(frames["raw"]) and frames["ours"]["close"].equals(
        frames["raw"]["close"]
    )
    return {
        "rows_stored": rows,
        "rows_returned": len(frames["ours"]),
        "start": start,
        "end": end,
        "ours": ours_t.to_json(),
        "duckdb": raw_t.to_json(),
        "ratio": ours_t.wall / raw_t.wall,
        "cpu_ratio": ours_t.cpu / raw_t.cpu,
        "same_rows": bool(same),
    }
