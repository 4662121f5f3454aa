"""``research-lib run-simple`` and ``research-lib backtest run``."""

from __future__ import annotations

import click

from research_lib.cli.app import cli, console, group, options
from research_lib.model.defaults import DEFAULT_BALANCE, DEFAULT_SEED, DEFAULT_TRADE_SIZE
from research_lib.ui.tables import summary_rows

backtest_group = group("backtest", "Run backtests and work with the stored results.")

# Options shared by every command that starts runs.
param_option = click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Strategy parameter, repeatable: -p lookback_period=30 -p num_std_dev=2.5",
)
seed_option = click.option(
    "--seed", default=DEFAULT_SEED, show_default=True, help="Seed for --data mock."
)
tag_option = click.option(
    "--tag", "tags", multiple=True, help="Label stored with the run (repeatable)."
)


def print_summary(result) -> None:
    """The summary table every backtest command ends with."""
    from rich.table import Table

    table = Table(title=f"{result.strategy} on {result.symbol}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in summary_rows(result, full_id=True, initial_capital=True):
        table.add_row(label, value)
    out = console()
    out.print(table)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    if result.saved_to:
        out.print(f"saved to {result.saved_to}")


@cli.command("run-simple")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Seed of the mock bars.")
@click.option("--fast", default=10, show_default=True, help="Fast SMA period.")
@click.option("--slow", default=20, show_default=True, help="Slow SMA period.")
@click.option(
    "--trade-size", default=DEFAULT_TRADE_SIZE, show_default=True, help="Shares per trade."
)
def run_simple(seed: int, fast: int, slow: int, trade_size: int) -> None:
    """SMA crossover on seeded mock 1-minute bars (January 2024); prints the summary.

    The quickest check that the workbench works: no data, no config needed.
    The run is saved to the results store like every other run.
    """
    from research_lib.workflows.record import run_backtest

    result = run_backtest(
        "sma_crossover",
        {"fast_period": fast, "slow_period": slow, "trade_size": trade_size},
        data="mock",
        seed=seed,
        results=options().results,
        source="cli",
        verbose=options().verbose,
    )
    print_summary(result)


@backtest_group.command("run")
@click.option(
    "--strategy",
    "-s",
    default="sma_crossover",
    show_default=True,
    help="Registered name (research-lib strategy list) or module:Class.",
)
@click.option("--symbol", help="Symbol in the catalog (default: the only one there).")
@click.option("--start", help="First day or timestamp, e.g. 2024-01-02 (UTC).")
@click.option("--end", help="Last day (inclusive) or timestamp.")
@click.option(
    "--data",
    type=click.Choice(["catalog", "mock"]),
    default="catalog",
    show_default=True,
    help="Bars from the catalog, or seeded synthetic ones.",
)
@click.option("--fast", type=int, help="SMA: fast period (same as --param fast_period=N).")
@click.option("--slow", type=int, help="SMA: slow period.")
@click.option("--trade-size", type=float, help=f"Units per trade (default {DEFAULT_TRADE_SIZE}).")
@param_option
@click.option("--starting-balance", default=DEFAULT_BALANCE, show_default=True, type=float)
@seed_option
@tag_option
def backtest_run(
    strategy: str,
    symbol: str | None,
    start: str | None,
    end: str | None,
    data: str,
    fast: int | None,
    slow: int | None,
    trade_size: float | None,
    params: tuple[str, ...],
    starting_balance: float,
    seed: int,
    tags: tuple[str, ...],
) -> None:
    """Backtest a strategy on catalog (or mock) bars and save the run.

    \b
    Examples:
      research-lib backtest run --strategy sma --symbol AAPL --start 2024-01-02 --end 2024-01-31
      research-lib backtest run -s mean_reversion --symbol AAPL -p num_std_dev=2.5
      research-lib backtest run -s momentum --data mock -p rsi_period=10
    """
    from research_lib.engine.run_config import parse_params
    from research_lib.workflows.record import run_backtest

    values = parse_params(list(params))
    for key, value in (("fast_period", fast), ("slow_period", slow), ("trade_size", trade_size)):
        if value is not None:
            values[key] = value
    result = run_backtest(
        strategy,
        values,
        data=data,
        symbol=symbol,
        start=start,
        end=end,
        starting_balance=starting_balance,
        catalog=options().catalog,
        seed=seed,
        results=options().results,
        source="cli",
        tags=list(tags),
        verbose=options().verbose,
    )
    print_summary(result)
