"""What a change is worth: deaths, life-years, QALYs and NHS costs from the event log.

A measures-layer module, like :mod:`sim.kpis`: pure functions of a replication's events and
patient journeys plus the scenario's ``[economics]`` table (:class:`sim.config.Economics`).
Nothing here runs inside the SimPy model or changes what it simulates.

::

    events + journeys + [economics] --health_segments--> one row per patient x health state
                                    --patient_economics--> one row per patient: LY, QALY, costs
                                    --economic_kpis--> KPI columns of the replication
    replications (paired, CRN) --icer_table--> incremental cost, QALYs, ICER (bootstrap CI), NMB

Methods (CHEERS 2022 items that apply [S161]):

* **Perspective**: NHS and personal social services costs; health effects of the patients
  ([S150] reference case). Currency GBP, one price year (``Economics.price_year``), optionally
  uprated to ``report_price_year`` by the NHS cost inflation index (:func:`price_factor`).
* **Time origin and horizon**: the start of the measured window (``warmup_days``), to the run's
  horizon. Why the window's start: every scenario is run from t = 0, so by the window the
  scenario's policy is in steady state, and a calendar origin shared by all scenarios avoids
  lead-time bias (an origin at diagnosis would credit earlier diagnosis with extra life-years
  lived before the old diagnosis date). Everyone the model follows who is alive at any time in
  the window counts, from ``max(window start, onset)`` to ``min(death, horizon)``. Life after
  the horizon is censored at the horizon, not extrapolated (this increment): gains that come
  after the horizon (cures whose deaths are averted later) are not counted, so QALY gains
  are understated for a short window.
* **Discounting**: costs and effects at ``Economics.discount_rate`` a year (3.5% [S150]; 1.5% as
  a sensitivity [S152]), continuously from the window's start: an amount at time ``t`` is worth
  ``(1 + r) ** -((t - w0) / 365.25)`` and a flow is integrated exactly.
* **Health states** (utilities in ``[economics.utilities]``): before diagnosis, undiagnosed
  symptomatic (symptomatic patients) or asymptomatic; from diagnosis (or restaging) until the
  first treatment, ``not_distant`` or ``distant_awaiting_treatment`` by stage; from each
  TREATMENT_START the state its treatment declares (``[economics.treatments.<t>].state``); from
  each PROGRESSION ``progressed``; from DISCHARGED ``not_distant``; to death or the horizon.
  With ``[economics.utility_norms] apply`` each utility is multiplied by the UK population norm
  at the patient's age and sex at each moment over the norm of the reference population
  (:func:`norm_weighted_years`, exact).
* **Costs** by activity in the log: GP consultations, primary-care tests, first outpatient
  (FIRST_SEEN), work-up imaging and endoscopy (TESTS_REPORTED), biopsy and pathology, Ga-68 PET
  and MDT discussions (SERVICE_START at those resources), treatment starts and cycles, drugs per
  month on a line (TREATMENT_START to the next PROGRESSION, TREATMENT_START, death or the
  horizon, capped at ``max_months``), surveillance (one follow-up visit and scan per scenario
  surveillance interval while on a line other than best supportive care, until discharge),
  emergency presentations, end-of-life care at a NEN death; plus the scenario's fixed costs per
  year (England; shared between regions by population). Costs are counted when they fall in the
  window, whoever incurs them.
* **People**: the people with a NEN that the model follows (those who present); NEN deaths of
  people never seen by health services count as deaths, carry no cost and, as the model does not
  follow them, no life-years. The shipped scenarios do not change who presents (their levers act
  after the first presentation), so the same people are followed under every scenario.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sim.core.constants import DAYS_PER_YEAR
from sim.core.events import EventKind as K
from sim.measures.registry import HIGHER, LOWER, Kpi
from sim.model.simulation import RunResult
from sim.scenario.schema import (
    COST_CATEGORIES,
    GRADES,
    HEALTH_STATES,
    REGIONS,
    ROUTES,
    STAGES,
    TREATMENTS,
    Economics,
    Scenario,
)

MONTH_DAYS = 30.44
"""Days in a month of drug supply (as the scenario files convert months)."""

THRESHOLDS = (25_000.0, 35_000.0)
"""GBP per QALY for net monetary benefit: NICE's threshold range from April 2026 [S153] (the
£20,000-30,000 of PMG36 [S150] is superseded for medicines appraisals)."""

BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 20261202
"""The bootstrap over paired replications is seeded with this fixed seed: a comparison's ICER
interval is reproducible."""

_STATE = {s: i for i, s in enumerate(HEALTH_STATES)}
_DISTANT = STAGES.index("distant")
_ROUTE_EMERGENCY = ROUTES.index("emergency")


# ---------------------------------------------------------------------------------------------
# Discounting
# ---------------------------------------------------------------------------------------------


def price_factor(econ: Economics) -> float:
    """What every cost is multiplied by to express it in ``report_price_year`` prices: the
    product of (1 + percent / 100) over the years after ``price_year`` up to the report year
    (its inverse for an earlier year); 1 without a report year. With the NHS cost inflation
    index, pay and prices [S191], this is the usual NHSCII uprating."""
    target = econ.report_price_year
    if target is None or target == econ.price_year:
        return 1.0
    years = sorted(econ.cost_inflation_percent_by_year)
    a, b = years.index(econ.price_year), years.index(target)
    lo, hi = min(a, b), max(a, b)
    f = math.prod(1 + econ.cost_inflation_percent_by_year[y] / 100 for y in years[lo + 1 : hi + 1])
    return f if b > a else 1 / f


def _exact_sum(x: Any) -> float:
    """The exactly rounded sum (math.fsum): numpy's pairwise SIMD sums can differ in the last
    bits with the array's memory alignment, so the same replication could give different costs
    in different worker processes."""
    return math.fsum(np.asarray(x, dtype=float).tolist())  # Python floats: fsum reads them fast


def discount_factor(t: Any, origin: float, rate: float) -> Any:
    """Present value at ``origin`` of 1 at time ``t`` (days): ``(1 + rate) ** -(years)``."""
    years = (np.asarray(t, dtype=float) - origin) / DAYS_PER_YEAR
    return np.power(1.0 + rate, -years)


def norm_weighted_years(
    a: Any, b: Any, origin: float, rate: float, age_at_origin: Any, male: Any, norms: Any
) -> tuple[Any, Any]:
    """Years from ``a`` to ``b`` (days) weighted by the utility norm multiplier, undiscounted and
    discounted to ``origin``: ``integral m(t) dt`` and ``integral m(t) (1 + rate) ** -x dt`` (in
    years, x = (t - origin) / 365.25), where ``m`` is the age-sex norm at the patient's age then
    (``age_at_origin + x``, sex ``male``) over the norm of the reference population
    (:class:`sim.config.UtilityNorms`). Exact: ``m`` is a quadratic in x, integrated in closed
    form (``-e^{-dx} (p/d + p'/d^2 + p''/d^3)`` with d = ln(1 + rate))."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    b = np.maximum(a, b)
    ref = norms.reference_age
    norm_ref = (
        norms.intercept
        + norms.male * norms.reference_male_share
        + norms.age * ref
        + norms.age_squared * ref**2
    )
    age0 = np.asarray(age_at_origin, dtype=float)
    # m(x) = c0 + c1 x + c2 x^2
    c0 = (
        norms.intercept
        + norms.male * np.asarray(male, dtype=float)
        + norms.age * age0
        + norms.age_squared * age0**2
    ) / norm_ref
    c1 = (norms.age + 2 * norms.age_squared * age0) / norm_ref
    c2 = norms.age_squared / norm_ref
    xa, xb = (a - origin) / DAYS_PER_YEAR, (b - origin) / DAYS_PER_YEAR

    def plain(x: Any) -> Any:
        return c0 * x + c1 * x**2 / 2 + c2 * x**3 / 3

    years = plain(xb) - plain(xa)
    if rate == 0:
        return years, years
    d = math.log1p(rate)

    def disc(x: Any) -> Any:
        p = c0 + c1 * x + c2 * x**2
        dp = c1 + 2 * c2 * x
        return -np.exp(-d * x) * (p / d + dp / d**2 + 2 * c2 / d**3)

    return years, disc(xb) - disc(xa)


def discounted_years(a: Any, b: Any, origin: float, rate: float) -> Any:
    """Present value at ``origin`` of one year's worth a year flowing from ``a`` to ``b`` (days):
    ``integral_a^b (1 + rate) ** -((t - origin) / 365.25) dt / 365.25``, exactly; 0 if b <= a."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    b = np.maximum(a, b)
    if rate == 0:
        return (b - a) / DAYS_PER_YEAR
    delta = math.log1p(rate)  # per year
    ya, yb = (a - origin) / DAYS_PER_YEAR, (b - origin) / DAYS_PER_YEAR
    return (np.exp(-delta * ya) - np.exp(-delta * yb)) / delta


# ---------------------------------------------------------------------------------------------
# Per patient
# ---------------------------------------------------------------------------------------------

SEGMENT_COLUMNS = ["patient", "start", "end", "state", "treatment", "fu_interval"]


def health_segments(
    ev: pd.DataFrame, journeys: pd.DataFrame, econ: Economics, scenario: Scenario, horizon: float
) -> pd.DataFrame:
    """Each patient's life course as consecutive health states: :data:`SEGMENT_COLUMNS`, times
    in days, not yet clipped to the window (the last segment ends at death or ``horizon``).

    ``state`` is an index into :data:`sim.config.HEALTH_STATES`; ``treatment`` the index of the
    line whose start opened the segment (-1 if none); ``fu_interval`` the surveillance interval
    (days) in force, NaN when the patient is not under surveillance.
    """
    pe = ev[ev["patient"].to_numpy() >= 0]
    kind = pe["kind"].to_numpy()
    keep = np.isin(
        kind,
        [K.DIAGNOSIS, K.RESTAGED, K.TREATMENT_START, K.PROGRESSION, K.DISCHARGED],
    )
    rows = pe[keep]
    n = len(rows)
    k = rows["kind"].to_numpy()
    code = rows["code"].to_numpy().astype(int)
    state = np.full(n, -1, dtype=int)
    treatment = np.full(n, -1, dtype=int)
    state_of_treatment = np.array([_STATE[econ.treatments[t].state] for t in TREATMENTS])
    is_dx = (k == K.DIAGNOSIS) | (k == K.RESTAGED)
    state[is_dx] = np.where(
        code[is_dx] == _DISTANT,
        _STATE["distant_awaiting_treatment"],
        _STATE["not_distant"],
    )
    is_tx = k == K.TREATMENT_START
    state[is_tx] = state_of_treatment[code[is_tx]]
    treatment[is_tx] = code[is_tx]
    state[k == K.PROGRESSION] = _STATE["progressed"]
    state[k == K.DISCHARGED] = _STATE["not_distant"]
    changes = pd.DataFrame(
        {
            "patient": rows["patient"].to_numpy(),
            "start": rows["time"].to_numpy(dtype=float),
            "seq": np.arange(1, n + 1),
            "state": state,
            "treatment": treatment,
            "kind": k,
        }
    )
    symptomatic = (
        journeys["symptomatic"].to_numpy(dtype=bool)
        if "symptomatic" in journeys
        else journeys["first_gp_time"].notna().to_numpy()
    )
    onset = pd.DataFrame(
        {
            "patient": journeys.index.to_numpy(),
            "start": journeys["onset_time"].to_numpy(dtype=float),
            "seq": 0,
            "state": np.where(
                symptomatic,
                _STATE["undiagnosed_symptomatic"],
                _STATE["undiagnosed_asymptomatic"],
            ),
            "treatment": -1,
            "kind": 0,
        }
    )
    seg = pd.concat([onset, changes], ignore_index=True)
    seg = seg.sort_values(["patient", "start", "seq"], kind="stable").reset_index(drop=True)
    # Diagnosis and restaging set the state only until the first treatment (a resection may
    # come before the histological diagnosis it gives).
    treated = (seg["treatment"] >= 0).astype(int).groupby(seg["patient"], sort=False).cumsum()
    is_dx_row = seg["kind"].isin([K.DIAGNOSIS, K.RESTAGED]).to_numpy()
    seg = seg[~(is_dx_row & (treated.to_numpy() > 0))].reset_index(drop=True)
    # Surveillance: from a line's start (not best supportive care) until discharge, progression
    # (the next line restarts it) or death.
    grade = journeys["grade"].reindex(seg["patient"]).cat.codes.to_numpy()
    fu = scenario.follow_up
    after_cure = np.array([fu.scan_interval_days_after_curative_by_grade[g] for g in GRADES])
    on_line = np.array([fu.scan_interval_days_by_grade[g] for g in GRADES])
    curative = np.array(
        [
            scenario.treatment.options[t].curative if t in scenario.treatment.options else False
            for t in TREATMENTS
        ]
    )
    tx = seg["treatment"].to_numpy()
    surveilled = (tx >= 0) & (tx != TREATMENTS.index("best_supportive_care"))
    interval = np.where(curative[np.maximum(tx, 0)], after_cure[grade], on_line[grade])
    seg["fu_interval"] = np.where(surveilled, interval, np.nan)
    # A patient's last change runs to death or the horizon.
    death = journeys["death_time"].reindex(seg["patient"]).to_numpy(dtype=float)
    last = np.fmin(np.where(np.isnan(death), horizon, death), horizon)
    nxt = seg.groupby("patient", sort=False)["start"].shift(-1).to_numpy(dtype=float)
    seg["end"] = np.where(np.isnan(nxt), last, np.minimum(nxt, last))
    return seg[SEGMENT_COLUMNS]


def _line_ends(ev: pd.DataFrame, death: pd.Series, horizon: float) -> pd.DataFrame:
    """Every TREATMENT_START with the end of time on it: the patient's next PROGRESSION or
    TREATMENT_START, death or ``horizon``, whichever first."""
    pe = ev[ev["patient"].to_numpy() >= 0]
    k = pe["kind"].to_numpy()
    rows = pe[(k == K.TREATMENT_START) | (k == K.PROGRESSION)]
    nxt = rows.groupby("patient", sort=False)["time"].shift(-1)
    starts = rows["kind"].to_numpy() == K.TREATMENT_START
    lines = pd.DataFrame(
        {
            "patient": rows["patient"].to_numpy()[starts],
            "start": rows["time"].to_numpy(dtype=float)[starts],
            "treatment": rows["code"].to_numpy().astype(int)[starts],
            "next": nxt.to_numpy(dtype=float)[starts],
        }
    )
    d = death.reindex(lines["patient"]).to_numpy(dtype=float)
    stop = np.fmin(np.where(np.isnan(d), horizon, d), horizon)
    lines["end"] = np.fmin(np.where(np.isnan(lines["next"]), stop, lines["next"]), stop)
    return lines


PATIENT_COLUMNS = [
    "life_years",
    "life_years_discounted",
    "qalys",
    "qalys_discounted",
    *(f"cost_{c}" for c in COST_CATEGORIES if c != "fixed"),
    "cost_total",
]
"""Columns of :func:`patient_economics` (costs discounted, GBP)."""


class CostItems(NamedTuple):
    """Every cost a run's patients incur, before windowing and discounting: ``points`` are
    amounts at a time (an activity), ``spans`` amounts a year over a time span (follow-up,
    drugs and delivery on a line); each is ``(column, patient, ...)`` with the category's
    ``cost_<category>`` column. Prices as the scenario gives them (before
    :func:`price_factor`)."""

    points: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
    """``(column, patient, time, amount)``."""
    spans: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    """``(column, patient, start, end, amount a year)``."""


def cost_items(
    ev: pd.DataFrame,
    journeys: pd.DataFrame,
    scenario: Scenario,
    resources: list[Any],
    horizon: float,
    seg: pd.DataFrame | None = None,
) -> CostItems:
    """The :class:`CostItems` of the patients in ``journeys`` up to ``horizon`` (``seg``: their
    :func:`health_segments`, if already computed)."""
    econ = scenario.economics
    if econ is None:
        raise ValueError(f"scenario {scenario.name!r} has no [economics] table")
    if seg is None:
        seg = health_segments(ev, journeys, econ, scenario, horizon)
    points: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    spans: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    fu = seg["fu_interval"].to_numpy()
    on_fu = ~np.isnan(fu)
    spans.append(
        (
            "cost_follow_up",
            seg["patient"].to_numpy()[on_fu],
            seg["start"].to_numpy()[on_fu],
            seg["end"].to_numpy()[on_fu],
            econ.unit_costs.surveillance_visit / fu[on_fu] * DAYS_PER_YEAR,
        )
    )

    # Activities at events.
    pe = ev[ev["patient"].to_numpy() >= 0]
    t = pe["time"].to_numpy(dtype=float)
    k, code, res = pe["kind"].to_numpy(), pe["code"].to_numpy(), pe["resource"].to_numpy()
    p = pe["patient"].to_numpy()
    uc = econ.unit_costs
    rid = {
        base: [x.rid for x in resources if x.base == base]
        for base in ("local_mdt", "specialist_mdt", "pet")
    }
    served = k == K.SERVICE_START
    per_event = [
        ("cost_gp", k == K.GP_CONSULTATION, uc.gp_consultation),
        ("cost_primary_care_tests", k == K.PRIMARY_CARE_TEST, uc.primary_care_test),
        ("cost_outpatient", k == K.FIRST_SEEN, uc.first_outpatient),
        ("cost_imaging", k == K.TESTS_REPORTED, uc.workup_imaging),
        ("cost_endoscopy", k == K.TESTS_REPORTED, uc.endoscopy * uc.endoscopy_share_of_workups),
        ("cost_biopsy_pathology", k == K.BIOPSY, uc.biopsy_and_pathology),
        ("cost_pet", served & np.isin(res, rid["pet"]), uc.ga68_pet),
        ("cost_mdt_local", served & np.isin(res, rid["local_mdt"]), uc.local_mdt_discussion),
        (
            "cost_mdt_specialist",
            served & np.isin(res, rid["specialist_mdt"]),
            uc.specialist_mdt_discussion,
        ),
        (
            "cost_emergency",
            (k == K.PRESENTATION) & (code == _ROUTE_EMERGENCY),
            uc.emergency_admission,
        ),
        ("cost_end_of_life", (k == K.DEATH) & (code == 0), uc.end_of_life_nen_death),
    ]
    for col, mask, unit in per_event:
        points.append((col, p[mask], t[mask], np.full(int(mask.sum()), float(unit))))
    tc = [econ.treatments[name] for name in TREATMENTS]
    cycle_cost = np.array([c.per_cycle + c.drug_per_cycle * (1 - c.drug_discount) for c in tc])
    start_cost = np.array([c.per_start for c in tc]) + cycle_cost
    category = np.array([c.category for c in tc])
    for kind_, price in ((K.TREATMENT_START, start_cost), (K.TREATMENT_CYCLE, cycle_cost)):
        m = k == kind_
        codes = code[m].astype(int)
        for cat in set(category[codes]):
            sel = category[codes] == cat
            points.append((f"cost_{cat}", p[m][sel], t[m][sel], price[codes[sel]]))
    # Drugs and delivery per month on a line.
    lines = _line_ends(ev, journeys["death_time"], horizon)
    if len(lines):
        tcode = lines["treatment"].to_numpy()
        monthly = np.array([c.per_month * (1 - c.drug_discount) for c in tc])[tcode]
        cap = np.array([c.max_months if c.max_months is not None else np.inf for c in tc])[tcode]
        start = lines["start"].to_numpy()
        end = np.minimum(lines["end"].to_numpy(), start + cap * MONTH_DAYS)
        for cat in set(category[tcode]):
            sel = category[tcode] == cat
            spans.append(
                (
                    f"cost_{cat}",
                    lines["patient"].to_numpy()[sel],
                    start[sel],
                    end[sel],
                    (monthly / MONTH_DAYS * DAYS_PER_YEAR)[sel],
                )
            )
    return CostItems(points, spans)


def window_cost(items: CostItems, window: tuple[float, float], factor: float = 1.0) -> float:
    """All patients' cost in ``window`` ``(a, b)``, undiscounted (GBP; events at ``a`` or ``b``
    count, as in :func:`patient_economics`), times ``factor`` (:func:`price_factor`)."""
    a, b = window
    parts = [amount[(t >= a) & (t <= b)] for _, _, t, amount in items.points]
    parts += [
        per_year * discounted_years(np.maximum(s, a), np.minimum(e, b), a, 0.0)
        for _, _, s, e, per_year in items.spans
    ]
    return _exact_sum(np.concatenate(parts)) * factor if parts else 0.0


def patient_economics(
    ev: pd.DataFrame,
    journeys: pd.DataFrame,
    scenario: Scenario,
    resources: list[Any],
    window: tuple[float, float],
    rate: float | None = None,
    items: CostItems | None = None,
    seg: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Life-years, QALYs and costs by category of every patient in ``journeys``, counted in the
    ``window`` ``(w0, h)`` and discounted to ``w0`` (see the module docstring).

    ``rate`` overrides the scenario's discount rate; ``items`` and ``seg`` are the patients'
    :func:`cost_items` and :func:`health_segments` up to ``h``, if already found.
    ``cost_total`` is the sum of the category columns (fixed costs are not a patient's).
    Returns one row per patient, :data:`PATIENT_COLUMNS`.
    """
    econ = scenario.economics
    if econ is None:
        raise ValueError(f"scenario {scenario.name!r} has no [economics] table")
    r = econ.discount_rate if rate is None else rate
    w0, h = window
    out = pd.DataFrame(0.0, index=journeys.index, columns=PATIENT_COLUMNS)
    if seg is None:
        seg = health_segments(ev, journeys, econ, scenario, h)
    a, b = np.maximum(seg["start"].to_numpy(), w0), np.minimum(seg["end"].to_numpy(), h)
    b = np.maximum(a, b)
    util = np.array([econ.utilities[s] for s in HEALTH_STATES])[seg["state"].to_numpy()]
    years = (b - a) / DAYS_PER_YEAR
    dyears = discounted_years(a, b, w0, r)
    pid = seg["patient"].to_numpy()

    def add(col: str, patients: np.ndarray, values: np.ndarray) -> None:
        if len(patients):
            sums = pd.Series(values).groupby(patients).sum()
            out.loc[sums.index, col] += sums.to_numpy()

    add("life_years", pid, years)
    add("life_years_discounted", pid, dyears)
    norms = econ.utility_norms
    if norms is not None and norms.apply:
        onset = journeys["onset_time"].reindex(pid).to_numpy(dtype=float)
        age0 = (
            journeys["age_at_onset"].reindex(pid).to_numpy(dtype=float)
            + (w0 - onset) / DAYS_PER_YEAR
        )
        male = ~journeys["female"].reindex(pid).to_numpy(dtype=bool)
        q_years, q_dyears = norm_weighted_years(a, b, w0, r, age0, male, norms)
    else:
        q_years, q_dyears = years, dyears
    add("qalys", pid, util * q_years)
    add("qalys_discounted", pid, util * q_dyears)

    # Costs: activities discounted at the event's time, flows over their span in the window.
    if items is None:
        items = cost_items(ev, journeys, scenario, resources, h, seg)
    for col, patients, t, amount in items.points:
        m = (t >= w0) & (t <= h)
        add(col, patients[m], amount[m] * discount_factor(t[m], w0, r))
    for col, patients, start, end, per_year in items.spans:
        lo, hi = np.maximum(start, w0), np.minimum(end, h)
        add(col, patients, per_year * discounted_years(lo, hi, w0, r))
    cats = [f"cost_{c}" for c in COST_CATEGORIES if c != "fixed"]
    f = price_factor(econ)
    if f != 1.0:
        out[cats] = out[cats] * f
    total = np.zeros(len(out))
    for c in cats:  # element-wise, in a fixed order: no reduction whose rounding could vary
        total = total + out[c].to_numpy()
    out["cost_total"] = total
    return out


# ---------------------------------------------------------------------------------------------
# KPIs of a replication
# ---------------------------------------------------------------------------------------------

BUDGET_YEARS = 5
"""Years after the measured window's start (the policy start) with a budget KPI each."""


ECONOMIC_KPIS: dict[str, Kpi] = {
    "all_deaths_per_year": Kpi(
        "Deaths per year of people with a NEN, any cause (England-scaled)",
        "per_year",
        LOWER,
    ),
    "other_cause_deaths_per_year": Kpi(
        "Deaths per year of people with a NEN from other causes (England-scaled)",
        "per_year",
    ),
    "life_years_per_year": Kpi(
        "Life-years lived a year by people with a NEN, undiscounted (England-scaled)",
        "life_years",
    ),
    "life_years_discounted_per_year": Kpi(
        "Life-years lived a year by people with a NEN, discounted (England-scaled)",
        "life_years",
        HIGHER,
    ),
    "qalys_discounted_per_year": Kpi(
        "QALYs lived a year by people with a NEN, discounted (England-scaled)",
        "life_years",
        HIGHER,
    ),
    "life_years_discounted_per_1000_diagnosed": Kpi(
        "Discounted life-years in the window per 1,000 people diagnosed in it",
        "life_years",
    ),
    "qalys_discounted_per_1000_diagnosed": Kpi(
        "Discounted QALYs in the window per 1,000 people diagnosed in it",
        "life_years",
    ),
    "cost_total_per_year": Kpi(
        "NHS and PSS cost a year, all categories and fixed costs, discounted (GBP, England)",
        "gbp",
    ),
    "cost_total_per_patient_diagnosed": Kpi(
        "NHS and PSS cost in the window per person diagnosed in it (GBP, discounted)",
        "gbp",
    ),
    **{
        f"cost_year_{i}": Kpi(
            f"NHS and PSS cost in year {i} after the policy start (the measured window's start), "
            "undiscounted, fixed costs included (GBP, England): its difference from the base is "
            "that year's budget impact",
            "gbp",
        )
        for i in range(1, BUDGET_YEARS + 1)
    },
    **{
        f"cost_{c}_per_year": Kpi(
            f"Cost a year: {c.replace('_', ' ')} (GBP, England, discounted)",
            "gbp",
        )
        for c in COST_CATEGORIES
    },
    **{
        f"cost_{c}_per_patient_diagnosed": Kpi(
            f"Cost per person diagnosed: {c.replace('_', ' ')} (GBP, discounted)",
            "gbp",
        )
        for c in COST_CATEGORIES
    },
}
"""The economic KPIs, registered in :data:`sim.measures.kpis.KPIS`."""

REGIONAL_ECONOMIC_KPIS = (
    "all_deaths_per_year",
    "life_years_discounted_per_year",
    "qalys_discounted_per_year",
    "cost_total_per_year",
    "cost_total_per_patient_diagnosed",
    *(f"cost_{c}_per_year" for c in COST_CATEGORIES),
    *(f"cost_{c}_per_patient_diagnosed" for c in COST_CATEGORIES),
)
"""Economic KPIs also reported per region (``<kpi>__<region>``): outcomes and the total, and
every cost category a year and per person diagnosed (fixed costs shared by population)."""


def economic_kpis(
    scenario: Scenario,
    result: RunResult,
    journeys: pd.DataFrame,
    ev: pd.DataFrame | None = None,
    rate: float | None = None,
) -> dict[str, float]:
    """The economic KPIs of one replication (England, and per region for
    :data:`REGIONAL_ECONOMIC_KPIS`); {} if the scenario has no ``[economics]`` table."""
    econ = scenario.economics
    if econ is None:
        return {}
    ev = pd.DataFrame(result.events) if ev is None else ev
    w0, h, scale = result.warmup_days, result.horizon_days, result.population_scale
    years = (h - w0) / DAYS_PER_YEAR
    r = econ.discount_rate if rate is None else rate
    seg = health_segments(ev, journeys, econ, scenario, h)
    items = cost_items(ev, journeys, scenario, result.resources, h, seg)
    pat = patient_economics(
        ev, journeys, scenario, result.resources, (w0, h), rate=r, items=items, seg=seg
    )
    fixed_total = sum(econ.fixed_costs_per_year.values()) * econ.fixed_costs_multiplier
    fixed_total *= price_factor(econ)
    fixed_window = fixed_total * float(discounted_years(w0, h, w0, r))  # England, in the window
    pop = scenario.population.region_population_millions
    pop_total = sum(pop[x] for x in REGIONS)
    times = result.extra.get("unseen_nen_death_time")
    regions_unseen = result.extra.get("unseen_nen_death_region")
    out: dict[str, float] = {}
    for suffix, region in [("", None), *((f"__{x}", x) for x in REGIONS)]:
        if region is None:
            mask = np.ones(len(journeys), dtype=bool)
            fixed = fixed_window
            r_index = None
        else:
            mask = (journeys["region"] == region).to_numpy()
            fixed = fixed_window * pop[region] / pop_total
            r_index = REGIONS.index(region)
        j, pt = journeys[mask], pat[mask]
        dt = j["death_time"].to_numpy(dtype=float)
        dead = (dt >= w0) & (dt <= h)
        cause = j["death_cause"].to_numpy(dtype=float)
        unseen = 0
        if times is not None and regions_unseen is not None:
            m = (times >= w0) & (times <= h)
            if r_index is not None:
                m &= regions_unseen == r_index
            unseen = int(m.sum())
        dx = j["diagnosis_time"].to_numpy(dtype=float)
        n_dx = int(((dx >= w0) & (dx <= h)).sum())
        per_dx = 1.0 / n_dx if n_dx else float("nan")
        k: dict[str, float] = {
            "all_deaths_per_year": (int(dead.sum()) + unseen) / years / scale,
            "other_cause_deaths_per_year": float((dead & (cause == 1)).sum()) / years / scale,
            "life_years_per_year": _exact_sum(pt["life_years"]) / years / scale,
            "life_years_discounted_per_year": _exact_sum(pt["life_years_discounted"])
            / years
            / scale,
            "qalys_discounted_per_year": _exact_sum(pt["qalys_discounted"]) / years / scale,
            "life_years_discounted_per_1000_diagnosed": 1000
            * _exact_sum(pt["life_years_discounted"])
            * per_dx,
            "qalys_discounted_per_1000_diagnosed": 1000
            * _exact_sum(pt["qalys_discounted"])
            * per_dx,
        }
        # Fixed costs are England amounts: per patient they are shared over the England-scaled
        # number diagnosed (n_dx / scale).
        total = _exact_sum(pt["cost_total"]) / scale + fixed
        k["cost_total_per_year"] = total / years
        k["cost_total_per_patient_diagnosed"] = total * scale * per_dx
        for c in COST_CATEGORIES:
            v = fixed if c == "fixed" else _exact_sum(pt[f"cost_{c}"]) / scale
            k[f"cost_{c}_per_year"] = v / years
            k[f"cost_{c}_per_patient_diagnosed"] = v * scale * per_dx
        for name, value in k.items():
            if region is None or name in REGIONAL_ECONOMIC_KPIS:
                out[f"{name}{suffix}"] = value
    out.update(budget_by_year(scenario, result, journeys, ev, fixed_total, items))
    return out


def budget_by_year(
    scenario: Scenario,
    result: RunResult,
    journeys: pd.DataFrame,
    ev: pd.DataFrame,
    fixed_per_year: float,
    items: CostItems | None = None,
) -> dict[str, float]:
    """``cost_year_<i>``: the NHS and PSS cost in year *i* after the measured window's start
    (England-scaled, fixed costs included), **undiscounted** as a budget impact analysis
    reports it (ISPOR good practice: budget holders pay nominal amounts each year), for the
    years the window covers (at most :data:`BUDGET_YEARS`). Compared with a base, its paired
    difference is the yearly budget impact. The cost items are found once and summed per
    year (:func:`window_cost`); ``items``: the :func:`cost_items` up to the horizon, if
    already found."""
    econ = scenario.economics
    assert econ is not None
    w0, h, scale = result.warmup_days, result.horizon_days, result.population_scale
    if items is None:
        items = cost_items(ev, journeys, scenario, result.resources, h)
    out: dict[str, float] = {}
    for i in range(1, BUDGET_YEARS + 1):
        a, b = w0 + (i - 1) * DAYS_PER_YEAR, w0 + i * DAYS_PER_YEAR
        if b > h + 1e-6:
            break
        out[f"cost_year_{i}"] = window_cost(items, (a, b), price_factor(econ)) / scale + (
            fixed_per_year
        )
    return out


# ---------------------------------------------------------------------------------------------
# Comparison: ICER and net monetary benefit from paired replications
# ---------------------------------------------------------------------------------------------

COST_KPI = "cost_total_per_year"
QALY_KPI = "qalys_discounted_per_year"
ICER_COLUMNS = [
    "scenario",
    "replications",
    "d_qalys",
    "d_qalys_low",
    "d_qalys_high",
    "d_cost",
    "d_cost_low",
    "d_cost_high",
    "icer",
    "icer_low",
    "icer_high",
    "icer_note",
    *(f"nmb_{int(x)}{suffix}" for x in THRESHOLDS for suffix in ("", "_low", "_high")),
]
"""Columns of :func:`icer_table`: per year (England), discounted, GBP."""


def _t_interval(x: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    m = float(np.mean(x))
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def icer_row(d_cost: np.ndarray, d_qaly: np.ndarray, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """ICER and net monetary benefit from paired per-replication differences (scenario - base)
    of cost a year and QALYs a year.

    The ICER is mean(dC) / mean(dQ); its 95% interval is the 2.5th-97.5th centile of the ratio of
    means over :data:`BOOTSTRAP_SAMPLES` bootstrap resamples of the replications (pairs kept
    together), seeded with ``seed``. Where the bootstrap interval of the QALY difference
    includes zero the ICER's interval crosses infinity, and where the cost difference's includes
    zero it crosses zero: the row then gives no interval and ``icer_note`` says so. Differences
    and net monetary benefit (threshold x dQ - dC) have paired-t intervals.
    """
    d_cost, d_qaly = np.asarray(d_cost, dtype=float), np.asarray(d_qaly, dtype=float)
    n = len(d_cost)
    row: dict[str, Any] = {"replications": n}
    row["d_qalys"], row["d_qalys_low"], row["d_qalys_high"] = _t_interval(d_qaly)
    row["d_cost"], row["d_cost_low"], row["d_cost_high"] = _t_interval(d_cost)
    for lam in THRESHOLDS:
        m, lo, hi = _t_interval(lam * d_qaly - d_cost)
        row[f"nmb_{int(lam)}"], row[f"nmb_{int(lam)}_low"], row[f"nmb_{int(lam)}_high"] = m, lo, hi
    mq, mc = float(d_qaly.mean()), float(d_cost.mean())
    row["icer"] = mc / mq if mq != 0 else float("nan")
    row["icer_low"] = row["icer_high"] = float("nan")
    if np.all(d_qaly == 0) and np.all(d_cost == 0):
        row["icer_note"] = (
            "identical to the base in every replication: no incremental cost or QALYs"
        )
        return row
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
    bq, bc = d_qaly[idx].mean(axis=1), d_cost[idx].mean(axis=1)
    q_lo, q_hi = np.quantile(bq, [0.025, 0.975])
    c_lo, c_hi = np.quantile(bc, [0.025, 0.975])
    notes = []
    if n < 5:
        notes.append(f"only {n} paired replications: the bootstrap interval is crude")
    if q_lo <= 0 <= q_hi:
        notes.append(
            "the QALY difference's interval includes zero, so the ICER's interval crosses "
            "infinity: these runs cannot tell whether it gains or loses QALYs"
        )
    elif c_lo <= 0 <= c_hi:
        notes.append(
            "the cost difference's interval includes zero, so the ICER's interval crosses "
            "zero: these runs cannot tell whether it costs or saves money"
        )
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = bc / bq
        row["icer_low"], row["icer_high"] = (float(x) for x in np.quantile(ratios, [0.025, 0.975]))
        if mq > 0 and mc < 0:
            notes.append("dominant: more QALYs at lower cost")
        elif mq < 0 and mc > 0:
            notes.append("dominated: fewer QALYs at higher cost")
    row["icer_note"] = "; ".join(notes)
    return row


def icer_table(reps: pd.DataFrame, base: str) -> pd.DataFrame:
    """:data:`ICER_COLUMNS` for every scenario against ``base`` from the replications table
    (paired by replication number); empty if the economic KPIs are absent."""
    if COST_KPI not in reps or QALY_KPI not in reps:
        return pd.DataFrame(columns=ICER_COLUMNS)
    by = {s: g.set_index("replication") for s, g in reps.groupby("scenario", sort=False)}
    rows = []
    for s in by:
        common = by[s].index.intersection(by[base].index)
        dc = (by[s].loc[common, COST_KPI] - by[base].loc[common, COST_KPI]).to_numpy(dtype=float)
        dq = (by[s].loc[common, QALY_KPI] - by[base].loc[common, QALY_KPI]).to_numpy(dtype=float)
        ok = np.isfinite(dc) & np.isfinite(dq)
        if not ok.any():
            continue
        rows.append({"scenario": s, **icer_row(dc[ok], dq[ok])})
    return pd.DataFrame(rows, columns=ICER_COLUMNS)


def _gbp(v: float) -> str:
    a = abs(v)
    text = f"GBP {a / 1e6:,.1f} million" if a >= 1e6 else f"GBP {a:,.0f}"
    return ("-" if v < 0 else "") + text


def _interval(lo: float, hi: float, fmt: Any) -> str:
    if lo != lo or hi != hi:
        return "95% CI not available"
    return f"95% CI {fmt(lo)} to {fmt(hi)}"


def economic_headline(row: dict[str, Any], label: str) -> str:
    """One plain-English sentence from an :func:`icer_table` row."""
    if row["icer_note"].startswith("identical"):
        return f"{label}: {row['icer_note']}."
    q, c = row["d_qalys"], row["d_cost"]
    qs = _interval(row["d_qalys_low"], row["d_qalys_high"], lambda x: f"{x:,.1f}")
    cs = _interval(row["d_cost_low"], row["d_cost_high"], _gbp)
    gain = "gain" if q >= 0 else "lose"
    cost = f"an extra cost of {_gbp(c)} a year" if c >= 0 else f"a saving of {_gbp(-c)} a year"
    text = (
        f"{label} would {gain} {abs(q):,.1f} QALYs a year ({qs}) at {cost} ({cs}), "
        "discounted, England"
    )
    if q > 0 and c > 0:
        icer = f"{_gbp(row['icer'])} per QALY gained"
        if row["icer_low"] == row["icer_low"]:
            icer += f" (bootstrap 95% CI {_gbp(row['icer_low'])} to {_gbp(row['icer_high'])})"
        text += f": {icer}"
    elif q > 0 >= c:
        text += ": it dominates (more QALYs for less money)"
    elif q <= 0 <= c:
        text += ": it is dominated (no QALYs gained for more money)"
    else:
        text += f": {_gbp(row['icer'])} saved per QALY lost"
    nmb = "; ".join(
        f"Net monetary benefit at {_gbp(x)}/QALY {_gbp(row[f'nmb_{int(x)}'])} a year "
        f"({_interval(row[f'nmb_{int(x)}_low'], row[f'nmb_{int(x)}_high'], _gbp)})"
        for x in THRESHOLDS
    )
    note = f" Note: {row['icer_note']}." if row["icer_note"] else ""
    return f"{text}. {nmb}.{note}"


def economic_headlines(reps: pd.DataFrame, base: str, label: Any = str) -> dict[str, str]:
    """One headline per scenario other than ``base`` ({} without economic KPIs); ``label``
    names a scenario (default: its name)."""
    table = icer_table(reps, base)
    return {
        r["scenario"]: economic_headline(r, label(r["scenario"]))
        for r in table.to_dict("records")
        if r["scenario"] != base
    }


ECONOMICS_FILE = "economics.csv"


def write_economics(folder: Any, reps: pd.DataFrame, base: str) -> pd.DataFrame:
    """Write :func:`icer_table` to ``folder/economics.csv`` (nothing if the run has no economic
    KPIs) and return it."""
    from pathlib import Path

    from sim.core.io import write_csv

    table = icer_table(reps, base)
    if not table.empty:
        write_csv(Path(folder) / ECONOMICS_FILE, table)
    return table
