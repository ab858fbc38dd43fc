"""Treatment decisions, treatment lines and follow-up.

The MDT's decision follows the scenario's rule tables (``[[treatment.first_line]]`` and
``[[treatment.later_lines]]``): the first rule whose conditions (site, grade, stage, functional
syndrome, SSTR status, line number, whether a specialist NET MDT holds the patient's care, age,
treatments not given before) match the patient gives the probabilities of each option. Options
the patient cannot have are then struck out and the rest renormalised:

* an option already given is not given again unless it is ``repeatable`` (no PRRT
  re-treatment, no repeat of a failed line);
* ``specialist_only`` options (PRRT, liver-directed therapy, transplant, trials) only on a
  specialist NET MDT's recommendation, as NHS England commissions them;
* ``requires_sstr_imaging`` options (PRRT) only when SSTR imaging showed SSTR-positive disease.

If nothing is left, the scenario's ``fallback`` (best supportive care). NICE TA539 eligibility
for PRRT (progressive, well-differentiated, SSTR-positive GEP-NET) is written into the rules.

The decision to treat follows the MDT after the outcome-to-decision interval. A line starts after
the option's start delay, taking a slot on its resource if it has one (surgery lists, PRRT
days); multi-cycle treatments take a slot per cycle. The first treatment that acts on the
tumour (not watchful waiting, not supportive care) starts the care of the disease and curative
treatment may remove it (:mod:`sim.model.disease`).

Follow-up is arithmetic (design principle 6): what ends a line is computed once and found at the
next surveillance scan (interval by grade). A curatively treated patient is discharged after the
site's surveillance period, or their recurrence is found at a scan (or soon after it shows, once
discharged). Non-curative management of disease that has not spread ends when it spreads; a
line for distant disease ends at its progression-free time (by grade; ranked with the
patient's survival, :func:`sim.model.disease.linked_uniform`). Progression brings the
patient back to the MDT for the next line; after ``max_lines`` lines, or an option with no
progression clock (best supportive care), nothing more is scheduled but death.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from sim.core.constants import DAYS_PER_YEAR
from sim.core.events import EventKind
from sim.model.context import (
    CLASS_NEW,
    CLASS_PROGRESSION,
    CLASS_REVIEW,
    INF,
    Patient,
    ProcessGen,
    SimContext,
    hold,
    pick,
    use,
)
from sim.model.derived import derived
from sim.model.disease import (
    latest_progression,
    linked_uniform,
    resect,
    specialist_care,
    start_care,
)
from sim.model.mdt import mdt_discussion, sstr_imaging
from sim.model.natural_history import DISTANT, LOCALISED, REGIONAL, stage_at
from sim.scenario.schema import GRADES, SITES, STAGES, TREATMENTS, Conditions, TreatmentParams

# Event kinds bound once: looking up an IntEnum member costs about 80 ns on Python 3.11.
(
    EV_DEATH,
    EV_DECISION_TO_TREAT,
    EV_DISCHARGED,
    EV_PROGRESSION,
    EV_RECURRENCE,
    EV_TREATMENT_CYCLE,
    EV_TREATMENT_START,
) = (
    EventKind.DEATH,
    EventKind.DECISION_TO_TREAT,
    EventKind.DISCHARGED,
    EventKind.PROGRESSION,
    EventKind.RECURRENCE,
    EventKind.TREATMENT_CYCLE,
    EventKind.TREATMENT_START,
)


TREATMENT_CODE = {name: i for i, name in enumerate(TREATMENTS)}
"""Code of each treatment in the event log (its index in ``TREATMENTS``)."""


def matches(when: Conditions, p: Patient, line: int, age: float) -> bool:
    """Whether the patient (aged ``age`` at the decision) meets every condition in ``when``."""
    return (
        (when.site is None or SITES[p.site] in when.site)
        and (when.grade is None or GRADES[p.grade] in when.grade)
        and (when.stage is None or STAGES[p.stage] in when.stage)
        and (when.functional is None or when.functional == p.functional)
        and (when.sstr_positive is None or when.sstr_positive == p.sstr)
        and (when.line is None or line in when.line)
        and (when.specialist is None or when.specialist == p.specialist)
        and (when.min_age is None or age >= when.min_age)
        and (
            when.not_given is None
            or not any(p.given >> TREATMENT_CODE[t] & 1 for t in when.not_given)
        )
    )


def allowed(params: TreatmentParams, name: str, p: Patient) -> bool:
    """Whether option ``name`` may be chosen for the patient now (see the module docstring)."""
    opt = params.options[name]
    if p.given >> TREATMENTS.index(name) & 1 and not opt.repeatable:
        return False
    if opt.specialist_only and not p.specialist:
        return False
    return not (opt.requires_sstr_imaging and not (p.sstr_known and p.sstr))


def first_line_done(params: TreatmentParams, p: Patient) -> bool:
    """Whether the patient has had a line of treatment for spread disease: an option given that
    is neither curative nor surveillance. Until then the first-line rules decide (a recurrence
    after resection, or spread under surveillance, starts with first-line treatment)."""
    return p.given & derived(params, "systemic_bits", _systemic_bits) != 0


def _systemic_bits(params: TreatmentParams) -> int:
    """Bit set of the options that are neither curative nor surveillance (bit i =
    ``TREATMENTS[i]``)."""
    bits = 0
    for i, name in enumerate(TREATMENTS):
        opt = params.options.get(name)
        if opt is not None and not (opt.curative or opt.surveillance):
            bits |= 1 << i
    return bits


class _Choices:
    """The options and probabilities of :func:`choose_treatment`, memoised by everything the
    rules and :func:`allowed` read of a patient. Age enters only through the ``min_age``
    thresholds it passes, so the key holds its rank among them."""

    __slots__ = ("ages", "table")

    def __init__(self, params: TreatmentParams):
        rules = (*params.first_line, *params.later_lines)
        self.ages = sorted({r.when.min_age for r in rules if r.when.min_age is not None})
        self.table: dict[tuple[Any, ...], tuple[list[str], list[float]]] = {}


def choose_treatment(
    params: TreatmentParams, p: Patient, line: int, u: float, first: bool, age: float
) -> str:
    """The option the MDT decides on, by the first matching rule (inversion over the options
    the patient may have; the ``fallback`` if none)."""
    memo = derived(params, "choices", _Choices)
    key = (
        first,
        p.site,
        p.grade,
        p.stage,
        p.functional,
        p.sstr,
        line,
        p.specialist,
        bisect.bisect_right(memo.ages, age),
        p.given,
        p.sstr_known,
    )
    choice = memo.table.get(key)
    if choice is None:
        choice = memo.table[key] = _options(params, p, line, first, age)
    names, probs = choice
    if not names:
        return params.fallback
    return names[pick(probs, u)]


def _options(
    params: TreatmentParams, p: Patient, line: int, first: bool, age: float
) -> tuple[list[str], list[float]]:
    """The options of the first rule matching the patient that they may have, and their
    probabilities (renormalised); none if their probabilities sum to zero."""
    rules = params.first_line if first else params.later_lines
    for rule in rules:
        if matches(rule.when, p, line, age):
            names = [n for n in rule.choose if allowed(params, n, p)]
            total = sum(rule.choose[n] for n in names)
            if total <= 0.0:
                return [], []
            return names, [rule.choose[n] / total for n in names]
    raise AssertionError("rule tables end with a catch-all rule")  # validated in config


def begin_line(ctx: SimContext, p: Patient, name: str, start: float) -> None:
    """Line ``p.line`` of treatment ``name`` starts at ``start``: record it, and let it act on
    the disease (care starts; curative treatment may remove the disease)."""
    code = TREATMENT_CODE[name]
    ctx.record(start, p, EV_TREATMENT_START, -1, code)
    p.treatment, p.line_start = name, start
    p.given |= 1 << code
    params = ctx.scenario.treatment
    survival = ctx.scenario.survival
    if params.options[name].curative:
        spread = resect(p, start, params, survival, ctx.u("recurrence", p, p.line))
        if spread:
            ctx.record(start, p, EV_RECURRENCE, code=0)
        elif p.t_distant < p.death:
            ctx.record(p.t_distant, p, EV_RECURRENCE, code=1)
    elif not (params.options[name].surveillance or name == "best_supportive_care"):
        start_care(p, start, survival)  # watching and supportive care leave the disease untreated
    if p.specialist:
        specialist_care(p, start, survival)


def treatment_line(ctx: SimContext, p: Patient) -> ProcessGen:
    """Decision to treat after an MDT discussion, then the start (and cycles) of the line.

    The first-line rules apply until the patient has had a line for spread disease (see
    :func:`first_line_done`), the later-line rules after that."""
    params = ctx.scenario.treatment
    first = not first_line_done(params, p)
    p.line += 1
    line = p.line
    u = ctx.u("treatment_choice", p, line)
    now = ctx.env.now
    name = choose_treatment(params, p, line, u, first, p.age_at(now))
    code = TREATMENT_CODE[name]
    opt = params.options[name]
    dtt = now + ctx.draw(ctx.scenario.mdt.outcome_to_decision_days, "mdt_to_dtt", p, line)
    if dtt < p.death:
        ctx.record(dtt, p, EV_DECISION_TO_TREAT, -1, code)
    yield from hold(ctx, p, dtt + ctx.draw(opt.start_days, "treatment_start", p, line))
    case_class = CLASS_NEW if line == 1 else CLASS_PROGRESSION
    if opt.resource == "surgery" and p.echo_done > ctx.env.now:
        yield from hold(ctx, p, p.echo_done)  # carcinoid heart disease changes the surgical plan
    if opt.resource is not None:
        yield from use(ctx, p, opt.resource, case_class)
    begin_line(ctx, p, name, ctx.env.now)
    due = p.line_start
    for _ in range(1, opt.cycles):
        due += opt.cycle_interval_days
        yield from hold(ctx, p, max(due, ctx.env.now))
        if opt.resource is not None:
            yield from use(ctx, p, opt.resource, case_class)
        ctx.record(ctx.env.now, p, EV_TREATMENT_CYCLE, code=code)


def next_scan(start: float, event: float, interval: float) -> float:
    """The first surveillance scan (every ``interval`` days from ``start``) at or after
    ``event``, and never before the first scan."""
    if event == INF:
        return INF
    return start + interval * max(1, math.ceil((event - start) / interval))


def line_ends(ctx: SimContext, p: Patient) -> tuple[float, int]:
    """When the current line's end (recurrence, spread or progression) is found, and the stage
    the patient is then known to have; INF if never. A cured patient is discharged at the end
    of surveillance (recorded here)."""
    params = ctx.scenario.treatment
    fu = ctx.scenario.follow_up
    opt = params.options[p.treatment]
    grade = GRADES[p.grade]
    if opt.curative:
        discharge = (
            p.line_start + DAYS_PER_YEAR * fu.surveillance_years_after_cure_by_site[SITES[p.site]]
        )
        interval = fu.scan_interval_days_after_curative_by_grade[grade]
        if p.t_distant > discharge:  # cured, or recurring only after discharge
            if discharge < p.death:
                ctx.record(discharge, p, EV_DISCHARGED, code=int(p.cured))
            return (p.t_distant + interval if p.t_distant != INF else INF), DISTANT
        return next_scan(p.line_start, p.t_distant, interval), DISTANT
    pfs = opt.pfs(grade)
    if pfs is None:
        return INF, DISTANT
    interval = fu.scan_interval_days_by_grade[grade]
    if opt.surveillance and p.stage == LOCALISED:  # watched until it reaches the nodes
        return next_scan(p.line_start, p.t_regional, interval), REGIONAL
    if p.t_distant > p.line_start:  # disease not yet spread: managed until it spreads
        return next_scan(p.line_start, p.t_distant, interval), DISTANT
    u = linked_uniform(
        ctx.u("untreated_survival", p),
        ctx.u("progression_free", p, p.line),
        ctx.scenario.survival.progression_survival_correlation,
    )
    # Found at the next scan; a progression that will kill is found by its latest time anyway.
    latest = latest_progression(p, ctx.scenario.survival, ctx.u("post_progression", p, p.line))
    progression = min(p.line_start + pfs.sample1(u), latest)
    return min(next_scan(p.line_start, progression, interval), latest), DISTANT


def follow_up(ctx: SimContext, p: Patient) -> ProcessGen:
    """Surveillance until the line ends (found at a scan), re-discussion and the next line."""
    params = ctx.scenario.treatment
    fu = ctx.scenario.follow_up
    while True:
        opt = params.options[p.treatment]
        line = p.line
        if (
            opt.curative
            and opt.resource == "surgery"
            and p.line_start >= p.diagnosed_at  # not a resection that found the tumour
            and ctx.u("post_surgery_review", p, line) < fu.post_surgery_review_probability
        ):
            review = ctx.draw(fu.post_surgery_review_days, "post_surgery_review_days", p, line)
            yield from hold(ctx, p, ctx.env.now + review)
            yield from mdt_discussion(ctx, p, CLASS_REVIEW)
        found, stage = line_ends(ctx, p)
        if found == INF:
            break
        yield from hold(ctx, p, max(found, ctx.env.now))
        ctx.record(ctx.env.now, p, EV_PROGRESSION, code=line)
        p.stage = max(stage, stage_at(ctx.env.now, p.t_regional, p.t_distant))
        if line >= params.max_lines:
            break
        yield from mdt_discussion(ctx, p, CLASS_PROGRESSION)
        yield from sstr_imaging(ctx, p)  # the specialist MDT asks for it before deciding
        yield from treatment_line(ctx, p)
    # Nothing more is scheduled: death is recorded arithmetically (dropped if after the horizon).
    ctx.record(p.death, p, EV_DEATH, code=p.death_cause)
