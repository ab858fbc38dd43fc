"""Common random numbers: replication k of every scenario sees the same synthetic patients, so
the paired-difference CI of two scenarios is much narrower than the unpaired (Welch) CI of the
same runs (Law, *Simulation Modeling and Analysis*, s. 11.2: CRN works when the outputs of the
two scenarios are positively correlated replication by replication).

If the runner gave the two scenarios different streams, the paired variance would be
var(a) + var(b), the same as the unpaired one, and the paired interval (n - 1 degrees of freedom
against Welch's ~2n - 2) would be slightly *wider*.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.experiment.analysis import paired_difference, unpaired_difference
from sim.experiment.runner import ExperimentResult, ReplicationOutput, run_experiment
from tests.helpers import make_scenario

KPI = "symptom_to_diagnosis_days_median"
KPIS = (  # KPIs the GP change moves; each replication's value is noisy at 2% of England
    KPI,
    "diagnostic_interval_days_median",
    "stage_distant_at_diagnosis_share",
    "fds_28d_share",
    "gp_consultations_before_referral_mean",
    "urgent_referral_share",
)
N = 6
FASTER_GP_REFERRAL: dict[str, Any] = {
    "name": "faster_gp_referral",
    "presentation": {
        "gp": {
            # assumption (test variant): more urgent referrals, fewer misattributions
            "first_consultation": {
                "misattributed": 0.15,
                "primary_care_tests": 0.25,
                "urgent_referral": 0.50,
                "routine_referral": 0.10,
            },
            "repeat_consultation": {
                "misattributed": 0.20,
                "primary_care_tests": 0.25,
                "urgent_referral": 0.45,
                "routine_referral": 0.10,
            },
        }
    },
}


@pytest.fixture(scope="module")
def experiment() -> tuple[ExperimentResult, dict[tuple[str, int], pd.DataFrame]]:
    base, controls = make_scenario(scale=0.02, years=2, warmup_years=1, replications=N, workers=2)
    fast, _ = make_scenario(FASTER_GP_REFERRAL, scale=0.02, years=2, warmup_years=1)
    journeys: dict[tuple[str, int], pd.DataFrame] = {}

    def keep(res: ReplicationOutput) -> None:
        journeys[(res.scenario, res.replication)] = res.journeys.set_index("patient")

    result = run_experiment([base, fast], controls, progress=False, on_output=keep)
    return result, journeys


def test_same_synthetic_patients_in_both_scenarios(
    experiment: tuple[ExperimentResult, dict[tuple[str, int], pd.DataFrame]],
) -> None:
    _, journeys = experiment
    for k in range(N):
        a = journeys[("current_practice", k)]
        b = journeys[("faster_gp_referral", k)]
        common = a.index.intersection(b.index)
        assert len(common) > 0.5 * len(a)
        for col in ("onset_time", "site", "grade", "region", "age_at_onset", "stage_at_onset"):
            if col in a:
                assert a.loc[common, col].equals(b.loc[common, col]), (k, col)
    # ...and different patients in different replications
    assert not journeys[("current_practice", 0)]["onset_time"].equals(
        journeys[("current_practice", 1)]["onset_time"]
    )


def test_paired_ci_is_narrower_than_unpaired(
    experiment: tuple[ExperimentResult, dict[tuple[str, int], pd.DataFrame]],
) -> None:
    result, _ = experiment
    reps = result.replications
    mean, lo, hi, n = paired_difference(reps, "current_practice", "faster_gp_referral", KPI)
    udiff, ulo, uhi = unpaired_difference(reps, "current_practice", "faster_gp_referral", KPI)
    assert n == N and mean == pytest.approx(udiff)
    assert mean < 0  # faster referral shortens first presentation to diagnosis
    assert hi - lo < uhi - ulo, ((hi - lo) / 2, (uhi - ulo) / 2)
    a = reps[reps["scenario"] == "current_practice"].sort_values("replication")[KPI].to_numpy()
    b = reps[reps["scenario"] == "faster_gp_referral"].sort_values("replication")[KPI].to_numpy()
    assert np.corrcoef(a, b)[0, 1] > 0  # the reason: positively correlated outputs
    # and the intervals are the textbook ones
    ref = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-9)
    ref = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (ulo, uhi) == pytest.approx((ref.low, ref.high), rel=1e-9)


def test_crn_narrows_every_difference_on_average(
    experiment: tuple[ExperimentResult, dict[tuple[str, int], pd.DataFrame]],
) -> None:
    """With six replications one ratio of widths is itself noisy, so the claim is checked over
    several KPIs: their geometric mean ratio (paired / unpaired width) is well below 1 (it is
    about 1.1 without CRN)."""
    reps = experiment[0].replications
    ratios = []
    for kpi in KPIS:
        _, lo, hi, _ = paired_difference(reps, "current_practice", "faster_gp_referral", kpi)
        _, ulo, uhi = unpaired_difference(reps, "current_practice", "faster_gp_referral", kpi)
        ratios.append((hi - lo) / (uhi - ulo))
    assert float(np.exp(np.mean(np.log(ratios)))) < 0.75, ratios
