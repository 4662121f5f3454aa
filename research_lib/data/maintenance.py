"""Managing the catalog: deleting bars and resampling them into a coarser bar spec.

**Delete** (:func:`delete_bars`) removes one bar spec's partition of a symbol, or all of its
bars and its instrument row, in one commit (:func:`research_lib.data.commit.commit`): the
partition folder (``bars/symbol=X/bar_spec=S``) or the symbol folder (``bars/symbol=X``) is
renamed into ``ROOT/.trash/`` (where no read looks) and, for a whole symbol, the instruments
file is replaced, as one journalled step. A crash (even ``kill -9``) leaves the catalog as it
was or without that data, never a symbol without bars but with its row (or the other way
round); the next command finishes or discards the interrupted delete.

**Resample** (:func:`resample`) aggregates a stored spec in DuckDB into epoch-aligned buckets
(``time_bucket`` with origin 1970-01-01 UTC; weeks start on Monday, 1970-01-05) keyed by the
bar open time: open is the first bar's open, high the max, low the min, close the last bar's
close, volume the sum. The result replaces the target spec's partition in one commit, so
readers see the old bars or the new ones. Both hold the catalog's write lock.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from research_lib.data.catalog import HINT, Catalog
from research_lib.data.commit import TRASH_DIR, commit, recover, writing
from research_lib.data.duck import naming_damage
from research_lib.data.instruments import validate_symbol
from research_lib.data.partitions import PARTITION_FILE, bars_table, instruments_table
from research_lib.errors import CatalogError, UnknownSymbolError, did_you_mean
from research_lib.model.bars import BAR_COLUMNS, BAR_UNITS, bar_interval

__all__ = [
    "TRASH_DIR",
    "DeleteReport",
    "PartitionSummary",
    "ResampleReport",
    "delete_bars",
    "plan_delete",
    "purge_trash",
    "resample",
]

INSTRUMENTS_FILE = "instruments.parquet"
_TARGET = re.compile(r"^([1-9][0-9]*)-(SECOND|MINUTE|HOUR|DAY|WEEK)(?:-(LAST|BID|ASK|MID))?$")
_EPOCH = "1970-01-01 00:00:00+00"
_MONDAY = "1970-01-05 00:00:00+00"  # the first Monday after the epoch: weekly buckets
_RESAMPLE_SQL = """
SELECT epoch_ns(time_bucket(to_microseconds(?::BIGINT), timestamp::TIMESTAMPTZ,
                            ?::TIMESTAMPTZ)) AS bucket,
       arg_min(open, timestamp) AS open, max(high) AS high, min(low) AS low,
       arg_max(close, timestamp) AS close, sum(volume) AS volume, count(*) AS n
