"""The catalog's files: Parquet schemas and merging new bars into a partition.

See :mod:`research_lib.data.catalog` for the layout under the catalog root and
:mod:`research_lib.data.commit` for how changed files are put in place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research_lib.data.instruments import InstrumentSpec
from research_lib.files import write_synced
from research_lib.model.bars import BAR_COLUMNS, PRICE_COLUMNS, timestamps_ns

BAR_SCHEMA = pa.schema(
    [("timestamp", pa.timestamp("ns", tz="UTC"))] + [(c, pa.float64()) for c in BAR_COLUMNS[1:]]
)
INSTRUMENT_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("venue", pa.string()),
        ("asset_class", pa.string()),
        ("currency", pa.string()),
        ("price_precision", pa.int32()),
        ("size_precision", pa.int32()),
        ("size_increment", pa.string()),  # null: 10**-size_precision; absent in old catalogs
        ("multiplier", pa.string()),  # null: 1; absent in old catalogs
        ("session", pa.string()),  # null: the venue's default; "none": 24x7; absent in old ones
    ]
)
PARTITION_FILE = "data.parquet"
ROW_GROUP_SIZE = 1 << 17  # ~131k bars: row-group min/max stats let DuckDB skip by time


def merge_bars(existing: pa.Table | None, new: pd.DataFrame) -> tuple[pa.Table, int, int]:
    """Stored bars merged with ``new`` (new wins per timestamp): (table, added, replaced)."""
    new_ts = timestamps_ns(new["timestamp"])
    new_cols = {c: np.ascontiguousarray(new[c], dtype=np.float64) for c in BAR_COLUMNS[1:]}
    if existing is None or existing.num_rows == 0:
        return bars_table(new_ts, new_cols), len(new), 0
    old_ts = existing.column("timestamp").cast(pa.int64()).to_numpy()
    old_cols = {c: existing.column(c).to_numpy().astype(np.float64) for c in BAR_COLUMNS[1:]}
    pos = np.minimum(np.searchsorted(old_ts, new_ts), old_ts.size - 1)
    match = old_ts[pos] == new_ts
    at = pos[match]
    same = np.logical_and.reduce([old_cols[c][at] == new_cols[c][match] for c in old_cols])
    added, replaced = int((~match).sum()), int((~same).sum())
    if not added and not replaced:
        return existing, 0, 0
    keep = np.ones(old_ts.size, dtype=bool)
    keep[at] = False
    ts = np.concatenate([old_ts[keep], new_ts])
    order = np.argsort(ts, kind="stable")
    cols = {c: np.concatenate([old_cols[c][keep], new_cols[c]])[order] for c in old_cols}
    return bars_table(ts[order], cols), added, replaced


def bars_table(ts: np.ndarray, cols: dict[str, np.ndarray]) -> pa.Table:
    arrays = [pa.array(ts, pa.int64()).cast(BAR_SCHEMA.field("timestamp").type)]
    arrays += [pa.array(cols[c], pa.float64()) for c in BAR_COLUMNS[1:]]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


def instruments_table(specs: dict[str, InstrumentSpec]) -> pa.Table:
    rows = [specs[s].to_dict() for s in sorted(specs)]
    return pa.Table.from_pylist(rows, schema=INSTRUMENT_SCHEMA)


def read_instruments(path: Path) -> dict[str, InstrumentSpec]:
    """The specs in an instruments file; columns it lacks (a catalog written before they
    existed, such as ``size_increment``, ``multiplier`` and ``session``) take the
    :class:`InstrumentSpec` defaults."""
    names = set(INSTRUMENT_SCHEMA.names)
    rows = pq.read_table(path).to_pylist()
    return {
        row["symbol"]: InstrumentSpec(**{k: v for k, v in row.items() if k in names})
        for row in rows
    }


def price_decimals(bars: pa.Table) -> int:
    """The fewest decimals (0..9) that hold every open, high, low and close in ``bars``
    exactly, up to float rounding (the tolerance :func:`csv_import.infer_price_precision` uses,
    without its floor of 2)."""
    return next((d for d in range(9) if off_grid_price(bars, d) is None), 9)


def off_grid_price(bars: pa.Table, decimals: int) -> tuple[pd.Timestamp, str, float] | None:
    """The earliest (timestamp, column, price) in ``bars`` that needs more than ``decimals``
    decimals, or None."""
    found = None
    for column in PRICE_COLUMNS:
        prices = bars.column(column).to_numpy()
        scaled = prices * 10.0**decimals
        off = np.flatnonzero(np.abs(scaled - np.rint(scaled)) > np.abs(scaled) * 1e-12 + 1e-9)
        if off.size and (found is None or off[0] < found[0]):
            found = (int(off[0]), column, float(prices[off[0]]))
    if found is None:
        return None
    row, column, price = found
    return pd.Timestamp(bars.column("timestamp")[row].as_py()), column, price


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` and fsync it, so a rename afterwards is durable."""
    # zstd without dictionaries: prices rarely repeat, so this is smaller and faster.
    write_synced(
        path,
        lambda handle: pq.write_table(
            table, handle, compression="zstd", use_dictionary=False, row_group_size=ROW_GROUP_SIZE
        ),
    )
