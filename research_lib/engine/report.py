"""Tables read from a finished Nautilus engine: fills, positions, trades and the equity curve.

Built straight from the engine's cache with the columns a run needs (Nautilus's own report
tables cost 90-175 µs per order and are not built). Timestamps are UTC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from research_lib.model.bars import bar_closes, timestamps_ns
from research_lib.model.run import TRADE_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from research_lib.engine.runner import MarketData

FILL_COLUMNS = ["order_id", "position_id", "side", "quantity", "price", "ts", "commission"]
POSITION_COLUMNS = [
    "position_id",
    "side",
    "quantity",
    "opened",
    "closed",
    "open_price",
    "close_price",
    "realized_pnl",
    "realized_return",
    "commission",
]


def fills_table(orders: list) -> pd.DataFrame:
    """One row per filled order (:data:`FILL_COLUMNS`), in time order; ``ts`` is UTC."""
    rows = [
        (
            o.client_order_id.value,
            o.position_id.value if o.position_id is not None else None,
            o.side_string(),
            o.filled_qty.as_double(),
            o.avg_px,
            o.ts_last,
            sum(c.as_double() for c in o.commissions()),
        )
        for o in orders
        if o.filled_qty.as_double() > 0
    ]
    frame = pd.DataFrame(rows, columns=FILL_COLUMNS)
    frame["price"] = frame["price"].astype(float)
    frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), utc=True)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def positions_table(positions: list) -> pd.DataFrame:
    """One row per position or netted-position snapshot (:data:`POSITION_COLUMNS`)."""
    from nautilus_trader.model.enums import OrderSide

    rows = [
        (
            p.id.value,
            "LONG" if p.entry == OrderSide.BUY else "SHORT",
            p.peak_qty.as_double(),
            p.ts_opened,
            p.ts_closed if p.ts_closed else None,
            p.avg_px_open,
            p.avg_px_close if p.ts_closed else None,
            p.realized_pnl.as_double() if p.realized_pnl is not None else 0.0,
            p.realized_return,
            sum(c.as_double() for c in p.commissions()),
        )
        for p in positions
    ]
    frame = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    for column in ("opened", "closed"):
        frame[column] = pd.to_datetime(frame[column].astype("Int64"), utc=True)
    for column in ("open_price", "close_price"):
        frame[column] = frame[column].astype(float)
    return frame


def trades_table(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per closed position, in :data:`TRADE_COLUMNS`, ordered by exit time."""
    closed = positions[positions["closed"].notna()]
    table = pd.DataFrame(
        {
            "position_id": closed["position_id"].astype(str),
            "side": closed["side"].astype(str),
            "quantity": closed["quantity"].astype(float),
            "entry_time": closed["opened"],
            "exit_time": closed["closed"],
            "entry_price": closed["open_price"].astype(float),
            "exit_price": closed["close_price"].astype(float),
            "realized_pnl": closed["realized_pnl"].astype(float),
        },
        columns=TRADE_COLUMNS,
    )
    return table.sort_values(["exit_time", "entry_time"], kind="stable").reset_index(drop=True)


def equity_curve(fills: pd.DataFrame, market: MarketData, start_cash: float) -> pd.Series:
    """Account equity marked to market at every bar's close (index: bar close time, UTC).

    cash(t) = start - sum(signed qty x fill price x m) - commissions, position(t) = sum(signed
    qty), equity = cash + position x close x m, with m the instrument's multiplier. Fills land
    on the bar whose close time they carry; bars close by the instrument's session.
    """
    closes = market.bars["close"].to_numpy(dtype=float)
    bar_close = bar_closes(
        market.bars["timestamp"], market.bar_spec, session=market.spec.session_close
    )
    close_ns = bar_close.asi8
    equity = np.full(len(closes), float(start_cash))
    if not fills.empty:
        side = np.where(fills["side"].to_numpy() == "BUY", 1.0, -1.0)
        qty = side * fills["quantity"].to_numpy(dtype=float) * float(market.spec.point_value)
        price = fills["price"].to_numpy(dtype=float)
        fees = fills["commission"].to_numpy(dtype=float)
        ts = timestamps_ns(fills["ts"])
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        cash = np.cumsum(-(qty * price)[order] - fees[order])
        held = np.cumsum(qty[order])
        k = np.searchsorted(ts, close_ns, side="right") - 1
        filled = k >= 0
        equity[filled] += cash[k[filled]] + held[k[filled]] * closes[filled]
    return pd.Series(equity, index=pd.DatetimeIndex(bar_close, name="timestamp"), name="equity")
