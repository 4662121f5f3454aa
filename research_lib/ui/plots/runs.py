"""Figures over many runs: one metric per run, and a metric over one or two parameters of a sweep.

``runs`` is a frame with a row per run, as ``ResultsStore.list`` or a sweep returns it: metric
columns by name (labels and number formats come from :mod:`research_lib.model.metrics`),
optionally an ``id`` and a ``config`` (JSON text or dicts).

A screened sweep (runs with ``engine = 'vector'``) is drawn from its screened points only,
one per grid point; its points confirmed in Nautilus (runs with a ``twin_id``, and an
``agreement`` JSON column, or ``agrees``/``detail`` columns) are marked on top: a ring where
Nautilus agrees, a red cross where it differs or failed (:func:`confirmed_points`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from research_lib.errors import ConfigError, did_you_mean
from research_lib.model.metrics import format_metric
from research_lib.model.params import short_name
from research_lib.ui.plots.style import COLORS, TEMPLATE, metric_axis, tick_format

__all__ = [
    "SCREENED_NOTE",
    "confirmed_points",
    "is_screened",
    "metric_bars",
    "run_labels",
    "screened_rows",
    "sweep_bars",
    "sweep_grid",
    "sweep_heatmap",
]

SCREENED_NOTE = (
    "screened on the vector engine; ○ confirmed in Nautilus and agrees, "
    "✕ confirmed in Nautilus and differs (or failed)"
)
# How a confirmed point is marked, by its outcome: legend name, marker symbol, colour, size.
MARKS = {
    "agrees": ("confirmed in Nautilus: agrees", "circle-open", "#212121", 30),
    "differs": ("confirmed in Nautilus: differs", "x-thin-open", COLORS["negative"], 22),
    "failed": ("confirmed in Nautilus: failed", "x-thin-open", COLORS["negative"], 22),
    "unknown": ("confirmed in Nautilus: not compared", "circle-open", COLORS["flat"], 30),
}


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


def _param_values(runs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The values of parameters ``names`` per run, from its ``config`` or columns so named;
    raises :class:`ConfigError` for a parameter no run has."""
    configs = run_configs(runs)
    points = pd.DataFrame(index=range(len(runs)))
    for name in names:
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
    return points


def sweep_grid(
    runs: pd.DataFrame, x: str = "fast_period", y: str = "slow_period", metric: str = "sharpe"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mean of ``metric`` per (``y``, ``x``) parameter pair and the number of runs behind
    each cell, as two frames (index: ``y`` values, columns: ``x`` values, both sorted).

    Parameters are read from each run's ``config`` (JSON text or dict), or from columns of
    those names. Missing metric values (failed runs) are skipped; empty cells are NaN. Every
    row counts: pass :func:`screened_rows` for a screened sweep's grid.
    """
    _check_column(runs, metric, "metric")
    if x == y:
        raise ConfigError(f"a heatmap needs two parameters, got {x} twice: pick another y")
    points = _param_values(runs, [x, y])
    points[metric] = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    points = points.dropna(subset=[x, y])
    grouped = points.groupby([y, x])[metric]
    mean = grouped.mean().unstack(x)
    count = grouped.count().unstack(x)
    xs, ys = sorted(points[x].unique()), sorted(points[y].unique())
    mean = mean.reindex(index=ys, columns=xs)
    count = count.reindex(index=ys, columns=xs).fillna(0).astype(int)
    return mean, count


def is_screened(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` are of a screened sweep: some ran on the vector engine."""
    return "engine" in runs.columns and bool((runs["engine"] == "vector").any())


def screened_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows a sweep's grid is drawn from: of a screened sweep its vector runs (one per
    point, not the Nautilus runs confirming some), of any other sweep every run."""
    if not is_screened(runs):
        return runs
    return runs[runs["engine"] == "vector"].reset_index(drop=True)


def _agreement(row: pd.Series) -> tuple[bool | None, str | None]:
    """(agrees, detail) of a confirming run, from ``agrees``/``detail`` or ``agreement``."""
    if "agrees" in row.index and row["agrees"] is not None and not pd.isna(row["agrees"]):
        detail = row.get("detail")
        return bool(row["agrees"]), None if detail is None or pd.isna(detail) else str(detail)
    found = row.get("agreement")
    if isinstance(found, str):
        found = json.loads(found) if found.strip() else None
    if isinstance(found, Mapping) and found.get("agrees") is not None:
        return bool(found["agrees"]), found.get("detail")
    return None, None


def confirmed_points(
    runs: pd.DataFrame, params: list[str] | tuple[str, ...] = (), metric: str = "sharpe"
) -> pd.DataFrame:
    """A screened sweep's Nautilus runs of its confirmed points, one row each: ``id`` (the
    Nautilus run), ``twin_id`` (the screened vector run), ``status``, ``outcome``
    (``agrees``, ``differs``, ``failed`` or ``unknown`` when no agreement was recorded),
    ``detail``, the ``params`` values, ``metric`` (Nautilus) and ``vector_<metric>``.
    Empty (with those columns) for a sweep that was not screened."""
    vector_metric = f"vector_{metric}"
    columns = ["id", "twin_id", "status", "outcome", "detail", *params, metric, vector_metric]
    if not is_screened(runs) or "twin_id" not in runs.columns:
        return pd.DataFrame(columns=columns)
    _check_column(runs, metric, "metric")
    runs = runs.reset_index(drop=True)
    chosen = runs["twin_id"].notna() & (runs["engine"] != "vector")
    values = _param_values(runs, list(params))[chosen.to_numpy()]
    rows = runs[chosen]
    vector = runs[runs["engine"] == "vector"].drop_duplicates("id").set_index("id")[metric]
    outcomes, details = [], []
    for _, row in rows.iterrows():
        agrees, detail = _agreement(row)
        failed = row.get("status") == "failed"
        outcomes.append(
            "failed" if failed else "unknown" if agrees is None else
            "agrees" if agrees else "differs"
        )  # fmt: skip
        error = row.get("error")
        details.append(str(error) if failed and isinstance(error, str) else detail)
    frame = pd.DataFrame(
        {
            "id": rows["id"].astype(str).to_numpy(),
            "twin_id": rows["twin_id"].astype(str).to_numpy(),
            "status": rows["status"].to_numpy() if "status" in rows else None,
            "outcome": outcomes,
            "detail": details,
        }
    )
    for name in params:
        frame[name] = values[name].to_numpy()
    frame[metric] = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
    twins = rows["twin_id"].map(vector)
    frame[vector_metric] = pd.to_numeric(twins, errors="coerce").to_numpy(dtype=float)
    return frame[columns]


def _marks(
    points: pd.DataFrame, xs: list[Any], ys: list[Any], metric: str, where: list[str]
) -> list[go.Scatter]:
    """A marker trace per outcome of the confirmed ``points`` at (``xs``, ``ys``); hover:
    ``where`` (the point), the Nautilus run id and both engines' ``metric``."""
    label = metric_axis(metric)[0]
    traces = []
    for outcome, (name, symbol, color, size) in MARKS.items():
        picked = [i for i, o in enumerate(points["outcome"]) if o == outcome]
        if not picked:
            continue
        text = []
        for i in picked:
            row = points.iloc[i]
            text.append(
                f"{where[i]}<br>{name}<br>Nautilus run {row['id']}"
                f"<br>{label}: Nautilus {format_metric(metric, row[metric])}, "
                f"vector {format_metric(metric, row[f'vector_{metric}'])}"
                + (f"<br>{html.escape(str(row['detail']))}" if row["detail"] else "")
            )
        traces.append(
            go.Scatter(
                x=[xs[i] for i in picked],
                y=[ys[i] for i in picked],
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": size,
                    "color": color,
                    "line": {"width": 3, "color": color},
                },
                hovertext=text,
                hovertemplate="%{hovertext}<extra></extra>",
                customdata=points["id"].iloc[picked].tolist(),
                meta="confirmed",
            )
        )
    return traces


