"""RSI momentum, stop and reverse: long when the RSI crosses up through the oversold
threshold, short when it crosses down through the overbought one.
See :mod:`research_lib.strategies.base` for fill timing.

Nautilus's ``RelativeStrengthIndex`` is used as is: exponential averages of gains and losses
(alpha = 2 / (period + 1)), value in 0..1. Thresholds are given on the usual 0..100 scale.
"""

from __future__ import annotations

from typing import ClassVar

from nautilus_trader.indicators import RelativeStrengthIndex
from nautilus_trader.model.data import Bar

from research_lib.strategies.base import (
    LONG,
    SHORT,
    Range,
    SignalConfig,
    SignalStrategy,
    crossed_above,
    crossed_below,
)


class MomentumConfig(SignalConfig, frozen=True):
    """Configuration for :class:`Momentum`.

    Parameters
    ----------
    rsi_period : int, default 14
        Bars in the RSI's averages of gains and losses (>= 1).
    oversold_threshold : float, default 30.0
        RSI level (0..100) whose upward crossing goes long; below ``overbought_threshold``.
    overbought_threshold : float, default 70.0
        RSI level (0..100) whose downward crossing goes short.
    """

    rsi_period: int = 14
    oversold_threshold: float = 30.0
    overbought_threshold: float = 70.0

    bounds: ClassVar[dict[str, Range]] = {
        **SignalConfig.bounds,
        "rsi_period": Range(low=1),
        "oversold_threshold": Range(low=0, high=100, low_open=True, high_open=True),
        "overbought_threshold": Range(low=0, high=100, low_open=True, high_open=True),
    }

    def problems(self) -> list[tuple[str, str]]:
        return [
            *super().problems(),
            *self.must_exceed("overbought_threshold", "oversold_threshold"),
        ]

    def warmup_bars(self) -> int:
        """The RSI is warm after ``rsi_period`` bars; a crossing needs one more."""
        return self.rsi_period


class Momentum(SignalStrategy):
    """Stop and reverse on RSI threshold crossings.

    Between two consecutive warm bars with RSI values ``previous`` and ``current`` (0..100):
    *crosses up through* ``t`` means ``previous <= t < current`` and goes long at
    ``t = oversold_threshold``; *crosses down through* ``t`` means ``previous >= t > current``
    and goes short at ``t = overbought_threshold``. The opposite signal reverses the position;
    a repeated signal keeps it. There is no other exit.
    """

    def __init__(self, config: MomentumConfig) -> None:
        super().__init__(config)
        self.rsi = RelativeStrengthIndex(config.rsi_period)
        self._previous: float | None = None

    def indicators(self) -> list:
        return [self.rsi]

    def decide(self, bar: Bar) -> int | None:
        previous, current = self._previous, self.rsi.value * 100
        self._previous = current
        if previous is None:
            return None
        if crossed_above(previous, self.config.oversold_threshold, current):
            return LONG
        if crossed_below(previous, self.config.overbought_threshold, current):
            return SHORT
        return None

    def on_reset(self) -> None:
        super().on_reset()
        self._previous = None
