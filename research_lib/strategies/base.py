"""What every built-in strategy shares: config checks, data wiring, sizing and position
targeting.

Fill timing (:mod:`research_lib.model.execution` has the rules): with ``fill_timing`` ``close``
strategies act in ``on_bar`` with market orders; the venue has already seen the bar's open,
high, low and close, so they fill at that bar's **close**. With ``next_open`` the decision is
kept until the engine's tick at the next bar's open (:func:`research_lib.engine.execution.
open_ticks`) and the orders are submitted then, filling at that open. Positions still open
when the run ends are closed at the last bar's close (``on_stop``).

Sizing: ``sizing`` says what ``trade_size`` means. ``quantity``: units per entry (a multiple
of the instrument's size increment). ``notional``: an amount of the quote currency, turned
into units at the price the order is submitted at. ``equity``: a fraction (0..1] of the
account's equity. Units are rounded down to the size increment. The equity an entry is sized
and checked against is the balance plus the open position's P&L at that price, so a reversal
counts the position it is about to close (before that order's costs).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import ClassVar

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from research_lib.errors import ConfigProblems
from research_lib.model.execution import FILL_TIMINGS, SIZINGS
from research_lib.model.params import Range, number_problem

SIZE_DECIMALS = 9  # the most decimal places a Nautilus size (Quantity) has

LONG, FLAT, SHORT = 1, 0, -1
SIZE_UNITS = {"quantity": "units", "notional": "quote currency", "equity": "fraction of equity"}

__all__ = [
    "FLAT",
    "LONG",
    "SHORT",
    "ConfigProblems",
    "Range",
    "SignalConfig",
    "SignalStrategy",
    "crossed_above",
    "crossed_below",
]


def crossed_above(previous: float, level: float, current: float) -> bool:
    """Whether a series crossed up through ``level`` between two values:
    ``previous <= level < current`` (touching the level and leaving upwards counts)."""
    return previous <= level < current


def crossed_below(previous: float, level: float, current: float) -> bool:
    """Whether a series crossed down through ``level``: ``previous >= level > current``."""
    return previous >= level > current


class SignalConfig(StrategyConfig, frozen=True):
    """Fields every built-in strategy takes.

    Parameters
    ----------
    instrument_id : InstrumentId
        The instrument traded, e.g. ``AAPL.NASDAQ``.
    bar_type : BarType
        The bars the strategy listens to; their instrument must be ``instrument_id``.
    trade_size : Decimal
        The size of each entry, > 0, in what ``sizing`` says.
    sizing : str, default "quantity"
        What trade_size is: quantity (units), notional (quote currency), equity (fraction).
    fill_timing : str, default "close"
        Set by the runner from the run's execution settings (not a strategy parameter).
    """

    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Decimal
    sizing: str = "quantity"
    fill_timing: str = "close"

    bounds: ClassVar[dict[str, Range]] = {"trade_size": Range(low=0, low_open=True)}

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigProblems(problems)

    def problems(self) -> list[tuple[str, str]]:
        """Every invalid value as (field, reason); subclasses extend the list.

        Every number must be finite and of a usable size
        (:func:`~research_lib.model.params.number_problem`) before its bounds are checked.
        """
        found = [
            (field, reason)
            for field in self.__struct_fields__
            if (reason := number_problem(getattr(self, field)))
        ]
        bad = {field for field, _ in found}
        for field, allowed in self.bounds.items():
            reason = None if field in bad else allowed.problem(getattr(self, field))
            if reason:
                found.append((field, reason))
        size = self.trade_size
        exponent = size.as_tuple().exponent if isinstance(size, Decimal) else 0
        if "trade_size" not in bad and isinstance(exponent, int) and exponent < -SIZE_DECIMALS:
            found.append(
                (
                    "trade_size",
                    f"has more than {SIZE_DECIMALS} decimal places, was {self.trade_size}",
                )
            )
        if self.sizing not in SIZINGS:
            found.append(("sizing", f"must be one of {', '.join(SIZINGS)}, was {self.sizing!r}"))
        elif self.sizing == "equity" and self.trade_size > 1:
            found.append(
                (
                    "trade_size",
                    "is a fraction of equity with sizing 'equity': at most 1, was "
                    f"{self.trade_size}",
                )
            )
        if self.fill_timing not in FILL_TIMINGS:
            found.append(("fill_timing", f"must be close or next_open, was {self.fill_timing!r}"))
        bar_type = self.bar_type
        if isinstance(bar_type, str):
            bar_type = BarType.from_str(bar_type)
        if str(bar_type.instrument_id) != str(self.instrument_id):
            found.append(
                (
                    "bar_type",
                    f"instrument {bar_type.instrument_id} must equal instrument_id "
                    f"({self.instrument_id}), was {self.bar_type}",
                )
            )
        return found

    def must_exceed(self, field: str, other: str) -> list[tuple[str, str]]:
        """``[(field, reason)]`` unless ``field`` is greater than ``other``, else ``[]``."""
        value, limit = getattr(self, field), getattr(self, other)
        if value > limit:
            return []
        return [(field, f"must be greater than {other} ({limit}), was {value}")]

    def warmup_bars(self) -> int:
        """Bars consumed before the first possible signal (the runner checks there are more)."""
        return 1


class SignalStrategy(Strategy):
    """A strategy that moves between long, flat and short on each bar.

    Subclasses list their indicators in ``indicators()`` and implement ``decide(bar)``, which
    returns the wanted direction (``LONG``, ``FLAT``, ``SHORT``) or ``None`` to keep the current
    one. Nothing is decided until every indicator is warm. Reversals close the open position and
    open the new one with two market orders at the same price.
    """

    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.instrument = None
        self.direction = FLAT
        self.pending: int | None = None  # decided, waiting for the next open (next_open)
        self.refused: list[str] = []

    def indicators(self) -> list:
        """The indicators fed with every bar (registered on start)."""
        return []

    def decide(self, bar: Bar) -> int | None:  # pragma: no cover - abstract
        """The direction wanted after ``bar``, or None to keep the current one."""
        raise NotImplementedError

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"Could not find instrument for {self.config.instrument_id}")
            self.stop()
            return
        bar_type: BarType = self.config.bar_type
        for indicator in self.indicators():
            self.register_indicator_for_bars(bar_type, indicator)
        self.subscribe_bars(bar_type)
        if self.config.fill_timing == "next_open":
            self.subscribe_trade_ticks(self.config.instrument_id)

    def on_bar(self, bar: Bar) -> None:
        if not all(indicator.initialized for indicator in self.indicators()):
            return
        wanted = self.decide(bar)
        if wanted is None or wanted == self.direction:
            return
        if self.config.fill_timing == "next_open":
            self.pending = wanted
        else:
            self.move_to(wanted, bar.close.as_double())

    def on_trade_tick(self, tick: TradeTick) -> None:
        """The next bar's open (``next_open`` runs): act on the previous bar's decision."""
        if self.pending is not None:
            wanted, self.pending = self.pending, None
            self.move_to(wanted, tick.price.as_double())

    def move_to(self, direction: int, price: float) -> None:
        """Close what is open, then open the entry ``direction`` asks for (unless flat)."""
        equity = self.equity_at(price)
        if self.direction != FLAT:
            self.close_all_positions(self.config.instrument_id)
            self.direction = FLAT
        if direction == FLAT:
            return
        quantity = self.entry_quantity(price, equity)
        if quantity is None:
            return
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=OrderSide.BUY if direction == LONG else OrderSide.SELL,
            quantity=self.instrument.make_qty(quantity),
        )
        self.submit_order(order)
        self.direction = direction

    def equity_at(self, price: float) -> float:
        """The account balance plus the open positions' P&L at ``price``: what is left once
        they are closed there, before that order's costs."""
        account = self.portfolio.account(self.config.instrument_id.venue)
        balance = account.balance_total(self.instrument.quote_currency).as_double()
        mark = self.instrument.make_price(price)
        for position in self.cache.positions_open(instrument_id=self.config.instrument_id):
            balance += position.unrealized_pnl(mark).as_double()
        return balance

    def entry_quantity(self, price: float, equity: float) -> Decimal | None:
        """The units of an entry at ``price`` given ``equity``, or None (recorded in
        ``self.refused``) when they round to nothing or cost more than ``equity``."""
        size = Decimal(str(self.config.trade_size))
        unit_value = Decimal(repr(price)) * self.instrument.multiplier.as_decimal()
        increment = self.instrument.size_increment.as_decimal()
        if self.config.sizing == "quantity":
            quantity = size
        else:
            budget = size if self.config.sizing == "notional" else size * Decimal(repr(equity))
            steps = (budget / unit_value / increment).to_integral_value(rounding=ROUND_FLOOR)
            quantity = steps * increment
        currency = self.instrument.quote_currency
        if quantity <= 0:
            self.refused.append(
                f"trade_size {self.config.trade_size} ({SIZE_UNITS[self.config.sizing]}) at "
                f"{price:,.{self.instrument.price_precision}f} is less than one size "
                f"increment ({increment})"
            )
            return None
        notional = float(quantity * unit_value)
        if notional <= equity:
            return quantity
        self.refused.append(
            f"notional {notional:,.2f} {currency} of {quantity} units exceeds the account's "
            f"equity of {equity:,.2f}"
        )
        return None

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        for indicator in self.indicators():
            indicator.reset()
        self.direction = FLAT
        self.pending = None
