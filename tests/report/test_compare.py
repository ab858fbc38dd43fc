"""Comparison numbers and sentences on hand-made tables, against hand-computed values.

t quantiles are from printed tables (t_{0.975, 2} = 4.3027, t_{0.975, 3} = 3.1824), not from the
code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.reporting.compare import (
    COMPARISON_COLUMNS,
    add_derived_kpis,
    breach_steps,
    breach_summary,
    cohorts,
    comparison_table,
    headlines,
    lookup,
    scenario_label,
    scenario_titles,
    titles_of,
    unexpected_effects,
)
from sim.scenario.schema import REGIONS

T2 = 4.3027  # t(0.975, 2 degrees of freedom), statistical table
T3 = 3.1824  # t(0.975, 3)


def _reps() -> pd.DataFrame:
    """Three replications of a base and an 'ideal' scenario (rows deliberately out of order)."""
    rows = [
        ("base", 0, 10.0, 0.30, 4000.0),
        ("base", 1, 12.0, 0.20, 4000.0),
        ("base", 2, 14.0, 0.25, 4400.0),
        ("ideal", 2, 11.0, 0.25, 4000.0),
        ("ideal", 0, 8.0, 0.25, 4000.0),
        ("ideal", 1, 11.0, 0.20, 4000.0),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "scenario",
            "replication",
            "diagnostic_interval_days_median",
            "stage_distant_at_diagnosis_share",
            "diagnosed_per_year",
        ],
    )


def test_paired_difference_by_hand() -> None:
    table = comparison_table(_reps(), "base")
    assert list(table.columns) == COMPARISON_COLUMNS
    # ideal - base, paired by replication: rep0 8-10=-2, rep1 11-12=-1, rep2 11-14=-3
    r = lookup(table, "diagnostic_interval_days_median", "ideal")
    half = T2 * 1.0 / math.sqrt(3)  # sd of (-2, -1, -3) is 1
    assert r["diff_vs_base"] == pytest.approx(-2.0)
    assert r["diff_ci_low"] == pytest.approx(-2.0 - half, abs=1e-3)
    assert r["diff_ci_high"] == pytest.approx(-2.0 + half, abs=1e-3)
    # the mean of ideal is (8 + 11 + 11)/3 = 10 with sd sqrt(3): t half-width T2 * sqrt(3) /
    # sqrt(3) = T2, carried to the log scale (days are non-negative) as T2 / 10
    assert r["mean"] == pytest.approx(10.0)
    assert r["ci_low"] == pytest.approx(10.0 * math.exp(-T2 / 10), abs=1e-3)
    assert r["ci_high"] == pytest.approx(10.0 * math.exp(T2 / 10), abs=1e-3)
    b = lookup(table, "diagnostic_interval_days_median", "base")
    assert b["diff_vs_base"] == 0 and b["diff_ci_low"] == 0 and b["diff_ci_high"] == 0
    assert b["mean"] == pytest.approx(12.0)
    assert b["ci_low"] == pytest.approx(12.0 * math.exp(-T2 * 2 / math.sqrt(3) / 12), abs=1e-3)


def test_share_intervals_on_the_logit_scale_by_hand() -> None:
    table = comparison_table(_reps(), "base")
    # base distant shares 0.30, 0.20, 0.25: mean 0.25, sd 0.05, t half-width T2 * 0.05 /
    # sqrt(3); on the logit scale that is divided by 0.25 * 0.75 around logit(0.25) = -ln 3
    r = lookup(table, "stage_distant_at_diagnosis_share", "base")
    w = T2 * 0.05 / math.sqrt(3) / (0.25 * 0.75)
    assert r["mean"] == pytest.approx(0.25)
    assert r["ci_low"] == pytest.approx(1 / (1 + 3 * math.exp(w)), abs=1e-4)
    assert r["ci_high"] == pytest.approx(1 / (1 + 3 * math.exp(-w)), abs=1e-4)
    # the plain t-interval would be 0.25 +/- 0.124; the logit one is not symmetric about 0.25
    assert r["ci_high"] - 0.25 > 0.25 - r["ci_low"]


def test_intervals_stay_within_bounds_near_them() -> None:
    rows = [
        ("base", 0, 1.0, 0.001, 0.0),
        ("base", 1, 40.0, 0.2, 0.0),
        ("ideal", 0, 0.5, 0.999, 0.0),
        ("ideal", 1, 30.0, 0.1, 0.0),
    ]
    cols = ["scenario", "replication", "pet_wait_days_median", "dtt_31d_share", "nec_share"]
    table = comparison_table(pd.DataFrame(rows, columns=cols), "base")
    # with 2 replications the plain t-interval of the base's wait is 20.5 +/- 247.7 days and of
    # its share 0.1005 +/- 1.26: both would cross zero
    wait = lookup(table, "pet_wait_days_median", "base")
    assert 0 < wait["ci_low"] < wait["mean"] < wait["ci_high"]
    share = lookup(table, "dtt_31d_share", "base")
    assert 0 < share["ci_low"] < share["mean"] < share["ci_high"] < 1
    # a share's difference lies within -1 to +1
    diff = lookup(table, "dtt_31d_share", "ideal")
    assert -1 <= diff["diff_ci_low"] < diff["diff_vs_base"] < diff["diff_ci_high"] <= 1
    # all replications on a bound: a zero-width interval on it
    nec = lookup(table, "nec_share", "base")
    assert nec["ci_low"] == nec["mean"] == nec["ci_high"] == 0


def test_missing_values_are_ignored_not_zero() -> None:
    reps = _reps()
    extra = pd.DataFrame(
        [("base", 3, 20.0, np.nan, 4000.0), ("ideal", 3, np.nan, 0.1, 4000.0)],
        columns=reps.columns,
    )
    table = comparison_table(pd.concat([reps, extra]), "base")
    r = lookup(table, "diagnostic_interval_days_median", "ideal")
    assert r["diff_vs_base"] == pytest.approx(-2.0)  # replication 3 has no pair value
    base = lookup(table, "diagnostic_interval_days_median", "base")
    assert base["mean"] == pytest.approx((10 + 12 + 14 + 20) / 4)
    half = T3 * np.std([10, 12, 14, 20], ddof=1) / 2
    assert base["ci_high"] == pytest.approx(base["mean"] * math.exp(half / base["mean"]), abs=1e-3)


def test_people_diagnosed_with_distant_spread_are_paired_per_replication() -> None:
    reps = add_derived_kpis(_reps())
    # base: 0.30*4000=1200, 0.20*4000=800, 0.25*4400=1100; ideal: 1000, 800, 1000
    base = reps[reps["scenario"] == "base"].sort_values("replication")
    assert list(base["distant_diagnosed_per_year"]) == pytest.approx([1200, 800, 1100])
    table = comparison_table(reps, "base")
    r = lookup(table, "distant_diagnosed_per_year", "ideal")
    assert r["diff_vs_base"] == pytest.approx((-200 + 0 - 100) / 3)
    sd = np.std([-200, 0, -100], ddof=1)
    assert r["diff_ci_high"] == pytest.approx(-100 + T2 * sd / math.sqrt(3), abs=0.5)


def test_spread_before_diagnosis_adds_the_deaths_before_diagnosis() -> None:
    reps = _reps()
    reps["died_undiagnosed_per_year"] = [300.0, 250.0, 200.0, 100.0, 150.0, 120.0]
    # The true stage at diagnosis (whether staging found the spread or not); registry stage
    # differs (PET stage migration) and must not be used.
    reps["spread_at_diagnosis_share"] = reps["stage_distant_at_diagnosis_share"]
    reps["stage_distant_at_diagnosis_share"] = 0.9
    table = comparison_table(add_derived_kpis(reps), "base")
    # base rep 0: 0.30*4000 + 300 = 1500; ideal rep 0 (row 4): 0.25*4000 + 150 = 1150
    # rep 1: 800 + 250 = 1050 vs 800 + 120 = 920; rep 2: 1100 + 200 = 1300 vs 1000 + 100 = 1100
    base = lookup(table, "spread_before_diagnosis_per_year", "base")
    assert base["mean"] == pytest.approx((1500 + 1050 + 1300) / 3)
    r = lookup(table, "spread_before_diagnosis_per_year", "ideal")
    assert r["diff_vs_base"] == pytest.approx((-350 - 130 - 200) / 3)


def test_without_deaths_before_diagnosis_there_is_no_spread_kpi() -> None:
    assert "spread_before_diagnosis_per_year" not in add_derived_kpis(_reps())


def test_region_range_is_highest_minus_lowest() -> None:
    values = [30.0, 45.0, 50.0, 38.0, 41.0, 33.0, 60.0]
    row = {"scenario": "base", "replication": 0}
    row.update(
        {f"diagnostic_interval_days_median__{r}": v for r, v in zip(REGIONS, values, strict=True)}
    )
    out = add_derived_kpis(pd.DataFrame([row]))
    assert out["diagnostic_interval_days_median_region_range"].iloc[0] == pytest.approx(30.0)


def _patients() -> pd.DataFrame:
    nan = math.nan
    cols = [
        "scenario",
        "replication",
        "clock62_start_time",
        "first_seen_time",
        "first_biopsy_time",
        "histopathology_listed_time",
        "diagnosis_time",
        "pet_time",
        "local_mdt_time",
        "specialist_mdt_time",
        "decision_to_treat_time",
        "first_treatment_time",
    ]
    rows = [
        # urgent referral at 0, seen 10, first biopsy 25, repeat listed for pathology 32,
        # diagnosed 40, PET 50, local MDT 55, specialist 60, decision 65, treated 80:
        # steps 10, 15, 7, 8, 10, 10 (local + specialist), 5, 15 = 80 > 62
        ("base", 0, 0.0, 10.0, 25.0, 32.0, 40.0, 50.0, 55.0, 60.0, 65.0, 80.0),
        # consultant upgrade: clock starts when first seen (100); one biopsy at 110; no PET,
        # local MDT only: steps 0, 10, 0, 10, 0, 7, 3, 10 = 40 <= 62
        ("base", 0, 100.0, 100.0, 110.0, 110.0, 120.0, nan, 127.0, nan, 130.0, 140.0),
        # emergency (off the clock) and untreated patients are not counted
        ("base", 0, nan, 5.0, 6.0, 6.0, 8.0, nan, 12.0, nan, 15.0, 20.0),
        ("base", 0, 0.0, 10.0, 20.0, 20.0, 30.0, nan, 40.0, nan, nan, nan),
    ]
    return pd.DataFrame(rows, columns=cols)


def test_breach_steps_partition_the_62_day_clock() -> None:
    steps = breach_steps(_patients())
    assert len(steps) == 2
    names = [
        "referral_to_first_seen",
        "tests",
        "repeat_biopsy",
        "pathology",
        "pet",
        "mdt",
        "mdt_to_decision",
        "decision_to_treatment",
    ]
    assert list(steps.loc[0, names]) == [10, 15, 7, 8, 10, 10, 5, 15]
    assert list(steps.loc[1, names]) == [0, 10, 0, 10, 0, 7, 3, 10]
    assert list(steps["total_days"]) == [80, 40]
    assert list(steps["breach"]) == [True, False]
    summary = breach_summary(steps)
    row = summary.iloc[0]
    assert row["on_clock"] == 2 and row["breaches"] == 1 and row["breach_share"] == 0.5
    assert row["tests_breach_mean"] == 15
    assert row["tests_all_mean"] == 12.5
    # Tests and decision-to-treatment tie at 15 days: the earlier step counts as the largest.
    assert row["tests_largest_share"] == 1.0 and row["decision_to_treatment_largest_share"] == 0


def _table(rows: list[tuple[str, str, float, float, float, float]]) -> pd.DataFrame:
    """Comparison rows from (kpi, scenario, mean, diff, diff_lo, diff_hi)."""
    return pd.DataFrame(
        [(k, s, m, m, m, d, lo, hi) for k, s, m, d, lo, hi in rows], columns=COMPARISON_COLUMNS
    )


def test_scenarios_are_named_by_their_titles() -> None:
    resolved = {
        "ideal_pathway": {"title": "The Ideal Pathway", "short_title": "Ideal"},
        "ring_fenced_prrt": {},
    }
    assert scenario_label("ideal_pathway") == "Ideal pathway"  # outside: the name in words
    with scenario_titles(titles_of(resolved)):
        assert scenario_label("ideal_pathway") == "The Ideal Pathway"
        assert scenario_label("ideal_pathway", short=True) == "Ideal"
        assert scenario_label("ring_fenced_prrt", short=True) == "Ring fenced prrt"
    assert scenario_label("ideal_pathway") == "Ideal pathway"


def test_headlines_state_numbers_and_uncertainty() -> None:
    table = _table(
        [
            ("diagnostic_interval_days_median", "current_practice", 54.0, 0, 0, 0),
            ("diagnostic_interval_days_median", "ideal_pathway", 40.0, -14.0, -20.0, -8.0),
            ("distant_diagnosed_per_year", "current_practice", 1200.0, 0, 0, 0),
            ("distant_diagnosed_per_year", "ideal_pathway", 1080.0, -120.0, -180.0, -60.0),
            ("spread_before_diagnosis_per_year", "current_practice", 1500.0, 0, 0, 0),
            ("spread_before_diagnosis_per_year", "ideal_pathway", 1380.0, -120.0, -180.0, -60.0),
            ("rtt_62d_share", "current_practice", 0.60, 0, 0, 0),
            ("rtt_62d_share", "ideal_pathway", 0.61, 0.01, -0.02, 0.04),
        ]
    )
    with scenario_titles({"ideal_pathway": ("The Ideal Pathway", "")}):
        lines = headlines(table, "current_practice")
    assert (
        "The Ideal Pathway would cut the median time from first presentation to diagnosis "
        "from 54 days to 40 days (-14 days, 95% CI -20 to -8.0 days)." in lines
    )
    assert any(
        line.startswith("The Ideal Pathway: 120 fewer people a year (95% CI 60 to 180)")
        and "diagnosed with distant spread (1,200 a year now, 1,080 under it)" in line
        for line in lines
    )
    assert (
        "The Ideal Pathway: 120 fewer people a year (95% CI 60 to 180) would have their NEN "
        "spread before diagnosis (diagnosed with distant spread, or dying of it undiagnosed) "
        "(1,500 a year now, 1,380 under it)." in lines
    )
    (rtt,) = [line for line in lines if "62 days" in line]
    assert "from 60% to 61%" in rtt and "includes zero" in rtt


def test_unchanged_kpis_are_said_once() -> None:
    table = _table(
        [
            ("diagnostic_interval_days_median", "current_practice", 54.0, 0, 0, 0),
            ("diagnostic_interval_days_median", "national_commissioning", 54.0, 0, 0, 0),
        ]
    )
    (line,) = headlines(table, "current_practice")
    assert line.startswith("National commissioning leaves unchanged")
    assert "(54 days)" in line


def test_unexpected_effects_only_when_worse_and_clear() -> None:
    table = _table(
        [
            ("diagnosis_to_specialist_mdt_days_median", "current_practice", 16.0, 0, 0, 0),
            ("diagnosis_to_specialist_mdt_days_median", "ideal_pathway", 18.0, 2.0, 1.0, 3.0),
            ("diagnostic_interval_days_median", "current_practice", 54.0, 0, 0, 0),
            ("diagnostic_interval_days_median", "ideal_pathway", 40.0, -14.0, -20.0, -8.0),
            ("rtt_62d_share", "current_practice", 0.60, 0, 0, 0),
            ("rtt_62d_share", "ideal_pathway", 0.58, -0.02, -0.05, 0.01),
            ("specialist_mdt_discussed_share", "current_practice", 0.6, 0, 0, 0),
            ("specialist_mdt_discussed_share", "ideal_pathway", 0.95, 0.35, 0.3, 0.4),
        ]
    )
    (effect,) = unexpected_effects(table, "current_practice")
    assert effect.kpi == "diagnosis_to_specialist_mdt_days_median"
    assert effect.scenario == "ideal_pathway"
    assert "60% to 95%" in effect.explanation  # the mechanism quotes its numbers


def test_cohorts_tell_added_people_from_the_same_people() -> None:
    nan = math.nan
    cols = ["scenario", "replication", "patient", "diagnosis_time", "death_time"]
    cols.append("stage_at_diagnosis")
    rows = [
        # the same three people diagnosed under both; person 3 only under the base window,
        # person 4 (distant, dies within a year) only under the scenario
        ("base", 0, 1, 100.0, nan, "localised"),
        ("base", 0, 2, 100.0, 200.0, "distant"),
        ("base", 0, 3, 100.0, nan, "localised"),
        ("base", 0, 5, 100.0, nan, "regional"),
        ("ideal", 0, 1, 90.0, nan, "localised"),
        ("ideal", 0, 2, 90.0, 600.0, "regional"),
        ("ideal", 0, 5, 90.0, nan, "regional"),
        ("ideal", 0, 4, 150.0, 300.0, "distant"),
    ]
    patients = pd.DataFrame(rows, columns=cols)
    c = cohorts(patients, "base", "ideal", horizon_days=1000.0, years=2.0, scale=0.5)
    assert c is not None
    assert c.added_per_year == pytest.approx(1 / 2 / 0.5)  # one person, 2 years, half England
    assert c.removed_per_year == pytest.approx(1.0)
    assert c.distant_share_both == pytest.approx((1 / 3, 0.0))
    assert c.distant_share_added == 1.0
    # person 2 dies 100 days after diagnosis under the base, 510 days after under the scenario
    assert c.one_year_survival_both == pytest.approx((2 / 3, 1.0))
    assert c.one_year_survival_added == 0.0
