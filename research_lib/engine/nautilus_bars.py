"""Bars frames to Nautilus ``Bar`` objects for the engine.

Nautilus stamps external bars at their CLOSE time, so the conversion sets
``ts_event = ts_init`` to the bar's close (:func:`research_lib.model.bars.bar_closes`: open +
interval, or the session close for daily and longer bars; frames carry the bar OPEN time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from nautilus_trader.model.data import Bar, BarType

from research_lib.data.instruments import InstrumentSpec
from research_lib.model.bars import bar_closes


def to_nautilus_bars(bars: pd.DataFrame, spec: InstrumentSpec, bar_spec: str) -> list[Bar]:
    """Nautilus bars for the engine, built straight from the arrays (no per-row Python).

    ``Bar.from_raw_arrays_to_list`` needs writable, contiguous float64/uint64 arrays; pandas 3
    hands out read-only views, so the arrays are copied (BarDataWrangler fails on them).
    """
    bar_type = BarType.from_str(spec.bar_type(bar_spec))
    closes = bar_closes(bars["timestamp"], bar_spec, session=spec.session_close).asi8
    ts = np.array(closes, dtype=np.uint64, copy=True)

    def column(name: str) -> np.ndarray:
        return np.array(bars[name].to_numpy(dtype=np.float64), dtype=np.float64, copy=True)

    return Bar.from_raw_arrays_to_list(
        bar_type,
        spec.price_precision,
        spec.size_precision,
        column("open"),
        column("high"),
        column("low"),
        column("close"),
        column("volume"),
        ts,
        ts.copy(),
    )
