"""Verification of the economic measures (issue 14, "Done when"): discounting by hand for a known
life course, costs by category adding up, an identical scenario giving exactly zero increments,
and doubling one unit cost doubling that category and nothing else."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.core.events import EventKind as K
from sim.experiment.runner import run_experiment
from sim.measures.economics import (
    ICER_COLUMNS,
    PATIENT_COLUMNS,
    discount_factor,
    discounted_years,
    economic_headlines,
    economic_kpis,
    icer_row,
    icer_table,
    norm_weighted_years,
    patient_economics,
    price_factor,
)
from sim.measures.kpis import KPIS, patient_journeys
from sim.model.simulation import RunResult, simulate
from sim.reporting.compare import comparison_table
from sim.scenario.schema import COST_CATEGORIES, GRADES, REGIONS, TREATMENTS, Economics, Scenario
from tests.helpers import make_scenario

Y = 365.25
W0, H = 1000.0, 1000.0 + 5 * Y
CATEGORY_COLUMNS = [f"cost_{c}" for c in COST_CATEGORIES if c != "fixed"]


def with_economics(scenario: Scenario, **changes: Any) -> Scenario:
    econ = scenario.economics
    assert econ is not None
    return scenario.model_copy(update={"economics": econ.model_copy(update=changes)})


# ---------------------------------------------------------------------------------------------
# A patient with a known life course, discounted by hand
# ---------------------------------------------------------------------------------------------


def one_patient(grade: str = "G1") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Symptomatic from 100 days before the window; a GP consultation at 0.5 years into the
    window; localised NEN diagnosed at 1 year; curative surgery at 2 years; other-cause death
    at 3.5 years. Times in days; the window starts at W0."""
    ev = pd.DataFrame(
        [
            (W0 + 0.5 * Y, 7, K.GP_CONSULTATION, -1, 0),
            (W0 + 1.0 * Y, 7, K.DIAGNOSIS, -1, 0),  # stage index 0: localised
            (W0 + 2.0 * Y, 7, K.TREATMENT_START, -1, TREATMENTS.index("surgery_curative")),
            (W0 + 3.5 * Y, 7, K.DEATH, -1, 1),
        ],
        columns=["time", "patient", "kind", "resource", "code"],
    )
    j = pd.DataFrame(
        {
            "onset_time": [W0 - 100.0],
            "symptomatic": [True],
            "grade": pd.Categorical.from_codes([GRADES.index(grade)], GRADES),
            "region": pd.Categorical.from_codes([0], REGIONS),
            "diagnosis_time": [W0 + Y],
            "death_time": [W0 + 3.5 * Y],
            "death_cause": [1.0],
        },
        index=pd.Index([7], name="patient"),
    )
    return ev, j


@cache
def base_scenario() -> Scenario:
    return make_scenario(scale=0.02)[0]


