"""Mean reversion on rolling bands of the close: buy below the lower band, sell above the
upper one, exit at the middle. See :mod:`research_lib.strategies.base` for fill timing.

The bands are ``SMA(close, n) +/- k * std(close, n)`` where std is the **population** standard
deviation (divide by n) of the same n closes. Nautilus's ``BollingerBands`` is not used because
it bands the typical price ``(high + low + close) / 3``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar
from numba import njit

from research_lib.strategies.base import FLAT, LONG, SHORT, Range, SignalConfig, SignalStrategy
from research_lib.strategies.signals import (
    MEAN_REVERSION,
    NO_SIGNAL,
    Signals,
    check_range,
    float_means,
    prefix_sums,
)


class MeanReversionConfig(SignalConfig, frozen=True):
    """Configuration for :class:`MeanReversion`.

    Parameters
    ----------
    lookback_period : int, default 20
        Closes in the moving average and the standard deviation (>= 2).
    num_std_dev : float, default 2.0
        Band half-width in population standard deviations (> 0).
    """

    lookback_period: int = 20
    num_std_dev: float = 2.0

    bounds: ClassVar[dict[str, Range]] = {
        **SignalConfig.bounds,
        "lookback_period": Range(low=2),
        "num_std_dev": Range(low=0, low_open=True),
    }

    def warmup_bars(self) -> int:
        """The bands exist from the ``lookback_period``-th bar, which can already signal."""
        return self.lookback_period - 1


class RollingStdDev(Indicator):
    """Population standard deviation (divide by n) of the last ``period`` closes."""

    def __init__(self, period: int) -> None:
        super().__init__(params=[period])
        self.period = period
        self.value = 0.0
        self._window: deque[float] = deque(maxlen=period)

    def handle_bar(self, bar: Bar) -> None:
        self.update_raw(bar.close.as_double())

    def update_raw(self, value: float) -> None:
        self._window.append(value)
        self._set_has_inputs(True)
        if len(self._window) == self.period:
            mean = math.fsum(self._window) / self.period
            self.value = math.sqrt(math.fsum((x - mean) ** 2 for x in self._window) / self.period)
            self._set_initialized(True)

    def _reset(self) -> None:
        self._window.clear()
        self.value = 0.0


class MeanReversion(SignalStrategy):
    """Long below the lower band, short above the upper band, flat again at the middle.

    Entries are taken only when flat: from flat, ``close < lower`` goes long and
    ``close > upper`` goes short. A long exits when ``close >= middle``, a short when
    ``close <= middle``. A bar either exits or enters, so an exit bar far beyond the other
    band enters on the next bar if the close is still outside it.
    """

    def __init__(self, config: MeanReversionConfig) -> None:
        super().__init__(config)
        self.middle = SimpleMovingAverage(config.lookback_period)
        self.deviation = RollingStdDev(config.lookback_period)

    def indicators(self) -> list:
        return [self.middle, self.deviation]

    def decide(self, bar: Bar) -> int | None:
        close, middle = bar.close.as_double(), self.middle.value
        if self.direction == LONG:
            return FLAT if close >= middle else None
        if self.direction == SHORT:
            return FLAT if close <= middle else None
        width = self.config.num_std_dev * self.deviation.value
        if close < middle - width:
            return LONG
        if close > middle + width:
            return SHORT
        return None


# -- the vectorized rule (research_lib.strategies.signals): the same decisions on arrays --


def _float_bands(closes: np.ndarray, n: int, k: float, at: np.ndarray) -> tuple:
    """The strategy's float bands at bars ``at``: Nautilus's SMA and the population std of
    :class:`~research_lib.strategies.mean_reversion.RollingStdDev` (``math.fsum``)."""
    middle = float_means(closes, n, at)
    width = np.empty(len(at))
    for j, i in enumerate(at.tolist()):
        window = closes[i - n + 1 : i + 1].tolist()  # Python floats: the same IEEE doubles
        mean = math.fsum(window) / n
        width[j] = k * math.sqrt(math.fsum([(x - mean) ** 2 for x in window]) / n)
    return middle, width


@njit(cache=True)
def _band_flags(total, squares, ticks, n, k, flags):  # pragma: no cover - compiled
    """The integer test of :func:`vector_signals` per bar from the prefix sums of the ticks
    and of their squares: fills ``flags``, returns where it is a near tie."""
    near = np.zeros(len(ticks), dtype=np.bool_)
    kk = k * k
    for i in range(n - 1, len(ticks)):
        s = total[i + 1] - total[i + 1 - n]
        d = float(s - n * ticks[i])
        v = float(n * (squares[i + 1] - squares[i + 1 - n]) - s * s)
        lhs, rhs = d * d, kk * v
        outside = lhs > rhs and d != 0
        flags[0, i], flags[1, i] = outside and d > 0, outside and d < 0
        flags[2, i], flags[3, i] = d <= 0, d >= 0
        scale = abs(rhs)
        if scale < 1.0:  # np.maximum(|rhs|, 1.0)
            scale = 1.0
        near[i] = d == 0 or abs(lhs - rhs) <= 1e-6 * scale
    return near


def vector_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals:
    """Per bar: close below the lower band, above the upper one, at or above the middle, at
    or below it (the strategy picks among them by its position).

    In exact integers: with S and Q the sums of the n closes (ticks) and of their squares,
    ``D = S - n * close`` and ``V = n * Q - S ** 2``; below the lower band is ``D > 0`` and
    ``D**2 > k**2 * V``. Where that is a near tie (or D is 0), the bar is decided in floats
    as the strategy computes its bands."""
    n, k = int(params["lookback_period"]), float(params["num_std_dev"])
    square_total, biggest = prefix_sums(ticks, squares=True)
    check_range(ticks, n, biggest=biggest)
    size = len(ticks)
    flags = np.zeros((4, size), dtype=np.bool_)  # below, above, at/above middle, at/below
    if size >= n:
        total = prefix_sums(ticks)[0]
        near = _band_flags(total, square_total, np.asarray(ticks, dtype=np.int64), n, k, flags)
        at = np.flatnonzero(near)
        if len(at):
            middle, width = _float_bands(closes, n, k, at)
            c = closes[at]
            flags[0, at], flags[1, at] = c < middle - width, c > middle + width
            flags[2, at], flags[3, at] = c >= middle, c <= middle
        flags[:, : n - 1] = False
    empty = np.full(size, NO_SIGNAL, dtype=np.int64)
    return Signals(empty, MEAN_REVERSION, flags, n - 1)
