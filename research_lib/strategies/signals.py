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
from numba import njit

from research_lib.errors import ConfigError

__all__ = [
    "LONG", "MEAN_REVERSION", "NO_SIGNAL", "SHORT", "Signals", "check_range", "float_means",
    "prefix_sums", "window_sums",
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


# The prefix sums of the last read-only ticks array seen (the vector engine's, shared by all
# its points), by kind ("ticks" or "squares"): (the array, its prefix sums, biggest |value|).
_PREFIX: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}


def prefix_sums(ticks: np.ndarray, squares: bool = False) -> tuple[np.ndarray, int]:
    """0 then the running sums of ``ticks`` (or of their squares), int64, and the biggest
    absolute value summed; kept for a read-only array that owns its data (not changed)."""
    kind = "squares" if squares else "ticks"
    seen = _PREFIX.get(kind)
    if seen is not None and seen[0] is ticks:
        return seen[1], seen[2]
    values = ticks * ticks if squares else ticks
    total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    biggest = int(np.abs(values).max()) if len(values) else 0
    if not ticks.flags.writeable and ticks.flags.owndata:
        _PREFIX[kind] = (ticks, total, biggest)
    return total, biggest


def window_sums(values: np.ndarray, n: int, total: np.ndarray | None = None) -> np.ndarray:
    """Sums of the ``n`` values ending at each index (0 before the window is full);
    ``total``: their :func:`prefix_sums`, when known."""
    if total is None:
        total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    sums = np.zeros(len(values), dtype=np.int64)
    sums[n - 1 :] = total[n:] - total[: len(values) - n + 1]
    return sums


def check_range(ticks: np.ndarray, *periods: int, biggest: int | None = None) -> None:
    if biggest is None:
        biggest = int(np.abs(ticks).max()) if len(ticks) else 0
    if biggest * max(periods) ** 2 >= INT_LIMIT:
        raise ConfigError("prices too large in ticks for the vector engine: run event-driven")


@njit(cache=True)
def _float_means(closes, n, at, out):  # pragma: no cover - compiled
    for j in range(len(at)):
        total = 0.0
        for x in closes[at[j] - n + 1 : at[j] + 1]:
            total += x
        out[j] = total / n


def float_means(closes: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
    """Nautilus's SMA at bars ``at``: the closes of the window summed in order, over n."""
    out = np.empty(len(at))
    if len(at) and closes.dtype == np.float64:
        _float_means(closes, n, np.asarray(at, dtype=np.int64), out)
        return out
    for j, i in enumerate(at):  # other float types: summed in their own precision
        total = 0.0
        for x in closes[i - n + 1 : i + 1]:
            total += x
        out[j] = total / n
    return out


@njit(cache=True)
def crossing_targets(total, closes, fast, slow, targets):  # pragma: no cover - compiled
    """The SMA crossover rule (see its ``vector_signals``) from the prefix sums of the ticks:
    fills ``targets``, returns how many bars have one."""
    previous = 0.0  # the last sign that was not a tie (0 before the first)
    count = 0
    for i in range(slow - 1, len(closes)):
        diff = (total[i + 1] - total[i + 1 - fast]) * slow - (
            total[i + 1] - total[i + 1 - slow]
        ) * fast
        sign = 1.0 if diff > 0 else (-1.0 if diff < 0 else 0.0)
        if sign == 0.0:  # equal in ticks: the sign of the float means, summed in order
            fast_sum = 0.0
            for x in closes[i - fast + 1 : i + 1]:
                fast_sum += x
            slow_sum = 0.0
            for x in closes[i - slow + 1 : i + 1]:
                slow_sum += x
            delta = fast_sum / fast - slow_sum / slow
            sign = 1.0 if delta > 0 else (-1.0 if delta < 0 else 0.0)
        if sign == 0.0:
            continue
        if previous != 0.0 and sign != previous:
            targets[i] = 1 if sign > 0 else -1
            count += 1
        previous = sign
    return count
