"""Clinical invariants of the course after diagnosis (sim/model/disease.py,
sim/model/treatment.py).

Each would catch a clinically absurd result: earlier diagnosis bringing death forward, cured
patients dying of their NEN, PRRT without SSTR imaging or a specialist MDT, a failed line given
again.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sim.core.events import EventKind as K
from sim.measures.kpis import patient_journeys
from sim.model.disease import linked_uniform, specialist_care, start_care, update_death
from sim.model.natural_history import DiseaseClock
from sim.model.simulation import simulate
from sim.model.treatment import begin_line
from sim.scenario.schema import GRADES, TREATMENTS
from tests.helpers import fixed, make_scenario

days = st.floats(0.0, 20_000.0)


def _death(
    t_distant: float, survival: float, untreated: float, changes: list[tuple[float, float]]
) -> float:
    """NEN death for rate changes ``(time, rate)`` applied in time order."""
    clock = DiseaseClock(survival, 1.0 / untreated)
    for t, rate in sorted(changes, key=lambda change: change[0]):
        clock.set_rate(t, rate, t_distant)
    return clock.death(t_distant)


@given(
    t_distant=days,
    survival=st.floats(1.0, 10_000.0),
    untreated=st.floats(0.05, 1.0),
    hr=st.floats(0.05, 1.0),
    care=st.tuples(days, days),
    specialist=st.tuples(days, days),
)
def test_earlier_care_never_brings_nen_death_forward(
    t_distant: float,
    survival: float,
    untreated: float,
    hr: float,
    care: tuple[float, float],
    specialist: tuple[float, float],
) -> None:
    """Care (rate 1) and specialist care (rate hr) starting earlier, each no later than in the
    other course, never bring NEN death forward."""
    c_early, c_late = sorted(care)
    s_early, s_late = sorted(specialist)
    early = _death(t_distant, survival, untreated, [(c_early, 1.0), (max(c_early, s_early), hr)])
    late = _death(t_distant, survival, untreated, [(c_late, 1.0), (max(c_late, s_late), hr)])
    assert early >= late - 1e-6


@given(t_distant=days, survival=st.floats(1.0, 10_000.0), untreated=st.floats(0.05, 1.0))
def test_untreated_disease_dies_after_its_untreated_survival(
    t_distant: float, survival: float, untreated: float
) -> None:
    assert _death(t_distant, survival, untreated, []) == pytest.approx(
        t_distant + untreated * survival
    )


@given(
    u_s=st.floats(1e-9, 1 - 1e-9),
    v=st.floats(1e-9, 1 - 1e-9),
    w=st.floats(1e-9, 1 - 1e-9),
    rho=st.floats(0.0, 0.99),
)
def test_a_shorter_survival_never_gives_a_longer_progression_free_time(
    u_s: float, v: float, w: float, rho: float
) -> None:
    """The copula ties each line's PFS uniform to the survival uniform: monotone in both, and
    the identity at rho = 0."""
    lo, hi = sorted((u_s, v))
    assert linked_uniform(lo, w, rho) <= linked_uniform(hi, w, rho) + 1e-12
    assert linked_uniform(u_s, min(v, w), rho) <= linked_uniform(u_s, max(v, w), rho) + 1e-12
    assert linked_uniform(u_s, w, 0.0) == w


def test_linked_uniforms_are_uniform_and_correlated() -> None:
    """Whatever rho, the linked uniform is uniform (each line keeps its published PFS), and its
    rank correlation with survival is the Gaussian copula's 6/pi asin(rho/2)."""
    rng = np.random.default_rng(5)
    u_s, own = rng.random(20_000), rng.random(20_000)
    for rho in (0.3, 0.8):
        linked = np.array([linked_uniform(a, b, rho) for a, b in zip(u_s, own, strict=True)])
        assert stats.kstest(linked, "uniform").pvalue > 0.001
        spearman = stats.spearmanr(u_s, linked).statistic
        assert spearman == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=0.02)


def test_the_clock_by_hand() -> None:
    # Care from before spread: the whole reference survival at rate 1.
    assert _death(100.0, 1000.0, 0.7, [(50.0, 1.0)]) == pytest.approx(1100.0)
    # ... and specialist care from day 50 too: 1000 / 0.8 days.
    assert _death(100.0, 1000.0, 0.7, [(50.0, 1.0), (50.0, 0.8)]) == pytest.approx(1350.0)
    # Care from day 170: 70 untreated days use 100 days of survival; 900 left at rate 1.
    assert _death(100.0, 1000.0, 0.7, [(170.0, 1.0)]) == pytest.approx(1070.0)
    # Specialist care from day 570 (not backdated): 470 used by then, 530 left at rate 0.8.
    assert _death(100.0, 1000.0, 0.7, [(50.0, 1.0), (570.0, 0.8)]) == pytest.approx(1232.5)
    # Never spreads: never kills.
    assert _death(float("inf"), 1000.0, 0.7, [(50.0, 1.0)]) == float("inf")


