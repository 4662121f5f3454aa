"""The command-line helpers of run configs: reading ``--param key=value`` items and writing the
commented YAML template ``research-lib strategy create`` prints (:mod:`run_config` reads it)."""

from __future__ import annotations

from typing import Any

from research_lib.errors import ConfigError
from research_lib.model.defaults import (
    DEFAULT_BALANCE,
    DEFAULT_SYMBOL,
    DEFAULT_TRADE_SIZE,
    MOCK_END,
    MOCK_START,
)
from research_lib.model.params import read_value, write_value
from research_lib.strategies import registry

__all__ = ["parse_params", "template"]


def parse_params(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["fast_period=10", "num_std_dev=2.5"]`` -> ``{"fast_period": 10, "num_std_dev": 2.5}``.

    Values are read as YAML scalars (``10`` int, ``2.5`` float, ``abc`` str).
    """
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--param expects key=value, got {item!r}")
        values[key] = read_value(text, f"--param {key}") if text.strip() else None
        if values[key] is None:
            raise ConfigError(f"--param {key} has no value, expected {key}=VALUE")
    return values


def template(name: str) -> str:
    """A commented YAML run config for the registered strategy ``name`` that validates and
    runs as written (on mock data); ``research-lib strategy create`` writes it."""
    info = registry.get(name)
    params = info.parameters()
    rows = []
    for p in params:
        default = DEFAULT_TRADE_SIZE if p.name == "trade_size" and p.default is None else p.default
        value = f"  {p.name}: {write_value(default)}"
        note = f"{p.type}, {p.bounds}" + (f": {p.help.replace('`', '')}" if p.help else "")
        rows.append(f"{value:<34}# {note}")
    body = "\n".join(rows)
    return f"""\
# {info.name}: {info.description}
# Check:  research-lib strategy validate THIS_FILE
# Run:    research-lib backtest run-config THIS_FILE   (flags such as --data catalog override)

strategy: {info.name}
# The same, as Nautilus import paths (use this form for your own strategy modules):
# strategy_path: "{info.strategy_path}"
# config_path: "{info.config_path}"

config:
  # instrument_id and bar_type follow the backtest data (backtest.symbol).
{body}

backtest:
  data: mock                      # mock: seeded synthetic bars; catalog: imported bars
  symbol: {DEFAULT_SYMBOL}
  start: "{MOCK_START}"
  end: "{MOCK_END}"
  starting_balance: {DEFAULT_BALANCE:g}
  # bar_spec: 5-MINUTE-LAST       # catalog bars, when the symbol has several (data list)
  fill_timing: close              # close: at the signal bar's close; next_open: next bar's open
  # periods_per_year: 252         # annualisation; default from the data's calendar

costs:                            # per fill; at most one commission and one slippage kind
  commission_rate: 0              # fraction of notional (0.0005 = 5 bps)
  # commission_per_unit: 0.005    # per share / contract / coin
  # commission_per_order: 1.0     # fixed per order
  slippage_ticks: 0               # whole ticks against you
  # slippage_bps: 2               # basis points, rounded outwards to the tick grid
"""