@pytest.mark.parametrize("rate", [0.035, 0.015, 0.0])
def test_discounting_by_hand_for_a_known_life_course(rate: float) -> None:
    scenario = with_economics(base_scenario(), discount_rate=rate)
    econ = scenario.economics
    assert econ is not None
    ev, j = one_patient()
    row = patient_economics(ev, j, scenario, [], (W0, H)).loc[7]

    # By hand: a flow of 1 a year from year a to b is worth (v^a - v^b) / ln(1 + r), v = 1/(1+r)
    def flow(a: float, b: float) -> float:
        if rate == 0:
            return b - a
        return ((1 + rate) ** -a - (1 + rate) ** -b) / math.log(1 + rate)

    u = econ.utilities
    assert row["life_years"] == pytest.approx(3.5, rel=1e-12)
    assert row["life_years_discounted"] == pytest.approx(flow(0, 3.5), rel=1e-12)
    assert row["qalys"] == pytest.approx(
        u["undiagnosed_symptomatic"] * 1 + u["not_distant"] * 2.5, rel=1e-12
    )
    assert row["qalys_discounted"] == pytest.approx(
        u["undiagnosed_symptomatic"] * flow(0, 1) + u["not_distant"] * flow(1, 3.5), rel=1e-12
    )
    uc = econ.unit_costs
    assert row["cost_gp"] == pytest.approx(uc.gp_consultation * (1 + rate) ** -0.5, rel=1e-12)
    surgery = econ.treatments["surgery_curative"]
    assert row["cost_surgery"] == pytest.approx(
        (surgery.per_start + surgery.per_cycle) * (1 + rate) ** -2, rel=1e-12
    )
    # Surveillance after curative surgery (G1: one visit per interval) from year 2 to death.
    interval = scenario.follow_up.scan_interval_days_after_curative_by_grade["G1"]
    assert row["cost_follow_up"] == pytest.approx(
        uc.surveillance_visit * Y / interval * flow(2, 3.5), rel=1e-12
    )
    # An other-cause death carries no end-of-life NEN cost; nothing else happened.
    others = [c for c in CATEGORY_COLUMNS if c not in ("cost_gp", "cost_surgery", "cost_follow_up")]
    assert (row[others] == 0).all()
    assert row["cost_total"] == pytest.approx(
        row["cost_gp"] + row["cost_surgery"] + row["cost_follow_up"], rel=1e-12
    )


def test_the_discount_helpers_agree_with_their_definitions() -> None:
    assert discount_factor(W0 + 2 * Y, W0, 0.035) == pytest.approx(1.035**-2, rel=1e-14)
    # the flow is the integral of the factor (midpoint rule on a fine grid)
    t = np.linspace(W0 + 0.3 * Y, W0 + 4.1 * Y, 200_001)
    mid = (t[1:] + t[:-1]) / 2
    numeric = float((discount_factor(mid, W0, 0.035) * np.diff(t)).sum()) / Y
    assert discounted_years(t[0], t[-1], W0, 0.035) == pytest.approx(numeric, rel=1e-9)
    assert discounted_years(W0 + Y, W0, W0, 0.035) == 0.0  # empty interval


def test_the_window_censors_life_before_it_and_after_the_horizon() -> None:
    ev, j = one_patient()
    j.loc[7, "death_time"] = np.nan  # alive at the horizon: censored there
    ev = ev[ev["kind"] != K.DEATH]
    row = patient_economics(ev, j, base_scenario(), [], (W0, H)).loc[7]
    assert row["life_years"] == pytest.approx(5.0, rel=1e-12)  # not the 100 days before W0


def test_time_on_a_drug_runs_from_its_start_to_the_next_progression() -> None:
    scenario = with_economics(base_scenario(), discount_rate=0.0)
    econ = scenario.economics
    assert econ is not None
    ssa = TREATMENTS.index("ssa")
    ev = pd.DataFrame(
        [
            (W0 + 0.1 * Y, 7, K.DIAGNOSIS, -1, 2),
            (W0 + 0.2 * Y, 7, K.TREATMENT_START, -1, ssa),
            (W0 + 1.2 * Y, 7, K.PROGRESSION, -1, 1),
            (W0 + 1.3 * Y, 7, K.TREATMENT_START, -1, TREATMENTS.index("best_supportive_care")),
            (W0 + 2.0 * Y, 7, K.DEATH, -1, 0),
        ],
        columns=["time", "patient", "kind", "resource", "code"],
    )
    _, j = one_patient()
    j.loc[7, "death_time"] = W0 + 2.0 * Y
    row = patient_economics(ev, j, scenario, [], (W0, H)).loc[7]
    assert row["cost_ssa"] == pytest.approx(econ.treatments["ssa"].per_month * Y / 30.44)
    assert row["cost_end_of_life"] == econ.unit_costs.end_of_life_nen_death
    u = econ.utilities
    assert row["qalys"] == pytest.approx(
        u["undiagnosed_symptomatic"] * 0.1
        + u["distant_awaiting_treatment"] * 0.1
        + u["on_ssa"] * 1.0
        + u["progressed"] * 0.1
        + u["best_supportive_care"] * 0.7
    )


