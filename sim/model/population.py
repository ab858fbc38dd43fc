"""Incident NENs in England: when disease starts, where, and in whom.

Onsets (symptom onset, or for silent tumours the time they become detectable) arrive in each of
the seven NHS England regions as a Poisson process with rate

    incidence_per_year * population_scale * region_share * (1 + annual_growth) ** years,

where ``region_share`` is the region's share of England's population. Onsets are generated from
``prehistory_years`` before t=0 so that people already on a long pre-presentation journey at the
start are present; only those who first present at t >= 0 enter the simulation.

Attributes are drawn once per patient, by inversion, from that patient's own uniforms
(:class:`sim.core.streams.PatientDraws`): primary site; grade given site; functional syndrome given
site; SSTR status given grade; age; sex; MEN1. The same synthetic patient therefore appears in
every scenario that leaves the population alone.

Vectorised: the whole population is a handful of numpy arrays; no per-patient Python here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.core.constants import DAYS_PER_YEAR
from sim.core.errors import RunControlError
from sim.core.streams import PatientDraws, Streams
from sim.scenario.schema import GRADES, REGIONS, SITES, Population, RunControls


@dataclass(frozen=True)
class PopulationArrays:
    """One entry per generated patient (ids ``0..n-1``, region by region, onset order within)."""

    onset: NDArray[np.float64]
    """Onset time (days; negative = before the simulation start)."""
    region: NDArray[np.int8]
    site: NDArray[np.int8]
    grade: NDArray[np.int8]
    functional: NDArray[np.bool_]
    sstr_positive: NDArray[np.bool_]
    age: NDArray[np.float64]
    """Age at onset (years)."""
    female: NDArray[np.bool_]
    men1: NDArray[np.bool_]
    counts: list[int]
    """Patients per region, in ``config.REGIONS`` order."""

    @property
    def n(self) -> int:
        return len(self.onset)


def expected_onsets(pop: Population, t0: float, t1: float, region: str) -> float:
    """Expected onsets in ``region`` over ``[t0, t1)`` days (the Poisson mean)."""
    total = sum(pop.region_population_millions.values())
    lam = (
        pop.incidence_per_year
        * pop.population_scale
        * (pop.region_population_millions[region] / total)
        / DAYS_PER_YEAR
    )
    beta = math.log1p(pop.annual_growth) / DAYS_PER_YEAR
    if abs(beta) < 1e-15:
        return lam * (t1 - t0)
    return lam * (math.exp(beta * t1) - math.exp(beta * t0)) / beta


MAX_PATIENTS = 5_000_000
"""Most patients a replication may generate: about 15 GB of memory (:data:`BYTES_PER_PATIENT`),
twenty times a national 22-year replication."""
BYTES_PER_PATIENT = 3_000
"""Peak memory per generated patient, measured: 707 MB for the 230,000 patients of a national
replication with 15 years of prehistory, 12 of warm-up and 10 measured (README, Performance)."""


def expected_patients(pop: Population, horizon_days: float) -> float:
    """Patients a replication to ``horizon_days`` generates on average, prehistory included."""
    t0 = -pop.prehistory_years * DAYS_PER_YEAR
    return sum(expected_onsets(pop, t0, horizon_days, region) for region in REGIONS)


def check_run_size(pop: Population, controls: RunControls) -> None:
    """Refuse, before anything runs, a replication too large to hold in memory
    (:data:`MAX_PATIENTS`), with the estimate and what to lower."""
    n = expected_patients(pop, controls.horizon_days)
    if n <= MAX_PATIENTS:
        return
    years = pop.prehistory_years + controls.horizon_days / DAYS_PER_YEAR
    raise RunControlError(
        f"too large: a replication would simulate about {n:,.0f} patients (incidence "
        f"{pop.incidence_per_year:g} a year x population scale {pop.population_scale:g} over "
        f"{years:g} years, prehistory and warm-up included), needing about "
        f"{n * BYTES_PER_PATIENT / 1e9:,.0f} GB of memory per worker; at most {MAX_PATIENTS:,} "
        f"patients (about {MAX_PATIENTS * BYTES_PER_PATIENT / 1e9:.0f} GB) are allowed: lower "
        "--scale, --years or --warmup-years"
    )


def _onset_times(
    rng: np.random.Generator, n: int, t0: float, t1: float, beta: float
) -> NDArray[np.float64]:
    """``n`` sorted onset times on [t0, t1) with density proportional to exp(beta t)."""
    u = np.sort(rng.random(n))
    if abs(beta) < 1e-15:
        return t0 + (t1 - t0) * u
    a, b = math.exp(beta * t0), math.exp(beta * t1)
    return np.log(a + u * (b - a)) / beta


def _choose(u: NDArray[np.float64], probs: NDArray[np.float64]) -> NDArray[np.int8]:
    """Category index by inversion: ``probs`` is (n_categories,) or (n, n_categories)."""
    cum = np.cumsum(probs, axis=-1)
    if cum.ndim == 1:
        idx = np.searchsorted(cum, u, side="right")
        return np.minimum(idx, len(cum) - 1).astype(np.int8)
    idx = (u[:, None] >= cum).sum(axis=1)
    return np.minimum(idx, cum.shape[1] - 1).astype(np.int8)


def generate_population(
    pop: Population, streams: Streams, horizon_days: float
) -> tuple[PopulationArrays, PatientDraws]:
    """Generate every patient with onset in ``[-prehistory, horizon)``.

    Returns the arrays and the :class:`PatientDraws` addressing each patient's own uniforms.
    """
    t0 = -pop.prehistory_years * DAYS_PER_YEAR
    beta = math.log1p(pop.annual_growth) / DAYS_PER_YEAR
    onsets, counts = [], []
    for r, region in enumerate(REGIONS):
        rng = streams.fresh("population/onsets", r)
        n = int(rng.poisson(expected_onsets(pop, t0, horizon_days, region)))
        onsets.append(_onset_times(rng, n, t0, horizon_days, beta))
        counts.append(n)
    draws = PatientDraws(streams, counts)
    n_total = draws.n_patients
    region_idx = np.repeat(np.arange(len(REGIONS), dtype=np.int8), counts)

    site_p = np.array([pop.site_shares[s] for s in SITES])
    site = _choose(draws.column("site"), site_p)
    grade_table = np.array([[pop.grade_shares_by_site[s][g] for g in GRADES] for s in SITES])
    grade = _choose(draws.column("grade"), grade_table[site])
    func_p = np.array([pop.functional_share_by_site[s] for s in SITES])
    functional = draws.column("functional") < func_p[site]
    sstr_p = np.array([pop.sstr_positive_share_by_grade[g] for g in GRADES])
    sstr = draws.column("sstr") < sstr_p[grade]
    age = np.asarray(pop.age_years.ppf(draws.column("age")), dtype=float)
    female = draws.column("sex") < pop.female_share
    men1 = draws.column("men1") < pop.men1_share
    arrays = PopulationArrays(
        onset=np.concatenate(onsets) if onsets else np.empty(0),
        region=region_idx,
        site=site,
        grade=grade,
        functional=functional,
        sstr_positive=sstr,
        age=age,
        female=female,
        men1=men1,
        counts=counts,
    )
    assert arrays.n == n_total
    return arrays, draws
