"""KPI functions on a hand-written event log, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core.events import EventKind as K
from sim.measures.kpis import (
    REFERRAL_TYPES,
    RESOURCE_COLUMNS,
    backlog_series,
    events_frame,
    patient_journeys,
    replication_kpis,
    resource_utilisation,
)
from sim.model.simulation import ResourceInfo, RunResult, simulate
from sim.scenario.schema import REGIONS, ROUTES, SITES, TREATMENTS, RunControls, Scenario

HORIZON = 800.0
YEARS = HORIZON / 365.25
GP, EMERGENCY = ROUTES.index("gp"), ROUTES.index("emergency")
URGENT, EMERG = REFERRAL_TYPES.index("urgent"), REFERRAL_TYPES.index("emergency")
SSA, SURGERY = TREATMENTS.index("ssa"), TREATMENTS.index("surgery_curative")
LONDON, NW = REGIONS.index("london"), REGIONS.index("north_west")

RESOURCES = [
    ResourceInfo(0, "specialist_mdt.london", "specialist_mdt", "london", "sessions", 10, 1),
    ResourceInfo(1, "local_mdt.north_west", "local_mdt", "north_west", "sessions", None, 1),
    ResourceInfo(2, "specialist_mdt.north_west", "specialist_mdt", "north_west", "sessions", 10, 1),
]

EVENTS = [
    # patient 0: GP route, misattributed once, urgent referral, distant, specialist MDT
    (10, 0, K.PRESENTATION, -1, GP),
    (10, 0, K.GP_CONSULTATION, 0, 0),
    (40, 0, K.GP_CONSULTATION, -1, 2),
    (40, 0, K.REFERRAL, -1, URGENT),
    (50, 0, K.FIRST_SEEN, -1, -1),
    (55, 0, K.TESTS_REPORTED, -1, 1),
    (60, 0, K.BIOPSY, -1, 1),
    (70, 0, K.DIAGNOSIS, -1, 2),
    (72, 0, K.QUEUE_JOIN, 0, 0),
    (80, -1, K.SESSION_START, 0, 10),
    (80, 0, K.SERVICE_START, 0, 0),
    (80, -1, K.SESSION_END, 0, 1),
    (81, -1, K.SESSION_START, 2, 10),
    (81, -1, K.SESSION_END, 2, 0),
    (85, 0, K.DECISION_TO_TREAT, -1, SSA),
    (95, 0, K.TREATMENT_START, -1, SSA),
    # patient 1: emergency, localised, local MDT, late surgery, progression re-discussed, death
    (20, 1, K.PRESENTATION, -1, EMERGENCY),
    (20, 1, K.REFERRAL, -1, EMERG),
    (20, 1, K.FIRST_SEEN, -1, -1),
    (30, 1, K.DIAGNOSIS, -1, 0),
    (31, 1, K.QUEUE_JOIN, 1, 0),
    (35, 1, K.SERVICE_START, 1, 0),
    (40, 1, K.DECISION_TO_TREAT, -1, SURGERY),
    (100, 1, K.TREATMENT_START, -1, SURGERY),
    (150, 1, K.SERVICE_START, 1, 1),
    (200, 1, K.DEATH, -1, 0),
    # patient 2: one misattributed GP consultation, dies of the NEN undiagnosed (a registry's
    # death-certificate-only case)
    (90, 2, K.PRESENTATION, -1, GP),
    (90, 2, K.GP_CONSULTATION, 0, 0),
    (100, 2, K.DEATH, -1, 0),
]


def _result() -> RunResult:
    ev = sorted(EVENTS, key=lambda e: e[0])
    arrays = {
        "time": np.array([e[0] for e in ev], dtype=float),
        "patient": np.array([e[1] for e in ev], dtype=np.int32),
        "kind": np.array([int(e[2]) for e in ev], dtype=np.int8),
        "resource": np.array([e[3] for e in ev], dtype=np.int16),
        "code": np.array([e[4] for e in ev], dtype=np.int32),
    }
    patients = {
        "patient": np.array([0, 1, 2], dtype=np.int32),
        "region": np.array([LONDON, NW, LONDON], dtype=np.int8),
        "site": np.array(
            [SITES.index(s) for s in ("small_intestine", "pancreas", "lung")], dtype=np.int8
        ),
        "grade": np.array([0, 1, 3], dtype=np.int8),
        "functional": np.array([False, False, False]),
        "sstr_positive": np.array([True, True, False]),
        "age_at_onset": np.array([60.0, 70.0, 80.0]),
        "female": np.array([True, False, True]),
        "men1": np.array([False, False, False]),
        "onset_time": np.array([-100.0, 0.0, 0.0]),
        "stage_at_onset": np.array([0, 0, 2], dtype=np.int8),
        "symptomatic": np.array([True, False, True]),
    }
    return RunResult("hand", 0, 1, 0.0, HORIZON, 1.0, arrays, patients, RESOURCES, 3, 0, 0, 0.0)


def test_journeys_milestones() -> None:
    j = patient_journeys(_result())
    p0, p1 = j.loc[0], j.loc[1]
    assert p0["route"] == "gp" and p1["route"] == "emergency"
    assert p0["referral_type"] == "urgent" and p0["referral_time"] == 40
    assert p0["gp_consultations_before_referral"] == 2
    assert p0["stage_at_diagnosis"] == "distant" and p1["stage_at_diagnosis"] == "localised"
    assert p0["specialist_mdt_time"] == 80 and math.isnan(p1["specialist_mdt_time"])
    assert p1["local_mdt_time"] == 35
    assert p0["first_treatment"] == "ssa" and p1["first_treatment"] == "surgery_curative"
    assert p0["clock62_start_time"] == 40 and math.isnan(p1["clock62_start_time"])
    assert p1["death_time"] == 200 and math.isnan(p0["death_time"])


def test_replication_kpis_by_hand() -> None:
    k = replication_kpis(_result())
    expected = {
        "diagnosed_per_year": 2 / YEARS,
        "symptom_to_diagnosis_days_median": 170.0,  # p0 only (symptomatic): 70 - (-100)
        "patient_interval_days_median": 110.0,
        "primary_care_interval_days_median": 30.0,
        "diagnostic_interval_days_median": 35.0,  # (60 + 10) / 2
        "gp_consultations_before_referral_mean": 2.0,
        "gp_consultations_3plus_share": 0.0,
        "emergency_presentation_share": 0.5,
        "urgent_referral_share": 0.5,
        "incidental_share": 0.0,
        "stage_localised_at_diagnosis_share": 0.5,
        "stage_distant_at_diagnosis_share": 0.5,
        "fds_28d_share": 1.0,  # told at imaging (55): 15 days after referral
        "histology_28d_share": 0.0,  # 70 - 40 = 30 days
        "dtt_31d_share": 0.5,  # 10 days and 60 days
        "rtt_62d_share": 1.0,  # p0 55 days; the emergency is not on a 62-day pathway
        "specialist_mdt_discussed_share": 0.5,
        "diagnosis_to_specialist_mdt_days_median": 10.0,
        "specialist_mdt_within_14d_share": 1.0,
        "mdt_rediscussions_per_year": 1 / YEARS,
        "specialist_mdt_utilisation": 1 / 20,
        "specialist_mdt_backlog_mean": 0.0,
        "one_year_survival_share": 0.5,
        "alive_diagnosed_within_5y": 1.0,
        "female_share": 0.5,
        "misattributed_share": 1.0,  # p0, the only diagnosed patient who saw a GP
        "gp_consulted_share": 0.5,
        "died_undiagnosed_per_year": 1 / YEARS,
        "registered_per_year": 3 / YEARS,
        "one_year_survival_registry_share": 1 / 3,  # p0 alive; p1 died at 170 d; p2 DCO
    }
    for name, value in expected.items():
        assert k[name] == pytest.approx(value), name
    assert k["diagnosed_per_year__london"] == pytest.approx(1 / YEARS)
    assert k["emergency_presentation_share__north_west"] == 1.0
    assert k["specialist_mdt_utilisation__london"] == pytest.approx(0.1)
    assert k["mdt_rediscussions_per_year__london"] == 0.0
    assert math.isnan(k["diagnostic_interval_days_median__south_west"])


def test_warmup_is_a_filter() -> None:
    r = _result()
    r.warmup_days = 50.0  # patient 1 (diagnosed at 30) is before the window
    k = replication_kpis(r)
    assert k["diagnosed_per_year"] == pytest.approx(1 / ((HORIZON - 50) / 365.25))
    assert k["emergency_presentation_share"] == 0.0


def test_backlog_rebuilt_from_log() -> None:
    ev = events_frame(_result())
    b = backlog_series(ev, [0])
    assert b["backlog"].tolist() == [0]


def _capacity_result() -> RunResult:
    """A hand-made log of capacity use, measured window [100, 300]."""
    resources = [
        ResourceInfo(0, "specialist_mdt.london", "specialist_mdt", "london", "sessions", 10, 1),
        ResourceInfo(1, "histopathology.london", "histopathology", "london", "servers", 2),
        ResourceInfo(2, "pet_delay.london", "pet_delay", "london", "delay", None),
        ResourceInfo(3, "surgery", "surgery", None, "servers", 3),
    ]
    events = [
        # sessions: the one at 50 is before the window; 18 slots offered, 11 used in it
        (50, -1, K.SESSION_START, 0, 10),
        (50, -1, K.SESSION_END, 0, 5),
        (150, -1, K.SESSION_START, 0, 10),
        (150, -1, K.SESSION_END, 0, 3),
        (250, -1, K.SESSION_START, 0, 8),
        (250, -1, K.SESSION_END, 0, 8),
        # a pool of 2 servers: 400 server-days on duty; busy 10 (90-110, clipped at 100),
        # 10 (120-130), 20 (140-160, the same patient again), 10 (290 to the horizon), and
        # nothing for 20-40: 50 in all
        (20, 3, K.SERVICE_START, 1, 0),
        (40, 3, K.SERVICE_END, 1, 0),
        (90, 0, K.SERVICE_START, 1, 0),
        (110, 0, K.SERVICE_END, 1, 0),
        (120, 1, K.SERVICE_START, 1, 0),
        (130, 1, K.SERVICE_END, 1, 0),
        (140, 1, K.SERVICE_START, 1, 0),
        (160, 1, K.SERVICE_END, 1, 0),
        (290, 2, K.SERVICE_START, 1, 0),
        # its queue: joins in the window wait 5 (115-120), 5 (135-140: the same patient's next
        # start), 20 (270-290) and forever (280, unserved: longer than any); median 12.5. Case-
        # days waiting in the window: 5 + 5 + 20 + 20 (280 to the horizon) + 200 (joined at 60,
        # never served, waits the whole window) + 0 (80-90, before it) = 250 over 200 days.
        (80, 0, K.QUEUE_JOIN, 1, 0),
        (60, 9, K.QUEUE_JOIN, 1, 0),
        (115, 1, K.QUEUE_JOIN, 1, 0),
        (135, 1, K.QUEUE_JOIN, 1, 0),
        (270, 2, K.QUEUE_JOIN, 1, 0),
        (280, 6, K.QUEUE_JOIN, 1, 0),
        # a delay: no capacity, no row
        (150, 5, K.SERVICE_START, 2, 0),
        # a scheduled pool: 1 server on duty from 0, 3 from 150, none from 200: 50 + 150 = 200
        # server-days in the window; one service 190-210 busy 20
        (0, -1, K.CAPACITY_CHANGE, 3, 1),
        (150, -1, K.CAPACITY_CHANGE, 3, 3),
        (200, -1, K.CAPACITY_CHANGE, 3, 0),
        (190, 4, K.SERVICE_START, 3, 0),
        (210, 4, K.SERVICE_END, 3, 0),
    ]
    ev = sorted(events, key=lambda e: e[0])
    arrays = {
        "time": np.array([e[0] for e in ev], dtype=float),
        "patient": np.array([e[1] for e in ev], dtype=np.int32),
        "kind": np.array([int(e[2]) for e in ev], dtype=np.int8),
        "resource": np.array([e[3] for e in ev], dtype=np.int16),
        "code": np.array([e[4] for e in ev], dtype=np.int32),
    }
    base = _result()
    return RunResult(
        "hand", 0, 1, 100.0, 300.0, 1.0, arrays, base.patients, resources, 3, 0, 0, 0.0
    )


def test_resource_utilisation_by_hand() -> None:
    u = resource_utilisation(_capacity_result()).set_index("resource")
    assert list(u.columns) == RESOURCE_COLUMNS[1:]
    assert list(u.index) == ["specialist_mdt.london", "histopathology.london", "surgery"]
    mdt = u.loc["specialist_mdt.london"]
    assert (mdt["offered"], mdt["used"]) == (18, 11)
    assert mdt["utilisation"] == pytest.approx(11 / 18)
    pool = u.loc["histopathology.london"]
    assert (pool["offered"], pool["used"]) == (400, 50)
    assert pool["utilisation"] == pytest.approx(0.125)
    assert pool["wait_days_median"] == pytest.approx(12.5)
    assert pool["waiting_mean"] == pytest.approx(250 / 200)
    assert math.isnan(mdt["wait_days_median"]) and mdt["waiting_mean"] == 0.0
    scheduled = u.loc["surgery"]
    assert (scheduled["offered"], scheduled["used"], scheduled["region"]) == (200, 20, "national")
    assert scheduled["utilisation"] == pytest.approx(0.1)


def test_session_utilisation_is_the_kpis(small: tuple[Scenario, RunControls]) -> None:
    scenario, controls = small
    result = simulate(scenario, 0, controls)
    u = resource_utilisation(result).set_index("resource")
    kpis = replication_kpis(result)
    for region in REGIONS:
        assert u.loc[f"specialist_mdt.{region}", "utilisation"] == pytest.approx(
            kpis[f"specialist_mdt_utilisation__{region}"]
        )
    capacity = {r.name for r in result.resources if r.kind != "delay"}
    assert set(u.index) == capacity
    assert (u["utilisation"].dropna() >= 0).all()


def test_kaplan_meier_median_by_hand() -> None:
    import numpy as np

    from sim.measures.kpis import km_median

    # No censoring: the middle value.
    assert km_median(np.array([5.0, 1.0, 3.0, 2.0, 4.0]), np.ones(5, bool)) == 3.0
    # Censored at 2 and 4: S = 0.8 after 1, 0.8 x 2/3 = 0.533 after 3, 0 after 5: median 5.
    assert km_median(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1, 0, 1, 0, 1], bool)) == 5.0
    # Survival never reaches one half: no median.
    assert np.isnan(km_median(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 0], bool)))
    assert np.isnan(km_median(np.array([]), np.array([], bool)))
