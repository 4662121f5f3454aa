"""The bars a run uses: seeded mock bars, catalog bars of one symbol and bar spec, or a bars
DataFrame, with what is needed to rebuild and recognise them (:class:`MarketData`).

Catalog bars are those of one bar spec: the one asked for (``bar_spec=``, ``--bar-spec``,
YAML ``backtest.bar_spec``), else the symbol's only one; a symbol with several must be told
which. Dates follow :mod:`research_lib.model.dates`; a range that runs past the chosen bars
is run on what there is, with a warning saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from research_lib.data.catalog import Catalog
from research_lib.data.csv_import import PRICE_MAX, VOLUME_MAX, infer_bar_spec
from research_lib.data.instruments import InstrumentSpec
from research_lib.data.synthetic import generate_bars
from research_lib.errors import ConfigError, DataRangeError
from research_lib.model.bars import bar_interval, bars_fingerprint, parse_bar_spec
from research_lib.model.dates import coverage_warnings, when_text
from research_lib.model.defaults import (
    DEFAULT_SEED,
    DEFAULT_SYMBOL,
    MOCK_BAR_SPEC,
    MOCK_END,
    MOCK_START,
)

__all__ = ["DATA_SOURCES", "MarketData", "load_market_data"]

DATA_SOURCES = ("mock", "catalog")
# The first and last bar open times of one symbol's bars of one spec.
_SPAN = "SELECT min(timestamp), max(timestamp) FROM bars WHERE symbol = ? AND bar_spec = ?"


@dataclass(frozen=True)
class MarketData:
    """The bars a run uses, with what is needed to rebuild and recognise them; ``warnings``
    says what the data could not give (a range past its end), for the run's record."""

    source: str
    spec: InstrumentSpec
    bar_spec: str
    bars: pd.DataFrame
    fingerprint: str
    warnings: tuple[str, ...] = ()

    @property
    def bar_type(self) -> str:
        return self.spec.bar_type(self.bar_spec)


def load_market_data(
    source: str | pd.DataFrame = "mock",
    symbol: str | None = None,
    start: Any = None,
    end: Any = None,
    catalog: Any = None,
    seed: int = DEFAULT_SEED,
    bar_spec: str | None = None,
    instrument: InstrumentSpec | None = None,
) -> MarketData:
    """Bars for a run from ``mock`` (seeded, in memory), ``catalog`` (``Catalog`` or path),
    or a bars DataFrame of your own (columns timestamp, open, high, low, close, volume).

    Catalog bars are ``symbol``'s (default: the catalog's only symbol) of ``bar_spec``
    (default: the symbol's only spec; raises :class:`ConfigError` when it has several or
    not this one). A DataFrame's instrument is ``instrument`` (default: an equity of
    ``symbol`` with 2 price decimals) and its bar spec ``bar_spec`` (default: read from the
    bars' spacing). ``start``/``end``: :func:`research_lib.model.dates.parse_when`.
    """
    if isinstance(source, pd.DataFrame):
        spec = instrument or InstrumentSpec(symbol or DEFAULT_SYMBOL)
        bars = checked_frame(source)
        if bar_spec is None:
            bar_spec = infer_bar_spec(bars["timestamp"]) if len(bars) > 1 else MOCK_BAR_SPEC
        return MarketData("dataframe", spec, bar_spec, bars, bars_fingerprint(bars))
    start, end = when_text(start), when_text(end)
    if source == "mock":
        if bar_spec not in (None, MOCK_BAR_SPEC):
            raise ConfigError(f"mock bars are {MOCK_BAR_SPEC}; {bar_spec} bars need --data catalog")
        spec = InstrumentSpec(symbol or DEFAULT_SYMBOL)
        bars = generate_bars(start or MOCK_START, end or MOCK_END, seed=seed)
        if bars.empty:
            raise DataRangeError(f"no mock bars between {start} and {end}: pick weekdays")
        return MarketData("mock", spec, MOCK_BAR_SPEC, bars, bars_fingerprint(bars))
    if source != "catalog":
        raise ConfigError(f"unknown data source '{source}': use one of {', '.join(DATA_SOURCES)}")
    return _catalog_data(
        catalog if isinstance(catalog, Catalog) else Catalog(catalog), symbol, start, end, bar_spec
    )


