"""Figures over many runs: one metric per run, and a metric over two parameters of a sweep.

``runs`` is a frame with a row per run, as ``ResultsStore.list`` or a sweep returns it: metric
columns by name (labels and number formats come from :mod:`research_lib.model.metrics`),
optionally an ``id`` and a ``config`` (JSON text or dicts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.params import short_name
from research_lib.ui.plots.style import COLORS, TEMPLATE, metric_axis, tick_format

__all__ = ["metric_bars", "run_labels", "sweep_grid", "sweep_heatmap"]


def _check_column(frame: pd.DataFrame, name: str, what: str) -> None:
    if name not in frame.columns:
        raise ConfigError(
            f"no {what} '{name}' in the runs;{did_you_mean(name, map(str, frame.columns))} "
            f"columns: {', '.join(map(str, frame.columns))}"
        )


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _short_names(keys: list[str]) -> dict[str, str]:
    """``fast_period`` -> ``fast``, unless two keys would then read the same."""
    short = {}
    for key in keys:
        short[key] = short_name(key)
    taken = list(short.values())
    return {k: v if taken.count(v) == 1 else k for k, v in short.items()}


def _id_prefixes(ids: list[str]) -> list[str]:
    """8-character ids, or full ids if two would look the same."""
    short = [i[:8] for i in ids]
    return short if len(set(short)) == len(short) else list(ids)


def run_labels(ids: Any, configs: Any = None) -> list[str]:
    """A label per run from the parameters whose values differ between the runs:
    ``fast=10 slow=20`` (``_period`` and ``_threshold`` dropped from the names).

    Falls back to the 8-character id prefix when configs are missing (any run without one)
    or all equal; runs whose labels would be the same get their id prefix appended:
    ``fast=10 (1a2b3c4d)``. ``configs`` are dicts or JSON text, one per id.
    """
    ids = [str(i) for i in ids]
    prefixes = _id_prefixes(ids)
    parsed = run_configs(pd.DataFrame({"config": list(configs)})) if configs is not None else []
    if len(parsed) != len(ids) or not all(parsed):
        return prefixes
    keys = list(dict.fromkeys(k for c in parsed for k in c))
    canon = [{k: json.dumps(c.get(k), sort_keys=True, default=str) for k in keys} for c in parsed]
    differing = [k for k in keys if len({c[k] for c in canon}) > 1]
    names = _short_names(differing)
    labels = [
        " ".join(f"{names[k]}={_text(c[k])}" for k in differing if c.get(k) is not None)
        for c in parsed
    ]
    labels = [label or prefix for label, prefix in zip(labels, prefixes, strict=True)]
    return [
        f"{label} ({prefix})" if labels.count(label) > 1 and label != prefix else label
        for label, prefix in zip(labels, prefixes, strict=True)
    ]


def metric_bars(
    runs: pd.DataFrame, metric: str = "sharpe", label_column: str | None = None
) -> go.Figure:
    """A bar per run of one metric (green >= 0, red < 0), labelled by ``label_column``, else
    by the parameters that differ between the runs (:func:`run_labels`, from the ``id`` and
    ``config`` columns; the 8-character run ``id`` without configs), else the frame's index.
    Missing values draw no bar."""
    _check_column(runs, metric, "metric")
    if label_column is not None:
        _check_column(runs, label_column, "label column")
        labels = runs[label_column].astype(str).tolist()
    elif "id" in runs.columns:
        configs = runs["config"] if "config" in runs.columns else None
        labels = run_labels(runs["id"], configs)
    else:
        labels = [str(v) for v in runs.index]
    values = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    label, fmt = metric_axis(metric)
    colors = [COLORS["negative"] if v < 0 else COLORS["positive"] for v in values]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker={"color": colors},
            name=label,
            hovertemplate=f"%{{x}}<br>{label}: %{{y:{fmt}}}<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"{label} by run",
        height=400,
        xaxis={"title": label_column or "run", "type": "category"},
        yaxis={"title": label, "tickformat": tick_format(fmt)},
        margin={"t": 60, "r": 20, "b": 60, "l": 70},
    )
    return fig


def run_configs(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each run's config as a dict (the ``config`` column holds JSON text or dicts)."""
    if "config" not in runs.columns:
        return [{} for _ in range(len(runs))]
    out = []
    for value in runs["config"]:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        out.append(dict(value) if isinstance(value, Mapping) else {})
    return out


def sweep_grid(
    runs: pd.DataFrame, x: str = "fast_period", y: str = "slow_period", metric: str = "sharpe"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mean of ``metric`` per (``y``, ``x``) parameter pair and the number of runs behind
    each cell, as two frames (index: ``y`` values, columns: ``x`` values, both sorted).

    Parameters are read from each run's ``config`` (JSON text or dict), or from columns of
    those names. Missing metric values (failed runs) are skipped; empty cells are NaN.
    """
    _check_column(runs, metric, "metric")
    if x == y:
        raise ConfigError(f"a heatmap needs two parameters, got {x} twice: pick another y")
    configs = run_configs(runs)
    points = pd.DataFrame(index=range(len(runs)))
    for name in (x, y):
        column = [c.get(name) for c in configs]
        if name in runs.columns:
            column = [v if v is not None else w for v, w in zip(column, runs[name], strict=True)]
        points[name] = column
        if points[name].isna().all():
            known = sorted({key for c in configs for key in c} | set(map(str, runs.columns)))
            raise ConfigError(
                f"no parameter '{name}' in the runs' configs;{did_you_mean(name, known)} "
                f"parameters: {', '.join(known)}"
            )
    points[metric] = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    points = points.dropna(subset=[x, y])
    grouped = points.groupby([y, x])[metric]
    mean = grouped.mean().unstack(x)
    count = grouped.count().unstack(x)
    xs, ys = sorted(points[x].unique()), sorted(points[y].unique())
    mean = mean.reindex(index=ys, columns=xs)
    count = count.reindex(index=ys, columns=xs).fillna(0).astype(int)
    return mean, count


def sweep_heatmap(
    runs: pd.DataFrame,
    x: str = "fast_period",
    y: str = "slow_period",
    metric: str = "sharpe",
    title: str | None = None,
) -> go.Figure:
    """A heatmap of ``metric`` over two parameters of a sweep (see :func:`sweep_grid`):
    duplicate points are averaged, combinations without runs are blank."""
    mean, count = sweep_grid(runs, x, y, metric)
    label, fmt = metric_axis(metric)
    z = mean.to_numpy(dtype=float)
    finite = z[np.isfinite(z)]
    mid = 0.0 if finite.size and finite.min() < 0 < finite.max() else None
    fig = go.Figure(
        go.Heatmap(
            x=[str(v) for v in mean.columns],
            y=[str(v) for v in mean.index],
            z=z,
            customdata=count.to_numpy(),
            colorscale="RdYlGn",
            zmid=mid,
            colorbar={"title": {"text": label}, "tickformat": tick_format(fmt)},
            texttemplate=f"%{{z:{fmt}}}" if z.size <= 400 else None,
            hovertemplate=(
                f"{x}=%{{x}}<br>{y}=%{{y}}<br>{label}: %{{z:{fmt}}}<br>runs: %{{customdata}}"
                "<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=title or f"{label} by {x} and {y}",
        height=480,
        xaxis={"title": x, "type": "category"},
        yaxis={"title": y, "type": "category"},
        margin={"t": 60, "r": 20, "b": 60, "l": 70},
    )
    return fig
