"""Figures of a study (:class:`~research_lib.workflows.study.StudyResult`): its folds on a
time axis, the stitched out-of-sample equity, in- against out-of-sample metric per fold, and
the parameters each fold chose.

Every builder takes a study as stored and returns a ``go.Figure``; a study with one fold (a
train/test split) draws one row, one point, one marker per parameter. Times are naive UTC
(:func:`~research_lib.ui.plots.style.naive_utc`); metric labels and formats come from
:mod:`research_lib.model.metrics`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from research_lib.model.metrics import format_metric
from research_lib.model.params import short_name
from research_lib.model.series import downsample_equity
from research_lib.ui.plots.style import (
    COLORS,
    MAX_PRICE_POINTS,
    TEMPLATE,
    TIME_AXIS,
    TIME_HOVER,
    metric_axis,
    naive_utc,
    tick_format,
    time_breaks,
)

__all__ = [
    "PART_COLORS",
    "chosen_parameters",
    "fold_timeline",
    "is_vs_oos",
    "oos_equity",
    "parameter_stability",
]

# The train and test windows of the fold timeline; the test colour shades the OOS curve.
PART_COLORS = {"train": "#9ecae1", "test": COLORS["equity"]}
MARGIN = {"t": 60, "r": 20, "b": 40, "l": 70}


def _metric(result: Any) -> str:
    return (result.spec or {}).get("metric") or "sharpe"


def _oos_value(fold: dict[str, Any], metric: str) -> Any:
    return (fold.get("oos_metrics") or {}).get(metric)


def _point_text(point: dict[str, Any] | None) -> str:
    return ", ".join(f"{short_name(k)}={v}" for k, v in (point or {}).items()) or "—"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _day(text: str) -> str:
    return str(text)[:10]


def _empty(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=f"{title}: no folds", height=300)
    return fig


def chosen_parameters(result: Any) -> list[str]:
    """The parameters the folds chose, in the grid's order (then any others)."""
    seen = [name for fold in result.folds for name in (fold.get("chosen") or {})]
    grid = list((result.spec or {}).get("grid") or {})
    return [n for n in grid if n in seen] + [n for n in dict.fromkeys(seen) if n not in grid]


def fold_timeline(result: Any) -> go.Figure:
    """One row per fold: its train and test windows as bars on a time axis (a partial fold,
    cut at the data's end, hatched); hover for the dates, bars and the chosen point."""
    fig = go.Figure()
    folds = list(result.folds)
    if not folds:
        return _empty(fig, "Folds")
    rows = [f"fold {f['number']}" + (" (partial)" if f.get("partial") else "") for f in folds]
    for part in ("train", "test"):
        starts = naive_utc([f[f"{part}_start"] for f in folds])
        ends = naive_utc([f[f"{part}_end"] for f in folds])
        spans = (ends - starts) / np.timedelta64(1, "ms")
        custom = [
            [_day(f[f"{part}_start"]), _day(f[f"{part}_end"]), f"{f.get(f'{part}_bars') or 0:,}",
             _point_text(f.get("chosen"))]
            for f in folds
        ]  # fmt: skip
        fig.add_trace(
            go.Bar(
                y=rows, x=spans, base=starts, orientation="h", name=part,
                marker={"color": PART_COLORS[part],
                        "pattern": {"shape": ["/" if f.get("partial") else "" for f in folds]}},
                customdata=custom,
                hovertemplate=f"%{{y}} {part}: %{{customdata[0]}}..%{{customdata[1]}}<br>"
                "%{customdata[2]} bars<br>chosen: %{customdata[3]}<extra></extra>",
            )
        )  # fmt: skip
    partial = sum(bool(f.get("partial")) for f in folds)
    title = f"Folds: {len(folds)} train/test window{'s' if len(folds) > 1 else ''}"
    if partial:
        title += f" ({partial} partial, cut at the data end: hatched)"
    fig.update_layout(
        template=TEMPLATE, title=title, barmode="overlay", height=160 + 40 * len(folds),
        xaxis={"type": "date", "title": "Time (UTC)"},
        yaxis={"autorange": "reversed", "type": "category"},
        legend={"orientation": "h", "y": -0.25}, margin=MARGIN,
    )  # fmt: skip
    return fig


def oos_equity(result: Any, max_points: int = MAX_PRICE_POINTS) -> go.Figure:
    """The stitched out-of-sample equity curve, each fold's test window shaded and labelled
    ``fold N``, on a time axis without the nights and weekends that have no points."""
    fig = go.Figure()
    curve = result.oos_equity.dropna().astype(float)
    if curve.empty:
        fig.update_layout(template=TEMPLATE, title="Out-of-sample equity: no test runs",
                          height=300)  # fmt: skip
        return fig
    shown = downsample_equity(curve, max_points) if len(curve) > max_points else curve
    fig.add_trace(
        go.Scatter(
            x=naive_utc(shown.index), y=shown.to_numpy(), mode="lines", name="out-of-sample equity",
            line={"color": COLORS["equity"], "width": 1.5},
            hovertemplate=f"%{{x|{TIME_HOVER}}} UTC<br>equity %{{y:,.2f}}<extra></extra>",
        )
    )  # fmt: skip
    for i, fold in enumerate(result.folds):
        start, end = (pd.Timestamp(naive_utc([fold[k]])[0]) for k in ("test_start", "test_end"))
        fig.add_vrect(x0=start, x1=end, fillcolor=PART_COLORS["test"],
                      opacity=0.06 if i % 2 else 0.12, line_width=0, layer="below")  # fmt: skip
        fig.add_vline(x=start, line={"color": COLORS["level"], "width": 1, "dash": "dot"})
        fig.add_annotation(x=start, y=1.0, xref="x", yref="paper", yanchor="bottom",
                           xanchor="left", showarrow=False, text=f"fold {fold['number']}",
                           font={"size": 11, "color": COLORS["level"]})  # fmt: skip
    oos = (result.summary or {}).get("oos") or {}
    title = f"Out-of-sample equity: {len(result.folds)} test window" + (
        "s stitched" if len(result.folds) > 1 else ""
    )
    if oos:
        title += (f", return {format_metric('total_return', oos.get('total_return'))}, "
                  f"Sharpe {format_metric('sharpe', oos.get('sharpe'))}")  # fmt: skip
    fig.update_layout(
        template=TEMPLATE, title=title, height=420, showlegend=False, margin=MARGIN,
        xaxis={"title": TIME_AXIS, "hoverformat": TIME_HOVER,
               "rangebreaks": time_breaks(curve.index)},
        yaxis={"title": "Equity"},
    )  # fmt: skip
    return fig


