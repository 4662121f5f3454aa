"""The one table of run metrics: each metric's name, label and format.

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

    ``annualised`` metrics are stated with the run's periods per year ("Sharpe (252/yr)");
    fractions whose ``fmt`` ends in ``%`` are shown as percentages. The rules behind each
    value are in :mod:`research_lib.model.performance`.
    """

    name: str
    label: str
    fmt: str
    short: str = ""  # a column header for tables with a row per run
    annualised: bool = False

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

    def labelled(self, periods_per_year: float | None) -> str:
        """The label with the annualisation when it has one: ``Sharpe ratio (252/yr)``."""
        if self.annualised and periods_per_year:
            return f"{self.label} ({periods_per_year:g}/yr)"
        return self.label


# The headline metrics, computed from mark-to-market equity and closed trades.
HEADLINE: tuple[Metric, ...] = (
    Metric("sharpe", "Sharpe ratio", ".2f", "Sharpe", annualised=True),
    Metric("sortino", "Sortino ratio", ".2f", "Sortino", annualised=True),
    Metric("max_drawdown", "Max drawdown", ".2%", "Max DD"),
    Metric("win_rate", "Win rate", ".1%", "Win rate"),
    Metric("profit_factor", "Profit factor", ".2f", "PF"),
    Metric("cagr", "CAGR", ".2%", "CAGR"),
)
# More performance metrics of every run (stored as columns too).
DETAIL: tuple[Metric, ...] = (
    Metric("volatility", "Volatility", ".2%", "Vol", annualised=True),
    Metric("max_drawdown_days", "Max drawdown duration (days)", ",.1f", "DD days"),
    Metric("expectancy", "Expectancy (per trade)", ",.2f", "Expect."),
    Metric("avg_trade_return", "Average trade return", "+.3%", "Avg trade"),
    Metric("exposure", "Exposure (time in market)", ".1%", "Exposure"),
    Metric("benchmark_return", "Buy and hold return", "+.2%", "B&H"),
)
# What every run record computes itself.
ACCOUNT: tuple[Metric, ...] = (
    Metric("initial_capital", "Initial capital", ",.2f", short="Start"),
    Metric("final_capital", "Final capital", ",.2f", short="Final"),
    Metric("total_return", "Total return", "+.2%", short="Return"),
    Metric("trade_count", "Trades", ",d", short="Trades"),
)
METRICS: dict[str, Metric] = {m.name: m for m in (*ACCOUNT, *HEADLINE, *DETAIL)}
HEADLINE_NAMES: tuple[str, ...] = tuple(m.name for m in HEADLINE)
# The performance metrics a run stores as columns (headline first).
PERFORMANCE_NAMES: tuple[str, ...] = tuple(m.name for m in (*HEADLINE, *DETAIL))
# The metrics shown side by side by comparisons and rankings, in order.
COMPARE_METRICS: tuple[str, ...] = tuple(m.name for m in (*ACCOUNT, *HEADLINE, *DETAIL))
# Names users may type for a metric column.
METRIC_ALIASES = {"return": "total_return", "trades": "trade_count", "bh": "benchmark_return"}
# Choosing a point by a metric: these are better lower (the rest higher: max_drawdown is
# negative, so higher is shallower); these say nothing of how good a point is.
LOWER_IS_BETTER = frozenset({"volatility", "max_drawdown_days"})
NOT_A_GOAL = frozenset({"exposure", "benchmark_return", "trade_count", "initial_capital"})
GOALS: tuple[str, ...] = tuple(m for m in COMPARE_METRICS if m not in NOT_A_GOAL)


def metric(name: str) -> Metric:
    """The :class:`Metric` called ``name`` (or an alias); a plain ``.3f`` one if unknown."""
    name = METRIC_ALIASES.get(name, name)
    return METRICS.get(name) or Metric(name, name, ".3f")


def format_metric(name: str, value: Any) -> str:
    """``format_metric("total_return", 0.0123) == "+1.23%"``; ``—`` when missing."""
    return metric(name).format(value)