# ---------------------------------------------------------------------------------------------
# A real (small) run
# ---------------------------------------------------------------------------------------------


@cache
def small_run() -> tuple[Scenario, RunResult, pd.DataFrame]:
    scenario, controls = make_scenario(scale=0.03, years=3, warmup_years=2, seed=99)
    result = simulate(scenario, 0, controls)
    return scenario, result, patient_journeys(result)


def test_costs_by_category_add_up_to_the_total_for_every_patient() -> None:
    scenario, result, j = small_run()
    ev = pd.DataFrame(result.events)
    pat = patient_economics(
        ev, j, scenario, result.resources, (result.warmup_days, result.horizon_days)
    )
    assert list(pat.columns) == PATIENT_COLUMNS
    assert len(pat) == len(j) > 100
    np.testing.assert_allclose(pat[CATEGORY_COLUMNS].sum(axis=1), pat["cost_total"], rtol=1e-12)
    assert (pat[CATEGORY_COLUMNS] >= 0).all().all()
    # not vacuous: most categories occur in a run of this size
    assert (pat[CATEGORY_COLUMNS].sum() > 0).sum() >= 15
    # and the yearly KPIs add up too, fixed costs included, England = sum of regions
    fixed = with_economics(scenario, fixed_costs_per_year={"campaign": 1_000_000.0})
    k = economic_kpis(fixed, result, j)
    parts = sum(k[f"cost_{c}_per_year"] for c in COST_CATEGORIES)
    assert k["cost_total_per_year"] == pytest.approx(parts, rel=1e-12)
    assert k["cost_fixed_per_year"] == pytest.approx(
        1_000_000.0
        * discounted_years(result.warmup_days, result.horizon_days, result.warmup_days, 0.035)
        / 3,
        rel=1e-12,
    )
    for name in ("cost_total_per_year", "qalys_discounted_per_year", "all_deaths_per_year"):
        regions = sum(k[f"{name}__{r}"] for r in REGIONS)
        assert k[name] == pytest.approx(regions, rel=1e-9), name
    for name in k:
        assert name.partition("__")[0] in KPIS, name


def unit_cost_changes(econ: Economics) -> list[tuple[str, Economics]]:
    uc = econ.unit_costs
    prrt = econ.treatments["prrt"]
    ssa = econ.treatments["ssa"]
    return [
        (
            "cost_gp",
            econ.model_copy(
                update={
                    "unit_costs": uc.model_copy(update={"gp_consultation": 2 * uc.gp_consultation})
                }
            ),
        ),
        (
            "cost_pet",
            econ.model_copy(
                update={"unit_costs": uc.model_copy(update={"ga68_pet": 2 * uc.ga68_pet})}
            ),
        ),
        (
            "cost_end_of_life",
            econ.model_copy(
                update={
                    "unit_costs": uc.model_copy(
                        update={"end_of_life_nen_death": 2 * uc.end_of_life_nen_death}
                    )
                }
            ),
        ),
        (
            "cost_prrt",
            econ.model_copy(
                update={
                    "treatments": {
                        **econ.treatments,
                        "prrt": prrt.model_copy(
                            update={
                                "per_cycle": 2 * prrt.per_cycle,
                                "drug_per_cycle": 2 * prrt.drug_per_cycle,
                            }
                        ),
                    }
                }
            ),
        ),
        (
            "cost_ssa",
            econ.model_copy(
                update={
                    "treatments": {
                        **econ.treatments,
                        "ssa": ssa.model_copy(update={"per_month": 2 * ssa.per_month}),
                    }
                }
            ),
        ),
    ]


