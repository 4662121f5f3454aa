"""``research-lib backtest report``: stored runs as one self-contained HTML file."""

from __future__ import annotations

import click

from research_lib.cli.app import console, options
from research_lib.cli.backtest import backtest_group


@backtest_group.command("report")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID [RUN_ID ...]")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="The HTML file to write [default: report-<first id, 8 characters>.html].",
)
def report(run_ids: tuple[str, ...], output: str | None) -> None:
    """Write an HTML report of one run, or a comparison of several, that opens offline.

    One run: price and trades (when the bars are at hand), equity and drawdown, monthly
    returns, trade P&L, rolling Sharpe, the metrics with their definitions, the
    configuration and the reproducibility record. Several runs: equity overlaid, metrics
    side by side and the configuration differences. RUN_ID may be any unique prefix.

    \b
    Examples:
      research-lib backtest report 3f2a9c1e
      research-lib backtest report 3f2a9c1e 7b0d4e22 --output compare.html
    """
    from research_lib.store import ResultsStore
    from research_lib.ui.report import write_report

    store = ResultsStore(options().results)
    ids = [store.resolve(rid) for rid in run_ids]  # an unknown id fails here, in one line
    path = write_report(store, ids, output or f"report-{ids[0][:8]}.html")
    console().print(f"wrote {path}", markup=False)
