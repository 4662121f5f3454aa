"""A user's own strategy, outside research_lib: long on a new ``lookback``-bar high, short on a
new low. Used by the tests to show user modules run like built-in ones."""

from __future__ import annotations

from typing import ClassVar

from nautilus_trader.indicators import DonchianChannel
from nautilus_trader.model.data import Bar

from research_lib.strategies.base import LONG, SHORT, Range, SignalConfig, SignalStrategy


class BreakoutConfig(SignalConfig, frozen=True):
    """Configuration for :class:`Breakout`.

    Parameters
    ----------
    lookback : int, default 20
        Bars in the channel (>= 2).
    """

    lookback: int = 20

    bounds: ClassVar[dict[str, Range]] = {**SignalConfig.bounds, "lookback": Range(low=2)}

    def warmup_bars(self) -> int:
        return self.lookback


class Breakout(SignalStrategy):
    """Long when the close reaches the previous channel's top, short at its bottom."""

    def __init__(self, config: BreakoutConfig) -> None:
        super().__init__(config)
        self.channel = DonchianChannel(config.lookback)
        self._previous: tuple[float, float] | None = None

    def indicators(self) -> list:
        return [self.channel]

    def decide(self, bar: Bar) -> int | None:
        previous, self._previous = self._previous, (self.channel.upper, self.channel.lower)
        if previous is None:
            return None
        close = bar.close.as_double()
        if close >= previous[0]:
            return LONG
        if close <= previous[1]:
            return SHORT
        return None
