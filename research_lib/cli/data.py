"""``research-lib data ...``: generate sample bars, import CSV files, look at the catalog."""

from __future__ import annotations

from pathlib import Path

import click

from research_lib.cli.app import console, group, options
from research_lib.model.defaults import DEFAULT_SEED, DEFAULT_SYMBOL, MOCK_END

data_group = group("data", "Generate sample bars, import CSV files and browse the catalog.")


SIZE_PRECISION_HELP = (
    "Decimals of order sizes: 0 for whole shares, 2 for fractional ones, 8 for crypto."
)
SIZE_INCREMENT_HELP = (
    "Step between order sizes, with at most size-precision decimals: 0.001 for crypto, "
    "1000 for FX lots (default: 10^-size-precision, e.g. 0.01 for size precision 2)."
)
INSTRUMENT_ROWS = (
    "symbol",
    "venue",
    "asset class",
    "currency",
    "price precision",
    "tick",
    "size precision",
    "size increment",
    "backtests use",
)


def describe(spec) -> list[str]:
    """The values `data instrument` shows, in the order of INSTRUMENT_ROWS."""
    increment = f"{spec.increment:f}"
    if spec.size_increment is None:
        increment += " (from size precision)"
    kind = spec.nautilus_type
    return [
        spec.symbol,
        spec.venue,
        spec.asset_class,
        spec.currency,
        str(spec.price_precision),
        f"{spec.tick:f}",
        str(spec.size_precision),
        increment,
        f"Nautilus {kind}" + (" (fractional shares or lots)" if kind == "Cfd" else ""),
    ]


def open_catalog():
    """The catalog named by --catalog / RESEARCH_LIB_CATALOG, or the default one."""
    from research_lib.data.catalog import Catalog

    return Catalog(options().catalog)


@data_group.command("generate")
@click.option(
    "--symbol", default=DEFAULT_SYMBOL, show_default=True, help="Used in the default file name."
)
@click.option("--start", default="2024-01-01", show_default=True)
@click.option("--end", default=MOCK_END, show_default=True, help="Inclusive.")
@click.option("--freq", default="1min", show_default=True, help="Bar interval (pandas alias).")
@click.option(
    "--session",
    type=click.Choice(["nasdaq", "24x7"]),
    default="nasdaq",
    show_default=True,
    help="nasdaq: weekdays 09:30-16:00 New York; 24x7: around the clock.",
)
@click.option("--seed", default=DEFAULT_SEED, show_default=True)
@click.option("--start-price", default=100.0, show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="CSV path.")
def generate(
    symbol: str,
    start: str,
    end: str,
    freq: str,
    session: str,
    seed: int,
    start_price: float,
    output: str | None,
) -> None:
    """Write seeded synthetic OHLCV bars to a CSV (same seed, same file).

    The bars are a random walk, not market data. Example:
    research-lib data generate --symbol AAPL --start 2024-01-01 --end 2024-01-31
    """
    from research_lib.data.instruments import validate_symbol
    from research_lib.data.synthetic import generate_bars, write_csv
    from research_lib.errors import ConfigError

    validate_symbol(symbol)
    try:
        bars = generate_bars(
            start, end, freq=freq, session=session, seed=seed, start_price=start_price
        )
    except ValueError as exc:
        raise ConfigError(f"cannot generate bars: {exc}") from exc
    if bars.empty:
        raise ConfigError(f"no bars between {start} and {end} in the {session} session")
    path = Path(output or f"data/sample_{symbol.replace('/', '')}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(bars, str(path))
    first, last = bars["timestamp"].iloc[0], bars["timestamp"].iloc[-1]
    console().print(f"wrote {len(bars):,} bars of {symbol} ({first} .. {last}) to {path}")


@data_group.command("import-csv")
@click.option("--file", "-f", "file", required=True, type=click.Path(), help="OHLCV CSV file.")
@click.option(
    "--symbol", required=True, help="Symbol to store the bars under, e.g. AAPL or EUR/USD."
)
@click.option("--venue", default="NASDAQ", show_default=True)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of naive timestamps, e.g. America/New_York.",
)
@click.option("--bar-spec", help="e.g. 1-MINUTE-LAST (default: inferred from the timestamps).")
@click.option("--asset-class", type=click.Choice(["equity", "fx", "crypto"]))
@click.option("--currency", default="USD", show_default=True, help="Quote currency.")
@click.option("--price-precision", type=int, help="Decimals of prices (default: inferred).")
@click.option(
    "--size-precision", type=int, help=f"{SIZE_PRECISION_HELP} [default: the stored one, else 0]"
)
@click.option("--size-increment", metavar="DECIMAL", help=SIZE_INCREMENT_HELP)
def import_csv(
    file: str,
    symbol: str,
    venue: str,
    timezone: str,
    bar_spec: str | None,
    asset_class: str | None,
    currency: str,
    price_precision: int | None,
    size_precision: int | None,
    size_increment: str | None,
) -> None:
    """Validate a CSV of bars and merge it into the catalog (all or nothing).

    Headers in any case: timestamp/datetime/date/time, open, high, low, close, volume
    (optional). Re-importing the same rows adds nothing; overlapping rows are replaced
    by the newer file. Sizes of a stored symbol are changed with `data instrument`.
    """
    report = open_catalog().import_csv(
        file,
        symbol,
        venue=venue,
        timezone=timezone,
        bar_spec=bar_spec,
        asset_class=asset_class,
        currency=currency,
        price_precision=price_precision,
        size_precision=size_precision,
        size_increment=size_increment,
    )
    console().print(report.summary())


