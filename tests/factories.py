"""Builders of test data shared by the test modules: hand-built bars and fixture file paths.

Test modules import these as ``from factories import ...`` (pytest puts ``tests/`` on the path);
no test module imports another test module or ``conftest``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"


def utc(text: str) -> pd.Timestamp:
    """A UTC timestamp from text."""
    return pd.Timestamp(text, tz="UTC")


def make_bars(closes: list[float], start: str = "2024-01-02 14:30", freq: str = "1min"):
    """Valid OHLCV bars whose closes are ``closes`` (open = previous close, range +-0.1)."""
    closes_arr = np.asarray(closes, dtype=float)
    opens = np.concatenate(([closes_arr[0]], closes_arr[:-1]))
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(
                pd.Timestamp(start, tz="UTC"), periods=len(closes), freq=freq
            ).as_unit("ns"),
            "open": opens,
            "high": np.maximum(opens, closes_arr) + 0.1,
            "low": np.minimum(opens, closes_arr) - 0.1,
            "close": closes_arr,
            "volume": np.full(len(closes), 1000.0),
        }
    )
