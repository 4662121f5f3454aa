"""Workarounds for NautilusTrader 1.231 hot spots. Drop this module when upstream has them.

``PortfolioAnalyzer`` (``nautilus_trader/analysis/analyzer.py``) grows pandas objects one row
at a time, which makes long backtests quadratic in the number of closed positions:

* ``_append_pnl_record`` (behind ``record_trade``, called by the portfolio on every closed
  position during the run, and ``add_trade``, called for every position by
  ``calculate_statistics``) runs ``pd.concat`` over the whole history for each new row.
  Reported upstream as nautilus_trader#4434, fixed by PR #4444 (not in 1.231.0).
* ``add_position_return`` enlarges a Series with ``.loc[ts] = 0.0`` for each position.

:func:`buffer_analyzer` patches one analyzer *instance* (nothing global) so that those rows go
into Python lists and are turned into the very same Series, in the same order and with the same
float sums, once, before anything reads them. ``tests/test_nautilus_fixes.py`` runs the same
backtest with and without it and asserts identical trades, PnL and statistics.
"""

from __future__ import annotations

import types
from typing import Any

import pandas as pd
from numpy import float64


def buffer_analyzer(analyzer: Any) -> Any:
    """Make ``analyzer`` (a ``PortfolioAnalyzer``) append in O(1); returns it."""
    cls = type(analyzer)
    pnl_rows: dict[int, tuple[dict, dict, Any, list, list, list]] = {}
    return_rows: dict[Any, float] = {}

    def flush_pnls() -> None:
        for pnls, timestamps, currency, ids, values, stamps in pnl_rows.values():
            new_pnls = pd.Series(values, index=ids, dtype=float64)
            new_stamps = pd.Series(stamps, index=ids, dtype=object)
            old_pnls, old_stamps = pnls.get(currency), timestamps.get(currency)
            pnls[currency] = new_pnls if old_pnls is None else pd.concat([old_pnls, new_pnls])
            timestamps[currency] = (
                new_stamps if old_stamps is None else pd.concat([old_stamps, new_stamps])
            )
        pnl_rows.clear()

    def flush_returns() -> None:
        if not return_rows:
            return
        merged = dict(analyzer._position_returns.items())
        for timestamp, value in return_rows.items():
            merged[timestamp] = merged.get(timestamp, 0.0) + value
        return_rows.clear()
        analyzer._position_returns = pd.Series(
            list(merged.values()), index=list(merged.keys()), dtype=float64
        )
        analyzer._sync_returns_alias()

    def _append_pnl_record(self, pnls, timestamps, position_id, realized_pnl, ts_event):
        currency = realized_pnl.currency
        key = (id(pnls), currency)
        if key not in pnl_rows:
            pnl_rows[key] = (pnls, timestamps, currency, [], [], [])
        _, _, _, ids, values, stamps = pnl_rows[key]
        ids.append(position_id.value)
        values.append(realized_pnl.as_double())
        stamps.append(int(ts_event) if ts_event is not None else None)

    def add_position_return(self, timestamp, value) -> None:
        # Same arithmetic as the original: 0.0, then += each value in arrival order.
        return_rows[timestamp] = return_rows.get(timestamp, 0.0) + float(value)

    def reading(method_name: str):
        original = getattr(cls, method_name)

        def wrapper(self, *args, **kwargs):
            flush_pnls()
            flush_returns()
            return original(self, *args, **kwargs)

        return wrapper

    def add_positions(self, positions) -> None:
        cls.add_positions(self, positions)
        flush_pnls()
        flush_returns()

    def reset(self) -> None:
        pnl_rows.clear()
        return_rows.clear()
        cls.reset(self)

    patches = {
        "_append_pnl_record": _append_pnl_record,
        "add_position_return": add_position_return,
        "add_positions": add_positions,
        "reset": reset,
    }
    for name in (
        "realized_pnls",
        "returns",
        "position_returns",
        "get_performance_stats_position_returns",
        "get_performance_stats_returns",
        "calculate_statistics",
    ):
        patches[name] = reading(name)
    for name, function in patches.items():
        setattr(analyzer, name, types.MethodType(function, analyzer))
    analyzer._research_lib_buffered = True
    return analyzer
