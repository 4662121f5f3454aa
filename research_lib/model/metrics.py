"""The one table of run metrics: each metric's name, where it comes from, label and format.

Every place that shows or stores a metric reads it from here: the results store's columns,
the CLI's tables, the panel's metrics table, the figures' axes and the sweep rankings.
``fmt`` is a Python format spec (``format(0.05, ".2%") == "5.00%"``); plotly takes the same
spec as a d3 format, so :attr:`Metric.d3` is the same text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MISSING = "—"


@dataclass(frozen=True)
class Metric:
    """One metric of a run.

    ``statistic`` names the Nautilus ``PortfolioAnalyzer`` statistic it is read from (None for
    the ones the run record computes itself); fractions whose ``fmt`` ends in ``%`` are shown
    as percentages.
    """

    name: str
    label: str
    fmt: str
    statistic: str | None = None
    short: str = ""  # a column header for tables with a row per run

    @property
    def header(self) -> str:
        """The short label, or the label when there is none."""
        return self.short or self.label

    @property
    def d3(self) -> str:
        """The plotly (d3) number format: the Python spec without the sign flag."""
        return self.fmt.lstrip("+")

    def format(self, value: Any) -> str:
        """``value`` as text for tables; ``—`` for missing, NaN and infinite values."""
        if value is None or isinstance(value, bool):
            return MISSING
        try:
            number = float(value)
        except (TypeError, ValueError):
            return MISSING
        if not math.isfinite(number):
            return MISSING
        if self.fmt.endswith("d"):
            return format(round(number), self.fmt)
        return format(number, self.fmt)


# The headline metrics, read from Nautilus's analyzer statistics (stored as columns).
HEADLINE: tuple[Metric, ...] = (
    Metric("sharpe", "Sharpe ratio (252 days)", ".2f", "Sharpe Ratio (252 days)", "Sharpe"),
    Metric("sortino", "Sortino ratio (252 days)", ".2f", "Sortino Ratio (252 days)", "Sortino"),
    Metric("max_drawdown", "Max drawdown", ".2%", "Max Drawdown", "Max DD"),
    Metric("win_rate", "Win rate", ".1%", "Win Rate", "Win rate"),
    Metric("profit_factor", "Profit factor", ".2f", "Profit Factor", "PF"),
    Metric("cagr", "CAGR (252 days)", ".2%", "CAGR (252 days)", "CAGR"),
)
# What every run record computes itself.
ACCOUNT: tuple[Metric, ...] = (
    Metric("initial_capital", "Initial capital", ",.2f", short="Start"),
    Metric("final_capital", "Final capital", ",.2f", short="Final"),
    Metric("total_return", "Total return", "+.2%", short="Return"),
    Metric("trade_count", "Trades", ",d", short="Trades"),
)
METRICS: dict[str, Metric] = {m.name: m for m in (*ACCOUNT, *HEADLINE)}
HEADLINE_NAMES: tuple[str, ...] = tuple(m.name for m in HEADLINE)
# Headline metric name -> the Nautilus statistic it is read from.
METRIC_STATISTICS: dict[str, str] = {m.name: m.statistic for m in HEADLINE if m.statistic}
# The metrics shown side by side by comparisons and rankings, in order.
COMPARE_METRICS: tuple[str, ...] = tuple(m.name for m in (*ACCOUNT, *HEADLINE))
# Names users may type for a metric column.
METRIC_ALIASES = {"return": "total_return", "trades": "trade_count"}


def metric(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (or an alias); a plain ``.3f`` one if unknown."""
    name = METRIC_ALIASES.get(name, name)
    return METRICS.get(name) or Metric(name, name, ".3f")


def format_metric(name: str, value: Any) -> str:
    """``format_metric("total_return", 0.0123) == "+1.23%"``; ``—`` when missing."""
    return metric(name).format(value)