@pytest.mark.parametrize("index", range(5))
def test_doubling_one_unit_cost_doubles_that_category_and_nothing_else(index: int) -> None:
    scenario, result, j = small_run()
    assert scenario.economics is not None
    column, econ = unit_cost_changes(scenario.economics)[index]
    ev = pd.DataFrame(result.events)
    window = (result.warmup_days, result.horizon_days)
    before = patient_economics(ev, j, scenario, result.resources, window)
    after = patient_economics(
        ev, j, scenario.model_copy(update={"economics": econ}), result.resources, window
    )
    assert before[column].sum() > 0  # the category occurs
    np.testing.assert_allclose(after[column], 2 * before[column], rtol=1e-12)
    others = [c for c in PATIENT_COLUMNS if c not in (column, "cost_total")]
    pd.testing.assert_frame_equal(after[others], before[others])
    np.testing.assert_allclose(
        after["cost_total"] - before["cost_total"], before[column], rtol=1e-9, atol=1e-6
    )


def test_a_confidential_discount_scales_only_the_drug_price() -> None:
    scenario, result, j = small_run()
    econ = scenario.economics
    assert econ is not None
    prrt = econ.treatments["prrt"]
    discounted = econ.model_copy(
        update={
            "treatments": {
                **econ.treatments,
                "prrt": prrt.model_copy(update={"drug_discount": 0.25}),
            }
        }
    )
    ev = pd.DataFrame(result.events)
    window = (result.warmup_days, result.horizon_days)
    a = patient_economics(ev, j, scenario, result.resources, window)["cost_prrt"].sum()
    b = patient_economics(
        ev, j, scenario.model_copy(update={"economics": discounted}), result.resources, window
    )["cost_prrt"].sum()
    share_drug = prrt.drug_per_cycle / (prrt.drug_per_cycle + prrt.per_cycle)
    assert a > 0 and b == pytest.approx(a * (1 - 0.25 * share_drug), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Comparison: an identical scenario, the ICER's interval and headline
# ---------------------------------------------------------------------------------------------


def test_a_scenario_identical_to_the_base_gives_zero_increments_with_zero_width_ci() -> None:
    base, controls = make_scenario(
        scale=0.02, years=2, warmup_years=1, replications=3, seed=7, workers=1
    )
    twin = base.model_copy(update={"name": "twin"})
    reps = run_experiment([base, twin], controls, None, progress=False).replications
    table = comparison_table(reps, base.name)
    for kpi in (
        "cost_total_per_year",
        "qalys_discounted_per_year",
        "all_deaths_per_year",
        "cost_prrt_per_year",
        "life_years_discounted_per_1000_diagnosed",
    ):
        row = table[(table["kpi"] == kpi) & (table["scenario"] == "twin")].iloc[0]
        assert row["mean"] > 0, kpi
        assert (row["diff_vs_base"], row["diff_ci_low"], row["diff_ci_high"]) == (0, 0, 0), kpi
    icer = icer_table(reps, base.name).set_index("scenario").loc["twin"]
    for c in (
        "d_qalys",
        "d_qalys_low",
        "d_qalys_high",
        "d_cost",
        "d_cost_low",
        "d_cost_high",
        "nmb_25000",
        "nmb_25000_low",
        "nmb_25000_high",
    ):
        assert icer[c] == 0, c
    assert icer["icer_note"].startswith("identical")
    assert "identical" in economic_headlines(reps, base.name)["twin"]


def test_icer_interval_from_a_seeded_bootstrap_and_in_words_when_it_crosses_infinity() -> None:
    dq = np.array([10.0, 12.0, 9.0, 11.0, 10.5, 9.5])
    dc = np.array([200_000.0, 260_000.0, 170_000.0, 230_000.0, 210_000.0, 190_000.0])
    row = icer_row(dc, dq)
    assert row["icer"] == pytest.approx(dc.mean() / dq.mean())
    assert row["icer_low"] < row["icer"] < row["icer_high"]
    assert icer_row(dc, dq) == row  # seeded: the same interval every time
    assert row["nmb_25000"] == pytest.approx(25_000 * dq.mean() - dc.mean())
    unsure = icer_row(dc, np.array([1.0, -2.0, 0.5, 1.5, -1.0, 0.2]))
    assert unsure["icer_low"] != unsure["icer_low"]  # NaN: no interval printed
    assert "crosses infinity" in unsure["icer_note"]
    cheap = icer_row(np.array([1e5, -2e5, 5e4, 1.5e5, -1e5, 2e4]), dq)
    assert "crosses zero" in cheap["icer_note"]
    table = icer_table(
        pd.DataFrame(
            {
                "scenario": ["a"] * 6 + ["b"] * 6,
                "replication": list(range(6)) * 2,
                "cost_total_per_year": [1e6] * 6 + list(1e6 + dc),
                "qalys_discounted_per_year": [100.0] * 6 + list(100 + dq),
            }
        ),
        "a",
    )
    assert list(table.columns) == ICER_COLUMNS
    line = economic_headlines(
        pd.DataFrame(
            {
                "scenario": ["a"] * 6 + ["b"] * 6,
                "replication": list(range(6)) * 2,
                "cost_total_per_year": [1e6] * 6 + list(1e6 + dc),
                "qalys_discounted_per_year": [100.0] * 6 + list(100 + dq),
            }
        ),
        "a",
    )["b"]
    assert "would gain 10.3 QALYs a year" in line and "per QALY gained" in line
    assert table.set_index("scenario").loc["b", "icer"] == pytest.approx(row["icer"])


def test_the_economics_table_must_cover_every_state_and_treatment() -> None:
    econ = base_scenario().economics
    assert econ is not None
    data = econ.model_dump()
    Economics.model_validate(data)  # complete: valid
    del data["utilities"]["progressed"]
    with pytest.raises(ValueError, match="progressed"):
        Economics.model_validate(data)
    data = econ.model_dump()
    del data["treatments"]["prrt"]
    with pytest.raises(ValueError, match="prrt"):
        Economics.model_validate(data)


# ---------------------------------------------------------------------------------------------
# Costs by region and the price year
# ---------------------------------------------------------------------------------------------


def test_every_cost_category_by_region_adds_up_to_england() -> None:
    scenario, result, j = small_run()
    fixed = with_economics(scenario, fixed_costs_per_year={"campaign": 1_000_000.0})
    k = economic_kpis(fixed, result, j)
    for c in COST_CATEGORIES:
        name = f"cost_{c}_per_year"
        assert k[name] == pytest.approx(sum(k[f"{name}__{r}"] for r in REGIONS), rel=1e-9), c
        assert all(f"cost_{c}_per_patient_diagnosed__{r}" in k for r in REGIONS), c
    # fixed costs are shared by population
    pop = scenario.population.region_population_millions
    share = pop["london"] / sum(pop[r] for r in REGIONS)
    assert k["cost_fixed_per_year__london"] == pytest.approx(share * k["cost_fixed_per_year"])
    # a region's per-person figure is its own total over its own diagnoses
    assert k["cost_surgery_per_patient_diagnosed__london"] > 0


def test_the_nhs_cost_inflation_index_by_hand() -> None:
    econ = base_scenario().economics
    assert econ is not None
    assert price_factor(econ) == 1.0  # report_price_year is the price year
    up = econ.model_copy(update={"report_price_year": "2024-25"})
    # 2021/22 -> 2024/25: the changes into 2022/23, 2023/24 and 2024/25 (7.32%, 2.47%, 4.02%)
    assert price_factor(up) == pytest.approx(1.0732 * 1.0247 * 1.0402, rel=1e-12)
    down = econ.model_copy(update={"report_price_year": "2019-20"})
    assert price_factor(down) == pytest.approx(1 / (1.0249 * 1.0258), rel=1e-12)


def test_uprating_to_another_price_year_scales_every_cost_and_no_qaly() -> None:
    scenario, result, j = small_run()
    econ = scenario.economics
    assert econ is not None
    up = with_economics(
        scenario,
        report_price_year="2024-25",
        fixed_costs_per_year={"campaign": 1_000_000.0},
    )
    same = with_economics(scenario, fixed_costs_per_year={"campaign": 1_000_000.0})
    f = 1.0732 * 1.0247 * 1.0402
    a, b = economic_kpis(same, result, j), economic_kpis(up, result, j)
    for name, value in a.items():
        if name.startswith("cost_"):
            assert b[name] == pytest.approx(f * value, rel=1e-9, nan_ok=True), name
        else:
            assert b[name] == value, name  # deaths, life-years and QALYs untouched


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"report_price_year": "2030-31"}, "needs cost_inflation_percent_by_year to cover 2030-31"),
        ({"report_price_year": "2024/25"}, "String should match pattern"),
        (
            {"cost_inflation_percent_by_year": {"2020-21": 2.0, "2022-23": 3.0}},
            "consecutive financial years",
        ),
        ({"cost_inflation_percent_by_year": {"2020-22": 2.0}}, "not a financial year"),
    ],
)
def test_a_bad_price_year_or_index_is_refused(changes: dict[str, Any], message: str) -> None:
    econ = base_scenario().economics
    assert econ is not None
    data = {**econ.model_dump(), **changes}
    with pytest.raises(ValueError, match=message):
        Economics.model_validate(data)


