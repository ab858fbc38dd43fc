"""The disease course before diagnosis, and the clocks that compete to end it.

Nothing here schedules an event: each patient's course is a few numbers drawn once, from their
own uniforms, and read off arithmetically when the pathway needs them (design principle 6).

Stage
    A tumour starts localised, regional or distant (by grade) and, while undiagnosed, moves on
    to regional and then distant after grade-dependent times (scaled by site). Diagnosis freezes
    the *recorded* stage at diagnosis: longer delays mean later stage.

Competing routes to first presentation (whichever clock rings first)
    * ``gp``: symptomatic patients see their GP after the patient interval (symptom onset to
      first consultation, the interval patient surveys measure in months to years), and anyone
      whose disease has spread sees their GP within the distant-symptom interval of the spread
      (metastatic symptoms bring people in, whatever they did before);
    * ``emergency``: a hazard that depends on the current stage (bowel obstruction, bleeding,
      hormonal crisis), integrated over the stage path;
    * ``incidental``: found on imaging or surgery for something else (appendicectomy), a
      constant hazard by site;
    * ``surveillance``: known MEN1 carriers are found at their next scheduled scan.
    The emergency, incidental and surveillance clocks keep running while a patient is in the
    GP loop or waiting for tests, so a long primary-care interval can end in an emergency.

Death
    Other-cause death from a Gompertz law (modal age and dispersion, by age at onset). NEN death
    comes only from distant disease, on a clock anchored to the disease (:mod:`sim.model.disease`):
    each patient has a reference survival from distant spread (by grade, site and age), drawn
    once from their own uniform; untreated disease uses it up faster than disease under care.
    Undiagnosed, the disease runs untreated: NEN death at distant spread + the untreated
    fraction of that survival, unless the terminal decline brings the patient to hospital
    first (an emergency presentation at the latest after ``terminal_presentation_fraction``
    of it). Diagnosis itself changes nothing; care does, from the day it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.core.constants import DAYS_PER_YEAR
from sim.core.events import Route, Stage
from sim.core.streams import PatientDraws
from sim.model.population import PopulationArrays
from sim.scenario.schema import GRADES, SITES, STAGES, NaturalHistory, Presentation, Survival

INF = np.inf
ROUTE_GP, ROUTE_EMERGENCY, ROUTE_INCIDENTAL, ROUTE_SURVEILLANCE = Route
# Stages as plain ints: they meet numpy arrays, where an IntEnum would promote int8 to int64.
LOCALISED, REGIONAL, DISTANT = (int(s) for s in Stage)


@dataclass(frozen=True)
class Clocks:
    """Per-patient absolute times (days) of the natural-history and route clocks."""

    stage_at_onset: NDArray[np.int8]
    t_regional: NDArray[np.float64]
    t_distant: NDArray[np.float64]
    t_gp: NDArray[np.float64]
    t_emergency: NDArray[np.float64]
    t_incidental: NDArray[np.float64]
    t_surveillance: NDArray[np.float64]
    t_other_death: NDArray[np.float64]
    t_undiagnosed_death: NDArray[np.float64]
    survival_ref: NDArray[np.float64]
    """Reference survival (days) from distant spread under a local team's care."""
    untreated_factor: NDArray[np.float64]
    """Fraction of the reference survival that distant disease with no care lasts."""

    @property
    def first_presentation(self) -> NDArray[np.float64]:
        return np.minimum.reduce(
            [self.t_gp, self.t_emergency, self.t_incidental, self.t_surveillance]
        )

    @property
    def first_route(self) -> NDArray[np.int8]:
        stack = np.vstack([self.t_gp, self.t_emergency, self.t_incidental, self.t_surveillance])
        return np.argmin(stack, axis=0).astype(np.int8)


def stage_at(t: float, t_regional: float, t_distant: float) -> int:
    """Stage index at time ``t`` given the patient's transition times."""
    if t >= t_distant:
        return DISTANT
    if t >= t_regional:
        return REGIONAL
    return LOCALISED


