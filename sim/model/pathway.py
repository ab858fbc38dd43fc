"""The patient journey, read top to bottom like the pathway diagram.

::

    presentation ──> diagnostic work-up ──> diagnosis ──> staging (PET) ──> MDT(s) ──>
         ^                  │ nothing found                                          │
         └── back to GP ────┘                      decision to treat <───────────────┘
                                                          │
                                   first treatment ──> follow-up ──(progression)──> MDT ...

Each step is a short generator; the journey delegates with ``yield from`` so it stays one SimPy
process per patient. A step records facts in the event log and waits; it computes no KPI.
Stretches that involve no capacity (GP consultations, general tests, biopsy waits) are computed
arithmetically, their facts recorded at their own times, and taken as one timeout; only capacity
(pathologists, PET lists, MDT slots, surgery lists, PRRT days) makes a patient queue. Every wait
stops at the patient's death (:func:`sim.model.context.hold`, :func:`sim.model.context.use`).
"""

from __future__ import annotations

from sim.core.events import EventKind, Referral
from sim.model.context import (
    CLASS_NEW,
    Died,
    Patient,
    ProcessGen,
    SimContext,
    hold,
    pick,
    use,
)
from sim.model.derived import derived
from sim.model.mdt import mdt_discussion, staging
from sim.model.natural_history import (
    DISTANT,
    REGIONAL,
    ROUTE_EMERGENCY,
    ROUTE_GP,
    ROUTE_INCIDENTAL,
    ROUTE_SURVEILLANCE,
    stage_at,
)
from sim.model.treatment import TREATMENT_CODE, begin_line, follow_up, treatment_line
from sim.scenario.schema import GP, GP_OUTCOMES, SITES

URGENT, ROUTINE, EMERGENCY, INCIDENTAL, SURVEILLANCE = Referral  # codes of REFERRAL events
_MISATTRIBUTED, _TESTS, _URGENT, _ROUTINE = (
    GP_OUTCOMES.index(k)
    for k in ("misattributed", "primary_care_tests", "urgent_referral", "routine_referral")
)

# Event kinds bound once: looking up an IntEnum member costs about 80 ns on Python 3.11.
(
    EV_BIOPSY,
    EV_DEATH,
    EV_DECISION_TO_TREAT,
    EV_DIAGNOSIS,
    EV_FIRST_SEEN,
    EV_GP_CONSULTATION,
    EV_PRESENTATION,
    EV_PRIMARY_CARE_TEST,
    EV_REFERRAL,
    EV_TESTS_REPORTED,
) = (
    EventKind.BIOPSY,
    EventKind.DEATH,
    EventKind.DECISION_TO_TREAT,
    EventKind.DIAGNOSIS,
    EventKind.FIRST_SEEN,
    EventKind.GP_CONSULTATION,
    EventKind.PRESENTATION,
    EventKind.PRIMARY_CARE_TEST,
    EventKind.REFERRAL,
    EventKind.TESTS_REPORTED,
)
INF = float("inf")


def patient_journey(ctx: SimContext, p: Patient) -> ProcessGen:
    """One patient from first presentation to death (or the end of the run)."""
    try:
        referral = yield from presentation(ctx, p, p.t_gp)
        while not (yield from diagnostic_workup(ctx, p, referral)):
            back = ctx.env.now + ctx.draw(
                ctx.scenario.diagnostics.failed_workup_return_days, "workup_return", p, p.n_gp
            )
            referral = yield from presentation(ctx, p, back)
        yield from staging(ctx, p)
        yield from mdt_discussion(ctx, p, CLASS_NEW)
        if p.line == 0 or p.stage == DISTANT:  # not resected at presentation, or it had spread
            yield from treatment_line(ctx, p)
        yield from follow_up(ctx, p)
    except Died:
        ctx.record(p.death, p, EV_DEATH, code=p.death_cause)


# ---------------------------------------------------------------------------------------------
# Presentation: GP consultations until referral, unless another route comes first
# ---------------------------------------------------------------------------------------------