# ---------------------------------------------------------------------------------------------
# Age and sex utility norms
# ---------------------------------------------------------------------------------------------


def norms_on(scenario: Scenario, **changes: Any) -> Scenario:
    econ = scenario.economics
    assert econ is not None and econ.utility_norms is not None
    norms = econ.utility_norms.model_copy(update={"apply": True, **changes})
    return with_economics(scenario, utility_norms=norms)


def ara_brazier(age: float, male: bool) -> float:
    """The norm as the evidence table gives it [S180]."""
    return 0.9508566 + 0.0212126 * male - 0.0002587 * age - 0.0000332 * age**2


@pytest.mark.parametrize("rate", [0.035, 0.0])
@pytest.mark.parametrize(("age", "male"), [(70.0, True), (48.5, False)])
def test_norm_weighted_years_against_numerical_integration(
    rate: float, age: float, male: bool
) -> None:
    from scipy.integrate import quad

    norms = base_scenario().economics.utility_norms  # type: ignore[union-attr]
    ref = 0.5 * ara_brazier(65, True) + 0.5 * ara_brazier(65, False)
    a, b = W0 + 0.4 * Y, W0 + 6.2 * Y

    def m(x: float) -> float:
        return ara_brazier(age + x, male) / ref

    plain = quad(m, 0.4, 6.2)[0]
    disc = quad(lambda x: m(x) * (1 + rate) ** -x, 0.4, 6.2)[0]
    years, dyears = norm_weighted_years(a, b, W0, rate, age, male, norms)
    assert years == pytest.approx(plain, rel=1e-12)
    assert dyears == pytest.approx(disc, rel=1e-12)


