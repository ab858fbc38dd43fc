"""A deterministic run: fixed durations, ample capacity, one route. Every milestone must equal
the hand-computed sum of the fixed durations, and MDT dates the calendar's next meeting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from sim.measures.kpis import patient_journeys
from sim.model.simulation import simulate
from sim.scenario.schema import GRADES, REGIONS, SITES, STAGES
from tests.helpers import fixed, make_scenario

PATIENT_INTERVAL, FIRST_SEEN, IMAGING, BLOODS, ENDOSCOPY = 100, 10, 7, 3, 12
BIOPSY, HISTOLOGY, PET, DECISION, SSA_START = 5, 4, 6, 2, 3
ENDOSCOPY_SITES = ["stomach", "rectum", "colon"]


def deterministic_overlay() -> dict[str, Any]:
    never = {"dist": "fixed", "value": 1e7}
    return {
        "population": {"men1_share": 0.0},
        "presentation": {
            "symptomatic_share_by_site": {s: 1.0 for s in SITES},
            "patient_interval_days": fixed(PATIENT_INTERVAL),
            "distant_symptom_interval_days": never,
            "patient_interval_multiplier_by_grade": {g: 1.0 for g in GRADES},
            "emergency_rate_per_year_by_stage": {s: 0.0 for s in STAGES},
            "incidental_rate_per_year_by_site": {s: 0.0 for s in SITES},
            "gp": {
                "first_consultation": {
                    "misattributed": 0.0,
                    "primary_care_tests": 0.0,
                    "urgent_referral": 1.0,
                    "routine_referral": 0.0,
                }
            },
        },
        "diagnostics": {
            "urgent_first_seen_days": fixed(FIRST_SEEN),
            "imaging_wait_days": fixed(IMAGING),
            "bloods_turnaround_days": fixed(BLOODS),
            "endoscopy_wait_days": fixed(ENDOSCOPY),
            "endoscopy_sites": ENDOSCOPY_SITES,
            "workup_detection_probability_by_site": {s: 1.0 for s in SITES},
            "biopsy_wait_days": fixed(BIOPSY),
            "biopsy_nondiagnostic_probability": 0.0,
            "echocardiogram_sites": [],
            "pet_share_by_grade": {g: 1.0 for g in GRADES},
        },
        "mdt": {
            "specialist_referral_probability_by_region": {r: 1.0 for r in REGIONS},
            "local_mdt_first_probability": 0.0,
            "outcome_to_decision_days": fixed(DECISION),
        },
        "resources": {
            "histopathology": {
                "kind": "servers",
                "scope": "region",
                "servers": 100000,
                "service_days": fixed(HISTOLOGY),
            },
            "pet": {"kind": "delay", "wait_days": fixed(PET)},
            "specialist_mdt": {
                "slots_per_session": 100000,
                "results_cutoff_days": 0,
                "cancel_probability": 0.0,
                "skip_bank_holidays": False,
                "sessions": [{"weekday": "tue", "hour": 13.0}],
            },
        },
        "treatment": {
            "first_line": [{"choose": {"ssa": 1.0}}],
            "options": {"ssa": {"start_days": fixed(SSA_START), "progression_free_days": never}},
        },
        "survival": {
            "distant_survival_days": {g: never for g in GRADES},
            "other_cause_modal_age_years": 400.0,
        },
    }


def next_tuesday_1pm(start: dt.date, t: float) -> float:
    """Independent of sim.core.calendar: walk forward hour by hour on real dates."""
    origin = dt.datetime.combine(start, dt.time())
    when = origin + dt.timedelta(days=t)
    cand = when.replace(minute=0, second=0, microsecond=0)
    if cand < when:
        cand += dt.timedelta(hours=1)
    while not (cand.weekday() == 1 and cand.hour == 13):
        cand += dt.timedelta(hours=1)
    return (cand - origin).total_seconds() / 86400


@pytest.fixture(scope="module")
def journeys():  # type: ignore[no-untyped-def]
    scenario, controls = make_scenario(
        deterministic_overlay(), scale=0.02, years=1.5, warmup_years=0
    )
    result = simulate(scenario, 0, controls)
    return scenario, patient_journeys(result)


def test_everyone_takes_the_urgent_gp_route(journeys) -> None:  # type: ignore[no-untyped-def]
    _, j = journeys
    assert len(j) > 50
    assert (j["route"] == "gp").all()
    assert (j["gp_consultations"] == 1).all()
    assert (j["first_presentation_time"] - j["onset_time"]).to_numpy() == pytest.approx(
        PATIENT_INTERVAL
    )


def test_diagnosis_time_is_the_sum_of_fixed_waits(journeys) -> None:  # type: ignore[no-untyped-def]
    _, j = journeys
    d = j[j["diagnosis_time"].notna()]
    tests = np.where(
        d["site"].isin(ENDOSCOPY_SITES), max(IMAGING, BLOODS, ENDOSCOPY), max(IMAGING, BLOODS)
    )
    expected = d["referral_time"] + FIRST_SEEN + tests + BIOPSY + HISTOLOGY
    assert d["diagnosis_time"].to_numpy() == pytest.approx(expected.to_numpy())
    assert (d["referral_time"] == d["first_presentation_time"]).all()


def test_mdt_is_next_tuesday_and_treatment_follows(journeys) -> None:  # type: ignore[no-untyped-def]
    scenario, j = journeys
    d = j[j["first_treatment_time"].notna()]
    assert len(d) > 50
    listed = d["diagnosis_time"] + PET
    assert d["specialist_mdt_listed_time"].to_numpy() == pytest.approx(listed.to_numpy())
    expected_mdt = [next_tuesday_1pm(scenario.start_date, t) for t in listed]
    assert d["specialist_mdt_time"].to_numpy() == pytest.approx(expected_mdt, abs=1e-6)
    assert (d["decision_to_treat_time"] - d["specialist_mdt_time"]).to_numpy() == pytest.approx(
        DECISION
    )
    assert (d["first_treatment_time"] - d["decision_to_treat_time"]).to_numpy() == pytest.approx(
        SSA_START
    )
    assert (d["first_treatment"] == "ssa").all()
