"""``research-lib data ...``: generate sample bars, import CSV files, look at the catalog."""

from __future__ import annotations

from pathlib import Path

import click

from research_lib.cli.app import console, group, options
from research_lib.cli.tables import Column, format_option, print_fitted, write_csv, write_json
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
    "multiplier",
    "session",
    "backtests use",
)
KIND_NOTES = {"Cfd": " (fractional shares or lots)", "PerpetualContract": " (equity multiplier)"}


def describe(spec) -> list[str]:
    """The values `data instrument` shows, in the order of INSTRUMENT_ROWS."""
    increment = f"{spec.increment:f}"
    if spec.size_increment is None:
        increment += " (from size precision)"
    close = spec.session_close
    notes = ([] if close else ["24x7"]) + ([] if spec.session else ["venue default"])
    session = " ".join(close) if close else "none"
    session += f" ({', '.join(notes)})" if notes else ""
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
        f"{spec.point_value:f}",
        session,
        f"Nautilus {kind}{KIND_NOTES.get(kind, '')}",
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
@click.option(
    "--file",
    "-f",
    "files",
    required=True,
    multiple=True,
    metavar="PATH",
    help="Bars file: .csv, .csv.gz or .parquet; or a quoted glob such as 'data/*.csv'. "
    "Repeat for several files.",
)
@click.option("--symbol", help="Symbol to store the bars under, e.g. AAPL or EUR/USD.")
@click.option(
    "--symbol-from",
    type=click.Choice(["filename"]),
    help="Take each file's symbol from its name instead: AAPL.csv -> AAPL.",
)
@click.option("--venue", default="NASDAQ", show_default=True)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Time zone of naive timestamps, e.g. America/New_York.",
)
@click.option(
    "--timestamp-column",
    metavar="NAME",
    help="The column holding the bar times (default: timestamp/datetime/date/time, else a "
    "pandas index).",
)
@click.option(
    "--date-format",
    metavar="FORMAT",
    help="strftime layout of the timestamps, e.g. '%d/%m/%Y %H:%M'.",
)
@click.option(
    "--dayfirst/--monthfirst",
    default=None,
    help="Read dates such as 01/03/2023 day first (1 March) or month first (3 January); "
    "without one of these such dates are refused.",
)
@click.option("--bar-spec", help="e.g. 1-MINUTE-LAST (default: inferred from the timestamps).")
@click.option(
    "--label",
    type=click.Choice(["auto", "open", "close"]),
    default="auto",
    show_default=True,
    help="What each timestamp marks: the bar's open, or its close (then the bar opens one "
    "interval before; a daily or monthly label is the bar's last day). auto: close for "
    "month-end and Friday-labelled bars, else open.",
)
@click.option("--asset-class", type=click.Choice(["equity", "fx", "crypto"]))
@click.option("--currency", default="USD", show_default=True, help="Quote currency.")
@click.option("--price-precision", type=int, help="Decimals of prices (default: inferred).")
@click.option(
    "--size-precision", type=int, help=f"{SIZE_PRECISION_HELP} [default: the stored one, else 0]"
)
@click.option("--size-increment", metavar="DECIMAL", help=SIZE_INCREMENT_HELP)
def import_csv(
    files: tuple[str, ...], symbol: str | None, symbol_from: str | None, **options: object
) -> None:
    """Validate files of bars and merge them into the catalog, each all or nothing.

    Headers in any case: timestamp/datetime/date/time, open, high, low, close, volume
    (optional); other columns are ignored and listed. Files written by pandas (the index
    as first column, or in Parquet) are read as they are. Re-importing the same rows adds
    nothing; overlapping rows are replaced by the newer file. Sizes of a stored symbol are
    changed with `data instrument`.

    \b
    research-lib data import-csv --file data/AAPL.csv --symbol AAPL
    research-lib data import-csv --file eu.csv --symbol EURUSD --dayfirst --venue SIM
    research-lib data import-csv --file 'data/*.csv.gz' --symbol-from filename
    """
    import glob

    from research_lib.data.readers import symbol_from_filename
    from research_lib.errors import CatalogError

    if (symbol is None) == (symbol_from is None):
        raise click.UsageError("pass --symbol or --symbol-from filename (one of them)")
    catalog = open_catalog()
    if len(files) == 1 and not glob.has_magic(files[0]):
        report = catalog.import_csv(files[0], symbol or symbol_from_filename(files[0]), **options)
        console().print(report.summary())
        if report.ignored_columns:
            console().print(f"ignored columns: {', '.join(report.ignored_columns)}")
        return
    outcomes = _import_with_progress(catalog, files, symbol, symbol_from, options)
    failed = [o for o in outcomes if o.error is not None]
    _print_outcomes(outcomes)
    if failed:
        names = ", ".join(Path(o.file).name for o in failed)
        raise CatalogError(
            f"{len(failed)} of {len(outcomes)} files failed ({names}); the others were imported"
        )


