"""The disease after diagnosis: what care does to it, and when it kills.

The NEN death clock is anchored to the disease, never to the date of diagnosis
(:mod:`sim.model.natural_history` draws it once per patient):

* Only distant disease kills. From distant spread the disease uses up the patient's reference
  survival ``S`` (:attr:`sim.model.natural_history.Clocks.survival_ref`) at a rate that care sets
  (:class:`sim.model.natural_history.DiseaseClock`): ``1 / f`` while it has no care (``f`` =
  ``survival.untreated_survival_factor`` <= 1 by grade: untreated disease kills sooner), 1 once
  care has started (the first treatment that acts on the tumour: not watchful waiting, not best
  supportive care), and the specialist hazard ratio ``h`` <= 1 (by grade; 1 for NEC) from when
  a specialist NET MDT plans the care. A change of rate acts from its own day on, never
  backdated.
* Progression is tied to the same clock's rank: each line's progression-free time keeps its
  published distribution, but its uniform is linked to the survival uniform by a Gaussian
  copula (:func:`linked_uniform`, ``survival.progression_survival_correlation``), so the
  patients whose disease kills sooner also progress sooner, and survival after progression is
  short as in the trials. It never moves a death.
* A NEN death follows a progression: a line's progression comes, and is found, no later than
  the NEN death minus a post-progression survival drawn for the patient and line
  (:func:`latest_progression`, ``survival.post_progression_survival_days``), unless the line
  started too close to death to leave one (the patient then dies on it). Without it, a third
  of the "progression-free" events on PRRT were NEN deaths. It moves no death either.
* Curative treatment (resection) of disease that is not yet distant removes it, unless the
  patient's own uniform falls under the recurrence probability (grade x site x true stage at
  resection). Residual disease then becomes distant ``k`` times later than the untreated tumour
  would have spread (``k`` >= 1, ``treatment.recurrence_time_multiplier``): recurrence at
  ``r + k (T - r)`` for resection at ``r`` and natural spread at ``T``. Resecting disease that
  has already spread cures nothing.

Why the lead-time invariant holds (tested in ``tests/properties/test_clinical_course.py``): for
the same patient, earlier care at the same stage can only move NEN death later. The rate never
rises over a patient's course (``1 / f >= 1 >= h``), so every change made earlier leaves less
of ``S`` used at any later time; an earlier resection can only lower the recurrence probability
(the true stage is no later) and gives a later recurrence (``d/dr [r + k (T - r)] = 1 - k <= 0``).
"""

from __future__ import annotations

import math

from scipy.special import ndtr, ndtri

from sim.model.context import CAUSE_NEN, CAUSE_OTHER, INF, Patient
from sim.model.natural_history import DISTANT, stage_at
from sim.scenario.schema import GRADES, SITES, STAGES, Survival, TreatmentParams


def update_death(p: Patient) -> None:
    """Recompute the patient's death (NEN or other cause, whichever comes first)."""
    nen = p.clock.death(p.t_distant)
    if nen < p.t_other_death:
        p.death, p.death_cause = nen, CAUSE_NEN
    else:
        p.death, p.death_cause = p.t_other_death, CAUSE_OTHER


def start_care(p: Patient, t: float, survival: Survival) -> None:
    """Care of the disease starts at ``t`` (first treatment other than supportive care)."""
    if p.care_start != INF:
        return
    p.care_start = t
    p.clock.set_rate(t, 1.0, p.t_distant)
    if p.specialist:
        specialist_care(p, t, survival)
    update_death(p)


def specialist_care(p: Patient, t: float, survival: Survival) -> None:
    """A specialist NET MDT plans the care of the disease from ``t`` on."""
    if p.care_specialist or p.care_start == INF:
        return
    p.care_specialist = True
    p.clock.set_rate(t, survival.specialist_care_hazard_ratio[GRADES[p.grade]], p.t_distant)
    update_death(p)


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
    update_death(p)
    return stage == DISTANT


def linked_uniform(u_survival: float, u_own: float, rho: float) -> float:
    """A progression-free time's uniform, tied to the patient's survival uniform by a Gaussian
    copula with correlation ``rho``: ``Phi(rho Phi^-1(u_survival) + sqrt(1 - rho^2)
    Phi^-1(u_own))``. Uniform whatever ``rho`` (each line keeps its published PFS
    distribution); ``rho = 0`` gives ``u_own`` itself. The survival uniform only ranks
    patients here: it never moves a death, so the lead-time invariant is untouched."""
    if rho == 0.0:
        return u_own
    z = rho * float(ndtri(u_survival)) + math.sqrt(1.0 - rho * rho) * float(ndtri(u_own))
    return float(ndtr(z))


def latest_progression(p: Patient, survival: Survival, u: float) -> float:
    """The latest time the current line (started at ``p.line_start``) can progress and be
    found: the NEN death minus a post-progression survival drawn from the patient's uniform
    ``u``; INF if the disease never kills or the line started too close to its death to leave
    that much (the patient dies on it)."""
    nen = p.clock.death(p.t_distant)
    if nen == INF:
        return INF
    latest = nen - survival.post_progression_survival_days[GRADES[p.grade]].sample1(u)
    return latest if latest > p.line_start else INF