# ---------------------------------------------------------------------------------------------
# Lead time: the same patients (common random numbers), diagnosed earlier in scenario B
# ---------------------------------------------------------------------------------------------


def _ample_after_diagnosis() -> dict[str, Any]:
    """Post-diagnosis care with no queue and no resource-stream draw, so every patient's care
    after diagnosis depends only on their own uniforms and when they are diagnosed; and no
    resection at presentation (care there would precede diagnosis)."""
    sessions = {
        "slots_per_session": 100000,
        "cancel_probability": 0.0,
        "results_cutoff_days": 0.0,
    }
    return {
        "presentation": {
            "resected_at_presentation": {
                "incidental": {"default": 0.0},
                "emergency": {"default": 0.0},
            },
        },
        "resources": {
            "specialist_mdt": sessions,
            "local_mdt": sessions,
            "pet": {"kind": "delay", "wait_days": fixed(4.0)},
            "histopathology": {"servers": 100000},
            "surgery": {"kind": "delay", "wait_days": fixed(14.0)},
            "prrt": {"kind": "delay", "wait_days": fixed(7.0)},
        },
    }


def _faster_diagnosis() -> dict[str, Any]:
    overlay = _ample_after_diagnosis()
    overlay["presentation"]["gp"] = {
        "first_consultation": {
            "misattributed": 0.0,
            "primary_care_tests": 0.0,
            "urgent_referral": 1.0,
            "routine_referral": 0.0,
        },
        "repeat_consultation": {
            "misattributed": 0.0,
            "primary_care_tests": 0.0,
            "urgent_referral": 1.0,
            "routine_referral": 0.0,
        },
    }
    overlay["diagnostics"] = {
        "urgent_first_seen_days": fixed(1.0),
        "workup_detection_probability_by_site": {"default": 1.0},
    }
    return overlay


def _deaths(overlay: dict[str, Any]) -> pd.DataFrame:
    scenario, controls = make_scenario(overlay, scale=0.03, years=6.0, warmup_years=0.0, seed=7)
    j = patient_journeys(simulate(scenario, 0, controls))
    j = j[j["diagnosis_time"].notna()]
    return j[["diagnosis_time", "stage_at_diagnosis", "death_time"]].fillna({"death_time": np.inf})


def test_earlier_diagnosis_at_the_same_stage_never_brings_death_forward() -> None:
    slow = _deaths(_ample_after_diagnosis())
    fast = _deaths(_faster_diagnosis())
    both = slow.add_suffix("_slow").join(fast.add_suffix("_fast"), how="inner")
    same = both[
        (both["stage_at_diagnosis_slow"] == both["stage_at_diagnosis_fast"])
        & (both["diagnosis_time_fast"] < both["diagnosis_time_slow"])
    ]
    assert len(same) > 200  # the comparison has patients to compare
    died_slow = same[np.isfinite(same["death_time_slow"])]
    assert len(died_slow) > 20
    earlier = same["death_time_fast"] < same["death_time_slow"] - 1e-6
    assert not earlier.any(), same[earlier].head()
    # ... and the faster pathway does move diagnoses earlier for many of them
    assert (same["diagnosis_time_slow"] - same["diagnosis_time_fast"]).median() > 7


# ---------------------------------------------------------------------------------------------
# Treatment history, cure, PRRT access: one run of current practice
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run() -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    scenario, controls = make_scenario(None, scale=0.05, years=8.0, warmup_years=2.0, seed=3)
    result = simulate(scenario, 0, controls)
    ev = pd.DataFrame(result.events)
    return ev[ev["patient"] >= 0], patient_journeys(result), result


def test_nobody_cured_dies_of_their_nen_without_a_recurrence(run: Any) -> None:
    pe, _, _ = run
    curative = [
        TREATMENTS.index(t) for t in ("surgery_curative", "endoscopic_resection", "transplant")
    ]
    resected = set(pe.loc[(pe["kind"] == K.TREATMENT_START) & pe["code"].isin(curative), "patient"])
    nen_death = pe[(pe["kind"] == K.DEATH) & (pe["code"] == 0)].set_index("patient")["time"]
    recurred = pe[pe["kind"] == K.RECURRENCE].groupby("patient")["time"].min()
    died = nen_death[nen_death.index.isin(resected)]
    assert len(died) > 5  # resected patients do die of recurrences
    when = recurred.reindex(died.index)
    assert (when <= died).all(), died[~(when <= died)].head()


