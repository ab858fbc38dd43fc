"""Treatment decisions, treatment lines and follow-up with progression clocks.

The MDT's decision follows the scenario's rule tables (``[[treatment.first_line]]`` and
``[[treatment.later_lines]]``): the first rule whose conditions (site, grade, stage, functional
syndrome, SSTR status, line number) match the patient gives the probabilities of each option.
NICE TA539 eligibility for PRRT (well-differentiated G1/G2, SSTR-positive, GEP, progressive) is
written into those rules, not into code.

The decision to treat follows the MDT after the outcome-to-decision interval (outcome conveyed,
options agreed with the patient). A line then starts after the option's start delay, taking a
slot on its resource if it has one (surgery lists, PRRT treatment days); multi-cycle treatments
(PRRT: 4 cycles 8 weeks apart) take a slot per cycle.

Follow-up is arithmetic (design principle 6): the time to progression is drawn once per line
from the option's progression-free distribution and rounded up to the next surveillance scan,
and the patient waits for that one moment. Progression brings the patient back to the MDT for
the next line; after ``max_lines`` lines, or an option with no progression clock (best
supportive care), nothing more is scheduled but death. Curative treatment has a grade-dependent
recurrence probability instead, found at the post-curative scan interval, and surgery may be
followed by a post-operative MDT review.
"""

from __future__ import annotations

import math

from .config import GRADES, SITES, STAGES, TREATMENTS, Conditions, TreatmentParams
from .context import (
    CLASS_NEW,
    CLASS_PROGRESSION,
    CLASS_REVIEW,
    Patient,
    ProcessGen,
    SimContext,
    hold,
    pick,
    use,
)
from .events import EventKind
from .mdt import mdt_discussion
from .natural_history import DISTANT


def matches(when: Conditions, p: Patient, line: int) -> bool:
    """Whether the patient meets every condition given in ``when``."""
    return (
        (when.site is None or SITES[p.site] in when.site)
        and (when.grade is None or GRADES[p.grade] in when.grade)
        and (when.stage is None or STAGES[p.stage] in when.stage)
        and (when.functional is None or when.functional == p.functional)
        and (when.sstr_positive is None or when.sstr_positive == p.sstr)
        and (when.line is None or line in when.line)
    )


def choose_treatment(params: TreatmentParams, p: Patient, line: int, u: float) -> str:
    """The option the MDT decides on for ``line``, by the first matching rule (inversion)."""
    rules = params.first_line if line == 1 else params.later_lines
    for rule in rules:
        if matches(rule.when, p, line):
            return list(rule.choose)[pick(rule.choose.values(), u)]
    raise AssertionError("rule tables end with a catch-all rule")  # validated in config


def treatment_line(ctx: SimContext, p: Patient) -> ProcessGen:
    """Decision to treat after an MDT discussion, then the start (and cycles) of the line."""
    params = ctx.scenario.treatment
    p.line += 1
    line = p.line
    name = choose_treatment(params, p, line, ctx.u("treatment_choice", p, line))
    code = TREATMENTS.index(name)
    opt = params.options[name]
    dtt = ctx.env.now + ctx.draw(ctx.scenario.mdt.outcome_to_decision_days, "mdt_to_dtt", p, line)
    if dtt < p.death:
        ctx.record(dtt, p, EventKind.DECISION_TO_TREAT, code=code)
    yield from hold(ctx, p, dtt + ctx.draw(opt.start_days, "treatment_start", p, line))
    case_class = CLASS_NEW if line == 1 else CLASS_PROGRESSION
    if opt.resource is not None:
        yield from use(ctx, p, opt.resource, case_class)
    start = ctx.env.now
    ctx.record(start, p, EventKind.TREATMENT_START, code=code)
    p.treatment, p.line_start = name, start
    due = start
    for _ in range(1, opt.cycles):
        due += opt.cycle_interval_days
        yield from hold(ctx, p, max(due, ctx.env.now))
        if opt.resource is not None:
            yield from use(ctx, p, opt.resource, case_class)
        ctx.record(ctx.env.now, p, EventKind.TREATMENT_CYCLE, code=code)


def follow_up(ctx: SimContext, p: Patient) -> ProcessGen:
    """Surveillance until progression (found at a scan), re-discussion and the next line."""
    params = ctx.scenario.treatment
    fu = ctx.scenario.follow_up
    while True:
        opt = params.options[p.treatment]
        line = p.line
        if opt.curative:
            if (
                opt.resource == "surgery"
                and ctx.u("post_surgery_review", p, line) < fu.post_surgery_review_probability
            ):
                review = ctx.draw(fu.post_surgery_review_days, "post_surgery_review_days", p, line)
                yield from hold(ctx, p, ctx.env.now + review)
                yield from mdt_discussion(ctx, p, CLASS_REVIEW)
            recurs = (
                ctx.u("recurrence", p, line)
                < (params.recurrence_probability_by_grade[GRADES[p.grade]])
            )
            if not recurs:
                break
            progression = p.line_start + ctx.draw(
                params.recurrence_days, "recurrence_days", p, line
            )
            interval = fu.scan_interval_days_after_curative
        elif opt.progression_free_days is None:
            break
        else:
            progression = p.line_start + ctx.draw(
                opt.progression_free_days, "progression_free", p, line
            )
            interval = fu.scan_interval_days_on_treatment
        scans = max(1, math.ceil((progression - p.line_start) / interval))
        yield from hold(ctx, p, max(p.line_start + interval * scans, ctx.env.now))
        ctx.record(ctx.env.now, p, EventKind.PROGRESSION, code=line)
        p.stage = DISTANT
        if line >= params.max_lines:
            break
        yield from mdt_discussion(ctx, p, CLASS_PROGRESSION)
        yield from treatment_line(ctx, p)
    # Nothing more is scheduled: death is recorded arithmetically (dropped if after the horizon).
    ctx.record(p.death, p, EventKind.DEATH, code=p.death_cause)