@data_group.command("instrument")
@click.argument("symbol")
@click.option("--price-precision", type=int, help="Decimals of prices; stored bars must fit.")
@click.option("--size-precision", type=int, help=SIZE_PRECISION_HELP)
@click.option("--size-increment", metavar="DECIMAL", help=SIZE_INCREMENT_HELP)
def instrument(
    symbol: str,
    price_precision: int | None,
    size_precision: int | None,
    size_increment: str | None,
) -> None:
    """Show SYMBOL's instrument; with options, change it in the catalog (all or nothing).

    Backtests size orders in multiples of the size increment.

    \b
    research-lib data instrument AAPL
    research-lib data instrument AAPL --size-precision 2        fractional shares
    research-lib data instrument BTC/USD --size-precision 6 --size-increment 0.0001
    research-lib data instrument EUR/USD --size-increment 1000  FX micro lots
    """
    catalog = open_catalog()
    given = {
        "price_precision": price_precision,
        "size_precision": size_precision,
        "size_increment": size_increment,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    if changes:
        old = catalog.instrument(symbol)
        spec = catalog.update_instrument(symbol, **changes)
        diffs = [
            f"{label} {was} -> {now}"
            for label, was, now in zip(INSTRUMENT_ROWS, describe(old), describe(spec), strict=True)
            if was != now
        ]
        console().print(f"updated {symbol}: {', '.join(diffs)}" if diffs else "nothing changed")
    else:
        spec = catalog.instrument(symbol)
    console().print(spec.instrument_id)
    for label, value in zip(INSTRUMENT_ROWS, describe(spec), strict=True):
        console().print(f"  {label:<16} {value}")


@data_group.command("list")
def list_data() -> None:
    """Symbols in the catalog with bar spec, first/last bar and row count."""
    from rich.table import Table

    frame = open_catalog().symbols()
    if frame.empty:
        console().print(
            "the catalog is empty: research-lib data import-csv --file ... --symbol ..."
        )
        return
    table = Table(title="Catalog")
    for column in ("symbol", "venue", "bar_spec", "first", "last", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            row.symbol,
            row.venue,
            row.bar_spec,
            f"{row.first:%Y-%m-%d %H:%M}",
            f"{row.last:%Y-%m-%d %H:%M}",
            f"{row.rows:,}",
        )
    console().print(table)


@data_group.command("show")
@click.argument("symbol")
@click.option("--start", help="First day or timestamp (UTC).")
@click.option("--end", help="Last day (inclusive) or timestamp.")
@click.option("--limit", default=20, show_default=True, help="Rows to print (0: all).")
@click.option("--tail", is_flag=True, help="Print the last rows instead of the first.")
def show(symbol: str, start: str | None, end: str | None, limit: int, tail: bool) -> None:
    """Print the bars of SYMBOL, e.g. research-lib data show AAPL --start 2024-01-05 --limit 5."""
    from rich.table import Table

    bars = open_catalog().bars(symbol, start, end)
    shown = bars if limit <= 0 else (bars.tail(limit) if tail else bars.head(limit))
    table = Table(title=f"{symbol}: {len(shown):,} of {len(bars):,} bars")
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        table.add_column(column, justify="left" if column == "timestamp" else "right")
    for row in shown.itertuples(index=False):
        table.add_row(
            f"{row.timestamp:%Y-%m-%d %H:%M:%S}",
            f"{row.open:g}",
            f"{row.high:g}",
            f"{row.low:g}",
            f"{row.close:g}",
            f"{row.volume:g}",
        )
    console().print(table)
