"""KPIs: pure functions of the event log.

::

    events + patient attributes --patient_journeys--> one row per patient (milestone times)
    journeys + events          --replication_kpis--> one row per replication (KPI -> value)

Warm-up is a filter, not a reset: patient KPIs count patients *diagnosed* in the measured window
``[warmup_days, horizon_days]``; capacity KPIs count sessions and queue joins in that window.
Every KPI is also reported per NHS region as ``<kpi>__<region>``. Counts of patients are
England-scaled (divided by ``population_scale``).

Definitions follow the National Cancer Diagnosis Audit (NCDA) and NHS cancer waiting-time rules
where they exist:

* patient interval: symptom onset to first GP consultation (symptomatic patients);
* primary-care interval: first GP consultation to first referral of any kind (NCDA);
* diagnostic interval: first presentation to diagnosis (NCDA);
* 28-day Faster Diagnosis Standard: urgent suspected-cancer referral to the patient being told
  (the clinical diagnosis when imaging shows the tumour, or histology if that comes first);
  ``histology_28d_share`` is the stricter referral-to-histology measure;
* 31-day standard: decision to treat to first treatment;
* 62-day standard: urgent referral (or consultant upgrade, taken as first seen for routine,
  incidental and surveillance routes) to first treatment; emergency presentations excluded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sim.core.constants import DAYS_PER_YEAR
from sim.core.events import REFERRAL_TYPES, CaseClass, DeathCause
from sim.core.events import EventKind as K
from sim.measures.economics import ECONOMIC_KPIS
from sim.measures.registry import HIGHER, KINDS, LOWER, Kpi, check, view
from sim.model.resources import KINDS as RESOURCE_KINDS
from sim.model.simulation import ResourceInfo, RunResult
from sim.scenario.schema import (
    GP_OUTCOMES,
    GRADES,
    REGIONS,
    ROUTES,
    SITES,
    STAGES,
    TREATMENTS,
)

NEW, PROGRESSION, REVIEW = CaseClass.NEW, CaseClass.PROGRESSION, CaseClass.REVIEW
MISATTRIBUTED = GP_OUTCOMES.index("misattributed")
AGE_BANDS = (("under_56", 0, 55), ("56_65", 55, 65), ("66_75", 65, 75), ("over_75", 75, 200))


PFS_TREATMENTS = ("ssa", "prrt", "everolimus", "sunitinib", "captem")
"""Treatments whose progression-free survival is checked against their trials (England only:
a region has too few lines for a median)."""

REGISTRY: dict[str, Kpi] = {
    "diagnosed_per_year": Kpi(
        "New NEN diagnoses per year (England-scaled)", "per_year", show=("table", "cli", "psa")
    ),
    "symptom_to_diagnosis_days_median": Kpi(
        "Median symptom onset to diagnosis, symptomatic patients",
        "days",
        LOWER,
        "the median time from first symptoms to diagnosis",
        show=("table", "headline", "cli", "psa", "range"),
    ),
    "patient_interval_days_median": Kpi(
        "Median symptom onset to first GP consultation", "days", LOWER
    ),
    "primary_care_interval_days_median": Kpi(
        "Median first GP consultation to first referral",
        "days",
        LOWER,
        show=("table", "cli", "psa"),
    ),
    "diagnostic_interval_days_median": Kpi(
        "Median first presentation to diagnosis",
        "days",
        LOWER,
        "the median time from first presentation to diagnosis",
        show=("table", "headline", "cli", "psa", "range", "range_headline"),
    ),
    "gp_consultations_before_referral_mean": Kpi(
        "Mean GP consultations before first referral", "mean_count", LOWER, show=("table",)
    ),
    "gp_consultations_3plus_share": Kpi(
        "Share with 3+ GP consultations before referral", "share", LOWER
    ),
    "emergency_presentation_share": Kpi(
        "Share diagnosed after an emergency presentation",
        "share",
        LOWER,
        "the share diagnosed after an emergency presentation",
        show=("table", "headline", "cli", "psa"),
    ),
    "urgent_referral_share": Kpi(
        "Share diagnosed after an urgent suspected-cancer referral",
        "share",
        show=("table", "psa"),
    ),
    "incidental_share": Kpi("Share diagnosed after an incidental finding", "share"),
    "stage_localised_at_diagnosis_share": Kpi(
        "Share localised at diagnosis", "share", HIGHER, show=("table",)
    ),
    "stage_distant_at_diagnosis_share": Kpi(
        "Share with distant spread at diagnosis",
        "share",
        LOWER,
        show=("table", "cli", "psa", "range"),
    ),
    "spread_at_diagnosis_share": Kpi(
        "Share whose NEN had spread at diagnosis (true stage, whether or not staging found it)",
        "share",
        LOWER,
    ),
    "distant_diagnosed_per_year": Kpi(
        "People a year diagnosed with distant spread (England-scaled)",
        "per_year",
        LOWER,
        "the number of people a year diagnosed with distant spread",
        "be diagnosed with distant spread",
        show=("table", "headline"),
        derived=True,
    ),
    "localised_diagnosed_per_year": Kpi(
        "People a year diagnosed with localised disease (England-scaled)", "per_year", derived=True
    ),
    "spread_before_diagnosis_per_year": Kpi(
        "People a year whose NEN spread (distant) before diagnosis: diagnosed with spread disease "
        "(true stage, found by staging or not), or died of it undiagnosed (England-scaled)",
        "per_year",
        LOWER,
        "the number of people a year whose NEN spread before diagnosis (diagnosed with distant "
        "spread, or died of it undiagnosed)",
        "have their NEN spread before diagnosis (diagnosed with distant spread, or dying of it "
        "undiagnosed)",
        show=("table", "headline"),
        derived=True,
    ),
    "fds_28d_share": Kpi(
        "Urgent referrals told their diagnosis within 28 days (Faster Diagnosis "
        "Standard: clinical diagnosis at imaging, or histology if sooner)",
        "share",
        HIGHER,
        "the share of urgent referrals diagnosed within 28 days",
        show=("table", "headline", "cli", "psa", "capacity"),
    ),
    "histology_28d_share": Kpi(
        "Urgent referrals with a histological diagnosis within 28 days",
        "share",
        HIGHER,
        show=("capacity",),
    ),
    "dtt_31d_share": Kpi(
        "First treatments within 31 days of decision to treat",
        "share",
        HIGHER,
        show=("table", "capacity"),
    ),
    "rtt_62d_share": Kpi(
        "First treatments within 62 days of referral or upgrade",
        "share",
        HIGHER,
        "the share treated within 62 days of referral",
        show=("table", "headline", "cli", "psa", "range", "capacity"),
    ),
    "specialist_mdt_discussed_share": Kpi(
        "Share of new patients discussed at a specialist NET MDT",
        "share",
        HIGHER,
        "the share of new patients discussed at a specialist MDT",
        show=("table", "headline", "cli", "range"),
    ),
    "diagnosis_to_specialist_mdt_days_median": Kpi(
        "Median diagnosis to specialist MDT discussion",
        "days",
        LOWER,
        "the median time from diagnosis to specialist MDT discussion",
        show=("table", "headline", "cli", "range", "capacity"),
    ),
    "diagnosis_to_specialist_mdt_days_p90": Kpi(
        "90th centile diagnosis to specialist MDT discussion", "days", LOWER, show=("capacity",)
    ),
    **{
        f"specialist_mdt_within_{d}d_share": Kpi(
            "Share of patients listed for the specialist MDT discussed within "
            f"{d} days of diagnosis",
            "share",
            HIGHER,
            show=("table", "psa", "capacity") if d == 14 else ("capacity",),
        )
        for d in (14, 21, 28)
    },
    "mdt_rediscussions_per_year": Kpi(
        "MDT re-discussions (progressions, reviews) per year", "per_year"
    ),
    "specialist_mdt_utilisation": Kpi(
        "Specialist MDT slots used / offered", "share", show=("table", "cli", "capacity")
    ),
    "specialist_mdt_backlog_mean": Kpi(
        "Mean cases left waiting after a specialist MDT meeting (England-scaled)",
        "count",
        LOWER,
        show=("table", "capacity"),
    ),
    "pet_wait_days_median": Kpi(
        "Median wait for Ga-68 DOTATATE PET", "days", LOWER, show=("table", "capacity")
    ),
    "prrt_wait_days_median": Kpi(
        "Median wait for the first PRRT cycle", "days", LOWER, show=("table", "capacity")
    ),
    "one_year_survival_share": Kpi(
        "Share alive one year after diagnosis",
        "share",
        HIGHER,
        "the share alive one year after diagnosis",
        show=("table", "headline", "psa"),
    ),
    "alive_diagnosed_within_5y": Kpi(
        "People alive at the end diagnosed in the last 5 years", "count"
    ),
    "age_at_diagnosis_median": Kpi("Median age at diagnosis (years)", "years"),
    "female_share": Kpi("Share female among diagnosed", "share"),
    "nec_share": Kpi("Share of diagnoses that are neuroendocrine carcinomas (NEC)", "share"),
    **{
        f"site_{s}_share": Kpi(
            f"Share of diagnoses with primary site {s.replace('_', ' ')}", "share"
        )
        for s in SITES
    },
    "gp_consulted_share": Kpi("Share who saw a GP about their symptoms before diagnosis", "share"),
    "misattributed_share": Kpi(
        "Share of GP-consulting patients whose symptoms were first attributed to something else",
        "share",
        LOWER,
    ),
    "one_year_survival_age_under_56_share": Kpi(
        "One-year survival, aged 55 or under at diagnosis", "share", HIGHER
    ),
    "one_year_survival_age_56_65_share": Kpi(
        "One-year survival, aged 56-65 at diagnosis", "share", HIGHER
    ),
    "one_year_survival_age_66_75_share": Kpi(
        "One-year survival, aged 66-75 at diagnosis", "share", HIGHER
    ),
    "one_year_survival_age_over_75_share": Kpi(
        "One-year survival, aged over 75 at diagnosis", "share", HIGHER
    ),
    **{
        f"one_year_survival_registry_age_{band}_share": Kpi(
            f"One-year survival as a registry measures it, aged {words} at diagnosis "
            "(NEN deaths before histology count as dying at diagnosis, at their age at death)",
            "share",
            HIGHER,
        )
        for band, words in (
            (band, f"{hi} or under" if lo == 0 else f"over {lo}" if hi >= 120 else f"{lo + 1}-{hi}")
            for band, lo, hi in AGE_BANDS
        )
    },
    "died_undiagnosed_per_year": Kpi(
        "NEN deaths per year of people who presented but died before a histological diagnosis "
        "(registries count them from clinical records)",
        "per_year",
        LOWER,
    ),
    "registered_per_year": Kpi(
        "NENs a cancer registry would count a year: diagnoses plus NEN deaths before "
        "histological diagnosis (seen in hospital, or death-certificate-only)",
        "per_year",
    ),
    "one_year_survival_registry_share": Kpi(
        "One-year survival as a registry measures it: death-certificate-only registrations "
        "count as dying at diagnosis",
        "share",
        HIGHER,
    ),
    "unseen_nen_deaths_per_year": Kpi(
        "NEN deaths per year of people never seen by health services for it "
        "(death-certificate-only registrations)",
        "per_year",
        LOWER,
    ),
    "unseen_nen_death_share": Kpi(
        "Death-certificate-only share of registrations: NEN deaths never seen by health "
        "services / (diagnoses + NEN deaths before diagnosis)",
        "share",
        LOWER,
    ),
    "nen_deaths_per_year": Kpi(
        "NEN deaths per year, diagnosed or not (England-scaled)",
        "per_year",
        LOWER,
        "the number of NEN deaths a year",
        "die of their NEN",
        show=("headline",),
    ),
    "five_year_survival_share": Kpi(
        "Share alive five years after diagnosis (diagnosed 5-10 years before the end of the run)",
        "share",
        HIGHER,
        "the share alive five years after diagnosis",
        show=("headline",),
    ),
    "rediscussed_share": Kpi(
        "Share of new patients discussed again (progression or review) within 12 months of "
        "their first MDT discussion",
        "share",
    ),
    "prrt_patients_per_year": Kpi("Patients starting PRRT per year (England-scaled)", "per_year"),
    "prrt_appendix_share": Kpi("Share of PRRT patients with an appendix primary", "share"),
    "prrt_localised_at_diagnosis_share": Kpi(
        "Share of PRRT patients localised at diagnosis", "share"
    ),
    **{
        f"{t}_pfs_days_median": Kpi(
            f"Kaplan-Meier median progression-free survival on {t.upper() if len(t) <= 4 else t} "
            "for spread G1/G2 disease (England; lines started in the window)",
            "days",
        )
        for t in PFS_TREATMENTS
    },
    "nec_distant_survival_days_median": Kpi(
        "Kaplan-Meier median survival of NEC distant at diagnosis (England)", "days"
    ),
    # Outcomes and costs (sim/measures/economics.py; present when the scenario has [economics]).
    **ECONOMIC_KPIS,
}
"""Every KPI but the regional gaps, in report order (see :class:`Kpi` for what a declaration
says)."""

# The equity measure: a KPI tagged "range" has its gap between regions declared with it.
REGISTRY |= {
    f"{k}_region_range": Kpi(
        f"Gap between regions (highest - lowest): {v.label}",
        v.kind,  # days apart, or a share's percentage points
        LOWER,
        f"the gap between the highest and lowest region in {v.phrase.removeprefix('the ')}"
        if v.phrase
        else "",
        show=("headline",) if "range_headline" in v.show else (),
        derived=True,
    )
    for k, v in list(REGISTRY.items())
    if "range" in v.show
}
check(REGISTRY)

KPIS: dict[str, Kpi] = {k: v for k, v in REGISTRY.items() if not v.derived}
"""The KPI registry: KPIs of one replication, computed from its event log. Names are part of
the interface; labels and kinds (unit and bounds, :data:`KINDS`) in report order. Every other
list of KPI facts derives from :data:`REGISTRY`."""

DERIVED_KPIS: dict[str, Kpi] = {k: v for k, v in REGISTRY.items() if v.derived}
"""KPIs computed per replication from the others when scenarios are compared
(:func:`sim.reporting.compare.add_derived_kpis`)."""

RANGE_KPIS = view(REGISTRY, "range")
"""KPIs whose spread between regions (max - min of the seven regional values, per replication)
is reported as ``<kpi>_region_range``: the equity measure."""

BETTER: dict[str, int] = {k: v.better for k, v in REGISTRY.items() if v.better}
"""Which way is better for patients (-1 lower, +1 higher), for KPIs that have a direction."""

KPI_DESCRIPTIONS: dict[str, str] = {k: v.label for k, v in KPIS.items()}
"""Labels of :data:`KPIS` (derived from it)."""


def kpi_info(name: str) -> Kpi | None:
    """The declaration of a KPI, derived KPI or ``<kpi>__<region>`` (None if unknown)."""
    base = name.partition("__")[0]
    return KPIS.get(base) or DERIVED_KPIS.get(base)


def kpi_bounds(name: str) -> tuple[float, float]:
    """The bounds of a KPI's values from its kind; unknown KPIs are unbounded."""
    info = kpi_info(name)
    if info is None:
        return -math.inf, math.inf
    kind = KINDS[info.kind]
    return kind.lower, kind.upper


