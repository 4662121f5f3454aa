"""Time series helpers on plain pandas: shrinking a curve while keeping its shape."""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_EQUITY_POINTS = 5_000  # points of an equity curve kept by the results store


def downsample_equity(equity: pd.Series, max_points: int = MAX_EQUITY_POINTS) -> pd.Series:
    """At most ``max_points`` points of a curve, keeping its shape (M4 downsampling).

    The curve is cut into ``max_points // 4`` equal-count buckets; each keeps its first and
    last point and its minimum and maximum (earliest on ties), in time order. So the first
    and last values and the global extremes (hence the max drawdown's peak and trough) survive.
    Curves with ``max_points`` points or fewer are returned unchanged.
    """
    n = len(equity)
    if n <= max_points:
        return equity
    buckets = max(1, max_points // 4)
    values = equity.to_numpy(dtype=float)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:]
    bucket = np.repeat(np.arange(buckets), ends - starts)
    order = np.lexsort((values, bucket))  # by bucket, then value; stable
    keep = np.unique(np.concatenate([starts, ends - 1, order[starts], order[ends - 1]]))
    return equity.iloc[keep]
