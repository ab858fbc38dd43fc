"""The calibration distance, checked against hand computation and against a real run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.calibration.targets import MISSING_PENALTY, Target, compare, distance
from sim.experiment.runner import run_experiment
from tests.helpers import make_scenario

Z = 1.959964


def _target(value: float, low: float, high: float, **kw: object) -> Target:
    fields = {
        "name": "t",
        "kpi": "female_share",
        "value": value,
        "low": low,
        "high": high,
        "interval_kind": "assumed",
        "use": "fit",
        "source": "[S1]",
    }
    fields.update(kw)
    return Target(**fields)  # type: ignore[arg-type]


def test_zero_at_the_target_and_hand_computed_away_from_it() -> None:
    t = _target(0.5, 0.4, 0.6)
    sigma = 0.2 / (2 * Z)
    assert compare(t, [0.5, 0.5, 0.5]).term == 0.0
    # mean 0.6, sample variance 0.0025, se^2 = 0.0025 / 3
    f = compare(t, [0.55, 0.60, 0.65])
    z = 0.1 / math.sqrt(sigma**2 + 0.0025 / 3)
    assert f.z == pytest.approx(z) and f.term == pytest.approx(z**2)
    assert f.mean == pytest.approx(0.6)
    # t-based 95% CI of the mean, 2 degrees of freedom: t = 4.3027
    assert f.ci_high - f.mean == pytest.approx(4.302653 * 0.05 / math.sqrt(3), rel=1e-5)


def test_grows_with_the_deviation_and_shrinks_with_noise() -> None:
    t = _target(0.5, 0.4, 0.6)
    terms = [compare(t, [0.5 + d] * 4).term for d in (0.0, 0.02, 0.05, 0.1, 0.2)]
    assert terms == sorted(terms) and terms[0] == 0 and terms[-1] > 0
    quiet = compare(t, [0.59, 0.60, 0.61]).term
    noisy = compare(t, [0.50, 0.60, 0.70]).term
    assert noisy < quiet  # the same mean is less surprising when the model is noisier


def test_one_sided_targets_count_only_on_the_wrong_side() -> None:
    at_most = _target(0.3, 0.25, 0.35, relation="at_most")
    assert compare(at_most, [0.1, 0.2]).term == 0.0
    assert compare(at_most, [0.4, 0.4]).term == pytest.approx((0.1 / (0.1 / (2 * Z))) ** 2)
    at_least = _target(0.3, 0.25, 0.35, relation="at_least")
    assert compare(at_least, [0.4, 0.5]).term == 0.0
    assert compare(at_least, [0.2, 0.2]).term > 0


def test_log_scale_compares_ratios() -> None:
    t = _target(100.0, 50.0, 200.0, scale="log")
    sigma = math.log(4) / (2 * Z)
    f = compare(t, [200.0, 200.0])
    assert f.term == pytest.approx((math.log(2) / sigma) ** 2)
    assert compare(t, [50.0, 50.0]).term == pytest.approx(f.term)  # symmetric in the ratio


def test_missing_model_value_is_penalised() -> None:
    f = compare(_target(0.5, 0.4, 0.6), [math.nan, math.nan])
    assert f.n == 0 and f.term == MISSING_PENALTY


def test_distance_sums_terms_and_skips_pending_kpis() -> None:
    reps = pd.DataFrame({"female_share": [0.55, 0.60, 0.65], "age_at_diagnosis_median": [65.0] * 3})
    a = _target(0.5, 0.4, 0.6, name="a")
    b = _target(65.0, 64.0, 66.0, name="b", kpi="age_at_diagnosis_median")
    c = _target(0.2, 0.1, 0.3, name="c", kpi="nec_share", pending=True)
    d, fits = distance([a, b, c], reps)
    assert [f.target.name for f in fits] == ["a", "b"]
    assert d == pytest.approx(compare(a, reps["female_share"]).term)


def test_zero_at_a_synthetic_target_equal_to_a_real_model_output() -> None:
    scenario, controls = make_scenario(
        scale=0.02, years=1, warmup_years=0.5, replications=2, workers=1
    )
    reps = run_experiment([scenario], controls, None, progress=False).replications
    m = float(reps["diagnostic_interval_days_median"].mean())
    kpi = "diagnostic_interval_days_median"
    terms = [distance([_target(m + dv, m - 10, m + 10, kpi=kpi)], reps)[0] for dv in (0, 2, 5, 9)]
    assert terms[0] == pytest.approx(0.0, abs=1e-20)
    assert terms == sorted(terms) and terms[-1] > terms[1] > 0