# ---------------------------------------------------------------------------------------------
# Patient journeys
# ---------------------------------------------------------------------------------------------


def events_frame(result: RunResult) -> pd.DataFrame:
    """The replication's event arrays as a DataFrame (time-sorted)."""
    return pd.DataFrame(result.events)


def patient_journeys(result: RunResult) -> pd.DataFrame:
    """One row per patient who entered the pathway, with milestone times (days) and attributes.

    Milestones absent for a patient are NaN. Columns ``*_time`` are absolute simulation times.
    """
    ev = events_frame(result)
    pe = ev[ev["patient"] >= 0]
    pat = pd.DataFrame(result.patients).set_index("patient")
    j = pd.DataFrame(index=pat.index)
    j.index.name = "patient"
    for col in ("region", "site", "grade", "stage_at_onset"):
        j[col] = pat[col].astype(int)
    j["region"] = pd.Categorical.from_codes(j["region"], REGIONS)
    j["site"] = pd.Categorical.from_codes(j["site"], SITES)
    j["grade"] = pd.Categorical.from_codes(j["grade"], GRADES)
    for col in ("functional", "sstr_positive", "female", "men1", "age_at_onset", "onset_time"):
        j[col] = pat[col]
    if "symptomatic" in pat:
        j["symptomatic"] = pat["symptomatic"]

    kind = pe["kind"].to_numpy()
    by_kind = {
        k: pe[kind == k]
        for k in (
            K.PRESENTATION,
            K.GP_CONSULTATION,
            K.REFERRAL,
            K.FIRST_SEEN,
            K.TESTS_REPORTED,
            K.BIOPSY,
            K.DIAGNOSIS,
            K.RESTAGED,
            K.DECISION_TO_TREAT,
            K.TREATMENT_START,
            K.PROGRESSION,
            K.DEATH,
        )
    }

    def first(k: K, col: str = "time", frame: pd.DataFrame | None = None) -> pd.Series:
        sub = by_kind[k] if frame is None else frame
        return sub.groupby("patient", sort=False)[col].first()

    def last(frame: pd.DataFrame, col: str = "time") -> pd.Series:
        return frame.groupby("patient", sort=False)[col].last()

    j["diagnosis_time"] = first(K.DIAGNOSIS)
    # Stage at diagnosis as a registry records it: after staging (PET may find missed spread).
    stage = first(K.RESTAGED, "code").combine_first(first(K.DIAGNOSIS, "code"))
    j["stage_at_diagnosis"] = pd.Categorical.from_codes(
        stage.reindex(j.index).fillna(-1).astype(int), STAGES
    )
    # The true stage then, whether or not staging found the spread.
    j["true_stage_at_diagnosis"] = pd.Categorical.from_codes(
        first(K.DIAGNOSIS, "resource").reindex(j.index).fillna(-1).astype(int), STAGES
    )
    diag = j["diagnosis_time"]

    def before_diagnosis(frame: pd.DataFrame) -> pd.DataFrame:
        d = diag.reindex(frame["patient"]).to_numpy()
        return frame[~(frame["time"].to_numpy() > d)]  # NaN diagnosis keeps everything

    j["first_presentation_time"] = first(K.PRESENTATION)
    pres = before_diagnosis(by_kind[K.PRESENTATION])
    route = last(pres, "code").reindex(j.index).fillna(-1).astype(int)
    j["route"] = pd.Categorical.from_codes(route, ROUTES)
    j["first_gp_time"] = first(K.GP_CONSULTATION)
    j["first_referral_time"] = first(K.REFERRAL)
    refs = before_diagnosis(by_kind[K.REFERRAL])
    j["referral_time"] = last(refs)
    j["referral_type"] = pd.Categorical.from_codes(
        last(refs, "code").reindex(j.index).fillna(-1).astype(int), REFERRAL_TYPES
    )
    # First seen of the episode that led to diagnosis (or of the latest, if undiagnosed).
    seen = before_diagnosis(by_kind[K.FIRST_SEEN])
    ref_t = j["referral_time"].reindex(seen["patient"]).to_numpy()
    j["first_seen_time"] = first(K.FIRST_SEEN, frame=seen[seen["time"].to_numpy() >= ref_t])
    j["first_biopsy_time"] = first(K.BIOPSY)
    reported = before_diagnosis(by_kind[K.TESTS_REPORTED])
    reported = reported[reported["code"] == 1]
    j["tests_reported_time"] = last(reported)
    gp = by_kind[K.GP_CONSULTATION]
    first_ref = j["first_referral_time"].reindex(gp["patient"]).to_numpy()
    pre_ref = gp[~(gp["time"].to_numpy() > first_ref)]
    j["gp_consultations_before_referral"] = (
        pre_ref.groupby("patient").size().reindex(j.index).fillna(0).astype(int)
    )
    j["gp_consultations"] = gp.groupby("patient").size().reindex(j.index).fillna(0).astype(int)
    mis = before_diagnosis(gp[gp["code"] == MISATTRIBUTED])
    j["misattributions"] = mis.groupby("patient").size().reindex(j.index).fillna(0).astype(int)

    rid = {
        name: [r.rid for r in result.resources if r.base == name]
        for name in ("local_mdt", "specialist_mdt", "pet", "prrt", "histopathology")
    }
    joins = pe[(kind == K.QUEUE_JOIN)]
    starts = pe[(kind == K.SERVICE_START)]

    def at(frame: pd.DataFrame, name: str, case_class: int | None = None) -> pd.DataFrame:
        m = frame["resource"].isin(rid[name])
        if case_class is not None:
            m &= frame["code"] == case_class
        return frame[m]

    j["histopathology_listed_time"] = first(K.QUEUE_JOIN, frame=at(joins, "histopathology"))
    j["local_mdt_time"] = first(K.SERVICE_START, frame=at(starts, "local_mdt", NEW))
    j["specialist_mdt_listed_time"] = first(K.QUEUE_JOIN, frame=at(joins, "specialist_mdt", NEW))
    j["specialist_mdt_time"] = first(K.SERVICE_START, frame=at(starts, "specialist_mdt", NEW))
    j["pet_listed_time"] = first(K.QUEUE_JOIN, frame=at(joins, "pet", NEW))
    j["pet_time"] = first(K.SERVICE_START, frame=at(starts, "pet", NEW))
    j["prrt_listed_time"] = first(K.QUEUE_JOIN, frame=at(joins, "prrt"))
    j["prrt_start_time"] = first(K.SERVICE_START, frame=at(starts, "prrt"))
    discussions = pd.concat([at(starts, "local_mdt"), at(starts, "specialist_mdt")])
    j["first_mdt_time"] = first(K.SERVICE_START, frame=discussions[discussions["code"] == NEW])
    again = discussions[discussions["code"] != NEW].groupby("patient")["time"].min()
    j["mdt_rediscussion_time"] = again.reindex(j.index)
    j["decision_to_treat_time"] = first(K.DECISION_TO_TREAT)
    j["first_treatment_time"] = first(K.TREATMENT_START)
    tcode = first(K.TREATMENT_START, "code").reindex(j.index).fillna(-1).astype(int)
    j["first_treatment"] = pd.Categorical.from_codes(tcode, TREATMENTS)
    j["progressions"] = (
        by_kind[K.PROGRESSION].groupby("patient").size().reindex(j.index).fillna(0).astype(int)
    )
    j["death_time"] = first(K.DEATH)
    j["death_cause"] = first(K.DEATH, "code")
    j["clock62_start_time"] = np.where(
        j["referral_type"] == "urgent",
        j["referral_time"],
        np.where(
            j["referral_type"].isin(["routine", "incidental", "surveillance"]),
            j["first_seen_time"],
            np.nan,
        ),
    )
    return j.copy()  # one block per dtype: the many row selections made of it copy fewer


