"""The look every figure shares: template, colours, the time axis and naive-UTC times.

Plotly ignores UTC offsets, so every time is drawn as naive UTC (:func:`naive_utc`) and the
axes say so (:data:`TIME_AXIS`). Strategies name their indicator styles (``"fast"``,
``"band"``...); :func:`style_color` turns such a key into one of :data:`COLORS`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from research_lib.model.metrics import metric

TEMPLATE = "plotly_white"
MAX_PRICE_POINTS = 20_000
TIME_AXIS = "Time (UTC, bar close)"
TIME_HOVER = "%Y-%m-%d %H:%M"
COLORS = {
    "price": "#2a3f5f",
    "up": "#26a69a",
    "down": "#ef5350",
    "long": "#2ca02c",
    "short": "#d62728",
    "win": "#2ca02c",
    "loss": "#d62728",
    "flat": "#7f7f7f",
    "equity": "#1f77b4",
    "drawdown": "#d62728",
    "fast": "#ff7f0e",
    "slow": "#9467bd",
    "middle": "#ff7f0e",
    "band": "#9467bd",
    "rsi": "#8c564b",
    "level": "#7f7f7f",
    "positive": "#2ca02c",
    "negative": "#d62728",
}


def style_color(style: str | None) -> str:
    """The colour of an indicator style key; the neutral ``level`` grey for unknown keys."""
    return COLORS.get(style or "", COLORS["level"])


def naive_utc(times: Any) -> np.ndarray:
    """Naive UTC datetime64 values for plotly (which ignores UTC offsets)."""
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    return index.tz_convert("UTC").tz_localize(None).to_numpy()


def metric_axis(name: str) -> tuple[str, str]:
    """(label, d3 number format) of a metric, from :mod:`research_lib.model.metrics`."""
    found = metric(name)
    return found.label, found.d3


def tick_format(d3: str) -> str | None:
    """An axis tick format for a d3 number format; None (plotly's own) for integers."""
    return None if d3.endswith("d") else d3


def time_breaks(times: Any, gap_factor: float = 3.0) -> list[dict[str, Any]]:
    """Plotly ``rangebreaks`` that hide the time without bars: nights and weekends.

    ``times`` are bar close times (converted as :func:`naive_utc` does, so the hour bounds are
    in the axis's naive-UTC values). The bar interval is the median step between consecutive
    times. Below a day, the longest daily stretch without bars (from the session's last close to
    its first open, in UTC hours, wrapping midnight) becomes an ``hour`` pattern break when it is
    longer than ``gap_factor`` bar intervals; ``["sat", "mon"]`` is added when no bar falls on a
    Saturday or Sunday. Data without such gaps (24x7 bars) gets no breaks.
    """
    index = pd.DatetimeIndex(naive_utc(times)).dropna().unique().sort_values()
    if len(index) < 2:
        return []
    interval = pd.Series(index[1:] - index[:-1]).median()
    if interval <= pd.Timedelta(0):
        return []
    breaks: list[dict[str, Any]] = []
    day = 24 * 60.0
    step = interval / pd.Timedelta(minutes=1)
    if step < day:
        opens = index - interval
        minutes = np.unique(
            (opens - opens.normalize()) / pd.Timedelta(minutes=1)
        )  # minute of the day each bar opens at
        following = np.append(minutes[1:], minutes[0] + day)
        gaps = following - minutes - step  # the time without bars after each one
        longest = int(np.argmax(gaps))
        if gaps[longest] > gap_factor * step:
            end = (minutes[longest] + step) % day / 60.0
            start = following[longest] % day / 60.0
            breaks.append({"bounds": [round(end, 4), round(start, 4)], "pattern": "hour"})
    if not (index.day_of_week >= 5).any():
        breaks.append({"bounds": ["sat", "mon"]})
    return breaks