def _import_with_progress(catalog, files, symbol, symbol_from, options):
    """Catalog.import_files with a progress bar over the files (on a terminal only)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task("importing", total=None)

        def on_file(path: Path, position: int, total: int) -> None:
            bar.update(task, total=total, completed=position, description=path.name)

        outcomes = catalog.import_files(
            files, symbol=symbol, symbol_from=symbol_from, on_file=on_file, **options
        )
        bar.update(task, completed=len(outcomes))
    return outcomes


def _print_outcomes(outcomes) -> None:
    """The summary table of a several-file import, then what each file left out and each
    failure, one line each."""
    from rich.markup import escape
    from rich.table import Table

    names = [Path(o.file).name for o in outcomes]
    if len(set(names)) < len(names):  # same names in several folders: show the paths
        names = [o.file for o in outcomes]
    table = Table(title=f"Imported {len(outcomes)} files")
    for column in ("file", "symbol", "bar spec", "rows", "added", "replaced", "result"):
        numeric = column in ("rows", "added", "replaced")
        table.add_column(column, justify="right" if numeric else "left")
    for name, o in zip(names, outcomes, strict=True):
        cells, r = (escape(name), escape(o.symbol or "-")), o.report
        if r is None:
            table.add_row(*cells, "-", "-", "-", "-", "[red]failed[/red]")
        else:
            counts = (f"{n:,}" for n in (r.rows_read, r.rows_added, r.rows_replaced))
            table.add_row(*cells, r.bar_spec, *counts, "ok")
    out = console()
    out.print(table)
    for name, o in zip(names, outcomes, strict=True):
        if o.report is not None and o.report.ignored_columns:
            out.print(
                f"{name}: ignored columns: {', '.join(o.report.ignored_columns)}", markup=False
            )
    for o in outcomes:
        if o.error is not None:
            message = o.error if o.error.startswith(o.file) else f"{o.file}: {o.error}"
            out.print(f"failed: {message}", markup=False)


@data_group.command("instrument")
@click.argument("symbol")
@click.option("--price-precision", type=int, help="Decimals of prices; stored bars must fit.")
@click.option("--size-precision", type=int, help=SIZE_PRECISION_HELP)
@click.option("--size-increment", metavar="DECIMAL", help=SIZE_INCREMENT_HELP)
@click.option("--venue", help="Venue code (A-Z, 0-9, _); it names the Nautilus instrument id.")
@click.option("--currency", help="Quote currency: USD, EUR, USDT, ...")
@click.option("--asset-class", metavar="equity|fx|crypto", help="What the instrument is.")
@click.option(
    "--multiplier",
    metavar="DECIMAL",
    help="Value of a one-point move per unit: P&L is price move x quantity x multiplier "
    "(default 1).",
)
@click.option(
    "--session",
    metavar="'TZ HH:MM'|none|default",
    help="Exchange timezone and session close that daily and longer bars close at, e.g. "
    "'Europe/London 16:30'; none: 24x7; default: the venue's.",
)
def instrument(symbol: str, **given: str | int | None) -> None:
    """Show SYMBOL's instrument; with options, change it in the catalog (all or nothing).

    Backtests size orders in multiples of the size increment.

    \b
    research-lib data instrument AAPL
    research-lib data instrument AAPL --size-precision 2        fractional shares
    research-lib data instrument BTC/USD --size-precision 6 --size-increment 0.0001
    research-lib data instrument EUR/USD --size-increment 1000  FX micro lots
    research-lib data instrument AAPL --multiplier 100          contracts of 100 shares
    research-lib data instrument VOD --venue LSE --currency GBP    closes 16:30 London
    research-lib data instrument SPY --session "America/Chicago 15:00"
    research-lib data instrument SPY --session none             24x7: open + 1 day
    """
    catalog = open_catalog()
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
@format_option
def list_data(fmt: str) -> None:
    """Symbols in the catalog with bar spec, first/last bar and row count.

    --format csv/json: one row per symbol and bar spec, times in ISO form (UTC).
    """
    frame = open_catalog().symbols()
    orphans = sorted({row.symbol for row in frame.itertuples() if not isinstance(row.venue, str)})
    if fmt != "table":
        header = ["symbol", "venue", "bar_spec", "first", "last", "rows"]
        rows = [
            [row.symbol, row.venue if isinstance(row.venue, str) else None, row.bar_spec,
             row.first.isoformat(), row.last.isoformat(), int(row.rows)]
            for row in frame.itertuples(index=False)
        ]  # fmt: skip
        if fmt == "csv":
            write_csv(header, rows)
        else:
            write_json([dict(zip(header, row, strict=True)) for row in rows])
        return
    if frame.empty:
        console().print(
            "the catalog is empty: research-lib data import-csv --file ... --symbol ..."
        )
        return
    columns = [
        Column("symbol"), Column("venue", priority=2), Column("bar_spec"), Column("first"),
        Column("last"), Column("rows", priority=1, justify="right"),
    ]  # fmt: skip
    rows = [
        [row.symbol, row.venue if isinstance(row.venue, str) else "(none)", row.bar_spec,
         f"{row.first:%Y-%m-%d %H:%M}", f"{row.last:%Y-%m-%d %H:%M}", f"{row.rows:,}"]
        for row in frame.itertuples(index=False)
    ]  # fmt: skip
    print_fitted(console(), "Catalog", columns, rows)
    if orphans:
        console().print(
            f"no instrument row for {', '.join(orphans)}: run research-lib data verify",
            markup=False,
        )


@data_group.command("show")
@click.argument("symbol")
@click.option("--start", help="First day or timestamp (UTC).")
@click.option("--end", help="Last day (inclusive) or timestamp.")
@click.option("--limit", default=20, show_default=True, help="Rows to print (0: all).")
@click.option("--tail", is_flag=True, help="Print the last rows instead of the first.")
@click.option("--bar-spec", help="Which bars, when the symbol has several (data list).")
def show(
    symbol: str, start: str | None, end: str | None, limit: int, tail: bool, bar_spec: str | None
) -> None:
    """Print the bars of SYMBOL, e.g. research-lib data show AAPL --start 2024-01-05 --limit 5."""
    from rich.table import Table

    catalog = open_catalog()
    bars = catalog.bars(symbol, start, end, bar_spec=bar_spec)
    decimals = catalog.instrument(symbol).price_precision
    shown = bars if limit <= 0 else (bars.tail(limit) if tail else bars.head(limit))
    volume_decimals = _decimals(shown["volume"].to_numpy())
    table = Table(title=f"{symbol}: {len(shown):,} of {len(bars):,} bars")
    seconds = bool((shown["timestamp"].dt.second != 0).any()) if len(shown) else False
    stamp = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    table.add_column("timestamp (UTC)", no_wrap=True, min_width=19 if seconds else 16)
    for column in ("open", "high", "low", "close", "volume"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in shown.itertuples(index=False):
        table.add_row(
            f"{row.timestamp:{stamp}}",
            *(f"{price:.{decimals}f}" for price in (row.open, row.high, row.low, row.close)),
            f"{row.volume:,.{volume_decimals}f}",
        )
    console().print(table)


def _decimals(values, most: int = 8) -> int:
    """The fewest decimals (0..most) that show every value exactly: 0 for share counts."""
    import numpy as np

    for decimals in range(most):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= np.abs(scaled) * 1e-12 + 1e-9):
            return decimals
    return most
