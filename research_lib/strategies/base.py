"""What every built-in strategy shares: config checks, data wiring and position targeting.

Fill timing: strategies act in ``on_bar`` with market orders. Under Nautilus's default bar
execution the venue has already seen the bar's open, high, low and close when the strategy gets
the bar, so a market order submitted in ``on_bar`` fills at that bar's **close**. Positions still
open when the run ends are closed at the last bar's close (``on_stop``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from research_lib.errors import ConfigProblems
from research_lib.model.params import Range

LONG, FLAT, SHORT = 1, 0, -1

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
        Units per entry (shares for equities), > 0.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    trade_size: Decimal

    bounds: ClassVar[dict[str, Range]] = {"trade_size": Range(low=0, low_open=True)}

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigProblems(problems)

    def problems(self) -> list[tuple[str, str]]:
        """Every invalid value as (field, reason); subclasses extend the list."""
        found = []
        for field, allowed in self.bounds.items():
            reason = allowed.problem(getattr(self, field))
            if reason:
                found.append((field, reason))
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
    """A strategy that moves between long, flat and short ``trade_size`` on each bar.

    Subclasses list their indicators in ``indicators()`` and implement ``decide(bar)``, which
    returns the wanted direction (``LONG``, ``FLAT``, ``SHORT``) or ``None`` to keep the current
    one. Nothing is decided until every indicator is warm. Reversals close the open position and
    open the new one with two market orders at the same bar's close.
    """

    def __init__(self, config: SignalConfig) -> None:
        super().__init__(config)
        self.instrument = None
        self.direction = FLAT
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

    def on_bar(self, bar: Bar) -> None:
        if not all(indicator.initialized for indicator in self.indicators()):
            return
        wanted = self.decide(bar)
        if wanted is not None and wanted != self.direction:
            self.move_to(wanted, bar.close.as_double())

    def move_to(self, direction: int, price: float) -> None:
        """Close what is open, then open ``trade_size`` in ``direction`` (unless flat)."""
        if self.direction != FLAT:
            self.close_all_positions(self.config.instrument_id)
            self.direction = FLAT
        if direction != FLAT and self.affordable(price):
            order = self.order_factory.market(
                instrument_id=self.config.instrument_id,
                order_side=OrderSide.BUY if direction == LONG else OrderSide.SELL,
                quantity=self.instrument.make_qty(self.config.trade_size),
            )
            self.submit_order(order)
            self.direction = direction

    def affordable(self, price: float) -> bool:
        """Whether ``trade_size`` at ``price`` fits the account's balance (leverage 1).

        Nautilus's risk engine does not check margin accounts, so entries are checked here;
        refused entries are kept in ``self.refused`` and reported by the runner.
        """
        account = self.portfolio.account(self.config.instrument_id.venue)
        balance = account.balance_total(self.instrument.quote_currency).as_double()
        notional = float(self.config.trade_size) * price * float(self.instrument.multiplier)
        if notional <= balance:
            return True
        self.refused.append(
            f"notional {notional:,.2f} {self.instrument.quote_currency} of trade_size "
            f"{self.config.trade_size} exceeds the account balance of {balance:,.2f}"
        )
        return False

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        for indicator in self.indicators():
            indicator.reset()
        self.direction = FLAT
