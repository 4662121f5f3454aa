"""``research-lib data delete``, ``data resample`` and ``data verify``: remove bars, derive
coarser ones, check (and quarantine) damaged files."""

from __future__ import annotations

import click

from research_lib.cli.app import CommandFailed, console
from research_lib.cli.data import data_group, open_catalog


@data_group.command("delete")
@click.argument("symbol")
@click.option("--bar-spec", help="Delete only this spec, e.g. 1-MINUTE-LAST.")
@click.option("--yes", is_flag=True, help="Delete; without it, only show what would go.")
def delete(symbol: str, bar_spec: str | None, yes: bool) -> None:
    """Delete SYMBOL's bars of one bar spec, or all its bars and its instrument (atomic).

    Without --yes, prints what would be deleted and exits 1.

    \b
    research-lib data delete AAPL --bar-spec 5-MINUTE-LAST --yes
    research-lib data delete AAPL --yes        every bar spec and the instrument row
    """
    from research_lib.data.maintenance import delete_bars, plan_delete

    catalog = open_catalog()
    report = (delete_bars if yes else plan_delete)(catalog, symbol, bar_spec)
    for line in report.lines():
        console().print(line)
    if not yes:
        raise CommandFailed("nothing deleted: pass --yes to delete")


@data_group.command("resample")
@click.argument("symbol")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="SPEC",
    help="Target bars: 5-MINUTE, 1-HOUR, 1-DAY (the source's price type) or e.g. 5-MINUTE-LAST.",
)
@click.option(
    "--from",
    "source",
    metavar="SPEC",
    help="Stored spec to aggregate, e.g. 1-MINUTE-LAST [default: the finest one that fits].",
)
def resample(symbol: str, to: str, source: str | None) -> None:
    """Derive coarser bars of SYMBOL from a stored bar spec and store them (all or nothing).

    Buckets are aligned to the epoch (UTC; weeks start on Monday) and keyed by their open
    time: open first, high max, low min, close last, volume sum. The target interval must
    be a whole multiple of the source's. Re-running replaces that spec's bars.

    \b
    research-lib data resample AAPL --to 5-MINUTE
    research-lib data resample AAPL --to 1-DAY --from 1-MINUTE-LAST
    """
    from research_lib.data.maintenance import resample as resample_bars

    report = resample_bars(open_catalog(), symbol, to, source=source)
    console().print(report.summary())


@data_group.command("verify")
@click.option(
    "--repair",
    is_flag=True,
    help="Move every damaged file to <catalog>/quarantine/<time>/ so the rest works again.",
)
def verify(repair: bool) -> None:
    """Check every file of the catalog; exit 1 if any is damaged (and not repaired).

    First finishes (or discards) a change a crash interrupted. Then reads every bar file
    whole (Parquet, columns, time order, an instrument row for its symbol), the instruments
    file, and looks for stray files. --repair quarantines what is damaged: move a file back
    from the quarantine folder, or import its data again, to restore it.

    \b
    research-lib data verify
    research-lib data verify --repair
    """
    from research_lib.data.verify import verify_catalog

    report = verify_catalog(open_catalog().root, repair=repair)
    for line in report.lines():
        console().print(line, markup=False, highlight=False)
    if not report.ok:
        raise CommandFailed(f"{len(report.problems)} damaged files in {report.root}")
