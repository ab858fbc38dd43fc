"""Staging and multidisciplinary team (MDT) discussion.

After diagnosis, well-differentiated tumours are staged with Ga-68 DOTATATE PET (for the share of
patients who get it; PET lists are capacity). Then the case is discussed: a new patient is
referred to the specialist NET MDT with a region-dependent probability, some via their local
site-specific MDT first, and the rest are managed by the local MDT. Progressions and post-surgery
reviews return to whichever team holds the patient's care. Discussions take MDT slots
(:class:`sim.resources.SlottedService`), so new patients, progressions and reviews compete for
them under the meeting's priority rule.
"""

from __future__ import annotations

from .config import GRADES, REGIONS, ordered
from .context import CLASS_NEW, Patient, ProcessGen, SimContext, hold, use


def staging(ctx: SimContext, p: Patient) -> ProcessGen:
    """Ga-68 DOTATATE PET for staging, for the share of patients who get it."""
    share = ctx.scenario.diagnostics.pet_share_by_grade
    if ctx.u("pet", p) < ordered(share, GRADES)[p.grade]:
        yield from use(ctx, p, "pet", CLASS_NEW, deadline=p.clock62_start + 62)


def mdt_discussion(ctx: SimContext, p: Patient, case_class: int) -> ProcessGen:
    """Discussion of a new diagnosis or a progression, at the local and/or specialist MDT.

    A new patient is referred to the specialist NET MDT with a region-dependent probability,
    some via their local site-specific MDT first; the others are managed locally. Later
    discussions go to whichever team holds the patient's care.
    """
    mdt = ctx.scenario.mdt
    deadline = p.clock62_start + 62 if case_class == CLASS_NEW else float("inf")
    if case_class == CLASS_NEW:
        refer = (
            ctx.u("specialist_referral", p)
            < ordered(mdt.specialist_referral_probability_by_region, REGIONS)[p.region]
        )
        if refer:
            if ctx.u("local_mdt_first", p) < mdt.local_mdt_first_probability:
                yield from use(ctx, p, "local_mdt", case_class, deadline)
                yield from hold(
                    ctx,
                    p,
                    ctx.env.now + float(mdt.referral_processing_days.ppf(ctx.u("mdt_referral", p))),
                )
            yield from use(ctx, p, "specialist_mdt", case_class, deadline)
            p.specialist = True
        else:
            yield from use(ctx, p, "local_mdt", case_class, deadline)
    else:
        yield from use(ctx, p, "specialist_mdt" if p.specialist else "local_mdt", case_class)
    yield from hold(
        ctx,
        p,
        ctx.env.now + float(mdt.outcome_to_decision_days.ppf(ctx.u("mdt_to_decision", p, p.line))),
    )
