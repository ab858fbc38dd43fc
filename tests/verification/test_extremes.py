"""Extreme values: the model must degrade to the obvious answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.core.events import EventKind as K
from sim.measures.kpis import patient_journeys, replication_kpis
from sim.model.simulation import simulate
from sim.scenario.schema import GRADES, REGIONS, SITES, STAGES
from tests.helpers import make_scenario

RUN = {"years": 1.5, "warmup_years": 0.5}


def _events(result) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return pd.DataFrame(result.events)


def test_zero_incidence_gives_an_empty_log_of_patients() -> None:
    scenario, controls = make_scenario({"population": {"incidence_per_year": 0.0}}, **RUN)
    result = simulate(scenario, 0, controls)
    assert len(result.patients["patient"]) == 0
    assert (result.events["patient"] < 0).all()  # only sessions are recorded
    kinds = set(result.events["kind"].tolist())
    assert kinds <= {K.SESSION_START, K.SESSION_END, K.SESSION_CANCELLED}


def test_all_incidental_routes_give_no_gp_consultations() -> None:
    overlay = {
        "population": {"men1_share": 0.0},
        "presentation": {
            "symptomatic_share_by_site": {s: 0.0 for s in SITES},
            "emergency_rate_per_year_by_stage": {s: 0.0 for s in STAGES},
            "incidental_rate_per_year_by_site": {s: 5.0 for s in SITES},
            "terminal_presentation_fraction": 1.0,
            "distant_symptom_interval_days": {"dist": "fixed", "value": 1e7},
        },
    }
    scenario, controls = make_scenario(overlay, **RUN)
    result = simulate(scenario, 0, controls)
    ev = _events(result)
    assert len(result.patients["patient"]) > 100
    assert not (ev["kind"] == K.GP_CONSULTATION).any()
    pres = ev[ev["kind"] == K.PRESENTATION]
    assert (pres["code"] == 2).all()  # incidental


def test_ample_capacity_gives_no_queueing() -> None:
    overlay = {
        "resources": {
            "histopathology": {"servers": 100000},
            **{
                name: {"slots_per_session": 100000, "cancel_probability": 0.0}
                for name in ("local_mdt", "specialist_mdt", "pet", "surgery", "prrt")
            },
        }
    }
    scenario, controls = make_scenario(overlay, **RUN)
    result = simulate(scenario, 0, controls)
    ev = _events(result)
    names = {r.rid: r for r in result.resources}
    spec = scenario.resources
    for rid, info in names.items():
        sub = ev[(ev["resource"] == rid) & ev["kind"].isin([K.QUEUE_JOIN, K.SERVICE_START])]
        joins = sub[sub["kind"] == K.QUEUE_JOIN]
        starts = sub[sub["kind"] == K.SERVICE_START]
        if info.kind == "servers":
            # Every case starts service the moment it joins.
            pairs = joins.merge(starts, on="patient", suffixes=("_j", "_s"))
            assert np.allclose(pairs["time_s"], pairs["time_j"])
            continue
        sessions = getattr(spec, info.base)
        held = np.sort(ev[(ev["resource"] == rid) & (ev["kind"] == K.SESSION_START)]["time"])
        # A case is taken at the first session held at or after listing + cut-off: no rolling.
        for _, row in joins.iterrows():
            ready = row["time"] + sessions.results_cutoff_days
            later = held[held >= ready - 1e-9]
            first = later[0] if len(later) else None
            served = starts[(starts["patient"] == row["patient"]) & (starts["time"] >= row["time"])]
            if first is None or len(served) == 0:
                continue
            assert served["time"].iloc[0] == first


def test_zero_specialist_slots_nobody_discussed_there() -> None:
    overlay = {"resources": {"specialist_mdt": {"slots_per_session": 0}}}
    scenario, controls = make_scenario(overlay, **RUN)
    result = simulate(scenario, 0, controls)
    j = patient_journeys(result)
    assert j["specialist_mdt_listed_time"].notna().sum() > 10
    assert j["specialist_mdt_time"].isna().all()


def test_everyone_to_specialist_mdt_when_referral_is_certain() -> None:
    overlay = {"mdt": {"specialist_referral_probability_by_region": {r: 1.0 for r in REGIONS}}}
    scenario, controls = make_scenario(overlay, **RUN)
    result = simulate(scenario, 0, controls)
    j = patient_journeys(result)
    decided = j[j["decision_to_treat_time"].notna()]
    assert len(decided) > 100
    # Every first decision to treat after diagnosis follows a specialist NET MDT discussion;
    # a tumour resected when it was found (appendicectomy, polypectomy) is discussed there after
    # its histology.
    after = decided[decided["decision_to_treat_time"] >= decided["diagnosis_time"]]
    assert len(after) > 50
    assert (after["specialist_mdt_time"] <= after["decision_to_treat_time"]).all()
    resected = decided[
        (decided["decision_to_treat_time"] < decided["diagnosis_time"])
        & (decided["diagnosis_time"] < result.horizon_days - 120)  # time for PET and the MDT
    ]
    seen = resected["specialist_mdt_time"].notna() | resected["death_time"].notna()
    assert len(resected) > 0 and seen.mean() > 0.9


def test_spread_missed_by_ct_counts_as_spread_before_diagnosis() -> None:
    """CT/MRI misses every distant spread and no one has PET: registry stage shows almost no
    distant disease, but the true-stage KPI (which spread_before_diagnosis_per_year uses)
    still counts it, so better staging is never mistaken for more spread disease."""
    overlay = {
        "diagnostics": {
            "ct_misses_distant_probability": 1.0,
            "pet_share_by_grade": {g: 0.0 for g in GRADES},
        }
    }
    scenario, controls = make_scenario(overlay, **RUN)
    k = replication_kpis(simulate(scenario, 0, controls))
    # Only tumours resected at presentation are staged distant (from the specimen).
    assert k["stage_distant_at_diagnosis_share"] < 0.05
    assert k["spread_at_diagnosis_share"] > k["stage_distant_at_diagnosis_share"] + 0.1