# ---------------------------------------------------------------------------------------------
# Replication KPIs
# ---------------------------------------------------------------------------------------------


def _median(x: pd.Series | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(np.median(x)) if len(x) else float("nan")


def _quantile(x: pd.Series | np.ndarray, q: float) -> float:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(np.quantile(x, q)) if len(x) else float("nan")


def _share(mask: pd.Series | np.ndarray, among: pd.Series | np.ndarray | None = None) -> float:
    m = np.asarray(mask, dtype=bool)
    if among is not None:
        m = m[np.asarray(among, dtype=bool)]
    return float(m.mean()) if len(m) else float("nan")


def _mean(x: pd.Series | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


def patient_kpis(
    j: pd.DataFrame, warmup_days: float, horizon_days: float, scale: float
) -> dict[str, float]:
    """KPIs over the patients in ``j`` diagnosed in the measured window."""
    years = (horizon_days - warmup_days) / DAYS_PER_YEAR
    d = j[(j["diagnosis_time"] >= warmup_days) & (j["diagnosis_time"] <= horizon_days)]
    t_diag = d["diagnosis_time"]
    out: dict[str, float] = {"diagnosed_per_year": len(d) / years / scale}
    symptomatic = d["first_gp_time"].notna()
    if "symptomatic" in d:
        symptomatic = d["symptomatic"].astype(bool)
    out["symptom_to_diagnosis_days_median"] = _median((t_diag - d["onset_time"])[symptomatic])
    had_gp = d["first_gp_time"].notna()
    out["patient_interval_days_median"] = _median(
        (d["first_gp_time"] - d["onset_time"])[had_gp & symptomatic]
    )
    out["primary_care_interval_days_median"] = _median(
        (d["first_referral_time"] - d["first_gp_time"])[had_gp]
    )
    out["diagnostic_interval_days_median"] = _median(t_diag - d["first_presentation_time"])
    out["gp_consultations_before_referral_mean"] = _mean(
        d["gp_consultations_before_referral"][had_gp]
    )
    out["gp_consultations_3plus_share"] = _share(d["gp_consultations_before_referral"] >= 3, had_gp)
    out["emergency_presentation_share"] = _share(d["route"] == "emergency")
    out["urgent_referral_share"] = _share(d["referral_type"] == "urgent")
    out["incidental_share"] = _share(d["route"] == "incidental")
    out["stage_localised_at_diagnosis_share"] = _share(d["stage_at_diagnosis"] == "localised")
    out["stage_distant_at_diagnosis_share"] = _share(d["stage_at_diagnosis"] == "distant")
    out["spread_at_diagnosis_share"] = _share(d["true_stage_at_diagnosis"] == "distant")
    urgent = d["referral_type"] == "urgent"
    told = np.fmin(d["tests_reported_time"], t_diag)
    out["fds_28d_share"] = _share((told - d["referral_time"]) <= 28, urgent)
    out["histology_28d_share"] = _share((t_diag - d["referral_time"]) <= 28, urgent)
    treated = d["first_treatment_time"].notna()
    out["dtt_31d_share"] = _share(
        (d["first_treatment_time"] - d["decision_to_treat_time"]) <= 31, treated
    )
    on62 = treated & d["clock62_start_time"].notna()
    out["rtt_62d_share"] = _share((d["first_treatment_time"] - d["clock62_start_time"]) <= 62, on62)
    out["specialist_mdt_discussed_share"] = _share(d["specialist_mdt_time"].notna())
    to_mdt = d["specialist_mdt_time"] - t_diag
    out["diagnosis_to_specialist_mdt_days_median"] = _median(to_mdt)
    out["diagnosis_to_specialist_mdt_days_p90"] = _quantile(to_mdt, 0.9)
    listed = d["specialist_mdt_listed_time"].notna()
    for days in (14, 21, 28):
        out[f"specialist_mdt_within_{days}d_share"] = _share(to_mdt <= days, listed)
    pet = d[(d["pet_listed_time"].notna())]
    out["pet_wait_days_median"] = _median(pet["pet_time"] - pet["pet_listed_time"])
    one_year = d[d["diagnosis_time"] <= horizon_days - DAYS_PER_YEAR]
    out["one_year_survival_share"] = _share(
        ~((one_year["death_time"] - one_year["diagnosis_time"]) <= DAYS_PER_YEAR)
    )
    recent = j[
        (j["diagnosis_time"] > horizon_days - 5 * DAYS_PER_YEAR)
        & (j["diagnosis_time"] <= horizon_days)
    ]
    out["alive_diagnosed_within_5y"] = float(recent["death_time"].isna().sum()) / scale
    age_dx = d["age_at_onset"] + (t_diag - d["onset_time"]) / DAYS_PER_YEAR
    out["age_at_diagnosis_median"] = _median(age_dx)
    out["female_share"] = _share(d["female"])
    out["nec_share"] = _share(d["grade"] == "NEC")
    for s in SITES:
        out[f"site_{s}_share"] = _share(d["site"] == s)
    out["gp_consulted_share"] = _share(d["first_gp_time"] <= t_diag)
    out["misattributed_share"] = _share(d["misattributions"] > 0, d["first_gp_time"] <= t_diag)
    alive_1y = ~((one_year["death_time"] - one_year["diagnosis_time"]) <= DAYS_PER_YEAR)
    age_1y = age_dx.reindex(one_year.index)
    for band, lo, hi in AGE_BANDS:
        out[f"one_year_survival_age_{band}_share"] = _share(
            alive_1y, (age_1y > lo) & (age_1y <= hi)
        )
    undiagnosed = j[
        j["diagnosis_time"].isna()
        & (j["death_cause"] == DeathCause.NEN)
        & (j["death_time"] >= warmup_days)
        & (j["death_time"] <= horizon_days)
    ]
    out["died_undiagnosed_per_year"] = len(undiagnosed) / years / scale
    out["registered_per_year"] = out["diagnosed_per_year"] + out["died_undiagnosed_per_year"]
    five = j[
        (j["diagnosis_time"] > horizon_days - 10 * DAYS_PER_YEAR)
        & (j["diagnosis_time"] <= horizon_days - 5 * DAYS_PER_YEAR)
    ]
    out["five_year_survival_share"] = _share(
        ~((five["death_time"] - five["diagnosis_time"]) <= 5 * DAYS_PER_YEAR)
    )
    nen_dead = (j["death_cause"] == DeathCause.NEN) & (j["death_time"] >= warmup_days)
    out["nen_deaths_per_year"] = float((nen_dead & (j["death_time"] <= horizon_days)).sum())
    out["nen_deaths_per_year"] /= years * scale
    prrt = j[(j["prrt_start_time"] >= warmup_days) & (j["prrt_start_time"] <= horizon_days)]
    discussed = d["first_mdt_time"] <= horizon_days - DAYS_PER_YEAR
    out["rediscussed_share"] = _share(
        (d["mdt_rediscussion_time"] - d["first_mdt_time"]) <= DAYS_PER_YEAR, discussed
    )
    out["prrt_patients_per_year"] = len(prrt) / years / scale
    out["prrt_appendix_share"] = _share(prrt["site"] == "appendix")
    out["prrt_localised_at_diagnosis_share"] = _share(prrt["stage_at_diagnosis"] == "localised")
    dco = undiagnosed[undiagnosed["death_time"] <= horizon_days - DAYS_PER_YEAR]
    n_1y = len(one_year) + len(dco)
    out["one_year_survival_registry_share"] = float(alive_1y.sum()) / n_1y if n_1y else float("nan")
    age_dco = dco["age_at_onset"] + (dco["death_time"] - dco["onset_time"]) / DAYS_PER_YEAR
    for band, lo, hi in AGE_BANDS:
        alive = int((alive_1y & (age_1y > lo) & (age_1y <= hi)).sum())
        n = int(((age_1y > lo) & (age_1y <= hi)).sum() + ((age_dco > lo) & (age_dco <= hi)).sum())
        out[f"one_year_survival_registry_age_{band}_share"] = alive / n if n else float("nan")
    return out


def capacity_kpis(result: RunResult, ev: pd.DataFrame, region: str | None) -> dict[str, float]:
    """MDT and PRRT capacity KPIs in the measured window, for one region or (None) England.

    ``ev`` holds the resource events and the events of the patients concerned (all of them for
    England, the region's for a region).
    """
    w0, h, scale = result.warmup_days, result.horizon_days, result.population_scale
    years = (h - w0) / DAYS_PER_YEAR
    spec = _rids(result.resources, "specialist_mdt", region)
    mdts = spec + _rids(result.resources, "local_mdt", region)
    time = ev["time"].to_numpy()
    in_window = (time >= w0) & (time <= h)
    kind = ev["kind"].to_numpy()
    res = ev["resource"].to_numpy()
    code = ev["code"].to_numpy()
    mine = in_window & np.isin(res, spec)
    offered = code[mine & (kind == K.SESSION_START)]
    used = code[mine & (kind == K.SESSION_END)]
    out: dict[str, float] = {}
    if len(offered) and (offered >= 0).all():
        out["specialist_mdt_utilisation"] = float(used.sum()) / max(int(offered.sum()), 1)
    else:
        out["specialist_mdt_utilisation"] = float("nan")
    out["specialist_mdt_backlog_mean"] = _backlog_after_sessions(ev, spec, w0, h) / scale
    redisc = in_window & (kind == K.SERVICE_START) & np.isin(res, mdts) & (code != NEW)
    out["mdt_rediscussions_per_year"] = float(redisc.sum()) / years / scale
    prrt = _rids(result.resources, "prrt", region)
    pj = ev[in_window & np.isin(res, prrt) & ((kind == K.QUEUE_JOIN) | (kind == K.SERVICE_START))]
    out["prrt_wait_days_median"] = _prrt_wait(pj)
    return out


RESOURCE_COLUMNS = [
    "resource",
    "base",
    "region",
    "kind",
    "capacity",
    "offered",
    "used",
    "utilisation",
    "wait_days_median",
    "waiting_mean",
]
"""Columns of :func:`resource_utilisation`."""


def resource_utilisation(result: RunResult, ev: pd.DataFrame | None = None) -> pd.DataFrame:
    """How much of every capacity resource was used in the measured window
    ``[warmup_days, horizon_days]``: one row per resource instance (each region's, or the
    national one), columns :data:`RESOURCE_COLUMNS`.

    ``offered`` and ``used`` are counted as each resource kind says
    (:meth:`sim.model.resources.ResourceKind.usage`):

    * weekly sessions: ``offered`` slots of the sessions held in the window (SESSION_START;
      NaN where slots are unlimited), ``used`` slots filled (SESSION_END), as
      ``specialist_mdt_utilisation`` counts them;
    * server pools: ``offered`` server-days on duty, ``used`` busy server-days (a service that
      runs past the end of its shift keeps its server busy, so a scheduled pool can show
      utilisation above 1).

    ``utilisation`` = used / offered. Delays have no capacity and get no row. Slots and
    server-days are those of the run (not England-scaled); ``capacity`` is slots per session
    or servers, as run.

    ``wait_days_median``: median wait from joining the resource's queue (QUEUE_JOIN in the
    window) to service starting there (the patient's next SERVICE_START at it); a case still
    waiting at the horizon, or leaving the queue unserved (death), counts as waiting longer
    than any served case. ``waiting_mean``: time-average number of cases waiting in the window,
    England-scaled (divided by the population scale): by Little's law, arrivals a day x mean
    wait.
    """
    ev = events_frame(result) if ev is None else ev
    w0, h = result.warmup_days, result.horizon_days
    time = ev["time"].to_numpy()
    kind = ev["kind"].to_numpy()
    res = ev["resource"].to_numpy()
    code = ev["code"].to_numpy()
    patient = ev["patient"].to_numpy()
    # Each resource's events, in log order: one stable sort instead of a scan per resource.
    order = np.argsort(res, kind="stable")
    bounds = np.searchsorted(res[order], [r.rid for r in result.resources], side="left")
    ends = np.searchsorted(res[order], [r.rid for r in result.resources], side="right")
    rows = []
    for r, lo, hi in zip(result.resources, bounds, ends, strict=True):
        mine = order[lo:hi]
        use = RESOURCE_KINDS[r.kind].usage(
            time[mine], kind[mine], code[mine], patient[mine], r.capacity, w0, h
        )
        if use is None:  # no capacity (a plain delay)
            continue
        offered, used = use
        queued = mine[(kind[mine] == K.QUEUE_JOIN) | (kind[mine] == K.SERVICE_START)]
        wait, waiting = _queue_waits(ev.iloc[queued], w0, h)
        rows.append(
            {
                "resource": r.name,
                "base": r.base,
                "region": r.region or "national",
                "kind": r.kind,
                "capacity": float(r.capacity) if r.capacity is not None else float("nan"),
                "offered": offered,
                "used": used,
                "utilisation": used / offered if offered and offered == offered else float("nan"),
                "wait_days_median": wait,
                "waiting_mean": waiting / result.population_scale,
            }
        )
    return pd.DataFrame(rows, columns=RESOURCE_COLUMNS)


def instance_utilisation(resources: pd.DataFrame, base: str, region: str | None) -> float:
    """Mean over replications of one resource instance's utilisation (``base`` in ``region``,
    or the national one for None) from :func:`resource_utilisation` rows with a
    ``replication`` column; NaN where it has no row or no limit (unlimited slots)."""
    if resources.empty:
        return float("nan")
    rows = resources[(resources["base"] == base) & (resources["region"] == (region or "national"))]
    values = rows["utilisation"].to_numpy(dtype=float)
    return float(values.mean()) if len(values) and np.isfinite(values).all() else float("nan")


def _queue_waits(qs: pd.DataFrame, w0: float, h: float) -> tuple[float, float]:
    """(median wait of the queue joins in ``[w0, h]``, time-average number waiting in it) from
    one resource's QUEUE_JOIN and SERVICE_START events: each join is served by the same
    patient's first SERVICE_START at the resource at or after it. Unserved joins wait until the
    horizon (for the mean number waiting) and longer than every served one (for the median)."""
    if qs.empty or h <= w0:
        return float("nan"), 0.0
    qs = qs.sort_values("time", kind="stable")
    joins = qs.loc[qs["kind"] == K.QUEUE_JOIN, ["patient", "time"]]
    starts = qs.loc[qs["kind"] == K.SERVICE_START, ["patient", "time"]].rename(
        columns={"time": "start"}
    )
    joins = joins[joins["time"] <= h]
    if joins.empty:
        return float("nan"), 0.0
    paired = pd.merge_asof(
        joins, starts.sort_values("start"), left_on="time", right_on="start", by="patient",
        direction="forward",
    )  # fmt: skip
    start = paired["start"].to_numpy(dtype=float)
    join = paired["time"].to_numpy(dtype=float)
    end = np.where(np.isnan(start) | (start > h), h, start)
    waiting_days = np.clip(np.minimum(end, h) - np.maximum(join, w0), 0.0, None).sum()
    in_window = join >= w0
    if not in_window.any():
        return float("nan"), float(waiting_days / (h - w0))
    wait = np.where(np.isnan(start), np.inf, start - join)[in_window]
    return float(np.median(wait)), float(waiting_days / (h - w0))


def backlog_series(ev: pd.DataFrame, rids: list[int]) -> pd.DataFrame:
    """Cases still listed just after each session of resources ``rids``.

    Columns ``time``, ``resource``, ``backlog``. Rebuilt from the log: joins minus services minus
    departures, counted per resource up to each SESSION_END.
    """
    rows = []
    for rid in rids:
        sub = ev[ev["resource"].to_numpy() == rid]
        k = sub["kind"].to_numpy()
        delta = np.select(
            [k == K.QUEUE_JOIN, (k == K.SERVICE_START) | (k == K.LEFT_QUEUE)], [1, -1], 0
        )
        level = np.cumsum(delta)
        end = k == K.SESSION_END
        rows.append(
            pd.DataFrame(
                {"time": sub["time"].to_numpy()[end], "resource": rid, "backlog": level[end]}
            )
        )
    if not rows:
        return pd.DataFrame(columns=["time", "resource", "backlog"])
    return pd.concat(rows, ignore_index=True)


def _backlog_after_sessions(ev: pd.DataFrame, rids: list[int], w0: float, h: float) -> float:
    b = backlog_series(ev, rids)
    b = b[(b["time"] >= w0) & (b["time"] <= h)]
    return float(b["backlog"].mean()) if len(b) else float("nan")


def _prrt_wait(pj: pd.DataFrame) -> float:
    joins = pj[pj["kind"] == K.QUEUE_JOIN].groupby("patient")["time"].first()
    starts = pj[pj["kind"] == K.SERVICE_START].groupby("patient")["time"].first()
    wait = (starts - joins).dropna()
    return _median(wait[wait >= 0])


def _rids(resources: list[ResourceInfo], base: str, region: str | None) -> list[int]:
    return [
        r.rid
        for r in resources
        if r.base == base and (region is None or r.region in (region, None))
    ]


def replication_kpis(result: RunResult, journeys: pd.DataFrame | None = None) -> dict[str, float]:
    """Every KPI of one replication, England-wide and per region (``<kpi>__<region>``)."""
    j = patient_journeys(result) if journeys is None else journeys
    ev = events_frame(result)
    w0, h, scale = result.warmup_days, result.horizon_days, result.population_scale
    out = patient_kpis(j, w0, h, scale)
    out.update(capacity_kpis(result, ev, None))
    region_of = np.full(int(ev["patient"].max()) + 2 if len(ev) else 1, -1, dtype=np.int16)
    region_of[j.index.to_numpy()] = j["region"].cat.codes.to_numpy()
    ev_region = region_of[ev["patient"].to_numpy()]  # patient -1 -> last entry (-1)
    for r, region in enumerate(REGIONS):
        reg = patient_kpis(j[j["region"] == region], w0, h, scale)
        reg.update(capacity_kpis(result, ev[(ev["patient"] < 0) | (ev_region == r)], region))
        for k, v in reg.items():
            out[f"{k}__{region}"] = v
    out.update(line_kpis(ev, j, w0, h))
    _unseen_deaths(result, out)
    return {k: out[k] for k in ordered_kpis(out)}


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median of ``time`` with ``event`` True where observed (False: censored);
    NaN when survival never falls to one half."""
    if len(time) == 0:
        return float("nan")
    order = np.lexsort((~event.astype(bool), time))  # deaths before censorings at a tie
    t, e = time[order], event[order].astype(bool)
    at_risk = len(t) - np.arange(len(t))
    surv = np.cumprod(np.where(e, 1.0 - 1.0 / at_risk, 1.0))
    below = np.flatnonzero(surv <= 0.5)
    return float(t[below[0]]) if len(below) else float("nan")


def pfs_lines(ev: pd.DataFrame, j: pd.DataFrame, w0: float, h: float) -> pd.DataFrame:
    """The lines whose progression-free survival is trial-comparable: lines started in the
    measured window in G1/G2 patients (the trials' population) while the disease was known to
    have spread (distant at diagnosis or after a progression). Columns ``code`` (treatment),
    ``duration`` (days from the line's start to the progression that ends it or death, as a
    trial counts it: progression found at a scan; censored at ``h``) and ``event``."""
    kind = ev["kind"].to_numpy()
    starts = ev[kind == K.TREATMENT_START][["patient", "time", "code"]]
    prog = ev[kind == K.PROGRESSION][["patient", "time"]]
    death = j["death_time"]
    first_prog = prog.groupby("patient")["time"].min()
    known_distant = (j["stage_at_diagnosis"] == "distant").reindex(starts["patient"]).to_numpy()
    after_prog = starts["time"].to_numpy() > first_prog.reindex(starts["patient"]).to_numpy()
    well_differentiated = j["grade"].isin(["G1", "G2"]).reindex(starts["patient"]).to_numpy()
    lines = starts[
        (starts["time"].to_numpy() >= w0)
        & (starts["time"].to_numpy() <= h)
        & (np.nan_to_num(known_distant, nan=False).astype(bool) | after_prog)
        & np.nan_to_num(well_differentiated, nan=False).astype(bool)
    ].sort_values("time")
    prog_sorted = prog.sort_values("time").rename(columns={"time": "progression_time"})
    merged = pd.merge_asof(
        lines,
        prog_sorted,
        left_on="time",
        right_on="progression_time",
        by="patient",
        direction="forward",
        allow_exact_matches=False,
    )
    died = death.reindex(merged["patient"]).to_numpy()
    end = np.fmin(np.fmin(merged["progression_time"].to_numpy(), died), h)
    return pd.DataFrame(
        {
            "code": merged["code"].to_numpy(),
            "duration": end - merged["time"].to_numpy(),
            "event": end < h,
        }
    )


def line_kpis(ev: pd.DataFrame, j: pd.DataFrame, w0: float, h: float) -> dict[str, float]:
    """Trial-comparable survival KPIs (Kaplan-Meier medians, censored at the end of the run):
    progression-free survival of each treatment in :data:`PFS_TREATMENTS` over
    :func:`pfs_lines`; and overall survival of NEC distant at diagnosis, diagnosis to death
    from any cause."""
    out: dict[str, float] = {}
    lines = pfs_lines(ev, j, w0, h)
    code, duration, event = (lines[c].to_numpy() for c in ("code", "duration", "event"))
    for name in PFS_TREATMENTS:
        mine = code == TREATMENTS.index(name)
        out[f"{name}_pfs_days_median"] = km_median(duration[mine], event[mine])
    nec = j[
        (j["grade"] == "NEC")
        & (j["stage_at_diagnosis"] == "distant")
        & (j["diagnosis_time"] >= w0)
        & (j["diagnosis_time"] <= h)
    ]
    end = np.fmin(nec["death_time"].to_numpy(), h)
    out["nec_distant_survival_days_median"] = km_median(
        end - nec["diagnosis_time"].to_numpy(), end < h
    )
    return out


def _unseen_deaths(result: RunResult, out: dict[str, float]) -> None:
    """Add the death-certificate-only KPIs (England and ``__<region>``): NEN deaths of people
    the simulation never saw (they are in ``result.extra``, not in the event log)."""
    times = result.extra.get("unseen_nen_death_time")
    regions = result.extra.get("unseen_nen_death_region")
    if times is None or regions is None:
        return
    w0, h, scale = result.warmup_days, result.horizon_days, result.population_scale
    years = (h - w0) / DAYS_PER_YEAR
    inside = (times >= w0) & (times <= h)
    for suffix, mask in [("", inside)] + [
        (f"__{region}", inside & (regions == r)) for r, region in enumerate(REGIONS)
    ]:
        unseen = float(mask.sum()) / years / scale
        out[f"unseen_nen_deaths_per_year{suffix}"] = unseen
        out[f"nen_deaths_per_year{suffix}"] = out.get(f"nen_deaths_per_year{suffix}", 0.0) + unseen
        registered = out.get(f"registered_per_year{suffix}", float("nan")) + unseen
        out[f"registered_per_year{suffix}"] = registered
        out[f"unseen_nen_death_share{suffix}"] = unseen / registered if registered else float("nan")


def ordered_kpis(names: Any) -> list[str]:
    """KPI names in registry order (England first, then each region)."""
    base = list(KPI_DESCRIPTIONS)
    present = set(names)
    out = [k for k in base if k in present]
    for region in REGIONS:
        out += [f"{k}__{region}" for k in base if f"{k}__{region}" in present]
    out += sorted(present - set(out))
    return out


KpiFunction = Callable[[RunResult], dict[str, float]]


def weekly_series(result: RunResult, journeys: pd.DataFrame) -> pd.DataFrame:
    """Weekly time series over the whole run (warm-up included), for warm-up analysis and plots.

    Columns: ``week`` (index from t=0), ``time`` (day the week starts), ``diagnoses``,
    ``mdt_rediscussions`` and ``in_follow_up`` (diagnosed and alive at the week's end), all
    England-scaled, and ``specialist_backlog`` (cases waiting after the week's specialist MDT
    meetings, summed over regions), also per region as ``specialist_backlog__<region>``.
    """
    scale = result.population_scale
    n_weeks = int(np.ceil(result.horizon_days / 7.0))
    weeks = np.arange(n_weeks)
    out = pd.DataFrame({"week": weeks, "time": weeks * 7.0})

    def per_week(times: np.ndarray) -> np.ndarray:
        t = np.asarray(times, dtype=float)
        t = t[~np.isnan(t)]
        idx = np.minimum((t // 7).astype(int), n_weeks - 1)
        return np.bincount(idx, minlength=n_weeks)[:n_weeks].astype(float)

    out["diagnoses"] = per_week(journeys["diagnosis_time"].to_numpy()) / scale
    dead_dx = journeys["death_time"].where(journeys["diagnosis_time"].notna())
    out["in_follow_up"] = (
        np.cumsum(per_week(journeys["diagnosis_time"].to_numpy()))
        - np.cumsum(per_week(dead_dx.to_numpy()))
    ) / scale
    ev = events_frame(result)
    mdts = _rids(result.resources, "specialist_mdt", None) + _rids(
        result.resources, "local_mdt", None
    )
    red = ev[(ev["kind"] == K.SERVICE_START) & ev["resource"].isin(mdts) & (ev["code"] != NEW)]
    out["mdt_rediscussions"] = per_week(red["time"].to_numpy()) / scale
    total = np.zeros(n_weeks)
    for region in REGIONS:
        b = backlog_series(ev, _rids(result.resources, "specialist_mdt", region))
        series = np.full(n_weeks, np.nan)
        if len(b):
            wk = np.minimum((b["time"].to_numpy() // 7).astype(int), n_weeks - 1)
            sums = np.bincount(wk, weights=b["backlog"].to_numpy(), minlength=n_weeks)
            counts = np.bincount(wk, minlength=n_weeks)
            with np.errstate(invalid="ignore"):
                series = sums[:n_weeks] / counts[:n_weeks]
        series = pd.Series(series).ffill().fillna(0).to_numpy()
        out[f"specialist_backlog__{region}"] = series
        total += series
    out.insert(5, "specialist_backlog", total)
    return out
