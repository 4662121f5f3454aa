"""What a vectorized rule returns, and the exact arithmetic the built-in rules share.

A strategy module opts in to screening on the vector engine
(:mod:`research_lib.engine.vector`) by defining, next to its Nautilus class::

    def vector_signals(ticks: np.ndarray, closes: np.ndarray, params: Mapping) -> Signals

``ticks`` are the closes in whole ticks (int64), ``closes`` the same as floats, ``params``
the point's config values. The rule says, for every bar, the direction wanted after it
(:data:`LONG`, :data:`SHORT`, or :data:`NO_SIGNAL` to keep the current one), exactly as the
strategy's ``decide`` would on the same bars, warm-up included; the vector engine does the
fills, costs and sizing. A rule that depends on the position gives band flags instead (see
the mean-reversion rule). Nautilus confirms the best screened points, so a rule that does
not match its strategy shows up as a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from research_lib.errors import ConfigError

__all__ = [
    "LONG", "MEAN_REVERSION", "NO_SIGNAL", "SHORT", "Signals", "check_range", "float_means",
    "window_sums",
]  # fmt: skip

NO_SIGNAL = 2  # in ``targets``: keep the current direction
LONG, SHORT = 1, -1
MEAN_REVERSION = 1  # ``Signals.rule``: decide from the bands; 0: from ``targets``
INT_LIMIT = 2**62  # sums of ticks stay below this in int64, else the point is refused


@dataclass(frozen=True)
class Signals:
    """What the loop decides from: ``targets`` per bar, or mean-reversion bands."""

    targets: np.ndarray
    rule: int = 0
    bands: np.ndarray | None = None  # mean reversion: (4, bars) flags, see its rule
    warm: int = 0


def window_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Sums of the ``n`` values ending at each index (0 before the window is full)."""
    total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    sums = np.zeros(len(values), dtype=np.int64)
    sums[n - 1 :] = total[n:] - total[: len(values) - n + 1]
    return sums


def check_range(ticks: np.ndarray, *periods: int) -> None:
    biggest = int(np.abs(ticks).max()) if len(ticks) else 0
    if biggest * max(periods) ** 2 >= INT_LIMIT:
        raise ConfigError("prices too large in ticks for the vector engine: run event-driven")


def float_means(closes: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
    """Nautilus's SMA at bars ``at``: the closes of the window summed in order, over n."""
    out = np.empty(len(at))
    for j, i in enumerate(at):
        total = 0.0
        for x in closes[i - n + 1 : i + 1]:
            total += x
        out[j] = total / n
    return out
