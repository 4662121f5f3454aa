"""RSI momentum, stop and reverse: long when the RSI crosses up through the oversold
threshold, short when it crosses down through the overbought one.
See :mod:`research_lib.strategies.base` for fill timing.

Nautilus's ``RelativeStrengthIndex`` is used as is: exponential averages of gains and losses
(alpha = 2 / (period + 1)), value in 0..1. Thresholds are given on the usual 0..100 scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from nautilus_trader.indicators import RelativeStrengthIndex
from nautilus_trader.model.data import Bar
from numba import njit

from research_lib.strategies.base import (
    LONG,
    SHORT,
    Range,
    SignalConfig,
    SignalStrategy,
    crossed_above,
    crossed_below,
)
from research_lib.strategies.signals import NO_SIGNAL, Signals


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


# -- the vectorized rule (research_lib.strategies.signals): the same decisions on arrays --


@njit(cache=True)
def nautilus_rsi(closes: np.ndarray, period: int) -> np.ndarray:
    """Nautilus's RelativeStrengthIndex x 100 (NaN until warm, from bar ``period - 1``)."""
    alpha = 2.0 / (period + 1.0)
    out = np.full(len(closes), np.nan)
    gain_avg = 0.0
    loss_avg = 0.0
    last = closes[0] if len(closes) else 0.0
    for i in range(len(closes)):
        change = closes[i] - last
        gain = change if change > 0 else 0.0
        loss = -change if change < 0 else 0.0
        if i == 0:
            gain_avg, loss_avg = gain, loss
        gain_avg = alpha * gain + ((1.0 - alpha) * gain_avg)
        loss_avg = alpha * loss + ((1.0 - alpha) * loss_avg)
        last = closes[i]
        rsi = 1.0 if loss_avg == 0 else 1.0 - (1.0 / (1.0 + gain_avg / loss_avg))
        if i + 1 >= period:
            out[i] = rsi * 100
    return out


def vector_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """Long when the RSI crosses up through oversold (``prev <= t < cur``), short when it
    crosses down through overbought (``prev >= t > cur``)."""
    rsi = nautilus_rsi(closes, int(params["rsi_period"]))
    low, high = float(params["oversold_threshold"]), float(params["overbought_threshold"])
    prev, cur = np.concatenate(([np.nan], rsi[:-1])), rsi
    up = (prev <= low) & (low < cur)
    down = (prev >= high) & (high > cur) & ~up
    targets = np.full(len(ticks), NO_SIGNAL, dtype=np.int64)
    targets[up] = LONG
    targets[down] = SHORT
    return Signals(targets)
