"""``research-lib strategy list/create/validate`` and ``research-lib backtest run-config``.

``strategy list`` reads parameters from the config classes' source (no Nautilus import), so
it starts as fast as ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import click

from research_lib.cli.app import console, group, options
from research_lib.cli.backtest import (
    backtest_group,
    bar_spec_option,
    date_options,
    execution_options,
    param_option,
    print_summary,
    seed_option,
    tag_option,
)

strategy_group = group("strategy", "List strategies, write and check YAML run configs.")


@strategy_group.command("list")
def strategy_list() -> None:
    """Registered strategies with their parameters, defaults and bounds."""
    from rich.table import Table

    from research_lib.strategies import registry

    aliases = registry.aliases()
    table = Table(title="Strategies (research-lib strategy create --type NAME)")
    table.add_column("Strategy", style="bold", ratio=1)
    table.add_column("Parameter", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Default", no_wrap=True)
    table.add_column("Bounds", no_wrap=True)
    for name in registry.names():
        info = registry.get(name)
        also = [alias for alias, target in aliases.items() if target == name]
        label = name + (f" (alias {', '.join(also)})" if also else "")
        label += f"\n[not bold dim]{info.description}[/]"
        params = info.parameters()
        for i, p in enumerate(params):
            table.add_row(
                label if i == 0 else "",
                p.name,
                p.type,
                "required" if p.default is None else str(p.default),
                p.bounds,
                end_section=i == len(params) - 1,
            )
    console().print(table)


@strategy_group.command("create")
@click.option(
    "--type", "-t", "name", required=True, help="Strategy name (research-lib strategy list)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: print).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing --output file.")
def strategy_create(name: str, output: Path | None, force: bool) -> None:
    """Write a commented YAML run config for a strategy, ready to validate and run.

    \b
    Example:
      research-lib strategy create --type momentum --output my_momentum.yaml
    """
    from research_lib.engine.run_template import template
    from research_lib.errors import ConfigError

    text = template(name)
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise ConfigError(f"{output} exists; pass --force to overwrite it")
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")
    click.echo(f"next: research-lib strategy validate {output}")
    click.echo(f"      research-lib backtest run-config {output}")


@strategy_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--import",
    "imports",
    is_flag=True,
    help="Also import strategy code from outside the installed packages and the project "
    "(it runs that module's code) to check the config values against its class.",
)
@click.pass_context
def strategy_validate(ctx: click.Context, files: tuple[Path, ...], imports: bool) -> None:
    """Check YAML run configs; prints OK or every problem. Exit code 0 only if all are valid.

    A strategy_path in a module outside the installed packages and the project
    (a .py file in the current folder, say) is not imported, as importing runs its
    code: its source is read to check the classes exist, and its config values are
    checked with --import, or when `backtest run-config` runs it.
    """
    from research_lib.engine.run_config import RunConfigError, load_run_config

    invalid = 0
    for file in files:
        try:
            loaded = load_run_config(file, imports=imports)
        except RunConfigError as exc:
            invalid += 1
            click.echo(str(exc))
        else:
            note = f" (not imported: {loaded.not_imported}; --import checks it)"
            click.echo(f"{file}: OK{note if loaded.not_imported else ''}")
    if invalid:
        click.echo(f"{invalid} of {len(files)} files invalid", err=True)
        ctx.exit(1)


@backtest_group.command("run-config")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--symbol", help="Override backtest.symbol.")
@bar_spec_option
@click.option("--start", help="Override backtest.start, e.g. 2024-01-02.")
@click.option("--end", help="Override backtest.end (inclusive).")
@date_options
@click.option("--data", type=click.Choice(["catalog", "mock"]), help="Override backtest.data.")
@click.option("--starting-balance", type=float, help="Override backtest.starting_balance.")
@param_option
@execution_options
@seed_option
@tag_option
def backtest_run_config(
    file: Path,
    symbol: str | None,
    bar_spec: str | None,
    start: str | None,
    end: str | None,
    data: str | None,
    starting_balance: float | None,
    params: tuple[str, ...],
    seed: int,
    tags: tuple[str, ...],
    run_flags: dict,
) -> None:
    """Backtest the strategy of a YAML run config; flags override its backtest: and costs:
    sections (--bar-spec overrides backtest.bar_spec, else the spec of config.bar_type).

    \b
    Example:
      research-lib backtest run-config configs/examples/sma_config.yaml --data mock
    """
    from research_lib.engine.run_config import load_run_config
    from research_lib.engine.run_template import parse_params
    from research_lib.workflows.record import run_from_config

    overrides = parse_params(list(params))
    sizing = run_flags.pop("sizing")
    if sizing is not None:
        overrides["sizing"] = sizing
    run_config = load_run_config(file)
    result = run_from_config(
        run_config,
        **run_flags,
        symbol=symbol,
        bar_spec=bar_spec,
        start=start,
        end=end,
        data=data,
        starting_balance=starting_balance,
        params=overrides,
        catalog=options().catalog,
        results=options().results,
        seed=seed,
        source="cli",
        tags=list(tags),
        verbose=options().verbose,
    )
    print_summary(result)