def test_no_option_is_given_twice_unless_repeatable(run: Any) -> None:
    pe, _, _ = run
    scenario, _ = make_scenario(None)
    repeatable = {
        TREATMENTS.index(n) for n, o in scenario.treatment.options.items() if o.repeatable
    }
    starts = pe[(pe["kind"] == K.TREATMENT_START) & ~pe["code"].isin(repeatable)]
    counts = starts.groupby(["patient", "code"]).size()
    assert (counts == 1).all(), counts[counts > 1].head()
    assert len(starts["patient"].unique()) > 100


def test_prrt_only_after_sstr_imaging_and_a_specialist_mdt(run: Any) -> None:
    pe, j, result = run
    prrt = TREATMENTS.index("prrt")
    first_prrt = pe[(pe["kind"] == K.TREATMENT_START) & (pe["code"] == prrt)]
    first_prrt = first_prrt.groupby("patient")["time"].min()
    assert len(first_prrt) > 10
    rid = {r.rid: r.base for r in result.resources}
    served = pe[pe["kind"] == K.SERVICE_START]
    base = served["resource"].map(rid)
    pet = served[base == "pet"].groupby("patient")["time"].min()
    spec = served[base == "specialist_mdt"].groupby("patient")["time"].min()
    assert (pet.reindex(first_prrt.index) <= first_prrt).all()
    assert (spec.reindex(first_prrt.index) <= first_prrt).all()
    patients = j.loc[first_prrt.index]
    assert patients["sstr_positive"].astype(bool).all()
    assert patients["grade"].isin(["G1", "G2"]).all()


def test_prrt_only_after_progression_on_ssa(run: Any) -> None:
    """NETTER-1's population and NICE TA539's: progression on a somatostatin analogue first
    (before the clinical review, 40% of PRRT came straight after debulking or embolisation)."""
    pe, _, _ = run
    starts = pe[pe["kind"] == K.TREATMENT_START]
    first = {
        name: starts[starts["code"] == TREATMENTS.index(name)].groupby("patient")["time"].min()
        for name in ("prrt", "ssa")
    }
    prrt = first["prrt"]
    assert len(prrt) > 10
    before = first["ssa"].reindex(prrt.index) < prrt
    assert before.all(), prrt[~before].head()


def test_targeted_drugs_only_for_progressive_disease(run: Any) -> None:
    """NICE TA449: everolimus and sunitinib for progressive disease, so never before the
    patient's first progression (before the clinical review, everolimus was given at diagnosis
    of SSTR-negative spread GI and lung NETs)."""
    pe, _, _ = run
    drugs = [TREATMENTS.index(t) for t in ("everolimus", "sunitinib")]
    starts = pe[(pe["kind"] == K.TREATMENT_START) & pe["code"].isin(drugs)]
    first = starts.groupby("patient")["time"].min()
    assert len(first) > 10
    progressed = pe[pe["kind"] == K.PROGRESSION].groupby("patient")["time"].min()
    before = progressed.reindex(first.index) < first
    assert before.all(), first[~before].head()


def test_a_nen_death_follows_a_progression() -> None:
    """A NEN death more than a post-progression survival (here fixed at 180 days) after the
    start of a patient's first line for spread disease comes after a progression found since
    (before the post-progression survival was modelled, a third of the progression-free
    events on PRRT and a sixth on SSA were NEN deaths)."""
    gap = 180.0
    overlay = {"survival": {"post_progression_survival_days": {g: fixed(gap) for g in GRADES}}}
    scenario, controls = make_scenario(overlay, scale=0.05, years=8.0, warmup_years=2.0, seed=5)
    result = simulate(scenario, 0, controls)
    ev = pd.DataFrame(result.events)
    pe = ev[ev["patient"] >= 0]
    j = patient_journeys(result)
    distant = j.index[j["true_stage_at_diagnosis"] == "distant"]
    untreated = [TREATMENTS.index(n) for n, o in scenario.treatment.options.items() if o.curative]
    untreated.append(TREATMENTS.index("best_supportive_care"))
    starts = pe[(pe["kind"] == K.TREATMENT_START) & pe["patient"].isin(distant)]
    first = starts.groupby("patient").first()
    first = first[~first["code"].isin(untreated)]
    death = pe[(pe["kind"] == K.DEATH) & (pe["code"] == 0)].set_index("patient")["time"]
    death = death.reindex(first.index)
    late = death > first["time"] + gap
    assert late.sum() > 100
    progressions = pe[pe["kind"] == K.PROGRESSION]
    progressions = progressions[progressions["patient"].isin(first.index[late])]
    after = progressions["time"].to_numpy() >= first["time"].reindex(progressions["patient"])
    found = progressions[after.to_numpy()].groupby("patient")["time"].min()
    ok = found.reindex(first.index[late]) < death[late]
    assert ok.all(), first[late][~ok.to_numpy()].head()


