"""The catalog's files: Parquet schemas, merging new bars into a partition, and the commit
that moves every changed file into place or none of them.

See :mod:`research_lib.data.catalog` for the layout under the catalog root.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research_lib.data.instruments import InstrumentSpec
from research_lib.files import fsync_dir, link_or_copy, make_dirs, write_synced
from research_lib.model.bars import BAR_COLUMNS, timestamps_ns

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


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` and fsync it, so a rename afterwards is durable."""
    # zstd without dictionaries: prices rarely repeat, so this is smaller and faster.
    write_synced(
        path,
        lambda handle: pq.write_table(
            table, handle, compression="zstd", use_dictionary=False, row_group_size=ROW_GROUP_SIZE
        ),
    )


def commit_tables(root: Path, writes: list[tuple[Path, pa.Table]]) -> None:
    """Write each table to ``root/.tmp``, fsync, then ``os.replace`` all into place.

    If anything fails (or is interrupted) the targets already replaced are restored from
    hard-link backups (new files are removed), temp files are deleted and the directories
    this call created are removed again.
    """
    if not writes:
        return
    tmp_dir = root / ".tmp"
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    moved: list[tuple[Path, Path | None]] = []
    failed = True
    try:
        make_dirs(tmp_dir, created)
        for target, table in writes:
            tmp = tmp_dir / f"{uuid.uuid4().hex}.parquet"
            staged.append((tmp, target))
            write_parquet(table, tmp)
        for tmp, target in staged:
            make_dirs(target.parent, created)
            backup = None
            if target.exists():
                backup = tmp_dir / f"{uuid.uuid4().hex}.bak"
                link_or_copy(target, backup)
            moved.append((target, backup))
            os.replace(tmp, target)
            fsync_dir(target.parent)
        failed = False
    except BaseException as exc:
        for target, backup in reversed(moved):
            try:
                if backup is not None:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
            except OSError as undo_error:  # pragma: no cover - disk gone mid-rollback
                exc.add_note(f"could not restore {target}: {undo_error}")
        raise
    finally:
        for path in [tmp for tmp, _ in staged] + [b for _, b in moved if b is not None]:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        to_remove = reversed(created) if failed else [tmp_dir]
        for directory in to_remove:
            with contextlib.suppress(OSError):
                directory.rmdir()