def presentation(ctx: SimContext, p: Patient, next_gp: float) -> ProcessGen:
    """Consult the GP from ``next_gp`` until referred, or present by another route.

    Returns the referral type. Each consultation may misattribute the symptoms (IBS,
    gastritis, anxiety, menopause, asthma) and bring the patient back later, order
    primary-care tests, or refer urgently or routinely; after ``max_consultations`` a routine
    referral is made. The emergency, incidental and surveillance clocks keep running throughout.
    """
    gp = ctx.scenario.presentation.gp
    shares = derived(gp, "outcome_shares", _outcome_shares)
    other = min(p.t_emergency, p.t_incidental, p.t_surveillance)
    t = next_gp
    while t < other and t < p.death:
        if p.n_gp == 0:
            ctx.record(t, p, EV_PRESENTATION, code=ROUTE_GP)
        n = p.n_gp
        outcome = pick(shares[n == 0], ctx.u("gp_outcome", p, n))
        label = -1
        if outcome == _MISATTRIBUTED:
            label = pick(gp.misattribution_labels.values(), ctx.u("gp_label", p, n))
        p.n_gp = n + 1
        ctx.record(t, p, EV_GP_CONSULTATION, resource=label, code=outcome)
        if outcome == _URGENT:
            return (yield from _refer(ctx, p, t, URGENT))
        if outcome == _ROUTINE or p.n_gp >= gp.max_consultations:
            return (yield from _refer(ctx, p, t, ROUTINE))
        if outcome == _TESTS:
            t += ctx.draw(gp.primary_care_test_days, "gp_test_days", p, n)
            if t >= other or t >= p.death:
                break
            positive = _primary_care_tests_positive(ctx, p, n)
            ctx.record(t, p, EV_PRIMARY_CARE_TEST, code=int(positive))
            if positive:
                return (yield from _refer(ctx, p, t, URGENT))
        t += ctx.draw(gp.reconsultation_interval_days, "gp_reconsult", p, n)
    return (yield from _present_otherwise(ctx, p))


def _outcome_shares(gp: GP) -> tuple[list[float], list[float]]:
    """Outcome shares of a repeat and of a first consultation (indexed by ``first``)."""
    return gp.outcome_shares(first=False), gp.outcome_shares(first=True)


def _primary_care_tests_positive(ctx: SimContext, p: Patient, n: int) -> bool:
    """Whether a primary-care test round (CgA and/or direct-access imaging) prompts referral."""
    gp = ctx.scenario.presentation.gp
    cga = ctx.u("gp_cga_ordered", p, n) < gp.cga_requested_probability and (
        ctx.u("gp_cga_result", p, n) < ctx.scenario.diagnostics.cga_sensitivity
    )
    img = ctx.u("gp_imaging_ordered", p, n) < gp.imaging_requested_probability and (
        ctx.u("gp_imaging_result", p, n) < gp.imaging_detection_probability
    )
    return cga or img


def _refer(ctx: SimContext, p: Patient, t: float, kind: int) -> ProcessGen:
    yield from hold(ctx, p, t)
    ctx.record(t, p, EV_REFERRAL, code=kind)
    if kind == URGENT:
        p.clock62_start = t
    return kind


def _present_otherwise(ctx: SimContext, p: Patient) -> ProcessGen:
    """The first of the emergency, incidental and surveillance clocks rings (now, if it rang
    while the patient was in a work-up that found nothing: events are never recorded in the
    past)."""
    first = min(p.t_emergency, p.t_incidental, p.t_surveillance)
    if first == p.t_emergency:
        route, kind = ROUTE_EMERGENCY, EMERGENCY
    elif first == p.t_incidental:
        route, kind = ROUTE_INCIDENTAL, INCIDENTAL
    else:
        route, kind = ROUTE_SURVEILLANCE, SURVEILLANCE
    yield from hold(ctx, p, max(first, ctx.env.now))
    # The clock's time as the simulation reached it: ``now + (t - now)`` can differ from ``t``
    # in the last bit, and what follows at once (an emergency resection) is recorded at now.
    t = ctx.env.now
    ctx.record(t, p, EV_PRESENTATION, code=route)
    ctx.record(t, p, EV_REFERRAL, code=kind)
    return kind


# ---------------------------------------------------------------------------------------------
# Diagnostic work-up: first seen, tests, biopsy, specialist histopathology with Ki-67
# ---------------------------------------------------------------------------------------------


