"""SMA crossover, stop and reverse: long when the fast average crosses above the slow one,
short when it crosses below. See :mod:`research_lib.strategies.base` for fill timing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.data import Bar

from research_lib.strategies.base import LONG, SHORT, Range, SignalConfig, SignalStrategy
from research_lib.strategies.signals import (
    NO_SIGNAL,
    Signals,
    check_range,
    crossing_targets,
    prefix_sums,
)


class SMAConfig(SignalConfig, frozen=True):
    """Configuration for :class:`SMACrossover`.

    Parameters
    ----------
    fast_period : int, default 10
        Bars in the fast simple moving average (>= 1, < ``slow_period``).
    slow_period : int, default 20
        Bars in the slow simple moving average.
    """

    fast_period: int = 10
    slow_period: int = 20

    bounds: ClassVar[dict[str, Range]] = {
        **SignalConfig.bounds,
        "fast_period": Range(low=1),
        "slow_period": Range(low=2),
    }

    def problems(self) -> list[tuple[str, str]]:
        return [*super().problems(), *self.must_exceed("slow_period", "fast_period")]

    def warmup_bars(self) -> int:
        """The slow average warms up on ``slow_period`` bars; the first crossing can come next."""
        return self.slow_period


class SMACrossover(SignalStrategy):
    """Stop and reverse on crossings of two simple moving averages of the close.

    A crossing is a change in the sign of ``fast - slow`` between two consecutive warm bars
    (equal averages keep the previous sign). No signal until both averages are warm.
    """

    def __init__(self, config: SMAConfig) -> None:
        super().__init__(config)
        self.fast_sma = SimpleMovingAverage(config.fast_period)
        self.slow_sma = SimpleMovingAverage(config.slow_period)
        self._above: bool | None = None

    def indicators(self) -> list:
        return [self.fast_sma, self.slow_sma]

    def decide(self, bar: Bar) -> int | None:
        fast, slow = self.fast_sma.value, self.slow_sma.value
        previous = self._above
        if fast != slow:
            self._above = fast > slow
        if previous is None or self._above == previous:
            return None
        return LONG if self._above else SHORT

    def on_reset(self) -> None:
        super().on_reset()
        self._above = None


# -- the vectorized rule (research_lib.strategies.signals): the same decisions on arrays --


def vector_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """A stop-and-reverse target on each change of sign of SMA(fast) - SMA(slow); equal
    averages keep the previous sign; the first warm bar only sets it.

    The sign is exact in integer ticks; where the averages are equal there, it is the sign
    Nautilus's float averages give (closes summed in order), as the strategy sees them."""
    fast, slow = int(params["fast_period"]), int(params["slow_period"])
    total, biggest = prefix_sums(ticks)
    check_range(ticks, fast, slow, biggest=biggest)
    targets = np.full(len(ticks), NO_SIGNAL, dtype=np.int64)
    if len(ticks) < slow:
        return Signals(targets)
    crossing_targets(total, np.asarray(closes, dtype=np.float64), fast, slow, targets)
    return Signals(targets)