def _piecewise_hazard_time(
    start: NDArray[np.float64],
    t1: NDArray[np.float64],
    t2: NDArray[np.float64],
    rates: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    target: NDArray[np.float64],
) -> NDArray[np.float64]:
    """First time the cumulative hazard reaches ``target``, with per-patient hazards ``rates``
    (per day) on the three stage intervals [start, t1), [t1, t2), [t2, inf). Exact inversion of
    the piecewise-constant cumulative hazard (no thinning needed)."""
    out = np.full(start.shape, INF)
    done = np.zeros(start.shape, dtype=bool)
    remaining = target.astype(float).copy()
    bounds = (start, t1, t2, np.full(start.shape, INF))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for i, rate in enumerate(rates):
            a, b = bounds[i], bounds[i + 1]
            reached = np.isfinite(a) & ~done & (rate > 0)
            length = b - a
            need = np.where(rate > 0, remaining / np.where(rate > 0, rate, 1.0), INF)
            hit = reached & (need < length)
            out[hit] = a[hit] + need[hit]
            done |= hit
            used = np.where(reached & np.isfinite(length), rate * length, 0.0)
            remaining = remaining - np.where(done, 0.0, used)
    return out


def gompertz_remaining_years(
    age: NDArray[np.float64], u: NDArray[np.float64], modal: float, dispersion: float
) -> NDArray[np.float64]:
    """Remaining lifetime (years) at ``age`` under a Gompertz law with mode ``modal`` and
    dispersion ``dispersion`` (cumulative hazard exp((a - M)/s) (exp(x/s) - 1)), by inversion."""
    return dispersion * np.log1p(-np.log1p(-u) * np.exp((modal - age) / dispersion))


def draw_clocks(
    pop: PopulationArrays,
    draws: PatientDraws,
    nh: NaturalHistory,
    pres: Presentation,
    surv: Survival,
) -> Clocks:
    """Every patient's natural-history and route clocks, vectorised."""
    n = pop.n
    onset = pop.onset
    grade = pop.grade
    site_mult = np.array([nh.progression_time_multiplier_by_site[s] for s in SITES])[pop.site]

    stage_p = np.array([[nh.stage_at_onset_by_grade[g][s] for s in STAGES] for g in GRADES])
    shares = stage_p[grade]
    for name, by_site in nh.stage_at_onset_by_site.items():
        shares[pop.site == SITES.index(name)] = [by_site[s] for s in STAGES]
    cum = np.cumsum(shares, axis=1)
    stage0 = np.minimum((draws.column("stage_at_onset")[:, None] >= cum).sum(axis=1), 2)
    stage0 = stage0.astype(np.int8)

    lr = np.empty(n)
    rd = np.empty(n)
    u_lr = draws.column("localised_to_regional")
    u_rd = draws.column("regional_to_distant")
    for g, name in enumerate(GRADES):
        m = grade == g
        lr[m] = nh.localised_to_regional_days[name].ppf(u_lr[m])
        rd[m] = nh.regional_to_distant_days[name].ppf(u_rd[m])
    lr *= site_mult
    rd *= site_mult
    t_reg = np.where(stage0 >= REGIONAL, onset, onset + lr)
    t_dist = np.where(stage0 >= DISTANT, onset, t_reg + rd)

    sympt_p = np.array([pres.symptomatic_share_by_site[s] for s in SITES])[pop.site]
    symptomatic = draws.column("symptomatic") < sympt_p
    pi_mult = np.array([pres.patient_interval_multiplier_by_grade[g] for g in GRADES])[grade]
    patient_interval = pres.patient_interval_days.ppf(draws.column("patient_interval")) * pi_mult
    t_gp = np.where(symptomatic, onset + patient_interval, INF)
    spread_symptoms = pres.distant_symptom_interval_days.ppf(draws.column("distant_symptoms"))
    t_gp = np.minimum(t_gp, np.where(np.isfinite(t_dist), t_dist + spread_symptoms * pi_mult, INF))

    em_mult = np.array([pres.emergency_rate_multiplier_by_grade[g] for g in GRADES])[grade]
    r_loc, r_reg, r_dist = (
        em_mult * pres.emergency_rate_per_year_by_stage[s] / DAYS_PER_YEAR for s in STAGES
    )
    target = -np.log1p(-draws.column("emergency"))
    t_em = _piecewise_hazard_time(onset, t_reg, t_dist, (r_loc, r_reg, r_dist), target)

    inc_rate = (
        np.array([pres.incidental_rate_per_year_by_site[s] for s in SITES])[pop.site]
        / DAYS_PER_YEAR
    )
    with np.errstate(divide="ignore"):
        t_inc = np.where(
            inc_rate > 0,
            onset - np.log1p(-draws.column("incidental")) / np.where(inc_rate > 0, inc_rate, 1.0),
            INF,
        )
    t_surv = np.where(
        pop.men1,
        onset + draws.column("surveillance_phase") * pres.men1_surveillance_interval_days,
        INF,
    )

    t_oc = onset + DAYS_PER_YEAR * gompertz_remaining_years(
        pop.age,
        draws.column("other_cause_death"),
        surv.other_cause_modal_age_years,
        surv.other_cause_dispersion_years,
    )
    s_ref = survival_reference_days(surv, pop, t_dist, draws.column("untreated_survival"))
    factor = np.array([surv.untreated_survival_factor[g] for g in GRADES])[pop.grade]
    untreated = factor * s_ref
    finite = np.isfinite(t_dist)
    t_und = np.where(finite, t_dist + untreated, INF)
    if pres.terminal_presentation_fraction < 1.0:
        terminal = np.where(finite, t_dist + pres.terminal_presentation_fraction * untreated, INF)
        t_em = np.minimum(t_em, terminal)

    return Clocks(
        stage_at_onset=stage0,
        t_regional=t_reg,
        t_distant=t_dist,
        t_gp=t_gp,
        t_emergency=t_em,
        t_incidental=t_inc,
        t_surveillance=t_surv,
        t_other_death=t_oc,
        t_undiagnosed_death=t_und,
        survival_ref=s_ref,
        untreated_factor=factor,
    )