def diagnostic_workup(ctx: SimContext, p: Patient, referral: int) -> ProcessGen:
    """From referral to histological diagnosis. Returns False if the tests found nothing.

    First seen, the general tests and the biopsy involve no modelled capacity: their times are
    computed here and taken as one wait. A GP referral can be overtaken by an emergency (or an
    incidental finding) while waiting to be seen.
    """
    diag = ctx.scenario.diagnostics
    now = ctx.env.now
    k = p.n_gp  # distinguishes repeated work-ups of the same patient
    if referral in (URGENT, ROUTINE):
        wait = diag.urgent_first_seen_days if referral == URGENT else diag.routine_first_seen_days
        seen = now + ctx.draw(wait, "first_seen", p, k)
        if min(p.t_emergency, p.t_incidental, p.t_surveillance) < seen:
            referral = yield from _present_otherwise(ctx, p)
            now = ctx.env.now
    if referral in (EMERGENCY, INCIDENTAL) and _resected_at_presentation(ctx, p, referral):
        ctx.record(now, p, EV_FIRST_SEEN)
        if referral == INCIDENTAL and p.clock62_start == INF:
            p.clock62_start = now
        yield from histopathology(ctx, p)
        return True
    if referral == EMERGENCY:
        seen = now
        tests_done = seen + ctx.draw(diag.emergency_workup_days, "emergency_workup", p)
    else:
        if referral == INCIDENTAL:
            seen = now + ctx.draw(diag.incidental_referral_days, "first_seen", p, k)
        elif referral == SURVEILLANCE:
            seen = now + ctx.draw(diag.surveillance_referral_days, "first_seen", p, k)
        tests_done = seen + _general_tests_days(ctx, p, k)
    if seen < p.death:
        ctx.record(seen, p, EV_FIRST_SEEN)
    if referral in (ROUTINE, INCIDENTAL, SURVEILLANCE) and p.clock62_start == INF:
        p.clock62_start = seen  # consultant upgrade once cancer is suspected
    if (
        referral in (URGENT, ROUTINE)
        and ctx.u("workup_detects", p, k)
        >= (diag.workup_detection_probability_by_site[SITES[p.site]])
    ):
        yield from hold(ctx, p, tests_done)
        ctx.record(tests_done, p, EV_TESTS_REPORTED, code=0)
        p.clock62_start = INF
        return False
    if tests_done < p.death:
        ctx.record(tests_done, p, EV_TESTS_REPORTED, code=1)
    yield from hold(ctx, p, _biopsies(ctx, p, tests_done))
    yield from histopathology(ctx, p)
    return True


def _resected_at_presentation(ctx: SimContext, p: Patient, referral: int) -> bool:
    """Whether the operation or endoscopy that found the tumour removed it (appendicectomy,
    polypectomy, emergency resection). If so, that resection is the first treatment, now; the
    specimen goes straight to specialist pathology (no biopsy)."""
    table = ctx.scenario.presentation.resected_at_presentation
    shares = table.emergency if referral == EMERGENCY else table.incidental
    if ctx.u("resected_at_presentation", p) >= shares[SITES[p.site]]:
        return False
    now = ctx.env.now
    endoscopic = SITES[p.site] in ctx.scenario.diagnostics.endoscopy_sites
    name = "endoscopic_resection" if endoscopic else "surgery_curative"
    p.stage = stage_at(now, p.t_regional, p.t_distant)  # the specimen's (pathological) stage
    ctx.record(now, p, EV_DECISION_TO_TREAT, code=TREATMENT_CODE[name])
    p.line = 1
    begin_line(ctx, p, name, now)
    return True


def _general_tests_days(ctx: SimContext, p: Patient, k: int) -> float:
    """CT/MRI, bloods (CgA, urine 5-HIAA) and, for luminal sites, endoscopy: requested together,
    so the work-up takes as long as the slowest (exogenous waits, no capacity)."""
    diag = ctx.scenario.diagnostics
    days = max(
        ctx.draw(diag.imaging_wait_days, "imaging_wait", p, k),
        ctx.draw(diag.bloods_turnaround_days, "bloods_wait", p, k),
    )
    if SITES[p.site] in diag.endoscopy_sites:
        days = max(days, ctx.draw(diag.endoscopy_wait_days, "endoscopy_wait", p, k))
    return days


def _biopsies(ctx: SimContext, p: Patient, start: float) -> float:
    """Biopsies from ``start``, repeated while non-diagnostic; returns when the diagnostic one
    is taken. Recorded at their own times (those after the patient's death are not)."""
    diag = ctx.scenario.diagnostics
    t, j = start, 0
    while True:
        t += ctx.draw(diag.biopsy_wait_days, "biopsy_wait", p, j)
        ok = ctx.u("biopsy_ok", p, j) >= diag.biopsy_nondiagnostic_probability
        if t < p.death:
            ctx.record(t, p, EV_BIOPSY, code=int(ok))
        j += 1
        if ok or t >= p.death:
            return t


def histopathology(ctx: SimContext, p: Patient) -> ProcessGen:
    """Specialist reporting with Ki-67 grading (capacity); its report is the diagnosis.

    Diagnosis freezes the recorded stage: read off the natural-history clocks (CT/MRI may miss
    distant spread, which staging PET can then find), or the stage of the specimen if the
    tumour was resected when found. It does not change the disease's course
    (:mod:`sim.model.disease`): care does, from when it starts.
    """
    yield from use(ctx, p, "histopathology", CLASS_NEW, u=ctx.u("histopathology", p))
    now = ctx.env.now
    if p.stage < 0:
        p.stage = stage_at(now, p.t_regional, p.t_distant)
        missed = ctx.scenario.diagnostics.ct_misses_distant_probability
        if p.stage == DISTANT and ctx.u("ct_misses_distant", p) < missed:
            p.stage, p.occult = REGIONAL, True
    p.diagnosed_at = now
    true_stage = DISTANT if p.occult else p.stage
    ctx.record(now, p, EV_DIAGNOSIS, resource=true_stage, code=p.stage)
