"""Statistics that allow for having picked the best of many backtests.

Trying many strategies (or parameter sets) and keeping the best one inflates its Sharpe ratio:
the best of N trials with no skill at all still looks good. These functions say how much of a
result survives that selection.

Conventions:

- **Sharpe ratios are per period, not annualised**: mean(r) / std(r) of the per-period
  returns (std with ddof=1, risk-free rate 0). A daily Sharpe is an annual one divided by
  sqrt(periods per year): an annualised 2.5 over 250 days a year is 2.5 / sqrt(250) = 0.158.
  The trials' Sharpe variance is per period too (an annualised variance divided by 250).
- **Kurtosis is the plain (non-excess) kurtosis**: m4 / m2^2, 3 for a normal distribution.
  Skewness is m3 / m2^1.5. Both are the sample moment ratios (population form, no small-sample
  correction), as Bailey & López de Prado use them.
- Probabilities are in [0, 1]; 0.95 is the usual bar for "significant".

References: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier" (PSR);
Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
Backtest Overfitting and Non-Normality" (DSR); Bailey, Borwein, López de Prado & Zhu (2015),
"The Probability of Backtest Overfitting" (PBO by combinatorially symmetric cross-validation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from research_lib.errors import ConfigError

__all__ = [
    "EULER_GAMMA",
    "SIGNIFICANCE",
    "DeflatedSharpe",
    "Degradation",
    "Overfitting",
    "deflated_sharpe",
    "deflated_sharpe_of_returns",
    "expected_max_sharpe",
    "pbo",
    "probabilistic_sharpe",
    "return_moments",
    "sharpe_degradation",
]

EULER_GAMMA = 0.5772156649015329  # the Euler-Mascheroni constant
SIGNIFICANCE = 0.95  # a DSR/PSR at or above this is called significant
FLAT = 1e-6  # a trial whose values vary by less than this share of their RMS is flat (std 0)
_CHUNK = 1024  # combinations evaluated at once by pbo (bounds memory: chunk x trials floats)
_NORMAL = NormalDist()


def probabilistic_sharpe(
    sr: float, n_obs: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """The probabilistic Sharpe ratio: the probability that the true Sharpe ratio exceeds
    ``benchmark``, given an observed per-period Sharpe ``sr`` over ``n_obs`` returns whose
    skewness is ``skew`` and (non-excess, normal = 3) kurtosis is ``kurtosis``:

        PSR = Phi((sr - benchmark) * sqrt(n_obs - 1) / s),
        s = sqrt(1 - skew * sr + (kurtosis - 1) / 4 * sr^2)

    0.5 when ``sr`` equals ``benchmark``. Negative skew and fat tails widen the Sharpe's
    uncertainty and pull the PSR towards 0.5.

    Raises :class:`ConfigError` for fewer than 2 observations, non-finite inputs, or moments
    for which the Sharpe's variance is not positive.
    """
    _finite("probabilistic_sharpe", sr=sr, skew=skew, kurtosis=kurtosis, benchmark=benchmark)
    n = _count("probabilistic_sharpe", "n_obs", n_obs, minimum=2)
    spread = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not spread > 0:
        raise ConfigError(
            f"probabilistic_sharpe: skew {skew:g} and kurtosis {kurtosis:g} with Sharpe {sr:g} "
            f"give a Sharpe variance of {spread:g}, not positive (kurtosis is non-excess: "
            "normal = 3)"
        )
    return _NORMAL.cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(spread))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum of the Sharpe ratios of ``n_trials`` independent trials with
    no skill (true Sharpe 0), whose estimated Sharpes have variance ``variance``:

        SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))),  g = Euler-Mascheroni

    In the units of ``variance`` (per period: see the module notes). One trial involves no
    selection: SR0 = 0. The formula is an approximation for large N (for N = 2 it gives
    0.52 * sqrt(V), the exact value is 0.56 * sqrt(V)).

    Raises :class:`ConfigError` for fewer than 1 trial or a negative or non-finite variance.
    """
    n = _count("expected_max_sharpe", "n_trials", n_trials, minimum=1)
    _finite("expected_max_sharpe", variance=variance)
    if variance < 0:
        raise ConfigError(f"expected_max_sharpe: variance must be 0 or more, was {variance:g}")
    if n == 1:
        return 0.0
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(
        1 - 1 / (n * math.e)
    )
    return math.sqrt(variance) * z


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best of ``n_trials`` trials and what went into it.

    ``dsr`` is the probability that the selected strategy's true Sharpe ratio exceeds ``sr0``,
    the best Sharpe expected from ``n_trials`` trials with no skill: the PSR with ``sr0`` as
    benchmark. ``sr``, ``sr0`` and ``trial_variance`` are per period; ``kurtosis`` is non-excess.
    """

    dsr: float
    sr0: float
    sr: float
    n_obs: int
    skew: float
    kurtosis: float
    n_trials: int
    trial_variance: float

    @property
    def significant(self) -> bool:
        """Whether the DSR reaches :data:`SIGNIFICANCE` (0.95)."""
        return self.dsr >= SIGNIFICANCE

    @property
    def reading(self) -> str:
        """One plain line, e.g. ``after 100 trials, the best Sharpe (0.158 per period) has a
        90% chance of reflecting real skill (luck alone would give 0.113): below 95%, not
        significant``."""
        trials = "1 trial" if self.n_trials == 1 else f"{self.n_trials} trials"
        verdict = "significant at 95%" if self.significant else "below 95%, not significant"
        return (
            f"after {trials}, the best Sharpe ({self.sr:.3f} per period) has a "
            f"{_percent(self.dsr)} chance of reflecting real skill (luck alone would give "
            f"{self.sr0:.3f}): {verdict}"
        )


def deflated_sharpe(
    sr: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
    n_trials: int,
    trial_variance: float,
) -> DeflatedSharpe:
    """The deflated Sharpe ratio (Bailey & López de Prado 2014) of a strategy selected as the
    best of ``n_trials``: its per-period Sharpe ``sr`` over ``n_obs`` returns with skewness
    ``skew`` and non-excess kurtosis ``kurtosis``; ``trial_variance`` is the variance of the
    trials' per-period Sharpe ratios.

    DSR = PSR(benchmark = SR0), SR0 = :func:`expected_max_sharpe` (n_trials, trial_variance).

    Raises :class:`ConfigError` as :func:`probabilistic_sharpe` and
    :func:`expected_max_sharpe` do.
    """
    sr0 = expected_max_sharpe(n_trials, trial_variance)
    dsr = probabilistic_sharpe(sr, n_obs, skew, kurtosis, benchmark=sr0)
    return DeflatedSharpe(
        dsr=dsr,
        sr0=sr0,
        sr=float(sr),
        n_obs=int(n_obs),
        skew=float(skew),
        kurtosis=float(kurtosis),
        n_trials=int(n_trials),
        trial_variance=float(trial_variance),
    )


def return_moments(returns: Any) -> tuple[float, float, float]:
    """(per-period Sharpe, skewness, non-excess kurtosis) of a 1-D array of per-period returns.

    Sharpe = mean / std (ddof=1); skewness = m3 / m2^1.5 and kurtosis = m4 / m2^2 from the
    central moments m_k = mean((r - mean)^k).

    Raises :class:`ConfigError` for fewer than 2 returns, non-finite values, or returns that do
    not vary.
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ConfigError(f"returns: need a 1-D array of at least 2 returns, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ConfigError(f"returns: value {_first_bad(r)} is not a finite number")
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= (FLAT * float(np.sqrt(np.mean(r**2)))) ** 2:
        raise ConfigError("returns: the returns do not vary (std 0), so they have no Sharpe ratio")
    sr = float(r.mean() / r.std(ddof=1))
    skew = float(np.mean(centred**3)) / m2**1.5
    kurtosis = float(np.mean(centred**4)) / m2**2
    return sr, skew, kurtosis


def deflated_sharpe_of_returns(
    returns: Any, trial_sharpes: Sequence[float] | np.ndarray, n_trials: int | None = None
) -> DeflatedSharpe:
    """The :func:`deflated_sharpe` of the selected strategy's per-period ``returns``, given
    the per-period Sharpe ratios of all the trials it was chosen from (itself included).

    Sharpe, skewness and kurtosis come from :func:`return_moments`; the trial variance is the
    variance (ddof=1) of ``trial_sharpes``; the number of trials is their count unless
    ``n_trials`` says more were run (for example, trials whose results were not kept).

    Raises :class:`ConfigError` for fewer than 2 trial Sharpes or non-finite ones, and as
    :func:`return_moments` and :func:`deflated_sharpe` do.
    """
    sr, skew, kurtosis = return_moments(returns)
    trials = np.asarray(trial_sharpes, dtype=float)
    if trials.ndim != 1 or trials.size < 2:
        raise ConfigError(
            f"trial_sharpes: need the Sharpe ratios of at least 2 trials, got shape {trials.shape}"
        )
    if not np.isfinite(trials).all():
        raise ConfigError(f"trial_sharpes: value {_first_bad(trials)} is not a finite number")
    count = trials.size if n_trials is None else n_trials
    if count < trials.size:
        raise ConfigError(f"n_trials: {count} is fewer than the {trials.size} trial Sharpes given")
    variance = float(np.var(trials, ddof=1))
    return deflated_sharpe(sr, int(np.asarray(returns).size), skew, kurtosis, count, variance)


@dataclass(frozen=True)
class Overfitting:
    """The probability of backtest overfitting, by combinatorially symmetric cross-validation.

    ``pbo`` is the share of the ``n_combinations`` in-sample/out-of-sample splits in which the
    trial with the best in-sample Sharpe ranked in the bottom half out of sample (logit <= 0).
    ``logits`` holds lambda = ln(w / (1 - w)) for each split, in the order of
    ``itertools.combinations(range(n_partitions), n_partitions // 2)`` (the blocks in sample),
    where w = rank / (n_trials + 1) is the selected trial's relative out-of-sample rank (rank
    1 = worst, ties averaged). ``selected_is`` and ``selected_oos`` are that trial's in-sample
    and out-of-sample per-period Sharpe in each split (+/-inf for a flat trial with a positive
    or negative mean).
    """

    pbo: float
    logits: np.ndarray = field(repr=False)
    n_combinations: int
    n_partitions: int
    n_trials: int
    n_periods: int
    selected_is: np.ndarray = field(repr=False)
    selected_oos: np.ndarray = field(repr=False)

    @property
    def reading(self) -> str:
        """One plain line, e.g. ``PBO 48%: in 48% of 12,870 splits the in-sample best of 200
        trials ranked in the bottom half out of sample (50% is what pure luck gives)``."""
        return (
            f"PBO {_percent(self.pbo)}: in {_percent(self.pbo)} of {self.n_combinations:,} "
            f"splits the in-sample best of {self.n_trials:,} trials ranked in the bottom half "
            "out of sample (50% is what pure luck gives; near 0 the selection holds up)"
        )


def pbo(matrix: Any, partitions: int = 16) -> Overfitting:
    """The probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu 2015).

    ``matrix`` is T periods x N trials of per-period returns (or P&L): one column per trial,
    rows in time order (a 2-D array or DataFrame). Its rows are cut into ``partitions`` (S)
    contiguous blocks as equal as possible (``numpy.array_split``: the first T mod S blocks
    have one row more). For each of the C(S, S/2) ways to choose S/2 blocks as in-sample (the
    rest is out-of-sample), the trial with the best in-sample Sharpe (mean / std, ddof=1; the
    first such trial on a tie) is ranked among all trials out of sample (1 = worst, tied
    trials share their average rank), w = rank / (N + 1) and lambda = ln(w / (1 - w)). PBO is
    the share of splits with lambda <= 0.

    A trial whose values in a half vary by less than :data:`FLAT` (one millionth) of their
    RMS is flat there: its Sharpe is +inf for a positive mean, -inf for a negative one, 0 for
    a zero mean. Vectorised with numpy in chunks of combinations: C(16, 8) = 12,870 splits
    of 1,000 trials take about a second.

    Raises :class:`ConfigError` for an odd or too small ``partitions``, fewer rows than
    partitions (or than 4), fewer than 2 trials, or non-finite values.
    """
    values = _matrix(matrix)
    periods, trials = values.shape
    if isinstance(partitions, bool) or not isinstance(partitions, int | np.integer):
        raise ConfigError(f"pbo: partitions must be a whole number, was {partitions!r}")
    if partitions < 2 or partitions % 2:
        raise ConfigError(f"pbo: partitions must be even and at least 2, was {partitions}")
    if periods < max(partitions, 4):
        raise ConfigError(
            f"pbo: {periods} rows cannot be split into {partitions} blocks with at least 2 rows "
            f"per half: need at least {max(partitions, 4)} rows"
        )
    if trials < 2:
        raise ConfigError(f"pbo: need at least 2 trials (columns) to select from, got {trials}")

    # Centre each column on its mean so the sums of squares below do not lose precision.
    centre = values.mean(axis=0)
    centred = values - centre
    scale = np.sqrt(np.mean(centred**2, axis=0))  # per trial RMS about its mean
    blocks = np.array_split(np.arange(periods), partitions)
    sums = np.stack([centred[b].sum(axis=0) for b in blocks])  # S x N
    squares = np.stack([(centred[b] ** 2).sum(axis=0) for b in blocks])
    sizes = np.array([b.size for b in blocks], dtype=float)
    total_sum, total_sq, total_n = sums.sum(axis=0), squares.sum(axis=0), sizes.sum()

    chosen = np.array(
        list(itertools.combinations(range(partitions), partitions // 2)), dtype=np.intp
    )
    masks = np.zeros((len(chosen), partitions))
    masks[np.arange(len(chosen))[:, None], chosen] = 1.0
    logits, selected_is, selected_oos = [], [], []
    for start in range(0, len(masks), _CHUNK):
        mask = masks[start : start + _CHUNK]
        in_sum, in_sq, in_n = mask @ sums, mask @ squares, mask @ sizes
        in_perf = _sharpe(in_sum, in_sq, in_n[:, None], centre, scale)
        out_perf = _sharpe(
            total_sum - in_sum, total_sq - in_sq, (total_n - in_n)[:, None], centre, scale
        )
        rows = np.arange(len(mask))
        best = np.argmax(in_perf, axis=1)  # the first maximum on a tie
        picked = out_perf[rows, best][:, None]
        below = (out_perf < picked).sum(axis=1)
        equal = (out_perf == picked).sum(axis=1)  # includes the selected trial itself
        rank = below + (equal + 1) / 2.0  # average rank among ties, 1 = worst
        w = rank / (trials + 1)
        logits.append(np.log(w / (1 - w)))
        selected_is.append(in_perf[rows, best])
        selected_oos.append(picked[:, 0])
    lam = np.concatenate(logits)
    return Overfitting(
        pbo=float(np.mean(lam <= 0)),
        logits=lam,
        n_combinations=len(lam),
        n_partitions=partitions,
        n_trials=trials,
        n_periods=periods,
        selected_is=np.concatenate(selected_is),
        selected_oos=np.concatenate(selected_oos),
    )


@dataclass(frozen=True)
class Degradation:
    """How in-sample Sharpe ratios carry over out of sample, over ``n`` pairs (folds or
    splits).

    ``mean_is`` and ``mean_oos`` are the mean Sharpes; ``mean_drop`` = mean(is - oos) (positive
    when out-of-sample is worse). ``slope`` and ``intercept`` fit oos = intercept + slope * is
    by least squares: a slope near 1 means in-sample rankings persist, near 0 or negative that
    they do not. Both are None when the in-sample Sharpes do not vary. Units are whatever the
    Sharpes were given in.
    """

    n: int
    mean_is: float
    mean_oos: float
    mean_drop: float
    slope: float | None
    intercept: float | None

    @property
    def reading(self) -> str:
        """One plain line, e.g. ``over 8 folds the Sharpe fell from 1.20 in sample to 0.35 out
        of sample (drop 0.85); out-of-sample = 0.10 + 0.21 x in-sample``."""
        line = (
            f"over {self.n} folds the Sharpe went from {self.mean_is:.2f} in sample to "
            f"{self.mean_oos:.2f} out of sample (drop {self.mean_drop:.2f})"
        )
        if self.slope is None or self.intercept is None:
            return line + "; no slope: the in-sample Sharpes do not vary"
        sign = "-" if self.slope < 0 else "+"
        return (
            line + f"; out-of-sample = {self.intercept:.2f} {sign} {abs(self.slope):.2f} x "
            "in-sample"
        )


def sharpe_degradation(is_sharpes: Any, oos_sharpes: Any) -> Degradation:
    """The :class:`Degradation` from in-sample to out-of-sample Sharpe ratios, paired by
    position (one pair per fold or split).

    Raises :class:`ConfigError` for different lengths, no pairs, or non-finite values.
    """
    x, y = np.asarray(is_sharpes, dtype=float), np.asarray(oos_sharpes, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or x.size != y.size or x.size == 0:
        raise ConfigError(
            f"sharpe_degradation: need two 1-D sequences of the same non-zero length, got "
            f"shapes {x.shape} and {y.shape}"
        )
    for name, a in (("is_sharpes", x), ("oos_sharpes", y)):
        if not np.isfinite(a).all():
            raise ConfigError(f"sharpe_degradation: {name} value {_first_bad(a)} is not finite")
    dx = x - x.mean()
    spread = float(dx @ dx)
    slope = intercept = None
    if x.size >= 2 and spread > (FLAT * float(np.sqrt(np.mean(x**2)))) ** 2 * x.size:
        slope = float(dx @ (y - y.mean())) / spread
        intercept = float(y.mean() - slope * x.mean())
    return Degradation(
        n=int(x.size),
        mean_is=float(x.mean()),
        mean_oos=float(y.mean()),
        mean_drop=float(np.mean(x - y)),
        slope=slope,
        intercept=intercept,
    )


def _sharpe(
    total: np.ndarray, squares: np.ndarray, n: np.ndarray, centre: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Sharpe (mean / std, ddof=1) from sums and sums of squares of column-centred values;
    ``centre`` is each column's mean and ``scale`` its RMS about it (for the flat rule)."""
    mean_c = total / n
    var = np.maximum(squares - total * mean_c, 0.0) / (n - 1)
    mean = mean_c + centre
    flat = var <= (FLAT * scale) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / np.sqrt(var)
    if not flat.any():
        return ratio
    signed = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(flat, signed, ratio)


def _matrix(matrix: Any) -> np.ndarray:
    values = np.asarray(matrix.to_numpy() if hasattr(matrix, "to_numpy") else matrix, float)
    if values.ndim != 2:
        raise ConfigError(f"pbo: matrix must be 2-D (periods x trials), got shape {values.shape}")
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ConfigError(
            f"pbo: matrix value at row {row}, column {col} is {values[row, col]}, not finite"
        )
    return values


def _count(where: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{where}: {name} must be a whole number >= {minimum}, was {value!r}")
    return int(value)


def _finite(where: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, int | float | np.number) and math.isfinite(value)):
            raise ConfigError(f"{where}: {name} must be a finite number, was {value!r}")


def _first_bad(values: np.ndarray) -> str:
    index = int(np.flatnonzero(~np.isfinite(values))[0])
    return f"{values[index]} at position {index}"


def _percent(p: float) -> str:
    """90% ... but 99.9% and 0.1% rather than a rounded 100% or 0%."""
    shown = f"{p:.0%}"
    if shown in ("100%", "0%") and 0 < p < 1:
        shown = f"{p:.1%}" if 0.001 <= p <= 0.999 else (">99.9%" if p > 0.5 else "<0.1%")
    return shown
