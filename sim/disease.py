"""The disease after diagnosis: what care does to it, and when it kills.

The NEN death clock is anchored to the disease, never to the date of diagnosis
(:mod:`sim.natural_history` draws it once per patient):

* Only distant disease kills. From distant spread the disease uses up the patient's reference
  survival ``S`` (:attr:`sim.natural_history.Clocks.survival_ref`) at rate ``1 / f`` while it has
  no care (``f`` = ``survival.untreated_survival_factor`` < 1: untreated disease kills sooner)
  and at rate ``h`` once care has started (``h`` = 1 for a local team, the specialist hazard
  ratio when a specialist NET MDT planned it). Care starts at the first treatment other than
  best supportive care; for disease that spreads later, it counts from the spread.
* Curative treatment (resection) of disease that is not yet distant removes it, unless the
  patient's own uniform falls under the recurrence probability (grade x site x true stage at
  resection). Residual disease then becomes distant ``k`` times later than the untreated tumour
  would have spread (``k`` >= 1, ``treatment.recurrence_time_multiplier``): recurrence at
  ``r + k (T - r)`` for resection at ``r`` and natural spread at ``T``. Resecting disease that
  has already spread cures nothing.

Why the lead-time invariant holds (tested in ``tests/properties/test_clinical_course.py``): for
the same patient, earlier care at the same stage can only move NEN death later. The death time
``T_d = c + (S - (c - a) / f) / h`` for care from ``c`` after spread at ``a`` falls as ``c``
grows because ``f h <= 1``; an earlier resection can only lower the recurrence probability (the
true stage is no later) and gives a later recurrence (``d/dr [r + k (T - r)] = 1 - k <= 0``).
"""

from __future__ import annotations

from .config import GRADES, SITES, STAGES, Survival, TreatmentParams
from .context import CAUSE_NEN, CAUSE_OTHER, Patient
from .natural_history import DISTANT, stage_at

INF = float("inf")


def nen_death_time(
    t_distant: float, survival: float, untreated_factor: float, care_start: float, hr: float
) -> float:
    """When distant disease kills: spread at ``t_distant``, reference survival ``survival``,
    untreated until ``care_start`` (rate ``1 / untreated_factor``), then rate ``hr``."""
    if t_distant == INF:
        return INF
    untreated_death = t_distant + untreated_factor * survival
    c = max(care_start, t_distant)
    if untreated_death <= c:
        return untreated_death
    used = (c - t_distant) / untreated_factor
    return c + (survival - used) / hr


def update_death(p: Patient, survival: Survival) -> None:
    """Recompute the patient's death (NEN or other cause, whichever comes first)."""
    hr = survival.specialist_care_hazard_ratio if p.care_specialist else 1.0
    nen = nen_death_time(
        p.t_distant, p.survival_ref, survival.untreated_survival_factor, p.care_start, hr
    )
    if nen < p.t_other_death:
        p.death, p.death_cause = nen, CAUSE_NEN
    else:
        p.death, p.death_cause = p.t_other_death, CAUSE_OTHER


def start_care(p: Patient, t: float, survival: Survival) -> None:
    """Care of the disease starts at ``t`` (first treatment other than supportive care). The
    hazard ratio is that of the team holding the patient's care when it starts."""
    if p.care_start != INF:
        return
    p.care_start = t
    p.care_specialist = p.specialist
    update_death(p, survival)


def recurrence_probability(params: TreatmentParams, p: Patient, stage: int) -> float:
    """Chance that a resection at true stage ``stage`` (not distant) leaves disease behind."""
    q = (
        params.recurrence_probability_by_grade[GRADES[p.grade]]
        * params.recurrence_multiplier_by_site[SITES[p.site]]
        * getattr(params.recurrence_multiplier_by_stage, STAGES[stage])
    )
    return min(q, 1.0)


def resect(p: Patient, t: float, params: TreatmentParams, survival: Survival, u: float) -> bool:
    """Curative treatment at ``t``, with the patient's recurrence uniform ``u``: the disease is
    removed (``p.cured``), or its distant spread is delayed, or (already distant) unchanged.
    Returns whether the disease had already spread."""
    stage = stage_at(t, p.t_regional, p.t_distant)
    if stage != DISTANT:
        if u >= recurrence_probability(params, p, stage):
            p.cured = True
            p.t_regional = p.t_distant = INF
        else:
            k = params.recurrence_time_multiplier
            p.t_distant = t + k * (p.t_distant - t)
    start_care(p, t, survival)
    update_death(p, survival)
    return stage == DISTANT
