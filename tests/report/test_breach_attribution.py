"""62-day breach attribution as the report computes it: from ``patients.parquet`` on disk,
through the columns the report reads, to the days of each step.

The journeys are hand-made, so the days of every step are known: in particular the repeat
biopsy and specialist-pathology days, which the report once gave to "Tests to first biopsy"
because it did not read ``first_biopsy_time`` or ``histopathology_listed_time``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.core.io import write_parquet
from sim.reporting.compare import BREACH_MILESTONES, BREACH_STEPS, breach_steps, breach_summary
from sim.reporting.report import PATIENT_COLUMNS, _read_patients

NAN = math.nan
STEPS = [name for name, _ in BREACH_STEPS]


def _journeys() -> pd.DataFrame:
    """Two patients on the 62-day clock, with every column ``patient_journeys`` writes that the
    breach attribution uses, plus some it does not (the reader must pick the right ones)."""
    rows = [
        # Urgent referral at day 100; first seen 110; first biopsy 120 (non-diagnostic);
        # repeat biopsy sent to specialist pathology at 141; diagnosis (Ki-67 reported) 168;
        # PET 175; local MDT 180 then specialist 187; decision 190; treatment 200.
        # Steps: 10, 10, 21, 27, 7, 12, 3, 10 = 100 days: a breach.
        dict(
            scenario="base",
            replication=0,
            patient=1,
            referral_time=100.0,
            clock62_start_time=100.0,
            first_seen_time=110.0,
            first_biopsy_time=120.0,
            histopathology_listed_time=141.0,
            diagnosis_time=168.0,
            pet_time=175.0,
            local_mdt_time=180.0,
            specialist_mdt_time=187.0,
            decision_to_treat_time=190.0,
            first_treatment_time=200.0,
            pet_listed_time=170.0,
            tests_reported_time=115.0,
        ),
        # Consultant upgrade at first seen (day 300); one diagnostic biopsy at 306 sent straight
        # to pathology; diagnosis 320; no PET; local MDT 327; decision 330; treated 340.
        # Steps: 0, 6, 0, 14, 0, 7, 3, 10 = 40 days: no breach.
        dict(
            scenario="base",
            replication=0,
            patient=2,
            referral_time=290.0,
            clock62_start_time=300.0,
            first_seen_time=300.0,
            first_biopsy_time=306.0,
            histopathology_listed_time=306.0,
            diagnosis_time=320.0,
            pet_time=NAN,
            local_mdt_time=327.0,
            specialist_mdt_time=NAN,
            decision_to_treat_time=330.0,
            first_treatment_time=340.0,
            pet_listed_time=NAN,
            tests_reported_time=NAN,
        ),
    ]
    return pd.DataFrame(rows)


def test_the_report_reads_every_milestone_of_the_attribution() -> None:
    assert set(BREACH_MILESTONES) <= set(PATIENT_COLUMNS)


def test_repeat_biopsy_and_pathology_days_from_a_stored_run(tmp_path: Path) -> None:
    write_parquet(tmp_path / "patients.parquet", _journeys())
    patients = _read_patients(tmp_path, warmup_days=0.0)
    steps = breach_steps(patients)
    assert list(steps.loc[0, STEPS]) == [10, 10, 21, 27, 7, 12, 3, 10]
    assert list(steps.loc[1, STEPS]) == [0, 6, 0, 14, 0, 7, 3, 10]
    assert list(steps["total_days"]) == [100, 40]
    summary = breach_summary(steps).iloc[0]
    assert summary["breaches"] == 1
    assert summary["repeat_biopsy_breach_mean"] == 21
    assert summary["pathology_breach_mean"] == 27
    assert summary["tests_breach_mean"] == 10
    assert summary["pathology_all_mean"] == pytest.approx((27 + 14) / 2)
    assert summary["pathology_largest_share"] == 1.0


def test_a_missing_milestone_is_an_error_not_zero_days() -> None:
    patients = _journeys().drop(columns=["histopathology_listed_time"])
    with pytest.raises(KeyError, match="histopathology_listed_time"):
        breach_steps(patients)


def test_steps_after_the_treatment_use_no_days() -> None:
    """A tumour resected when it was found (treated at the start of the clock), whose histology,
    MDT discussion and recorded decision come afterwards: no step used any days, none is
    negative; nor is MDT-to-decision for a patient whose MDT came after the decision."""
    rows = _journeys()
    resected = rows.iloc[1].copy()
    resected.update(
        {
            "patient": 3,
            "clock62_start_time": 500.0,
            "first_seen_time": 500.0,
            "first_treatment_time": 500.0,
            "first_biopsy_time": NAN,
            "histopathology_listed_time": 500.0,
            "diagnosis_time": 512.0,
            "local_mdt_time": 520.0,
            "decision_to_treat_time": 500.0,
        }
    )
    late_mdt = rows.iloc[1].copy()
    # an MDT at 335, after the decision recorded at 330: the decision is held at the MDT, so the
    # MDT step runs 320-335 and decision to treatment 335-340
    late_mdt.update({"patient": 4, "local_mdt_time": 335.0})
    steps = breach_steps(pd.DataFrame([resected, late_mdt]))
    assert list(steps.loc[0, STEPS]) == [0] * len(STEPS)
    assert steps.loc[0, "total_days"] == 0
    assert list(steps.loc[1, STEPS]) == [0, 6, 0, 14, 0, 15, 0, 5]
    assert (steps[STEPS].sum(axis=1) == steps["total_days"]).all()
