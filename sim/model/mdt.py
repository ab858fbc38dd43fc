"""Staging and multidisciplinary team (MDT) discussion.

After diagnosis, tumours are staged with Ga-68 DOTATATE PET for the share of patients who get it
(PET lists are capacity). Then the case is discussed: a new patient is referred to the
specialist NET MDT with a region-dependent probability, some via their local site-specific MDT
first, and the rest are managed by the local MDT. Progressions and post-surgery reviews return
to whichever team holds the patient's care; a local MDT refers some progressions on to the
specialist NET MDT (which then holds the care). Discussions take MDT slots
(:class:`sim.model.resources.SlottedService`), so new patients, progressions and reviews compete for
them under the meeting's priority rule.
"""

from __future__ import annotations

from sim.core.events import EventKind
from sim.model.context import (
    CLASS_NEW,
    CLASS_PROGRESSION,
    Patient,
    ProcessGen,
    SimContext,
    hold,
    use,
)
from sim.model.natural_history import DISTANT, LOCALISED
from sim.scenario.schema import GRADES, REGIONS, SITES

EV_RESTAGED = EventKind.RESTAGED  # bound once: an IntEnum member look-up costs ~80 ns


def staging(ctx: SimContext, p: Patient) -> ProcessGen:
    """Ga-68 DOTATATE PET for staging, for the share of patients who get it (fewer of those
    whose localised tumour was removed by what found it): it makes the patient's SSTR status
    known and may find distant spread CT/MRI missed. Functional tumours of the echocardiogram
    sites (carcinoid syndrome) have an echocardiogram for carcinoid heart
    disease, requested at diagnosis: surgery waits for it (it changes the surgical plan), the
    MDT discussion does not."""
    diag = ctx.scenario.diagnostics
    if p.functional and SITES[p.site] in diag.echocardiogram_sites:
        p.echo_done = ctx.env.now + ctx.draw(diag.echocardiogram_days, "echocardiogram", p)
    share = diag.pet_share_by_grade[GRADES[p.grade]]
    if p.line and p.stage == LOCALISED:  # removed, still localised, by what found it
        share *= diag.pet_after_local_resection_factor
    if ctx.u("pet", p) < share:
        yield from use(ctx, p, "pet", CLASS_NEW, deadline=p.clock62_start + 62)
        p.sstr_known = True
        if p.occult and ctx.u("pet_finds_distant", p) < diag.pet_finds_missed_distant_probability:
            p.stage, p.occult = DISTANT, False
            ctx.record(ctx.env.now, p, EV_RESTAGED, code=DISTANT)


def sstr_imaging(ctx: SimContext, p: Patient) -> ProcessGen:
    """A specialist NET MDT discussing a progressing G1/G2 patient whose SSTR status imaging has
    not shown usually asks for Ga-68 PET before it decides (SSTR-directed therapy needs it)."""
    if p.sstr_known or not p.specialist or GRADES[p.grade] not in ("G1", "G2"):
        return
    prob = ctx.scenario.diagnostics.sstr_imaging_at_progression_probability
    if ctx.u("pet_at_progression", p, p.line) < prob:
        yield from use(ctx, p, "pet", CLASS_PROGRESSION)
        p.sstr_known = True


def mdt_discussion(ctx: SimContext, p: Patient, case_class: int) -> ProcessGen:
    """Discussion of a new diagnosis, a progression or a review; returns when discussed."""
    mdt = ctx.scenario.mdt
    if case_class != CLASS_NEW:
        yield from use(ctx, p, "specialist_mdt" if p.specialist else "local_mdt", case_class)
        if (
            case_class == CLASS_PROGRESSION
            and not p.specialist
            and ctx.u("specialist_referral_at_progression", p, p.line)
            < mdt.specialist_referral_at_progression_probability
        ):
            yield from hold(
                ctx,
                p,
                ctx.env.now + ctx.draw(mdt.referral_processing_days, "mdt_referral", p, p.line),
            )
            yield from use(ctx, p, "specialist_mdt", case_class)
            p.specialist = True
        return
    deadline = p.clock62_start + 62
    refer = (
        ctx.u("specialist_referral", p)
        < (mdt.specialist_referral_probability_by_region[REGIONS[p.region]])
    )
    if not refer:
        yield from use(ctx, p, "local_mdt", case_class, deadline)
        return
    if ctx.u("local_mdt_first", p) < mdt.local_mdt_first_probability:
        yield from use(ctx, p, "local_mdt", case_class, deadline)
        processing = ctx.draw(mdt.referral_processing_days, "mdt_referral", p)
        yield from hold(ctx, p, ctx.env.now + processing)
    yield from use(ctx, p, "specialist_mdt", case_class, deadline)
    p.specialist = True