def _catalog_data(
    cat: Catalog, symbol: str | None, start: str | None, end: str | None, bar_spec: str | None
) -> MarketData:
    if symbol is None:
        listed = cat.symbols()
        if len(listed["symbol"].unique()) != 1:
            raise ConfigError("which symbol? pass --symbol (research-lib data list shows them)")
        symbol = str(listed["symbol"].iloc[0])
    spec = cat.instrument(symbol)
    bar_spec = _chosen_spec(symbol, cat.bar_specs(symbol), bar_spec)
    bars = cat.bars(symbol, start, end, bar_spec=bar_spec)
    notes: list[str] = []
    if start is not None or end is not None:
        lo, hi = cat.sql(_SPAN, [symbol, bar_spec]).iloc[0]
        label = f"{symbol} {bar_spec}"
        notes = coverage_warnings(label, lo, hi, start, end, bar_interval(bar_spec))
    return MarketData("catalog", spec, bar_spec, bars, bars_fingerprint(bars), tuple(notes))


def _chosen_spec(symbol: str, specs: list[str], bar_spec: str | None) -> str | None:
    """``bar_spec`` if ``symbol`` has it, else the only spec; None when it has none (the
    catalog says so)."""
    if bar_spec is not None:
        parse_bar_spec(bar_spec)
        if specs and bar_spec not in specs:
            raise ConfigError(
                f"no {bar_spec} bars for {symbol}; it has {', '.join(specs)}: choose one with "
                "--bar-spec (research-lib data list)"
            )
        return bar_spec
    if len(specs) > 1:
        raise ConfigError(
            f"{symbol} has several bar specs ({', '.join(specs)}): choose one with --bar-spec "
            "(YAML: backtest.bar_spec)"
        )
    return specs[0] if specs else None


FRAME_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def checked_frame(source: pd.DataFrame) -> pd.DataFrame:
    """A bars DataFrame of your own, ready for a run: timestamps as UTC (naive ones are
    UTC), in time order (vendor files newest first are sorted), a missing or NaN volume 0.
    Missing columns, duplicate timestamps and NaN, non-positive or inconsistent prices
    (high below low, open or close) raise :class:`ConfigError` naming the first bad row."""
    missing = [c for c in FRAME_COLUMNS if c not in source.columns and c != "volume"]
    if missing:
        raise ConfigError(
            f"bars DataFrame lacks {', '.join(missing)}: expected columns "
            f"{', '.join(FRAME_COLUMNS)} (timestamp = bar open time)"
        )
    bars = source.loc[:, [c for c in FRAME_COLUMNS if c in source.columns]].copy()
    stamps = pd.to_datetime(bars["timestamp"], utc=False)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    bars["timestamp"] = stamps.dt.as_unit("ns")
    volume = bars["volume"] if "volume" in bars else pd.Series(0.0, index=bars.index)
    bars["volume"] = pd.to_numeric(volume, errors="coerce").fillna(0.0).astype(float)
    bars = bars.sort_values("timestamp", kind="stable").reset_index(drop=True)
    prices = bars[["open", "high", "low", "close"]].apply(pd.to_numeric, errors="coerce")
    bars[["open", "high", "low", "close"]] = prices.astype(float)
    problems = [
        (bars["timestamp"].isna(), "timestamp is missing"),
        (bars["timestamp"].duplicated(), "timestamp appears twice"),
        (prices.isna().any(axis=1), "a price is missing or not a number"),
        ((prices <= 0).any(axis=1), "a price is not positive"),
        (prices["high"] < prices[["low", "open", "close"]].max(axis=1), "high is below low, "
         "open or close"),
        (prices["low"] > prices[["open", "close"]].min(axis=1), "low is above open or close"),
        (bars["volume"] < 0, "volume is negative"),
        ((prices > PRICE_MAX).any(axis=1), f"a price is above Nautilus's limit {PRICE_MAX:.4g}"),
        (bars["volume"] > VOLUME_MAX, f"volume is above Nautilus's limit {VOLUME_MAX:.4g}"),
    ]  # fmt: skip
    for mask, reason in problems:
        if mask.any():
            row = int(mask.to_numpy().argmax())
            raise ConfigError(
                f"bars DataFrame row at {bars['timestamp'].iloc[row]}: {reason} "
                f"({int(mask.sum())} rows)"
            )
    return bars
