"""Figures of runs kept in a results store: open the store (or a path to one), then draw."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from research_lib.errors import ConfigError
from research_lib.store import ResultsStore
from research_lib.ui.plots.equity import equity_overlay
from research_lib.ui.plots.runs import sweep_heatmap

__all__ = ["equity_overlay_from_store", "sweep_heatmap_from_store"]


def _open(store: Any) -> ResultsStore:
    return store if isinstance(store, ResultsStore) else ResultsStore(store)


def equity_overlay_from_store(store: Any, run_ids: list[str], normalize: bool = True) -> go.Figure:
    """:func:`~research_lib.ui.plots.equity.equity_overlay` of stored runs (ids or unique
    prefixes) from a ``ResultsStore`` (or a path to one); curves are labelled by the
    parameters that differ between the runs (``fast=5``), else with 8-character run ids."""
    store = _open(store)
    curves = store.equity(run_ids)
    full_ids = store.compare(run_ids).run_ids  # the same runs, in the order of the columns
    configs = [store.get(rid).config for rid in full_ids]
    curves.columns = pd.Index(full_ids, name="run")
    return equity_overlay(curves, normalize=normalize, configs=configs)


def sweep_heatmap_from_store(
    store: Any,
    sweep_id: str,
    x: str = "fast_period",
    y: str = "slow_period",
    metric: str = "sharpe",
) -> go.Figure:
    """:func:`~research_lib.ui.plots.runs.sweep_heatmap` of the completed runs of one sweep
    in a ``ResultsStore`` (or a path)."""
    store = _open(store)
    runs = store.list(sweep_id=sweep_id, limit=None, extra_columns=("agreement",))
    runs = runs[(runs["status"] == "completed") | runs["twin_id"].notna()]  # failed: marked
    if runs.empty:
        raise ConfigError(f"no completed runs with sweep id '{sweep_id}' in {store.path}")
    return sweep_heatmap(runs, x, y, metric, title=f"Sweep {sweep_id}: {metric} by {x}, {y}")