def is_vs_oos(result: Any) -> go.Figure:
    """Each fold's in-sample metric (of its chosen point, x) against its out-of-sample one
    (y), with y = x (no degradation) and the least-squares line of the summary's
    degradation when it has one."""
    metric = _metric(result)
    label, d3 = metric_axis(metric)
    pairs = [
        (f["number"], f.get("is_value"), _oos_value(f, metric), _point_text(f.get("chosen")))
        for f in result.folds
    ]
    pairs = [p for p in pairs if _finite(p[1]) and _finite(p[2])]
    fig = go.Figure()
    if not pairs:
        return _empty(fig, f"In- vs out-of-sample {label}")
    xs = [float(p[1]) for p in pairs]
    ys = [float(p[2]) for p in pairs]
    low, high = min(xs + ys), max(xs + ys)
    pad = (high - low) * 0.1 or max(abs(high), 1.0) * 0.1
    line = np.array([low - pad, high + pad])
    fig.add_trace(go.Scatter(x=line, y=line, mode="lines", name="y = x (no degradation)",
                             line={"color": COLORS["level"], "dash": "dash", "width": 1},
                             hoverinfo="skip"))  # fmt: skip
    drop = (result.summary or {}).get("degradation") or {}
    if drop.get("slope") is not None and drop.get("intercept") is not None:
        slope, intercept = float(drop["slope"]), float(drop["intercept"])
        fig.add_trace(go.Scatter(
            x=line, y=intercept + slope * line, mode="lines", name="least squares",
            line={"color": COLORS["negative"], "width": 1.5},
            hovertemplate=f"out-of-sample = {intercept:.2f} {'+' if slope >= 0 else '-'} "
            f"{abs(slope):.2f} x in-sample<extra></extra>",
        ))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", name="fold", text=[f"fold {p[0]}" for p in pairs],
        textposition="top center", customdata=[[p[3]] for p in pairs],
        marker={"color": COLORS["equity"], "size": 11},
        hovertemplate=f"%{{text}}: %{{customdata[0]}}<br>in sample %{{x:{d3}}}<br>"
        f"out of sample %{{y:{d3}}}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(
        template=TEMPLATE, title=f"{label}: in sample (train) vs out of sample (test), per fold",
        height=460, margin=MARGIN, legend={"orientation": "h", "y": -0.2},
        xaxis={"title": f"In-sample {label}", "tickformat": tick_format(d3),
               "range": list(line), "zeroline": True},
        yaxis={"title": f"Out-of-sample {label}", "tickformat": tick_format(d3),
               "range": list(line), "zeroline": True},
    )  # fmt: skip
    return fig


def _grid_range(values: Any) -> list[float] | None:
    """The searched range of a parameter's grid values, padded, when they are numbers."""
    if not isinstance(values, (list, tuple)) or not values:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    low, high = float(min(values)), float(max(values))
    pad = (high - low) * 0.05 or max(abs(high), 1.0) * 0.1
    return [low - pad, high + pad]


def parameter_stability(result: Any) -> go.Figure:
    """The value each fold chose for each parameter (one panel per parameter, its y axis the
    searched range), so a stable choice reads as a flat line."""
    names = chosen_parameters(result)
    folds = list(result.folds)
    if not folds or not names:
        return _empty(go.Figure(), "Chosen parameters per fold")
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=names)  # fmt: skip
    grid = (result.spec or {}).get("grid") or {}
    numbers = [f["number"] for f in folds]
    points = [_point_text(f.get("chosen")) for f in folds]
    for row, name in enumerate(names, start=1):
        values = [(f.get("chosen") or {}).get(name) for f in folds]
        fig.add_trace(
            go.Scatter(
                x=numbers, y=values, mode="lines+markers", name=name, customdata=points,
                line={"color": COLORS["equity"]}, marker={"size": 9},
                hovertemplate=f"fold %{{x}}: {name} = %{{y}}<br>%{{customdata}}<extra></extra>",
            ),
            row=row, col=1,
        )  # fmt: skip
        fig.update_yaxes(title_text=short_name(name), range=_grid_range(grid.get(name)),
                         row=row, col=1)  # fmt: skip
    changes = sum(
        folds[i].get("chosen") != folds[i - 1].get("chosen") for i in range(1, len(folds))
    )
    title = f"Chosen parameters per fold: {changes} change{'s' if changes != 1 else ''}"
    title += f" in {len(folds)} fold{'s' if len(folds) > 1 else ''}"
    fig.update_layout(template=TEMPLATE, title=title, showlegend=False, margin=MARGIN,
                      height=140 + 170 * len(names))  # fmt: skip
    fig.update_xaxes(tickmode="array", tickvals=numbers, ticktext=[f"fold {n}" for n in numbers])
    fig.update_xaxes(title_text="Fold", row=len(names), col=1)
    return fig