def test_high_grade_tumours_are_never_watched_or_removed_endoscopically(run: Any) -> None:
    """G3 NETs and NECs are resected or treated: no watchful waiting, and no endoscopic
    resection planned after diagnosis (a polypectomy that found one is not a plan)."""
    pe, j, _ = run
    high = j.index[j["grade"].isin(["G3", "NEC"])]
    starts = pe[(pe["kind"] == K.TREATMENT_START) & pe["patient"].isin(high)]
    assert len(starts["patient"].unique()) > 50
    watched = starts["code"] == TREATMENTS.index("watchful_waiting")
    assert not watched.any(), starts[watched].head()
    diagnosed = j["diagnosis_time"].reindex(starts["patient"]).to_numpy()
    endoscopic = (starts["code"] == TREATMENTS.index("endoscopic_resection")) & (
        starts["time"].to_numpy() > diagnosed
    )
    assert not endoscopic.any(), starts[endoscopic].head()


def test_an_unknown_primary_is_never_localised(run: Any) -> None:
    """An unknown primary is found through its spread: no localised stage at onset or at
    diagnosis (before the clinical review, 20% were localised and some "cured")."""
    _, j, _ = run
    unknown = j[j["site"] == "unknown_primary"]
    assert len(unknown) > 20
    assert (unknown["stage_at_onset"] != 0).all()
    assert not (unknown["true_stage_at_diagnosis"] == "localised").any()


def test_appendix_and_localised_tumours_rarely_reach_prrt(run: Any) -> None:
    _, j, _ = run
    prrt = j[j["prrt_start_time"].notna()]
    # Before the clinical-course model: 32% appendix and 48% localised at diagnosis. The bounds
    # leave room for sampling noise (about 50 PRRT patients here); the calibration report
    # checks the England figures against tighter plausibility ranges.
    assert (prrt["site"] == "appendix").mean() < 0.15
    assert (prrt["stage_at_diagnosis"] == "localised").mean() < 0.3


# ---------------------------------------------------------------------------------------------
# What care does to the clock, by hand
# ---------------------------------------------------------------------------------------------


def _patient(grade: str, specialist: bool, untreated: float = 1.0) -> SimpleNamespace:
    """Distant from day 0 with 1000 days of survival under care; until care starts the clock
    runs at 1 / ``untreated`` (the untreated-survival factor)."""
    p = SimpleNamespace(
        grade=GRADES.index(grade),
        specialist=specialist,
        care_start=float("inf"),
        care_specialist=False,
        clock=DiseaseClock(1000.0, 1.0 / untreated),
        t_distant=0.0,
        t_other_death=float("inf"),
        given=0,
        treatment="",
        line_start=float("inf"),
        line=1,
    )
    update_death(p)  # type: ignore[arg-type]
    return p


class _Ctx:
    def __init__(self) -> None:
        self.scenario, _ = make_scenario(None)
        self.recorded: list[tuple[Any, ...]] = []

    def record(self, *args: Any, **kwargs: Any) -> None:
        self.recorded.append(args)

    def u(self, purpose: str, p: Any, j: int = 0) -> float:
        return 0.5


@pytest.mark.parametrize("name", ["watchful_waiting", "best_supportive_care"])
def test_watching_or_supportive_care_leaves_the_disease_untreated(name: str) -> None:
    ctx = _Ctx()
    p = _patient("G3", specialist=True, untreated=0.5)
    untreated_death = p.death
    assert untreated_death == pytest.approx(500.0)
    begin_line(ctx, p, name, 100.0)  # type: ignore[arg-type]
    assert p.care_start == float("inf")
    assert p.death == untreated_death
    begin_line(ctx, p, "captem", 300.0)  # type: ignore[arg-type]
    # care from day 300: 600 days of survival used by then, 400 left at the cared-for rate
    assert p.care_start == 300.0 and p.death == pytest.approx(700.0)


def test_a_specialist_mdt_changes_nec_survival_not_at_all() -> None:
    """The centre effect's sources are GEP-NET and pNET cohorts: none for NEC."""
    survival = make_scenario(None)[0].survival
    deaths = {}
    for grade in ("G2", "NEC"):
        p = _patient(grade, specialist=False)
        start_care(p, 100.0, survival)  # type: ignore[arg-type]
        specialist_care(p, 200.0, survival)  # type: ignore[arg-type]
        deaths[grade] = p.death
    assert deaths["NEC"] == pytest.approx(1000.0)
    hr = survival.specialist_care_hazard_ratio["G2"]
    assert hr < 1 and deaths["G2"] == pytest.approx(200.0 + 800.0 / hr)