def test_a_flat_norm_changes_nothing() -> None:
    norms = base_scenario().economics.utility_norms  # type: ignore[union-attr]
    flat = norms.model_copy(update={"male": 0.0, "age": 0.0, "age_squared": 0.0})  # type: ignore[union-attr]
    years, dyears = norm_weighted_years(W0 + 0.3 * Y, W0 + 4 * Y, W0, 0.035, 80.0, True, flat)
    assert years == pytest.approx(3.7, rel=1e-12)
    assert dyears == pytest.approx(discounted_years(W0 + 0.3 * Y, W0 + 4 * Y, W0, 0.035), rel=1e-12)


def test_age_sex_norms_on_a_known_life_course_by_hand() -> None:
    from scipy.integrate import quad

    scenario = norms_on(with_economics(base_scenario(), discount_rate=0.035))
    econ = scenario.economics
    assert econ is not None
    ev, j = one_patient()
    # a woman aged 59.7 at onset, 100 days before the window: 59.7 + 100 / 365.25 at its start
    j["age_at_onset"] = [59.7]
    j["female"] = [True]
    row = patient_economics(ev, j, scenario, [], (W0, H)).loc[7]
    age0 = 59.7 + 100 / Y
    ref = 0.5 * ara_brazier(65, True) + 0.5 * ara_brazier(65, False)

    def q(u: float, x0: float, x1: float, rate: float) -> float:
        return u * quad(lambda x: ara_brazier(age0 + x, False) / ref * (1 + rate) ** -x, x0, x1)[0]

    u = econ.utilities
    assert row["qalys_discounted"] == pytest.approx(
        q(u["undiagnosed_symptomatic"], 0, 1, 0.035) + q(u["not_distant"], 1, 3.5, 0.035),
        rel=1e-10,
    )
    assert row["qalys"] == pytest.approx(
        q(u["undiagnosed_symptomatic"], 0, 1, 0) + q(u["not_distant"], 1, 3.5, 0), rel=1e-10
    )
    # a woman near 60 is above the norm of a 65-year-old population, so she gains
    plain = patient_economics(ev, j, with_economics(base_scenario()), [], (W0, H)).loc[7]
    assert row["qalys"] > plain["qalys"]
    # life-years and costs are not utilities
    same = [c for c in PATIENT_COLUMNS if not c.startswith("qalys")]
    pd.testing.assert_series_equal(row[same], plain[same])


