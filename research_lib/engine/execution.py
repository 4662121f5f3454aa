"""A run's execution settings as Nautilus fee and fill models, and the open ticks that let
orders fill at the next bar's open.

- :class:`BarPriceFillModel` is a Nautilus ``FillModel`` whose simulated book holds the whole
  order at the current price (the bar's close, or the open tick in ``next_open`` mode) moved
  by the slippage, so bar volume never moves a fill off the documented price. With
  ``fill_volume: bar`` no fill model is set and Nautilus's own bar execution decides.
- :func:`fee_model` picks Nautilus's ``MakerTakerFeeModel`` (a rate of notional, carried by
  the instrument as its taker fee) or ``FixedFeeModel``, or :class:`PerUnitFeeModel`
  (Nautilus's ``PerContractFeeModel`` keeps the rate as ``Money``, so half a cent a share
  would become a cent).
- :func:`open_ticks` builds one trade tick per bar at the bar's open, after the previous bar
  closed, for ``next_open`` runs: the strategy submits the orders it decided on the previous
  bar when it sees the tick, and they fill at that price.

The rules are in :mod:`research_lib.model.execution`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.backtest.models import FeeModel, FillModel, FixedFeeModel, MakerTakerFeeModel
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.data import BookOrder, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, TradeId
from nautilus_trader.model.objects import Money, Price, Quantity

from research_lib.data.instruments import InstrumentSpec
from research_lib.model.bars import bar_closes, timestamps_ns
from research_lib.model.execution import Costs, Execution


class BarPriceFillModel(FillModel):
    """Every order fills in full at the best price, moved against the order by the slippage
    (``ticks`` whole ticks, or ``bps`` basis points rounded outwards to the tick grid)."""

    def __init__(self, ticks: int = 0, bps: float = 0.0) -> None:
        super().__init__(prob_fill_on_limit=1.0, prob_slippage=0.0, random_seed=0)
        self.ticks = int(ticks)
        self.bps = float(bps)

    def get_orderbook_for_fill_simulation(
        self, instrument: Any, order: Any, best_bid: Price, best_ask: Price
    ) -> OrderBook:
        buying = order.side == OrderSide.BUY
        price = slipped_price(
            (best_ask if buying else best_bid).as_double(),
            buying,
            float(instrument.price_increment),
            instrument.price_precision,
            self.ticks,
            self.bps,
        )
        book = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        level = BookOrder(
            side=OrderSide.SELL if buying else OrderSide.BUY,
            price=Price(price, instrument.price_precision),
            size=order.quantity,
            order_id=1,
        )
        book.add(level, 0, 0)
        return book


def slipped_price(
    price: float, buying: bool, tick: float, precision: int, ticks: int = 0, bps: float = 0.0
) -> float:
    """``price`` moved against the trader: ``ticks`` ticks, or ``bps`` basis points rounded
    outwards to the tick grid (up for a buy, down for a sell); always on the grid."""
    side = 1.0 if buying else -1.0
    if bps:
        raw = price * (1.0 + side * bps / 1e4) / tick
        steps = math.ceil(raw - 1e-9) if buying else math.floor(raw + 1e-9)
        return round(steps * tick, precision)
    return round(price + side * ticks * tick, precision)


def fill_model(execution: Execution) -> FillModel | None:
    """The venue's fill model: None (Nautilus's bar execution) for ``fill_volume: bar``."""
    if execution.fill_volume == "bar":
        return None
    costs = execution.costs
    return BarPriceFillModel(costs.slippage_ticks, costs.slippage_bps)


class PerUnitFeeModel(FeeModel):
    """A commission of ``rate`` per unit filled, rounded to the currency's cents per fill."""

    def __init__(self, rate: float, currency: Currency) -> None:
        self.rate = float(rate)
        self.currency = currency

    def get_commission(self, order: Any, fill_qty: Any, fill_px: Any, instrument: Any) -> Money:
        return Money(self.rate * fill_qty.as_double(), self.currency)


def fee_model(costs: Costs, currency: str) -> Any:
    """Nautilus's fee model for ``costs``; a rate of notional is the instrument's taker fee
    (:func:`taker_fee`), read by ``MakerTakerFeeModel``."""
    ccy = Currency.from_str(currency)
    if costs.commission_per_unit:
        return PerUnitFeeModel(costs.commission_per_unit, ccy)
    if costs.commission_per_order:
        return FixedFeeModel(Money(costs.commission_per_order, ccy), charge_commission_once=True)
    return MakerTakerFeeModel()


def taker_fee(costs: Costs) -> Decimal:
    """The instrument's taker (and maker) fee rate: the commission rate, else 0."""
    return Decimal(repr(costs.commission_rate))


def open_ticks(bars: pd.DataFrame, spec: InstrumentSpec, bar_spec: str, first: int, last: int):
    """Nautilus ``TradeTick`` s at the opens of bars ``first`` .. ``last - 1`` (never bar 0),
    each stamped when its bar opens but never before the previous bar's close (+1 ns), so it
    comes between the two bars."""
    first = max(first, 1)
    if last <= first:
        return []
    window = bars.iloc[first - 1 : last]
    starts = timestamps_ns(window["timestamp"])
    closes = bar_closes(window["timestamp"], bar_spec, session=spec.session_close).asi8
    stamps = np.maximum(starts[1:], closes[:-1] + 1).tolist()
    opens = window["open"].to_numpy(dtype=float)[1:].tolist()
    instrument_id = InstrumentId.from_str(spec.instrument_id)
    # A quarter of the bar's volume, as Nautilus's own bar execution gives its open tick
    # (with fill_volume: bar, the rest of a larger order fills a tick worse), at least one
    # size increment.
    quarters = window["volume"].to_numpy(dtype=float)[1:] / 4.0
    step = float(spec.increment)
    sizes = np.maximum(np.floor(quarters / step) * step, step).round(spec.size_precision)
    precision = spec.price_precision
    return [
        TradeTick(
            instrument_id,
            Price(price, precision),
            Quantity(size, spec.size_precision),
            AggressorSide.NO_AGGRESSOR,
            TradeId(f"open-{first + n}"),
            ts,
            ts,
        )
        for n, (price, size, ts) in enumerate(zip(opens, sizes.tolist(), stamps, strict=True))
    ]