def survival_reference_days(
    surv: Survival, pop: PopulationArrays, t_dist: NDArray[np.float64], u: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each patient's reference survival from distant spread (days; see :class:`Clocks`): the
    grade's distribution at the patient's own uniform, divided by the site's hazard ratio
    (exact for the exponential, an accelerated-failure-time reading otherwise) and scaled by
    age at distant spread (or at onset, for disease that never spreads)."""
    n = pop.n
    s = np.zeros(n)
    for g, name in enumerate(GRADES):
        m = pop.grade == g
        s[m] = surv.distant_survival_days[name].ppf(u[m])
    s /= np.array([surv.site_hazard_ratio[x] for x in SITES])[pop.site]
    years_to_spread = (
        np.where(np.isfinite(t_dist), np.maximum(t_dist - pop.onset, 0), 0) / DAYS_PER_YEAR
    )
    age = pop.age + years_to_spread
    return s * surv.age_time_ratio_per_decade ** ((age - 65.0) / 10.0)


class DiseaseClock:
    """How much of the reference survival distant disease has used, and at what rate it uses
    the rest. Time before distant spread uses nothing."""

    __slots__ = ("killed_at", "rate", "survival", "t", "used")

    def __init__(self, survival: float, rate: float):
        self.survival = survival
        self.rate = rate
        self.t = -INF
        self.used = 0.0
        self.killed_at = INF

    def set_rate(self, t: float, rate: float, t_distant: float) -> None:
        """From time ``t`` on (no earlier than the last change), the disease uses its survival
        at ``rate``. A change after the disease has killed changes nothing."""
        if self.killed_at != INF:
            return
        start = max(self.t, t_distant)
        if t > start:
            left = (self.survival - self.used) / self.rate
            if t - start >= left:
                self.killed_at = start + left
                return
            self.used += (t - start) * self.rate
        self.t = max(self.t, t)
        self.rate = rate

    def death(self, t_distant: float) -> float:
        """When the disease kills, if nothing changes any more (INF if it never spreads)."""
        if self.killed_at != INF:
            return self.killed_at
        if t_distant == INF:
            return INF
        start = max(self.t, t_distant)
        return start + (self.survival - self.used) / self.rate