def test_norms_change_only_the_qalys_of_a_run() -> None:
    scenario, result, j = small_run()
    a = economic_kpis(scenario, result, j)
    b = economic_kpis(norms_on(scenario), result, j)
    for name, value in a.items():
        if "qalys" in name:
            assert b[name] != value, name
        else:
            assert b[name] == value, name
    # an older population than the reference loses QALYs on average
    assert (
        j["age_at_onset"].mean() > 60
        and b["qalys_discounted_per_year"] < a["qalys_discounted_per_year"]
    )


def test_the_methods_state_the_price_year_and_the_uprating() -> None:
    from sim.calibration.inputs import flatten
    from sim.reporting.economics_report import methods_html

    econ = base_scenario().economics
    assert econ is not None
    data = econ.model_dump(mode="json")

    def page(e: dict[str, Any]) -> str:
        return methods_html(
            ["a"], {"a": {"economics": e}}, {}, flatten, lambda k, s: "", lambda n: n
        )

    assert "GBP, 2021-22 prices;" in page(data)
    up = page({**data, "report_price_year": "2024-25"})
    assert "GBP, 2024-25 prices: every cost, stated in 2021-22 prices, uprated" in up
    assert "(x 1.1439)" in up
    assert "not adjusted for age and sex" in page(data)


def test_yearly_budget_adds_up_to_the_undiscounted_window_cost() -> None:
    """The budget impact KPIs: each measured year's undiscounted cost; together they are the
    window's undiscounted cost (3 whole years here), fixed costs included; none beyond it."""
    scenario, result, j = small_run()
    fixed = with_economics(scenario, fixed_costs_per_year={"campaign": 1_000_000.0})
    k = economic_kpis(fixed, result, j, rate=0.0)
    years = [k[f"cost_year_{i}"] for i in (1, 2, 3)]
    assert "cost_year_4" not in k and "cost_year_5" not in k
    assert sum(years) == pytest.approx(3 * k["cost_total_per_year"], rel=1e-9)
    assert all(y > 1_000_000.0 for y in years)
    # Undiscounted whatever the scenario's rate: the budget is paid in nominal amounts.
    assert economic_kpis(fixed, result, j)["cost_year_2"] == k["cost_year_2"]
