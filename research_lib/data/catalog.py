"""The data catalog: OHLCV bars and instrument metadata in Parquet, queried with DuckDB.

Layout under the catalog root (one file per partition, Hive-style so DuckDB prunes by symbol
and bar spec)::

    ROOT/bars/symbol=<url-quoted symbol>/bar_spec=<spec>/data.parquet
    ROOT/instruments.parquet

Bar files hold plain typed columns: ``timestamp`` (the bar OPEN time, ``timestamp[ns, UTC]``),
``open``, ``high``, ``low``, ``close`` and ``volume`` (all float64: FX and crypto volumes are
fractional, and Nautilus takes doubles), sorted by time with unique timestamps.

Every change is one commit under the catalog's lock (:mod:`research_lib.data.commit`): a
failed or killed import leaves the catalog exactly as it was or exactly as it would be after
it, and concurrent imports take turns. A damaged file is named when read;
``research-lib data verify`` (:mod:`research_lib.data.verify`) checks them all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from research_lib.data.commit import commit, reading, writing
from research_lib.data.csv_import import (
    check_timezone,
    infer_bar_spec,
    infer_price_precision,
    read_bars_file,
)
from research_lib.data.duck import EMPTY_BARS_VIEW, connect, naming_damage, to_pandas
from research_lib.data.instruments import InstrumentSpec, import_spec, validate_symbol
from research_lib.data.partitions import (
    PARTITION_FILE,
    instruments_table,
    merge_bars,
    off_grid_price,
    price_decimals,
    read_instruments,
)
from research_lib.data.readers import FileImport, ImportReport, expand_files, import_each
from research_lib.data.verify import read_failure
from research_lib.errors import (
    CatalogError,
    ConfigError,
    DataRangeError,
    ImportValidationError,
    InvalidSymbolError,
    UnknownSymbolError,
    did_you_mean,
)
from research_lib.model.bars import (
    BAR_COLUMNS,
    bar_opens,
    bars_fingerprint,
    parse_bar_spec,
)
from research_lib.model.dates import parse_when
from research_lib.settings import catalog_root

__all__ = ["Catalog", "FileImport", "ImportReport"]

HINT = "(research-lib data list)"


class Catalog:
    """A Parquet bar catalog rooted at ``root`` (created on the first import; default:
    :func:`research_lib.settings.catalog_root`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = catalog_root(root)

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r})"

    @staticmethod
    def default_root() -> Path:
        """Where ``Catalog()`` is: :func:`research_lib.settings.catalog_root`."""
        return catalog_root()

    # -- reading ---------------------------------------------------------------------------

    def bars(
        self,
        symbol: str,
        start: str | dt.date | pd.Timestamp | None = None,
        end: str | dt.date | pd.Timestamp | None = None,
        bar_spec: str | None = None,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` with ``start <= timestamp <= end``, sorted by time.

        ``start``/``end`` are strings, dates or Timestamps; naive values are UTC. A date-only
        ``end`` (``"2024-01-31"`` or a ``datetime.date``) includes that whole day. Columns:
        timestamp (``datetime64[ns, UTC]``, the bar open time), open, high, low, close, volume.
        """
        with reading(self.root):
            return self._bars(symbol, start, end, bar_spec)

    def _bars(self, symbol, start, end, bar_spec) -> pd.DataFrame:
        spec = self._resolve_bar_spec(symbol, bar_spec)
        path = self._partition_path(symbol, spec)
        lo, hi = _bound(start), _bound(end, end_of_day=True)
        if lo is not None and hi is not None and lo > hi:
            raise DataRangeError(f"start {_label(start)} is after end {_label(end)}")
        where, params = [], [str(path)]
        if lo is not None:
            where.append("timestamp >= CAST(? AS TIMESTAMPTZ_NS)")
            params.append(lo.isoformat())
        if hi is not None:
            where.append("timestamp <= CAST(? AS TIMESTAMPTZ_NS)")
            params.append(hi.isoformat())
        query = (
            f"SELECT {', '.join(BAR_COLUMNS)} FROM read_parquet(?)"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY timestamp"
        )
        with connect() as con, naming_damage([path]):
            frame = to_pandas(con.sql(query, params=params).to_arrow_table())
            if frame.empty:
                first, last = con.sql(
                    "SELECT min(timestamp), max(timestamp) FROM read_parquet(?)", params=[str(path)]
                ).fetchall()[0]
                raise DataRangeError(
                    f"No bars for {symbol} between {_label(start, 'the start')} and "
                    f"{_label(end, 'the end')}; the catalog has "
                    f"{first:%Y-%m-%d}..{last:%Y-%m-%d} {HINT}"
                )
        return frame

    def sql(
        self, query: str, params: Sequence[object] | dict[str, object] | None = None
    ) -> pd.DataFrame:
        """Run ``query`` in a fresh in-memory DuckDB with views ``bars`` and ``instruments``.

        ``bars`` has columns symbol, bar_spec, timestamp, open, high, low, close, volume;
        filters on symbol and bar_spec skip the other files. Pass values as ``params``
        (``?`` or ``$name`` placeholders), never by formatting them into ``query``.
        """
        with reading(self.root):
            files = self._partition_files()
            with naming_damage(files), self._connect_with_views() as con:
                relation = con.sql(query, params=params)
                if relation is None:  # pragma: no cover - statements without a result
                    return pd.DataFrame()
                return to_pandas(relation.to_arrow_table())

    def symbols(self) -> pd.DataFrame:
        """One row per (symbol, bar_spec): venue, first and last bar time, rows."""
        return self.sql(
            'SELECT b.symbol, b.bar_spec, i.venue, min(b.timestamp) AS "first", '
            'max(b.timestamp) AS "last", count(*) AS "rows" '
            "FROM bars b LEFT JOIN instruments i USING (symbol) "
            "GROUP BY b.symbol, b.bar_spec, i.venue ORDER BY b.symbol, b.bar_spec"
        )

    def instrument(self, symbol: str) -> InstrumentSpec:
        """The stored :class:`InstrumentSpec` of ``symbol``."""
        with reading(self.root):
            specs = self._instruments()
        if validate_symbol(symbol) not in specs:
            raise self._unknown(symbol, specs)
        return specs[symbol]

    def bar_specs(self, symbol: str) -> list[str]:
        """The bar specs stored for ``symbol``, sorted (``["1-DAY-LAST", "1-MINUTE-LAST"]``)."""
        with reading(self.root):
            self.instrument(symbol)
            directory = self._symbol_dir(symbol)
            return sorted(
                p.parent.name.removeprefix("bar_spec=")
                for p in directory.glob(f"bar_spec=*/{PARTITION_FILE}")
            )

    def fingerprint(
        self,
        symbol: str,
        start: str | dt.date | pd.Timestamp | None = None,
        end: str | dt.date | pd.Timestamp | None = None,
        bar_spec: str | None = None,
    ) -> str:
        """Sha256 hex of exactly the rows :meth:`bars` returns (:func:`bars.bars_fingerprint`)."""
        return bars_fingerprint(self.bars(symbol, start, end, bar_spec))

    # -- writing ---------------------------------------------------------------------------

    def import_csv(
        self,
        path: str | Path,
        symbol: str,
        venue: str = "NASDAQ",
        timezone: str = "UTC",
        bar_spec: str | None = None,
        asset_class: str | None = None,
        currency: str = "USD",
        price_precision: int | None = None,
        size_precision: int | None = None,
        size_increment: str | None = None,
        timestamp_column: str | None = None,
        date_format: str | None = None,
        dayfirst: bool | None = None,
        label: str = "auto",
    ) -> ImportReport:
        """Validate a bars file (CSV, ``.csv.gz``, Parquet) and merge it into the catalog,
        all or nothing.

        The file's shapes and ``timestamp_column``, ``date_format`` and ``dayfirst`` are those
        of :mod:`~research_lib.data.csv_import`; ``label`` says what the timestamps mark
        (:func:`~research_lib.model.bars.bar_opens`). The bar spec is inferred from the most
        common spacing unless given; ``asset_class`` defaults to ``fx`` for ``A/B`` symbols,
        else ``equity``; ``price_precision`` defaults to the decimals the prices need (2..9,
        see :func:`infer_price_precision`) and never shrinks below the stored one.
        ``size_precision`` and ``size_increment`` (see :class:`InstrumentSpec`) default to the
        stored ones, else 0 and 10**-size_precision. For timestamps already stored, the
        file's values win. A symbol already stored with another venue, asset class,
        currency, size precision or size increment is refused (:meth:`update_instrument`
        changes sizes). Raises :class:`ImportValidationError` (naming the file and lines) for
        a bad file; the catalog is then unchanged. The file is read without the catalog's
        lock; the merge and commit hold it (:func:`~research_lib.data.commit.writing`).
        """
        symbol = validate_symbol(symbol)
        self._symbol_dir(symbol)
        if bar_spec is not None:
            self._partition_path(symbol, bar_spec)
        check_timezone(timezone)
        spec_args = (
            symbol,
            venue,
            asset_class,
            currency,
            price_precision,
            size_precision,
            size_increment,
        )
        with reading(self.root):
            import_spec(self._instruments().get(symbol), *spec_args)  # refuse early
        new, ignored = read_bars_file(
            path,
            timezone=timezone,
            timestamp_column=timestamp_column,
            date_format=date_format,
            dayfirst=dayfirst,
        )
        if bar_spec is None:
            try:
                bar_spec = infer_bar_spec(new["timestamp"])
            except CatalogError as exc:
                raise ImportValidationError(f"{path}: {exc}") from None
        new["timestamp"] = bar_opens(new["timestamp"], bar_spec, label)
        inferred = infer_price_precision(new) if price_precision is None else price_precision
        target = self._partition_path(symbol, bar_spec)
        with writing(self.root, create=True):
            stored = self._instruments()
            requested = import_spec(stored.get(symbol), *spec_args)
            if price_precision is None:
                previous = stored[symbol].price_precision if symbol in stored else 0
                requested = replace(requested, price_precision=max(inferred, previous))
            existing = self._read_partition(target) if target.exists() else None
            merged, added, replaced = merge_bars(existing, new)
            writes: list[tuple[Path, pa.Table]] = []
            if added or replaced:
                writes.append((target, merged))
            if stored.get(symbol) != requested:
                stored[symbol] = requested
                writes.append((self.root / "instruments.parquet", instruments_table(stored)))
            commit(self.root, writes)
        return ImportReport(
            file=str(path),
            symbol=symbol,
            bar_spec=bar_spec,
            rows_read=len(new),
            rows_added=added,
            rows_replaced=replaced,
            rows_unchanged=len(new) - added - replaced,
            rows_rejected=0,
            first=new["timestamp"].iloc[0],
            last=new["timestamp"].iloc[-1],
            ignored_columns=ignored,
        )

    def import_files(
        self,
        files: str | Path | Sequence[str | Path],
        symbol: str | None = None,
        symbol_from: str | None = None,
        on_file: Callable[[Path, int, int], None] | None = None,
        **options: object,
    ) -> list[FileImport]:
        """Import several files, each all or nothing on its own, and say how each went.

        ``files`` are paths or glob patterns (``"data/*.csv"``); every file goes under
        ``symbol``, or with ``symbol_from="filename"`` under its name without suffixes
        (``AAPL.csv`` -> ``AAPL``). ``options`` are :meth:`import_csv`'s keywords.
        ``on_file(path, position, total)`` is called as each file starts. A rejected file
        is reported in its :class:`FileImport` and the others are still imported; a pattern
        matching nothing raises :class:`ImportValidationError` before anything is imported.
        """
        return import_each(
            expand_files(files), self.import_csv, symbol, symbol_from, on_file, options
        )

    def update_instrument(self, symbol: str, **changes: object) -> InstrumentSpec:
        """Change fields of a stored instrument (``venue``, ``asset_class``, ``currency``,
        ``price_precision``, ``size_precision``, ``size_increment``, ``multiplier``,
        ``session``: see :meth:`InstrumentSpec.edited`); return the new spec.

        The instruments file is replaced as an import replaces it: all or nothing. A price
        precision too small for a stored bar price is refused. The bars stay where they are
        (they are stored by symbol); later imports must name the new venue and currency.
        """
        with writing(self.root):
            specs = self._instruments()
            if validate_symbol(symbol) not in specs:
                raise self._unknown(symbol, specs)
            old = specs[symbol]
            new = old.edited(**changes)
            if new.price_precision < old.price_precision:
                self._check_prices_fit(symbol, new.price_precision)
            if new != old:
                specs[symbol] = new
                instruments = (self.root / "instruments.parquet", instruments_table(specs))
                commit(self.root, [instruments])
        return new

    # -- internals -------------------------------------------------------------------------

    def _symbol_dir(self, symbol: str) -> Path:
        """``ROOT/bars/symbol=<quoted>``, refusing anything that would leave ``ROOT/bars``."""
        validate_symbol(symbol)
        bars_dir = self.root / "bars"
        directory = bars_dir / f"symbol={quote(symbol, safe='')}"
        _require_inside(directory, bars_dir)
        return directory

    def _partition_path(self, symbol: str, bar_spec: str) -> Path:
        if isinstance(bar_spec, str) and not bar_spec.isprintable():  # "1-DAY-LAST\n"
            raise CatalogError(f"invalid bar spec {bar_spec!r}: control characters")
        path = self._symbol_dir(symbol) / f"bar_spec={parse_bar_spec(bar_spec)}" / PARTITION_FILE
        _require_inside(path, self.root / "bars")
        return path

    def _partition_files(self) -> list[Path]:
        bars_dir = self.root / "bars"
        if not bars_dir.is_dir():
            return []
        return sorted(bars_dir.glob(f"symbol=*/bar_spec=*/{PARTITION_FILE}"))

    def _instruments(self) -> dict[str, InstrumentSpec]:
        path = self.root / "instruments.parquet"
        if not path.exists():
            return {}
        try:
            return read_instruments(path)
        except (OSError, pa.ArrowException, TypeError, ValueError, CatalogError) as exc:
            raise read_failure(path, exc) from None

    def _read_partition(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        try:
            return pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise read_failure(path, exc) from None

    def _check_prices_fit(self, symbol: str, precision: int) -> None:
        """Refuse a price precision that would round a stored bar price."""
        for bar_spec in self.bar_specs(symbol):
            columns = ["timestamp", *BAR_COLUMNS[1:5]]
            bars = self._read_partition(self._partition_path(symbol, bar_spec), columns)
            found = off_grid_price(bars, precision)
            if found is not None:
                ts, column, price = found
                raise CatalogError(
                    f"cannot set {symbol}'s price precision to {precision}: its {bar_spec} "
                    f"bars need {price_decimals(bars)} decimals ({column} {price!r} at "
                    f"{ts:%Y-%m-%d %H:%M} UTC)"
                )

    def _unknown(self, symbol: str, specs: dict[str, InstrumentSpec]) -> UnknownSymbolError:
        if not specs:
            return UnknownSymbolError(
                f"unknown symbol {symbol!r}; the catalog at {self.root} is empty: import a CSV "
                "file first (research-lib data import-csv)"
            )
        return UnknownSymbolError(
            f"unknown symbol {symbol!r};{did_you_mean(symbol, specs)} the catalog has: "
            f"{', '.join(sorted(specs))} {HINT}"
        )

    def _resolve_bar_spec(self, symbol: str, bar_spec: str | None) -> str:
        specs = self.bar_specs(symbol)
        if bar_spec is not None:
            parse_bar_spec(bar_spec)
            if bar_spec not in specs:
                raise CatalogError(
                    f"no {bar_spec} bars for {symbol};{did_you_mean(bar_spec, specs)} the "
                    f"catalog has: {', '.join(specs) or 'none'} {HINT}"
                )
            return bar_spec
        if len(specs) == 1:
            return specs[0]
        if not specs:
            raise CatalogError(f"no bars stored for {symbol} {HINT}")
        raise CatalogError(
            f"{symbol} has several bar specs ({', '.join(specs)}): choose one with --bar-spec "
            "(Python: bar_spec=)"
        )

    @contextlib.contextmanager
    def _connect_with_views(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(fresh=True) as con:
            files = [str(p) for p in self._partition_files()]
            if files:
                # A variable, not string-built SQL: the file list is passed as a parameter.
                con.execute("SET VARIABLE research_lib_bar_files = ?", [files])
                con.execute(
                    f"CREATE VIEW bars AS SELECT symbol, bar_spec, {', '.join(BAR_COLUMNS)} "
                    "FROM read_parquet(getvariable('research_lib_bar_files'), "
                    "hive_partitioning = true, "
                    "hive_types = {'symbol': VARCHAR, 'bar_spec': VARCHAR})"
                )
            else:
                con.execute(f"CREATE VIEW bars AS {EMPTY_BARS_VIEW}")
            # Read through InstrumentSpec, so an empty or old catalog has every column too.
            con.register("instruments", instruments_table(self._instruments()))
            yield con


# -- helpers -------------------------------------------------------------------------------


def _bound(
    value: str | dt.date | pd.Timestamp | None, end_of_day: bool = False
) -> pd.Timestamp | None:
    """A UTC Timestamp by the one date rule (:func:`research_lib.model.dates.parse_when`);
    a date-only ``end`` becomes the last nanosecond of that day."""
    if value is None:
        return None
    try:
        return parse_when(value, end=end_of_day)
    except ConfigError as exc:
        raise DataRangeError(f"invalid date or time {value!r}: {exc}") from None


def _label(value: object, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return f"{ts:%Y-%m-%d}" if ts == ts.normalize() else str(ts)
    return str(value)


def _require_inside(path: Path, root: Path) -> None:
    """Raise :class:`InvalidSymbolError` unless ``path`` resolves to a place inside ``root``."""
    resolved, base = path.resolve(), root.resolve()
    if resolved == base or base not in resolved.parents:
        raise InvalidSymbolError(f"refusing path {path}: it resolves outside {root}")
