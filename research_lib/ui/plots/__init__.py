"""Plotly figures for backtest results, stored runs and sweeps.

Every builder returns a ``plotly.graph_objects.Figure`` (template ``plotly_white``, the colours
in :data:`COLORS`). Times are drawn as naive UTC and labelled so. The figures live by kind:

- :mod:`~research_lib.ui.plots.price`: one run's price, indicators and trades;
- :mod:`~research_lib.ui.plots.equity`: equity and drawdown, equity curves overlaid;
- :mod:`~research_lib.ui.plots.runs`: a metric per run, a metric over a sweep's parameters
  (a screened sweep's points confirmed in Nautilus marked), run labels from the parameters
  that differ (``fast=5``);
- :mod:`~research_lib.ui.plots.stored`: the same, read from a results store;
- :mod:`~research_lib.ui.plots.style`: template, colours, the time axis (nights and weekends
  without bars cut out).

Indicators come from the spec each strategy is registered with
(:class:`~research_lib.strategies.indicators.IndicatorSpec`); metric labels and number formats
from :mod:`research_lib.model.metrics`.
"""

from research_lib.ui.plots.equity import drawdown_pct, equity_figure, equity_overlay
from research_lib.ui.plots.price import (
    bar_spec_of,
    close_times,
    indicator_frame,
    indicator_spec,
    price_figure,
    strategy_params,
)
from research_lib.ui.plots.runs import (
    confirmed_points,
    metric_bars,
    run_labels,
    sweep_bars,
    sweep_grid,
    sweep_heatmap,
)
from research_lib.ui.plots.stored import equity_overlay_from_store, sweep_heatmap_from_store
from research_lib.ui.plots.study import fold_timeline, is_vs_oos, oos_equity, parameter_stability
from research_lib.ui.plots.style import (
    COLORS,
    MAX_PRICE_POINTS,
    TEMPLATE,
    TIME_AXIS,
    TIME_HOVER,
    time_breaks,
)

__all__ = [
    "COLORS",
    "MAX_PRICE_POINTS",
    "TEMPLATE",
    "TIME_AXIS",
    "TIME_HOVER",
    "bar_spec_of",
    "close_times",
    "confirmed_points",
    "drawdown_pct",
    "equity_figure",
    "equity_overlay",
    "equity_overlay_from_store",
    "fold_timeline",
    "indicator_frame",
    "indicator_spec",
    "is_vs_oos",
    "metric_bars",
    "oos_equity",
    "parameter_stability",
    "price_figure",
    "run_labels",
    "strategy_params",
    "sweep_bars",
    "sweep_grid",
    "sweep_heatmap",
    "sweep_heatmap_from_store",
    "time_breaks",
]
