"""Selection-aware statistics (:mod:`research_lib.model.selection`) against figures worked out
here independently: the deflated Sharpe example of Bailey & López de Prado (2014) from the
formula written out with ``math``/numpy, the PSR and the expected maximum Sharpe against
seeded Monte Carlo, and the PBO on matrices whose answer is known by construction or by hand.
"""

from __future__ import annotations

import math
import statistics
from itertools import pairwise

import numpy as np
import pytest

from research_lib.errors import ConfigError
from research_lib.model.selection import (
    EULER_GAMMA,
    deflated_sharpe,
    deflated_sharpe_of_returns,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    return_moments,
    sharpe_degradation,
)


def phi(x: float) -> float:
    """The standard normal cdf from ``math.erfc`` (not ``statistics.NormalDist``)."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


def phi_inv(p: float) -> float:
    """The standard normal quantile by bisection on :func:`phi`."""
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if phi(mid) < p else (lo, mid)
    return (lo + hi) / 2


# --- The deflated Sharpe ratio: the numerical example of Bailey & López de Prado (2014) ---
#
# The example: an annualised Sharpe of 2.5 estimated over 5 years of daily returns (1,250
# observations, 250 a year), the best of 100 independent trials whose annualised Sharpe
# ratios have variance 0.5; the returns' skewness is -3 and (non-excess) kurtosis 10. The
# paper's figures, as the brief recalls them: SR0 = 0.1132 per day (about 1.8 annualised)
# and DSR = 0.9004. The paper's text could not be found through the search tool, so the
# figures are re-derived below from the formulas written out independently (erfc and
# bisection, not the module's NormalDist); they agree to 4 decimals.

DAYS = 250
EXAMPLE_SR = 2.5 / math.sqrt(DAYS)  # 0.158 per day
EXAMPLE_VARIANCE = 0.5 / DAYS  # the trials' Sharpe variance, per day


def independent_sr0(n: int, variance: float) -> float:
    g = 0.5772156649015329
    return math.sqrt(variance) * ((1 - g) * phi_inv(1 - 1 / n) + g * phi_inv(1 - 1 / (n * math.e)))


def independent_psr(sr: float, n: int, skew: float, kurt: float, bench: float) -> float:
    sigma = np.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (n - 1))
    return phi(float((sr - bench) / sigma))


def test_dsr_reproduces_the_papers_numerical_example():
    result = deflated_sharpe(EXAMPLE_SR, 1250, -3.0, 10.0, 100, EXAMPLE_VARIANCE)
    sr0 = independent_sr0(100, EXAMPLE_VARIANCE)
    assert result.sr0 == pytest.approx(sr0, abs=1e-9)
    assert result.sr0 == pytest.approx(0.1132, abs=5e-5)  # the paper's per-day SR0
    assert result.sr0 * math.sqrt(DAYS) == pytest.approx(1.8, abs=0.02)  # ~1.79 annualised
    assert result.dsr == pytest.approx(independent_psr(EXAMPLE_SR, 1250, -3, 10, sr0), abs=1e-9)
    assert result.dsr == pytest.approx(0.9004, abs=5e-5)  # the paper's DSR
    assert not result.significant
    assert (result.n_trials, result.n_obs, result.kurtosis) == (100, 1250, 10.0)
    assert result.reading == (
        "after 100 trials, the best Sharpe (0.158 per period) has a 90% chance of reflecting "
        "real skill (luck alone would give 0.113): below 95%, not significant"
    )


def test_dsr_reading_when_significant_and_with_one_trial():
    one = deflated_sharpe(EXAMPLE_SR, 1250, 0.0, 3.0, 1, EXAMPLE_VARIANCE)
    assert one.sr0 == 0.0  # no selection, no deflation: the PSR against 0
    assert one.dsr == pytest.approx(probabilistic_sharpe(EXAMPLE_SR, 1250, 0.0, 3.0))
    assert one.significant
    assert one.reading.startswith("after 1 trial, the best Sharpe (0.158 per period) has a ")
    assert one.reading.endswith(": significant at 95%")
    assert "99.9% chance" in one.reading  # not a rounded "100%"


def test_more_trials_deflate_more():
    dsrs = [
        deflated_sharpe(EXAMPLE_SR, 1250, -3, 10, n, EXAMPLE_VARIANCE).dsr
        for n in (2, 10, 100, 1000)
    ]
    assert all(a > b for a, b in pairwise(dsrs))


# --- The probabilistic Sharpe ratio against Monte Carlo ---


def sample_sharpes(rng: np.random.Generator, draws: np.ndarray) -> np.ndarray:
    return draws.mean(axis=1) / draws.std(axis=1, ddof=1)


def test_psr_at_the_true_sharpe_is_a_fair_coin_for_normal_returns():
    # Normal iid returns with true per-period Sharpe 0.1: the PSR of each sample's Sharpe
    # against the true value is about uniform, so its mean is ~0.5 and it clears 0.95 in ~5% of
    # samples. 20,000 samples: the standard error of the mean is 0.002, of the share 0.0015.
    rng = np.random.default_rng(7)
    true_sr, n = 0.1, 250
    draws = rng.normal(true_sr, 1.0, size=(20_000, n))
    srs = sample_sharpes(rng, draws)
    psr = np.array([probabilistic_sharpe(s, n, 0.0, 3.0, benchmark=true_sr) for s in srs])
    assert psr.mean() == pytest.approx(0.5, abs=0.01)
    assert np.mean(psr > 0.95) == pytest.approx(0.05, abs=0.01)
    assert probabilistic_sharpe(true_sr, n, 0.0, 3.0, benchmark=true_sr) == 0.5


def test_psr_spread_matches_the_sharpes_sampling_spread_for_skewed_returns():
    # Returns 0.2 - (Exp(1) - 1): skewness -2, kurtosis 9, true Sharpe 0.2. The Sharpe's
    # sampling std implied by the PSR, (x - SR) / Phi^-1(PSR(x)), matches the Monte Carlo std
    # of 20,000 sample Sharpes (standard error 0.5%) to 3%; the normal formula is ~17% off.
    rng = np.random.default_rng(11)
    true_sr, n = 0.2, 500
    draws = true_sr - (rng.exponential(1.0, size=(20_000, n)) - 1.0)
    mc_std = sample_sharpes(rng, draws).std()
    # (x close to the true Sharpe: the PSR's spread is evaluated at the observed x.)
    x = true_sr + 0.001
    implied = 0.001 / phi_inv(probabilistic_sharpe(x, n, -2.0, 9.0, benchmark=true_sr))
    assert implied == pytest.approx(mc_std, rel=0.03)
    normal = 0.001 / phi_inv(probabilistic_sharpe(x, n, 0.0, 3.0, benchmark=true_sr))
    assert abs(normal / mc_std - 1) > 0.12


def test_expected_max_sharpe_against_monte_carlo():
    # The mean of the maximum of 100 standard normals, 20,000 times (standard error 0.003):
    # about 2.508; the formula's large-N approximation gives 2.531, within 1.5%.
    rng = np.random.default_rng(3)
    mc = rng.standard_normal((20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(mc, rel=0.015)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert pytest.approx(0.5772156649015329) == EULER_GAMMA


def test_return_moments_and_dsr_from_returns():
    returns = [0.01, -0.02, 0.03, 0.005, -0.01, 0.02, -0.04, 0.015]
    mean = statistics.fmean(returns)
    m2, m3, m4 = (statistics.fmean([(r - mean) ** k for r in returns]) for k in (2, 3, 4))
    sr, skew, kurt = return_moments(returns)
    assert sr == pytest.approx(mean / statistics.stdev(returns))
    assert skew == pytest.approx(m3 / m2**1.5)
    assert kurt == pytest.approx(m4 / m2**2)

    trials = [0.05, sr, -0.1, 0.02, 0.08]
    result = deflated_sharpe_of_returns(returns, trials)
    expected = deflated_sharpe(sr, 8, skew, kurt, 5, statistics.variance(trials))
    assert result.dsr == pytest.approx(expected.dsr)
    assert result.sr0 == pytest.approx(expected.sr0)
    assert (result.sr, result.skew, result.kurtosis) == (sr, skew, kurt)
    assert (result.n_obs, result.n_trials) == (8, 5)
    assert deflated_sharpe_of_returns(returns, trials, n_trials=50).n_trials == 50


# --- The probability of backtest overfitting ---


def test_pbo_of_pure_noise_is_about_one_half():
    # With no skill anywhere the in-sample best is as likely to land in either half out of
    # sample. One matrix's PBO is noisy: over 300 seeds of 240 x 50 with 8 blocks its std was
    # 0.18, so the mean of 40 matrices has a standard error of about 0.03; 0.1 is > 3 of them.
    results = [pbo(np.random.default_rng(s).normal(0, 1, (240, 50)), 8) for s in range(40)]
    assert np.mean([r.pbo for r in results]) == pytest.approx(0.5, abs=0.1)
    assert results[0].n_combinations == math.comb(8, 4) == len(results[0].logits)


def test_pbo_with_one_real_edge_is_zero():
    # Trial 0 has drift 0.5 std in every row: it is best in every in-sample half (its Sharpe
    # per half is ~0.5 against noise of std ~0.09) and best out of sample.
    matrix = np.random.default_rng(2).normal(0, 1, (256, 20))
    matrix[:, 0] += 0.5
    result = pbo(matrix, 8)
    assert result.pbo == 0.0
    assert np.allclose(result.logits, math.log(20 / 21 / (1 - 20 / 21)))  # rank 20 of 20


def test_pbo_when_the_in_sample_best_is_the_out_of_sample_worst():
    # Trial n earns 0.1 + a[b, n] in block b, plus +1/-1 alternating noise (zero in each block),
    # with a[:, n] summing to 0 over the blocks: a trial's out-of-sample mean is 0.1 minus its
    # in-sample excess, so the in-sample best is (about) the out-of-sample worst.
    S, N = 8, 30
    a = np.random.default_rng(1).normal(0, 0.01, (S, N))
    a -= a.mean(axis=0)
    noise = np.tile([1.0, -1.0], 15)
    matrix = np.concatenate([0.1 + a[b][None, :] + noise[:, None] for b in range(S)])
    result = pbo(matrix, S)
    assert result.pbo == 1.0
    assert result.logits.min() == pytest.approx(math.log(1 / 30))  # rank 1 of 30
    assert np.all(result.selected_oos < result.selected_is)


def test_pbo_by_hand():
    # Rows 0-1 are block A, rows 2-3 block B; Sharpe = mean / std (ddof=1).
    #            trial 0  trial 1  trial 2  trial 3
    matrix = [[1, 1, 0, 0], [3, 2, 1, 2], [-1, 10, 4, 1], [-3, 11, 5, 1]]
    # Block A Sharpes: 2/sqrt2 = 1.414, 1.5/0.707 = 2.121, 0.5/0.707 = 0.707, 1/1.414 = 0.707.
    # Block B Sharpes: -1.414, 10.5/0.707 = 14.85, 4.5/0.707 = 6.364, flat at 1 -> +inf.
    # Split 1, A in sample: trial 1 is best (2.121); out of sample it ranks 3rd of 4 (above
    #   -1.414 and 6.364, below +inf): w = 3/5, lambda = ln(1.5) > 0.
    # Split 2, B in sample: trial 3 is best (+inf); out of sample (A) it ties trial 2 for
    #   last, average rank 1.5: w = 1.5/5, lambda = ln(0.3/0.7) <= 0.
    result = pbo(np.array(matrix, dtype=float), 2)
    assert result.pbo == 0.5
    assert result.logits == pytest.approx([math.log(1.5), math.log(0.3 / 0.7)])
    assert result.selected_is == pytest.approx([1.5 / math.sqrt(0.5), math.inf])
    assert result.selected_oos == pytest.approx([10.5 / math.sqrt(0.5), 1 / math.sqrt(2)])
    assert (result.n_combinations, result.n_partitions, result.n_trials) == (2, 2, 4)
    assert result.reading == (
        "PBO 50%: in 50% of 2 splits the in-sample best of 4 trials ranked in the bottom half "
        "out of sample (50% is what pure luck gives; near 0 the selection holds up)"
    )


def test_pbo_rank_exactly_in_the_middle_counts_as_overfit():
    # Sharpes in block A (rows 0-1): 2.83, 2.12, 0.71; in block B (rows 2-3): 2.12, 2.83, 0.71.
    # A in sample picks trial 0, which ranks 2nd of 3 in B: w = 2/4, lambda = 0; B in sample
    # picks trial 1, 2nd of 3 in A. lambda = 0 counts as overfit (lambda <= 0).
    matrix = np.array([[3, 1, 0], [5, 2, 1], [1, 3, 0], [2, 5, 2]], dtype=float)
    result = pbo(matrix, 2)
    assert result.logits == pytest.approx([0.0, 0.0])
    assert result.pbo == 1.0


def test_pbo_uneven_blocks_and_dataframe_input():
    pd = pytest.importorskip("pandas")
    matrix = np.random.default_rng(5).normal(0, 1, (50, 6))  # 50 rows into 4 blocks: 13,13,12,12
    assert pbo(pd.DataFrame(matrix), 4).logits == pytest.approx(pbo(matrix, 4).logits)


def test_pbo_is_fast_at_full_size():
    import time

    matrix = np.random.default_rng(0).normal(0, 1, (250, 1000))
    began = time.perf_counter()
    result = pbo(matrix, 16)
    assert result.n_combinations == 12_870
    assert time.perf_counter() - began < 5


@pytest.mark.parametrize(
    ("matrix", "partitions", "message"),
    [
        (np.zeros((20, 3)), 3, "pbo: partitions must be even and at least 2, was 3"),
        (np.zeros((20, 3)), 0, "pbo: partitions must be even and at least 2, was 0"),
        (
            np.zeros((10, 3)),
            16,
            "pbo: 10 rows cannot be split into 16 blocks with at least 2 rows per half: need "
            "at least 16 rows",
        ),
        (
            np.zeros((3, 3)),
            2,
            "pbo: 3 rows cannot be split into 2 blocks with at least 2 rows per half: need at "
            "least 4 rows",
        ),
        (np.zeros((20, 1)), 4, "pbo: need at least 2 trials (columns) to select from, got 1"),
        (np.zeros(20), 4, "pbo: matrix must be 2-D (periods x trials), got shape (20,)"),
        (
            np.array([[0.0, 1.0]] * 3 + [[np.nan, 1.0]]),
            2,
            "pbo: matrix value at row 3, column 0 is nan, not finite",
        ),
    ],
)
def test_pbo_errors(matrix, partitions, message):
    with pytest.raises(ConfigError) as caught:
        pbo(matrix, partitions)
    assert str(caught.value) == message


def test_other_errors():
    with pytest.raises(
        ConfigError, match=r"^probabilistic_sharpe: n_obs must be a whole number >= 2, was 1$"
    ):
        probabilistic_sharpe(0.1, 1, 0.0, 3.0)
    with pytest.raises(ConfigError, match=r"Sharpe variance of .* not positive"):
        probabilistic_sharpe(2.0, 100, 3.0, 1.0)
    with pytest.raises(ConfigError, match=r"^expected_max_sharpe: n_trials must be .* was 0$"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ConfigError, match="variance must be 0 or more, was -1"):
        expected_max_sharpe(10, -1.0)
    with pytest.raises(ConfigError, match=r"^returns: the returns do not vary"):
        return_moments([0.01] * 5)
    with pytest.raises(ConfigError, match="need the Sharpe ratios of at least 2 trials"):
        deflated_sharpe_of_returns([0.01, 0.02, -0.01], [0.1])
    with pytest.raises(ConfigError, match="n_trials: 1 is fewer than the 2 trial Sharpes given"):
        deflated_sharpe_of_returns([0.01, 0.02, -0.01], [0.1, 0.2], n_trials=1)


def test_sharpe_degradation():
    result = sharpe_degradation([1.0, 2.0, 3.0], [0.5, 0.5, 1.1])
    # mean is 2, mean oos 0.7; slope = sum(dx dy) / sum(dx^2) = (0.2 + 0 + 0.4) / 2 = 0.3.
    assert (result.n, result.mean_is, result.mean_oos) == (3, 2.0, pytest.approx(0.7))
    assert result.mean_drop == pytest.approx(1.3)
    assert result.slope == pytest.approx(0.3)
    assert result.intercept == pytest.approx(0.1)
    assert result.reading == (
        "over 3 folds the Sharpe went from 2.00 in sample to 0.70 out of sample (drop 1.30); "
        "out-of-sample = 0.10 + 0.30 x in-sample"
    )
    flat = sharpe_degradation([1.0, 1.0], [0.2, 0.4])
    assert flat.slope is None and flat.reading.endswith(
        "no slope: the in-sample Sharpes do not vary"
    )
    with pytest.raises(ConfigError, match="same non-zero length, got shapes"):
        sharpe_degradation([1.0], [1.0, 2.0])
