"""Mean reversion on rolling bands of the close: buy below the lower band, sell above the
upper one, exit at the middle. See :mod:`research_lib.strategies.base` for fill timing.

The bands are ``SMA(close, n) +/- k * std(close, n)`` where std is the **population** standard
deviation (divide by n) of the same n closes. Nautilus's ``BollingerBands`` is not used because
it bands the typical price ``(high + low + close) / 3``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar

from research_lib.strategies.base import FLAT, LONG, SHORT, Range, SignalConfig, SignalStrategy


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
