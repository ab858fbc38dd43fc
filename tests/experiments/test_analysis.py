"""Output analysis checked against hand computation and scipy's own tests.

Truth used here: the t interval, the paired-t interval and Welch's interval worked by hand for
small data sets (and scipy.stats.ttest_rel / ttest_ind(equal_var=False) for random ones); the
replication count of the confidence-interval method worked by hand from t tables; MSER-5 on
synthetic series whose transient is known by construction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.experiment.analysis import (
    mser,
    paired_difference,
    relative_half_width,
    replications_needed,
    summarise,
    t_interval,
    unpaired_difference,
)


def _two_scenarios(a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [{"scenario": "base", "replication": k, "x": v} for k, v in enumerate(a)]
    rows += [{"scenario": "other", "replication": k, "x": v} for k, v in enumerate(b)]
    return pd.DataFrame(rows)


def test_t_interval_by_hand() -> None:
    # mean 3, sd sqrt(2.5), n 5: half-width t(0.975, 4) * sqrt(2.5) / sqrt(5) = 2.776445 * 0.707107
    mean, lo, hi, n = t_interval([1, 2, 3, 4, 5, float("nan")])
    assert (mean, n) == (3.0, 5)
    assert hi - mean == pytest.approx(2.776445 * 0.7071068, rel=1e-6)
    assert mean - lo == pytest.approx(hi - mean)
    assert relative_half_width([1, 2, 3, 4, 5]) == pytest.approx(2.776445 * 0.7071068 / 3, 1e-6)
    one = t_interval([4.0])
    assert one[0] == 4.0 and math.isnan(one[1]) and one[3] == 1


def test_summarise_per_scenario() -> None:
    reps = _two_scenarios([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    s = summarise(reps, ["x"]).set_index("scenario")
    assert s.loc["base", "mean"] == 3.0 and s.loc["other", "mean"] == 6.0
    assert s.loc["base", "ci_high"] == pytest.approx(3 + 2.776445 * 0.7071068, rel=1e-6)


def test_paired_difference_by_hand() -> None:
    # differences 1..5: mean 3, sd sqrt(2.5); the same half-width as above
    reps = _two_scenarios([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    mean, lo, hi, n = paired_difference(reps, "base", "other", "x")
    assert (mean, n) == (3.0, 5)
    assert (lo, hi) == pytest.approx((1.0367568, 4.9632432), rel=1e-6)


def test_paired_difference_uses_the_pairing_not_the_row_order() -> None:
    reps = _two_scenarios([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]).sample(frac=1, random_state=3)
    assert paired_difference(reps, "base", "other", "x")[:3] == pytest.approx(
        (3.0, 1.0367568, 4.9632432), rel=1e-6
    )


def test_welch_difference_by_hand() -> None:
    # var 2.5/5 + 10/5 = 2.5; Welch dof 2.5^2 / (0.5^2/4 + 2^2/4) = 5.882353;
    # t(0.975, 5.882353) = 2.458824; half-width 2.458824 * sqrt(2.5) = 3.887742
    reps = _two_scenarios([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    diff, lo, hi = unpaired_difference(reps, "base", "other", "x")
    assert diff == 3.0
    assert (lo, hi) == pytest.approx((3 - 3.887742, 3 + 3.887742), rel=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_differences_agree_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 2, 12)
    b = a + rng.normal(1, 0.5, 12) * rng.uniform(0.5, 3)
    reps = _two_scenarios(list(a), list(b))
    _, lo, hi, _ = paired_difference(reps, "base", "other", "x")
    ref = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)
    _, lo, hi = unpaired_difference(reps, "base", "other", "x")
    ref = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_replications_needed_by_hand() -> None:
    # mean 10, sd 1, target +/-5% = 0.5: t(0.975, 16)/sqrt(17) = 2.1199/4.1231 = 0.514 > 0.5,
    # t(0.975, 17)/sqrt(18) = 2.1098/4.2426 = 0.497 <= 0.5, so 18 replications.
    assert replications_needed([9, 10, 11], 0.05) == 18
    # +/-10% = 1.0: t(0.975, 6)/sqrt(7) = 0.925 <= 1 and t(0.975, 5)/sqrt(6) = 1.049 > 1: 7
    assert replications_needed([9, 10, 11], 0.10) == 7
    assert replications_needed([5.0], 0.05) == 2  # too few to estimate a spread
    assert replications_needed([5.0, 5.0, 5.0], 0.05) == 3  # no spread: already enough


def test_mser_formula_on_a_hand_example() -> None:
    # batch 1, 8 observations: d=0 gives SS 87.5 / 8^2 = 1.37; d=1 leaves zeros: statistic 0
    assert mser([10, 0, 0, 0, 0, 0, 0, 0], batch=1) == 1
    # the same in batches of five (8 batch means): 5 observations deleted
    assert mser([10] * 5 + [0] * 35, batch=5) == 5


@pytest.mark.parametrize("seed", range(4))
def test_mser5_finds_a_known_transient(seed: int) -> None:
    """A linear fall from 20 to the steady level over the first 200 observations, then white
    noise (sd 1): MSER-5 truncates within a few batches of observation 200; an exponential decay
    10 exp(-t/50) is below the noise (bias < 1) from t = 115 and below 0.1 from t = 230."""
    rng = np.random.default_rng(seed)
    t = np.arange(1000)
    ramp = np.where(t < 200, 20 * (1 - t / 200), 0.0) + rng.normal(0, 1, t.size)
    assert 170 <= mser(ramp) <= 230
    decay = 10 * np.exp(-t / 50) + rng.normal(0, 1, t.size)
    assert 100 <= mser(decay) <= 250


@pytest.mark.parametrize("seed", range(4))
def test_mser5_keeps_a_stationary_series(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert mser(rng.normal(5, 1, 1000)) <= 25  # at most 2.5% of the series