FROM read_parquet(?) GROUP BY bucket ORDER BY bucket
"""


@dataclass(frozen=True)
class PartitionSummary:
    """One bar spec of a symbol: how many bars, first and last bar open time (UTC)."""

    bar_spec: str
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp

    def describe(self) -> str:
        """``1-MINUTE-LAST: 8,190 rows, 2024-01-02 14:30 .. 2024-01-31 20:59 UTC``."""
        return (
            f"{self.bar_spec}: {self.rows:,} rows, "
            f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M} UTC"
        )


@dataclass(frozen=True)
class DeleteReport:
    """What :func:`delete_bars` deleted (``done``) or :func:`plan_delete` would delete."""

    symbol: str
    partitions: tuple[PartitionSummary, ...]
    instrument: bool  # the instrument row goes too (a delete without bar_spec)
    done: bool

    def lines(self) -> list[str]:
        """One line per partition, then one for the instrument row if it goes."""
        verb = "deleted" if self.done else "would delete"
        out = [f"{verb} {self.symbol} {p.describe()}" for p in self.partitions]
        if self.instrument:
            out.append(f"{verb} {self.symbol}'s instrument row")
        return out


@dataclass(frozen=True)
class ResampleReport:
    """What one :func:`resample` call wrote: ``rows_out`` bars of ``bar_spec`` from
    ``rows_in`` bars of ``source``; ``rows_replaced`` bars of ``bar_spec`` were stored before."""

    symbol: str
    source: str
    bar_spec: str
    rows_in: int
    rows_out: int
    rows_replaced: int
    first: pd.Timestamp
    last: pd.Timestamp

    def summary(self) -> str:
        """One line: ``AAPL 1-MINUTE-LAST -> 5-MINUTE-LAST: 8,190 bars in, 1,638 out, ...``."""
        replaced = f", replaced {self.rows_replaced:,} stored" if self.rows_replaced else ""
        return (
            f"{self.symbol} {self.source} -> {self.bar_spec}: {self.rows_in:,} bars in, "
            f"{self.rows_out:,} out{replaced}, "
            f"{self.first:%Y-%m-%d %H:%M} .. {self.last:%Y-%m-%d %H:%M} UTC"
        )


# -- delete --------------------------------------------------------------------------------


def plan_delete(catalog: Catalog, symbol: str, bar_spec: str | None = None) -> DeleteReport:
    """What :func:`delete_bars` would delete, changing nothing.

    Raises :class:`UnknownSymbolError` for a symbol the catalog lacks and
    :class:`CatalogError` for a bar spec it lacks, each listing what is stored.
    """
    has_row, specs = _stored(catalog, symbol)
    if bar_spec is not None and bar_spec not in specs:
        raise _unknown_spec(symbol, bar_spec, specs)
    chosen = specs if bar_spec is None else [bar_spec]
    partitions = tuple(_summary(catalog, symbol, spec) for spec in chosen)
    return DeleteReport(symbol, partitions, instrument=bar_spec is None and has_row, done=False)


def delete_bars(catalog: Catalog, symbol: str, bar_spec: str | None = None) -> DeleteReport:
    """Delete ``symbol``'s ``bar_spec`` bars, or (``bar_spec=None``) all its bars and its
    instrument row, in one commit under the catalog's lock (see the module docstring).

    Raises as :func:`plan_delete` does, before anything changes.
    """
    root = catalog.root
    with writing(root):
        plan = plan_delete(catalog, symbol, bar_spec)
        symbol_dir = catalog._symbol_dir(symbol)
        folder = (
            symbol_dir if bar_spec is None else catalog._partition_path(symbol, bar_spec).parent
        )
        writes = []
        if plan.instrument:
            remaining = catalog._instruments()
            del remaining[symbol]
            writes.append((root / INSTRUMENTS_FILE, instruments_table(remaining)))
        commit(root, writes, [folder] if folder.is_dir() else [])
    return replace(plan, done=True)


def purge_trash(catalog: Catalog) -> int:
    """Finish or discard what an interrupted change left (``ROOT/.tmp``, ``ROOT/.trash``);
    returns how many clean-ups were done. Every command does this on its own first."""
    if not catalog.root.is_dir():
        return 0
    with writing(catalog.root):
        return len(recover(catalog.root))


def _stored(catalog: Catalog, symbol: str) -> tuple[bool, list[str]]:
    """(has an instrument row, stored bar specs); unknown symbols raise with the list."""
    validate_symbol(symbol)
    directory = catalog._symbol_dir(symbol)
    specs = sorted(
        p.parent.name.removeprefix("bar_spec=")
        for p in directory.glob(f"bar_spec=*/{PARTITION_FILE}")
    )
    try:
        catalog.instrument(symbol)
    except UnknownSymbolError:
        if not specs:  # bars without an instrument row are deletable too
            raise
        return False, specs
    return True, specs


def _unknown_spec(symbol: str, bar_spec: str, specs: list[str]) -> CatalogError:
    return CatalogError(
        f"no {bar_spec} bars for {symbol};{did_you_mean(bar_spec, specs)} the catalog has: "
        f"{', '.join(specs) or 'none'} {HINT}"
    )


def _summary(catalog: Catalog, symbol: str, bar_spec: str) -> PartitionSummary:
    path = catalog._partition_path(symbol, bar_spec)
    with _duckdb() as con, naming_damage([path]):
        rows, first, last = con.execute(
            "SELECT count(*), min(timestamp), max(timestamp) FROM read_parquet(?)", [str(path)]
        ).fetchone()
    return PartitionSummary(bar_spec, int(rows), _utc(first), _utc(last))


# -- resample ------------------------------------------------------------------------------


def resample(catalog: Catalog, symbol: str, to: str, source: str | None = None) -> ResampleReport:
    """Aggregate ``symbol``'s ``source`` bars into ``to`` bars and store them as that spec,
    replacing any stored ones (all or nothing).

    ``to`` is ``5-MINUTE``, ``1-HOUR``, ``1-DAY`` ... (the price type is the source's) or a
    full spec (``5-MINUTE-LAST``). ``source`` defaults to the finest stored spec that fits.
    The target interval must be larger than the source's and a whole multiple of it.
    Raises :class:`CatalogError` (:class:`UnknownSymbolError` for an unknown symbol).
    """
    with writing(catalog.root):
        return _resample(catalog, symbol, to, source)


def _resample(catalog: Catalog, symbol: str, to: str, source: str | None) -> ResampleReport:
    step, unit, price = _parse_target(to)
    width = int(step) * BAR_UNITS[unit]
    specs = catalog.bar_specs(symbol)
    if source is None:
        source = _default_source(symbol, to, width, price, specs)
    elif source not in specs:
        raise _unknown_spec(symbol, source, specs)
    source_price = source.rsplit("-", 1)[1]
    target = f"{step}-{unit}-{price or source_price}"
    _check_fits(source, target)

    path = catalog._partition_path(symbol, source)
    origin = _MONDAY if unit == "WEEK" else _EPOCH
    width_us = width // pd.Timedelta(microseconds=1)
    with _duckdb() as con, naming_damage([path]):
        found = con.execute(_RESAMPLE_SQL, [width_us, origin, str(path)]).fetchnumpy()
    counts = np.asarray(found["n"], dtype=np.int64)
    if counts.size == 0:
        raise CatalogError(f"no {source} bars for {symbol} to resample {HINT}")
    ts = np.asarray(found["bucket"], dtype=np.int64)
    table = bars_table(ts, {c: np.asarray(found[c], dtype=np.float64) for c in BAR_COLUMNS[1:]})

    destination = catalog._partition_path(symbol, target)
    with naming_damage([destination]):
        before = pq.read_metadata(destination).num_rows if destination.exists() else 0
    commit(catalog.root, [(destination, table)])
    return ResampleReport(
        symbol=symbol,
        source=source,
        bar_spec=target,
        rows_in=int(counts.sum()),
        rows_out=int(counts.size),
        rows_replaced=before,
        first=pd.Timestamp(int(ts[0]), tz="UTC"),
        last=pd.Timestamp(int(ts[-1]), tz="UTC"),
    )


def _parse_target(to: str) -> tuple[str, str, str | None]:
    match = _TARGET.match(to.strip().upper()) if isinstance(to, str) else None
    if match is None:
        raise CatalogError(
            f"invalid target {to!r}: expected <step>-<SECOND|MINUTE|HOUR|DAY|WEEK>"
            "[-<LAST|BID|ASK|MID>], e.g. 5-MINUTE, 1-HOUR or 1-DAY-LAST"
        )
    step, unit, price = match.groups()
    return step, unit, price


def _default_source(
    symbol: str, to: str, width: pd.Timedelta, price: str | None, specs: list[str]
) -> str:
    """The finest stored spec (of the target's price type) the target is a multiple of."""
    fits = [
        s
        for s in specs
        if (price is None or s.endswith(f"-{price}"))
        and "-MONTH-" not in s
        and bar_interval(s) < width
        and width % bar_interval(s) == pd.Timedelta(0)
    ]
    if not fits:
        raise CatalogError(
            f"none of {symbol}'s bar specs can be resampled to {to}: it has "
            f"{', '.join(specs) or 'none'}; the target must be larger than the source and a "
            f"whole multiple of it {HINT}"
        )
    finest = min(bar_interval(s) for s in fits)
    tied = [s for s in fits if bar_interval(s) == finest]
    if len(tied) > 1:
        raise CatalogError(
            f"{symbol} has several bar specs to resample from ({', '.join(tied)}); "
            "pass --from (source=) to choose one"
        )
    return tied[0]


def _check_fits(source: str, target: str) -> None:
    if "-MONTH-" in source:
        raise CatalogError(
            f"cannot resample {source}: calendar months have no fixed length to bucket by"
        )
    src, dst = bar_interval(source), bar_interval(target)
    src_price, dst_price = source.rsplit("-", 1)[1], target.rsplit("-", 1)[1]
    if src_price != dst_price:
        raise CatalogError(
            f"cannot resample {source} to {target}: {src_price} bars make {src_price} bars, "
            f"not {dst_price}"
        )
    if dst <= src:
        raise CatalogError(
            f"cannot resample {source} to {target}: the target interval must be larger than "
            "the source's (resampling only makes coarser bars)"
        )
    if dst % src != pd.Timedelta(0):
        raise CatalogError(
            f"cannot resample {source} to {target}: {target.rsplit('-', 1)[0]} is not a whole "
            f"multiple of {source.rsplit('-', 1)[0]}"
        )


# -- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def _utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")
