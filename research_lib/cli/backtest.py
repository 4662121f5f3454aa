"""``research-lib run-simple`` and ``research-lib backtest run``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from research_lib.cli.app import cli, console, group, options, saved_text
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
bar_spec_option = click.option(
    "--bar-spec",
    metavar="SPEC",
    help="Catalog bars to use when the symbol has several, e.g. 5-MINUTE-LAST "
    "(research-lib data list).",
)
_DATE_OPTIONS = (
    click.option(
        "--dayfirst", is_flag=True, help="Read --start/--end such as 01/05/2024 day first (1 May)."
    ),
    click.option(
        "--date-format", metavar="FORMAT", help="strptime format of --start/--end, e.g. %d.%m.%Y."
    ),
)


def date_options(command: Callable) -> Callable:
    """Add ``--dayfirst`` and ``--date-format``; the command gets ``start``/``end`` in ISO
    form (:func:`research_lib.model.dates.when_text`: one rule, ``01/05/2024`` is refused
    as ambiguous unless one of them says how to read it)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from research_lib.model.dates import when_text

        how = {"dayfirst": kwargs.pop("dayfirst"), "date_format": kwargs.pop("date_format")}
        for name in ("start", "end"):
            kwargs[name] = when_text(kwargs[name], **how)
        return command(*args, **kwargs)

    for option in reversed(_DATE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


COST_FLAGS = (
    "commission_rate", "commission_per_unit", "commission_per_order", "slippage_ticks",
    "slippage_bps",
)  # fmt: skip
_EXECUTION_OPTIONS = (
    click.option(
        "--fill-timing",
        type=click.Choice(["close", "next_open"]),
        help="Fill at the signal bar's close (default) or at the next bar's open.",
    ),
    click.option(
        "--fill-volume",
        type=click.Choice(["unlimited", "bar"]),
        help="unlimited (default): whole order at the price; bar: Nautilus's volume-limited "
        "bar execution.",
    ),
    click.option(
        "--commission-rate", type=float, help="Commission, fraction of notional (0.0005 = 5 bps)."
    ),
    click.option("--commission-per-unit", type=float, help="Commission per share/contract/coin."),
    click.option("--commission-per-order", type=float, help="Fixed commission per order."),
    click.option("--slippage-ticks", type=int, help="Slippage per fill, whole ticks."),
    click.option("--slippage-bps", type=float, help="Slippage per fill, basis points."),
    click.option(
        "--sizing",
        type=click.Choice(["quantity", "notional", "equity"]),
        help="What --trade-size means: units (default), quote currency, fraction of equity.",
    ),
    click.option(
        "--periods-per-year",
        type=float,
        help="Annualise ratios with this many periods (default: from the data's calendar).",
    ),
)


def execution_options(command: Callable) -> Callable:
    """Add the fill, cost, sizing and annualisation flags; the command gets them as one
    ``run_flags`` dict of ``run_backtest`` keywords (``params``: sizing)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        costs = {name: kwargs.pop(name) for name in COST_FLAGS}
        sizing = kwargs.pop("sizing")
        flags = {
            "fill_timing": kwargs.pop("fill_timing"),
            "fill_volume": kwargs.pop("fill_volume"),
            "periods_per_year": kwargs.pop("periods_per_year"),
            "costs": {name: value for name, value in costs.items() if value is not None},
            "sizing": sizing,
        }
        return command(*args, run_flags=flags, **kwargs)

    for option in reversed(_EXECUTION_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def print_summary(result) -> None:
    """The summary table every backtest command ends with."""
    from rich.table import Table

    title = f"{result.strategy} on {result.symbol}{_data_label(result)}"
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in summary_rows(result, full_id=True, initial_capital=True):
        table.add_row(label, value)
    out = console()
    out.print(table)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    if result.saved_to:
        out.print(saved_text(result.saved_to), markup=False)


def _data_label(result) -> str:
    """`` (mock 1-minute bars)``: where the bars of a run came from (the source, the bar
    step)."""
    source = getattr(result, "data_source", None)
    spec = str(getattr(result, "bar_spec", None) or "").split("-")
    step = f"{spec[0]}-{spec[1].lower()}" if len(spec) >= 2 else ""
    words = [w for w in (source, step) if w]
    return f" ({' '.join(words)} bars)" if words else ""


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
@bar_spec_option
@click.option("--start", help="First day or timestamp, e.g. 2024-01-02 or 2024-01-02T14:30 (UTC).")
@click.option("--end", help="Last day (inclusive) or timestamp.")
@date_options
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
@execution_options
@seed_option
@tag_option
def backtest_run(
    strategy: str,
    symbol: str | None,
    bar_spec: str | None,
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
    run_flags: dict[str, Any],
) -> None:
    """Backtest a strategy on catalog (or mock) bars and save the run.

    \b
    Examples:
      research-lib backtest run --strategy sma --symbol AAPL --start 2024-01-02 --end 2024-01-31
      research-lib backtest run --symbol AAPL --bar-spec 5-MINUTE-LAST
      research-lib backtest run -s mean_reversion --symbol AAPL -p num_std_dev=2.5
      research-lib backtest run -s momentum --data mock -p rsi_period=10
      research-lib backtest run --data mock --commission-rate 0.0005 --slippage-ticks 1
      research-lib backtest run --data mock --fill-timing next_open --sizing equity \\
          --trade-size 0.5
    """
    from research_lib.engine.run_template import parse_params
    from research_lib.workflows.record import run_backtest

    values = parse_params(list(params))
    sizing = run_flags.pop("sizing")
    for key, value in (
        ("fast_period", fast), ("slow_period", slow), ("trade_size", trade_size),
        ("sizing", sizing),
    ):  # fmt: skip
        if value is not None:
            values[key] = value
    result = run_backtest(
        strategy,
        values,
        **run_flags,
        data=data,
        symbol=symbol,
        bar_spec=bar_spec,
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