def _mark_layout(fig: go.Figure, title: str) -> None:
    """A screened sweep's figure: say so under the title, the legend of marks below."""
    fig.update_layout(
        title={"text": title, "subtitle": {"text": SCREENED_NOTE}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        margin={"t": 80, "b": 110},
        height=520,
    )


def sweep_heatmap(
    runs: pd.DataFrame,
    x: str = "fast_period",
    y: str = "slow_period",
    metric: str = "sharpe",
    title: str | None = None,
) -> go.Figure:
    """A heatmap of ``metric`` over two parameters of a sweep (see :func:`sweep_grid`):
    duplicate points are averaged, combinations without runs are blank.

    Of a screened sweep, the cells are its screened points (:func:`screened_rows`) and each
    point confirmed in Nautilus is marked: a ring where the two engines agree, a red cross
    where they differ or Nautilus failed; hovering a mark shows the Nautilus run's id and
    the metric on both engines (:func:`confirmed_points`)."""
    screened = is_screened(runs)
    mean, count = sweep_grid(screened_rows(runs), x, y, metric)
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
    if screened:
        points = confirmed_points(runs, [x, y], metric)
        cells_x = {v: str(v) for v in mean.columns}  # the heatmap's labels (5 == 5.0)
        cells_y = {v: str(v) for v in mean.index}
        at_x = [cells_x.get(v, str(v)) for v in points[x]]
        at_y = [cells_y.get(v, str(v)) for v in points[y]]
        where = [f"{x}={a}, {y}={b}" for a, b in zip(at_x, at_y, strict=True)]
        fig.add_traces(_marks(points, at_x, at_y, metric, where))
        _mark_layout(fig, title or f"{label} by {x} and {y}")
    return fig


def sweep_bars(
    runs: pd.DataFrame, name: str, metric: str = "sharpe", title: str | None = None
) -> go.Figure:
    """A bar of ``metric`` per value of ``name``, the one parameter a sweep varies, in its
    order, labelled ``name=value`` (:func:`metric_bars`). A screened sweep's bars are its
    screened points, its confirmed points marked as on :func:`sweep_heatmap`."""
    screened = is_screened(runs)
    surface = screened_rows(runs)
    values = _param_values(surface, [name])[name].tolist()
    frame = surface.assign(_value=values).sort_values("_value", kind="stable")
    frame["_value"] = [f"{name}={v}" for v in frame["_value"]]
    label = metric_axis(metric)[0]
    fig = metric_bars(frame, metric, label_column="_value")
    fig.update_layout(title=title or f"{label} by {name}", xaxis_title=name)
    if screened:
        points = confirmed_points(runs, [name], metric)
        bar_of = dict(zip(frame["id"].astype(str), frame["_value"], strict=True))
        points = points[points["twin_id"].isin(bar_of)].reset_index(drop=True)
        at_x = [bar_of[t] for t in points["twin_id"]]
        fig.update_traces(selector={"type": "bar"}, showlegend=False)  # the legend: marks
        fig.add_traces(_marks(points, at_x, points[f"vector_{metric}"].tolist(), metric, at_x))
        _mark_layout(fig, title or f"{label} by {name}")
    return fig
