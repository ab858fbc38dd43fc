"""Comparing scenarios: common-random-number runs, paired differences and plain-English headlines.

::

    scenarios + run controls --run_experiment (CRN)--> replications.csv, patients.parquet, ...
    replications --add_derived_kpis--> + distant_diagnosed_per_year, <kpi>_region_range
                 --comparison_table--> comparison.csv (mean, CI, paired difference vs base, CI)
                 --headlines / unexpected_effects--> sentences for people, with their CIs

Every scenario runs with the same run controls and seed, so replication *k* of each sees the same
synthetic patients and the difference from the base is estimated from per-replication differences
(the paired-t interval, Law s. 10.2.1; :func:`sim.experiment.analysis.paired_difference`).
Derived KPIs are computed per replication *before* differencing, so they are paired too (e.g.
people diagnosed with distant spread a year = distant share x diagnoses a year, in the same
replication).

This module computes numbers and sentences; :mod:`sim.reporting.report` lays them out and
:mod:`sim.reporting.plots` draws them. It does not simulate anything itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.core.constants import DAYS_PER_YEAR
from sim.experiment.analysis import LEVEL, bounded_columns, bounded_interval
from sim.measures.kpis import BETTER as _BETTER
from sim.measures.kpis import (
    DERIVED_KPIS,
    KINDS,
    KPI_DESCRIPTIONS,
    RANGE_KPIS,
    REGISTRY,
    kpi_bounds,
    kpi_info,
    ordered_kpis,
)
from sim.measures.registry import view
from sim.model.resources import KINDS as RESOURCE_KINDS
from sim.scenario.schema import REGIONS

COMPARISON_FILE = "comparison.csv"
SOURCES_FILE = "scenario_sources.json"
COMPARISON_COLUMNS = [
    "kpi",
    "scenario",
    "mean",
    "ci_low",
    "ci_high",
    "diff_vs_base",
    "diff_ci_low",
    "diff_ci_high",
]

DERIVED_DESCRIPTIONS: dict[str, str] = {k: v.label for k, v in DERIVED_KPIS.items()}
"""Labels of the derived KPIs (declared with their kinds in
:data:`sim.measures.kpis.DERIVED_KPIS`)."""

BETTER: dict[str, int] = _BETTER
"""Which way is better for patients (-1 lower, +1 higher), declared with each KPI
(:data:`sim.measures.kpis.REGISTRY`). Every lever in the shipped scenarios is meant as an
improvement, so an effect in the other direction (CI excluding zero) is flagged by
:func:`unexpected_effects` for the report's closing note. KPIs with no better direction (counts
of diagnoses, utilisation, case-mix shares) are not checked."""

_TITLES: ContextVar[dict[str, tuple[str, str]] | None] = ContextVar("scenario_titles", default=None)


def titles_of(resolved: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """``{name: (title, short_title)}`` from resolved scenarios (a manifest's ``resolved``
    entries); empty strings where a file gives none."""
    return {
        name: (str(r.get("title") or ""), str(r.get("short_title") or ""))
        for name, r in resolved.items()
    }


@contextmanager
def scenario_titles(titles: dict[str, tuple[str, str]]) -> Iterator[None]:
    """Within the block, :func:`scenario_label` reads scenarios' titles from ``titles``
    (:func:`titles_of`): the report and its sentences name scenarios as their files title
    them."""
    token = _TITLES.set(titles)
    try:
        yield
    finally:
        _TITLES.reset(token)


def scenario_label(name: str, short: bool = False) -> str:
    """A scenario as people read it: its file's ``title`` (``short_title`` if ``short`` and the
    file gives one), inside :func:`scenario_titles`; else its name in words
    (``ring_fenced_prrt`` -> ``Ring fenced prrt``)."""
    title, short_title = (_TITLES.get() or {}).get(name, ("", ""))
    if short and short_title:
        return short_title
    return title or name.replace("_", " ").capitalize()


def kpi_description(kpi: str) -> str:
    """Plain-English label of a KPI, derived KPI or ``<kpi>__<region>``."""
    base, _, region = kpi.partition("__")
    text = KPI_DESCRIPTIONS.get(base) or DERIVED_DESCRIPTIONS.get(base) or base
    return f"{text} ({region.replace('_', ' ').title()})" if region else text


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def add_derived_kpis(reps: pd.DataFrame) -> pd.DataFrame:
    """``reps`` (one row per scenario x replication) with the derived KPIs appended.

    * ``distant_diagnosed_per_year`` = ``stage_distant_at_diagnosis_share`` x
      ``diagnosed_per_year`` (and ``localised_...`` likewise), England and per region;
    * ``spread_before_diagnosis_per_year`` = ``spread_at_diagnosis_share`` (the true stage,
      whether or not staging found the spread) x ``diagnosed_per_year`` +
      ``died_undiagnosed_per_year`` (a NEN death before diagnosis is from distant disease), so
      that neither a scenario which diagnoses people who used to die undiagnosed nor one whose
      PET finds spread CT missed (stage migration) is credited with more spread disease for it;
    * ``<kpi>_region_range`` = highest minus lowest of the seven ``<kpi>__<region>`` values.
    """
    out = reps.copy()
    new: dict[str, pd.Series] = {}
    for stage in ("distant", "localised"):
        for suffix in ["", *(f"__{r}" for r in REGIONS)]:
            share, count = (
                f"stage_{stage}_at_diagnosis_share{suffix}",
                f"diagnosed_per_year{suffix}",
            )
            if share in out and count in out:
                new[f"{stage}_diagnosed_per_year{suffix}"] = out[share] * out[count]
    for suffix in ["", *(f"__{r}" for r in REGIONS)]:
        spread = f"spread_at_diagnosis_share{suffix}"
        count, died = f"diagnosed_per_year{suffix}", f"died_undiagnosed_per_year{suffix}"
        if spread in out and count in out and died in out:
            new[f"spread_before_diagnosis_per_year{suffix}"] = out[spread] * out[count] + out[died]
    for k in RANGE_KPIS:
        cols = [f"{k}__{r}" for r in REGIONS if f"{k}__{r}" in out]
        if len(cols) == len(REGIONS):
            values = out[cols].to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                new[f"{k}_region_range"] = pd.Series(
                    np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
                    if np.isfinite(values).any()
                    else np.full(len(out), np.nan),
                    index=out.index,
                )
    return pd.concat([out, pd.DataFrame(new, index=out.index)], axis=1)


def kpi_columns(reps: pd.DataFrame) -> list[str]:
    """KPI columns in report order: registry KPIs, derived KPIs, then regional ones."""
    names = [c for c in reps.columns if c not in ("scenario", "replication")]
    derived = [c for c in DERIVED_DESCRIPTIONS if c in names]
    rest = ordered_kpis([c for c in names if c not in derived])
    england = [c for c in rest if "__" not in c]
    regional = [c for c in rest if "__" in c]
    return england + derived + regional


def comparison_table(reps: pd.DataFrame, base: str) -> pd.DataFrame:
    """Mean and 95% CI of every KPI per scenario, and the paired difference from ``base``.

    Parameters
    ----------
    reps:
        One row per scenario x replication (``scenario``, ``replication``, KPI columns).
    base:
        The scenario differences are taken from.

    Returns
    -------
    DataFrame with :data:`COMPARISON_COLUMNS`, ordered by KPI then scenario. The mean's CI keeps
    within the KPI's bounds (:func:`sim.experiment.analysis.bounded_columns`: logit scale for
    shares, log scale for non-negative KPIs, bounds from the KPI's kind). The difference is
    ``scenario - base`` averaged over the replications both ran (paired-t CI, clipped to the
    widest difference the bounds allow); for the base itself it is 0 with a zero-width interval.
    """
    scenarios = list(dict.fromkeys(reps["scenario"]))
    if base not in scenarios:
        raise ValueError(f"base scenario {base!r} not in {scenarios}")
    kpis = kpi_columns(reps)
    by = {s: g.set_index("replication")[kpis] for s, g in reps.groupby("scenario", sort=False)}
    lower, upper = (np.array(b) for b in zip(*(kpi_bounds(k) for k in kpis), strict=True))
    parts = []
    for s in scenarios:
        common = by[s].index.intersection(by[base].index)
        diffs = by[s].loc[common] - by[base].loc[common]
        mean, lo, hi = bounded_columns(by[s].to_numpy(dtype=float), lower, upper)
        d, dlo, dhi = _t_columns(diffs.to_numpy(dtype=float))
        # A difference of two values within [lower, upper] lies within +/-(upper - lower).
        dlo, dhi = np.fmax(dlo, lower - upper), np.fmin(dhi, upper - lower)
        parts.append(
            pd.DataFrame(
                {
                    "kpi": kpis,
                    "scenario": s,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "diff_vs_base": d,
                    "diff_ci_low": dlo,
                    "diff_ci_high": dhi,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    order = {k: i for i, k in enumerate(kpis)}
    sorder = {s: i for i, s in enumerate(scenarios)}
    table = table.sort_values(
        ["kpi", "scenario"], key=lambda c: c.map(order if c.name == "kpi" else sorder)
    )
    return table.reset_index(drop=True)


def _t_columns(x: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, ...]:
    """Column-wise :func:`sim.experiment.analysis.t_interval` of a (replications x KPIs)
    matrix: mean and t-based CI, NaN values ignored, NaN CI where fewer than 2 values."""
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    filled = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        ss = np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0)
        sd = np.sqrt(ss / (n - 1))
        q = stats.t.ppf(0.5 + level / 2, np.where(n >= 2, n - 1, 1))
        half = np.where(n >= 2, q * sd / np.sqrt(n), np.nan)
    mean = np.where(n > 0, mean, np.nan)
    return mean, mean - half, mean + half


REGIONS_FILE = "regions.csv"
REGION_COLUMNS = ["kpi", "region", *COMPARISON_COLUMNS[1:]]


def regional_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every KPI reported by region, England first: the comparison rows of ``<kpi>`` (region
    ``england``) and ``<kpi>__<region>``, with ``kpi`` and ``region`` apart
    (:data:`REGION_COLUMNS`), ordered by KPI, region, scenario. KPIs without regional values
    (the gaps between regions) are left out."""
    kpi = table["kpi"].astype(str)
    base = kpi.str.partition("__")[0]
    region = kpi.str.partition("__")[2].replace("", "england")
    regional = set(base[region != "england"])
    out = table.assign(kpi=base, region=region)[base.isin(regional)]
    order = {r: i for i, r in enumerate(["england", *REGIONS])}
    korder = {k: i for i, k in enumerate(dict.fromkeys(base))}
    sorder = {s: i for i, s in enumerate(dict.fromkeys(table["scenario"]))}
    keys = {"kpi": korder, "region": order, "scenario": sorder}
    out = out.sort_values(["kpi", "region", "scenario"], key=lambda c: c.map(keys[str(c.name)]))
    return out[REGION_COLUMNS].reset_index(drop=True)


UTILISATION_FILE = "utilisation.csv"
UTILISATION_COLUMNS = [
    "resource",
    "base",
    "region",
    "kind",
    "scenario",
    "capacity",
    "utilisation",
    "ci_low",
    "ci_high",
    "n",
    "wait_days_median",
    "waiting_mean",
]


def utilisation_table(resources: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Mean utilisation of every capacity resource per scenario over replications, with its
    95% CI (:func:`sim.experiment.analysis.bounded_interval`: within 0-1 for weekly sessions, whose
    slots used cannot exceed those offered; non-negative for server pools, whose services may run
    past a shift's end). ``resources`` holds :func:`sim.measures.kpis.resource_utilisation` rows
    with ``scenario`` and ``replication``. Columns :data:`UTILISATION_COLUMNS`, in the order of
    ``names`` and of the resources; the median wait and the mean number waiting are means over
    replications."""
    rows = []
    order = list(dict.fromkeys(resources["resource"]))
    for s in names:
        mine = resources[resources["scenario"] == s]
        for name in order:
            g = mine[mine["resource"] == name]
            if g.empty:
                continue
            first = g.iloc[0]
            upper = RESOURCE_KINDS[first["kind"]].max_utilisation
            mean, lo, hi, n = bounded_interval(g["utilisation"].to_numpy(dtype=float), 0.0, upper)
            rows.append(
                {
                    "resource": name,
                    "base": first["base"],
                    "region": first["region"],
                    "kind": first["kind"],
                    "scenario": s,
                    "capacity": float(g["capacity"].mean()),
                    "utilisation": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": n,
                    "wait_days_median": _mean_of(g, "wait_days_median"),
                    "waiting_mean": _mean_of(g, "waiting_mean"),
                }
            )
    return pd.DataFrame(rows, columns=UTILISATION_COLUMNS)


def _mean_of(g: pd.DataFrame, column: str) -> float:
    """Mean over replications of a column (NaN if a run stored before it was recorded, or if
    any replication's value is NaN or infinite: a median wait nobody reached)."""
    if column not in g:
        return math.nan
    values = g[column].to_numpy(dtype=float)
    return float(values.mean()) if len(values) and np.isfinite(values).all() else math.nan


def lookup(table: pd.DataFrame, kpi: str, scenario: str) -> dict[str, float]:
    """The comparison row of ``kpi`` for ``scenario`` as a dict (NaNs if absent)."""
    hit = np.flatnonzero(
        (table["kpi"].to_numpy() == kpi) & (table["scenario"].to_numpy() == scenario)
    )
    if not len(hit):
        return {c: math.nan for c in COMPARISON_COLUMNS[2:]}
    return {c: float(table[c].iat[hit[0]]) for c in COMPARISON_COLUMNS[2:]}


BREACH_STEPS: tuple[tuple[str, str], ...] = (
    ("referral_to_first_seen", "Referral to first seen"),
    ("tests", "Tests to first biopsy"),
    ("repeat_biopsy", "Repeat biopsies"),
    ("pathology", "Specialist pathology with Ki-67"),
    ("pet", "Ga-68 PET"),
    ("mdt", "MDT wait and discussion"),
    ("mdt_to_decision", "MDT outcome to decision to treat"),
    ("decision_to_treatment", "Decision to treatment"),
)
"""The steps of the 62-day pathway, in order; their days add up to the 62-day clock."""

BREACH_MILESTONES: tuple[str, ...] = (
    "clock62_start_time",
    "first_seen_time",
    "first_biopsy_time",
    "histopathology_listed_time",
    "diagnosis_time",
    "pet_time",
    "local_mdt_time",
    "specialist_mdt_time",
    "decision_to_treat_time",
    "first_treatment_time",
)
"""The milestone columns of ``patients.parquet`` that :func:`breach_steps` reads: every one is
needed (a missing one would silently move its step's days into a neighbouring step)."""


def breach_steps(patients: pd.DataFrame) -> pd.DataFrame:
    """Days each step used, for patients on the 62-day clock who started treatment.

    Computed from the milestone columns of ``patients.parquet``; the steps partition the
    interval from the clock start (urgent referral, or first seen for a consultant upgrade) to
    first treatment, so they add up to it exactly:

    * referral to first seen: ``first_seen - clock62_start``;
    * tests (imaging, bloods, endoscopy) to the first biopsy: ``first_biopsy - first_seen``;
    * repeat biopsies (non-diagnostic samples): ``histopathology_listed - first_biopsy``;
    * specialist pathology (queue and reporting): ``diagnosis - histopathology_listed``;
    * Ga-68 PET: ``pet - diagnosis`` (0 without PET);
    * MDT wait and discussion: last MDT discussion (specialist if any, else local) minus the
      end of staging (PET, or diagnosis);
    * MDT outcome to decision to treat; decision to treatment (the 31-day interval).

    Each milestone is held between the one before it and the first treatment, so a step that
    came after the treatment (a tumour resected when it was found, at the start of the clock,
    whose histology, MDT and recorded decision follow) uses no days, and no step is negative.

    Returns one row per patient: identifying columns (``scenario``, ``replication`` if present),
    one column per step, ``total_days`` and ``breach`` (total > 62 days). Raises KeyError if a
    column of :data:`BREACH_MILESTONES` is missing (NaN values are fine: a step not taken).
    """
    missing = [c for c in BREACH_MILESTONES if c not in patients]
    if missing:
        raise KeyError(f"breach_steps needs the milestone column(s) {', '.join(missing)}")
    p = patients[patients["clock62_start_time"].notna() & patients["first_treatment_time"].notna()]
    t0 = p["clock62_start_time"]
    seen = p["first_seen_time"].fillna(t0)
    dx = p["diagnosis_time"]
    biopsy = p["first_biopsy_time"].fillna(dx).clip(lower=seen, upper=dx)
    listed = p["histopathology_listed_time"].fillna(dx).clip(lower=biopsy, upper=dx)
    staged = p["pet_time"].where(p["pet_time"].notna(), dx)
    mdt = p["specialist_mdt_time"].where(p["specialist_mdt_time"].notna(), p["local_mdt_time"])
    mdt = mdt.fillna(staged)
    dtt = p["decision_to_treat_time"].fillna(mdt)
    tx = p["first_treatment_time"]
    end = np.maximum(tx, t0)

    def held(m: pd.Series, prev: pd.Series) -> pd.Series:
        return pd.Series(np.minimum(np.maximum(m, prev), end), index=m.index)

    seen = held(seen, t0)
    biopsy = held(biopsy, seen)
    listed = held(listed, biopsy)
    dx = held(dx, listed)
    staged = held(staged, dx)
    mdt = held(mdt, staged)
    dtt = held(dtt, mdt)
    out = p[[c for c in ("scenario", "replication") if c in p]].copy()
    out["referral_to_first_seen"] = seen - t0
    out["tests"] = biopsy - seen
    out["repeat_biopsy"] = listed - biopsy
    out["pathology"] = dx - listed
    out["pet"] = staged - dx
    out["mdt"] = mdt - staged
    out["mdt_to_decision"] = dtt - mdt
    out["decision_to_treatment"] = tx - dtt
    out["total_days"] = tx - t0
    out["breach"] = out["total_days"] > 62
    return out.reset_index(drop=True)


def breach_summary(steps: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: breaches, and the mean days of each step among breaches and among all.

    Columns: ``scenario``, ``on_clock``, ``breaches``, ``breach_share``, then
    ``<step>_breach_mean`` and ``<step>_all_mean`` for every step, and ``<step>_largest_share``
    (share of breaches in which that step used the most days).
    """
    rows = []
    names = [s for s, _ in BREACH_STEPS]
    for scen, g in steps.groupby("scenario", sort=False):
        b = g[g["breach"]]
        row: dict[str, Any] = {
            "scenario": scen,
            "on_clock": len(g),
            "breaches": len(b),
            "breach_share": float(g["breach"].mean()) if len(g) else math.nan,
        }
        largest = b[names].to_numpy().argmax(axis=1) if len(b) else np.array([], dtype=int)
        for i, s in enumerate(names):
            row[f"{s}_breach_mean"] = float(b[s].mean()) if len(b) else math.nan
            row[f"{s}_all_mean"] = float(g[s].mean()) if len(g) else math.nan
            row[f"{s}_largest_share"] = float((largest == i).mean()) if len(b) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------


def _kind(kpi: str) -> str:
    """The kind of a KPI (:data:`sim.measures.kpis.KINDS`) from its declaration; ``count`` if
    unknown."""
    info = kpi_info(kpi)
    return info.kind if info is not None and info.kind in KINDS else "count"


def fmt_value(kpi: str, v: float) -> str:
    """A KPI value as people read it: ``54 days``, ``23%``, ``1,234``."""
    if v != v:
        return "n/a"
    kind = _kind(kpi)
    if kind == "share":
        return f"{100 * v:.0f}%" if abs(v) >= 0.1 else f"{100 * v:.1f}%"
    if kind == "days":
        return f"{v:.0f} days" if abs(v) >= 10 else f"{v:.1f} days"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.1f}"


def fmt_diff(
    kpi: str, v: float, signed: bool = True, short: bool = False, fine: bool = False
) -> str:
    """A difference: ``-12 days``, ``+4.5 percentage points`` (``+4.5 pp`` if short), ``-130``.

    Days and counts of 10 or more are whole numbers unless ``fine`` (one decimal), for
    intervals too narrow to show in whole numbers.
    """
    if v != v:
        return "n/a"
    kind = _kind(kpi)
    a = abs(v)
    if kind == "share":
        text, unit = f"{100 * a:.1f}", " " + ("pp" if short else "percentage points")
    else:
        digits = 1 if fine or a < 10 else 0
        text, unit = f"{a:,.{digits}f}", " days" if kind == "days" else ""
    zero = float(text.replace(",", "")) == 0
    sign = "" if zero else ("+" if signed and v > 0 else ("-" if v < 0 else ""))
    return f"{sign}{text}{unit}"


def _fine(lo: float, hi: float) -> bool:
    """Whether an interval needs one decimal to show its width (narrower than 4 units)."""
    return bool(abs(hi - lo) < 4)


def fmt_range(kpi: str, lo: float, hi: float, short: bool = False) -> str:
    """``-23 to -5.3 days``: a difference's interval with the unit once, at the end."""
    fine = _fine(lo, hi)
    low = fmt_diff(kpi, lo, short=short, fine=fine)
    high = fmt_diff(kpi, hi, short=short, fine=fine)
    unit = high.partition(" ")[2]
    return f"{low.partition(' ')[0]} to {high.partition(' ')[0]}" + (f" {unit}" if unit else "")


def _ci(kpi: str, lo: float, hi: float) -> str:
    return f"95% CI {fmt_range(kpi, lo, hi)}"


def includes_zero(lo: float, hi: float) -> bool:
    """Whether a CI includes zero (or could not be computed: fewer than 2 replications)."""
    return not (lo > 0 or hi < 0)


HEADLINE_KPIS: tuple[tuple[str, str], ...] = tuple(
    (k, REGISTRY[k].phrase) for k in view(REGISTRY, "headline")
)
"""The statements made for every scenario, in order (KPI, what it is in words): the KPIs
tagged "headline" in the registry."""

PEOPLE_PHRASES: dict[str, str] = {k: v.people for k, v in REGISTRY.items() if v.people}
"""Counts of people a year, stated as "N fewer people a year would ..." """


def statement(table: pd.DataFrame, kpi: str, what: str, base: str, scenario: str) -> str | None:
    """One headline sentence for ``scenario`` vs ``base``, generated from the numbers.

    Returns None when the KPI is missing or could not be estimated.
    """
    b, s = lookup(table, kpi, base), lookup(table, kpi, scenario)
    d, lo, hi = s["diff_vs_base"], s["diff_ci_low"], s["diff_ci_high"]
    if any(x != x for x in (b["mean"], s["mean"], d)):
        return None
    who = scenario_label(scenario)
    diff = fmt_diff(kpi, d, fine=_fine(lo, hi))
    if unchanged(s):
        return (
            f"{who} leaves {what} unchanged ({fmt_value(kpi, b['mean'])}, identical in every "
            "paired replication: its levers act on other parts of the pathway)."
        )
    if kpi in PEOPLE_PHRASES:
        done = PEOPLE_PHRASES[kpi]
        now = f"{fmt_value(kpi, b['mean'])} a year now, {fmt_value(kpi, s['mean'])} under it"
        if includes_zero(lo, hi):
            return (
                f"{who}: these runs cannot tell whether it changes {what} ({now}; difference "
                f"{diff}, {_ci(kpi, lo, hi)}, which includes zero)."
            )
        more = "fewer" if d < 0 else "more"
        lo_, hi_ = (-hi, -lo) if d < 0 else (lo, hi)
        fine = _fine(lo, hi)
        return (
            f"{who}: {fmt_diff(kpi, abs(d), signed=False, fine=fine)} {more} people a year "
            f"(95% CI {fmt_diff(kpi, lo_, signed=False, fine=fine)} to "
            f"{fmt_diff(kpi, hi_, signed=False, fine=fine)}) "
            f"would {done} ({now})."
        )
    frm, to = fmt_value(kpi, b["mean"]), fmt_value(kpi, s["mean"])
    if includes_zero(lo, hi):
        return (
            f"{who} would change {what} from {frm} to {to}, but the difference "
            f"({diff}, {_ci(kpi, lo, hi)}) includes zero: these runs cannot tell this effect "
            "from no change."
        )
    verbs = {"days": ("cut", "lengthen")}.get(_kind(kpi), ("lower", "raise"))
    verb = verbs[0] if d < 0 else verbs[1]
    return f"{who} would {verb} {what} from {frm} to {to} ({diff}, {_ci(kpi, lo, hi)})."


def unchanged(row: dict[str, float]) -> bool:
    """Whether a comparison row shows exactly no change in every paired replication."""
    return row["diff_vs_base"] == 0 and row["diff_ci_low"] == 0 and row["diff_ci_high"] == 0


def headlines(table: pd.DataFrame, base: str) -> list[str]:
    """Plain-English statements for every scenario other than ``base``, in order."""
    return [line for lines in headlines_by_scenario(table, base).values() for line in lines]


def headlines_by_scenario(table: pd.DataFrame, base: str) -> dict[str, list[str]]:
    """Plain-English statements per scenario other than ``base`` (see HEADLINE_KPIS).

    KPIs a scenario leaves exactly unchanged in every replication (its levers act elsewhere in
    the pathway) are gathered into one closing sentence per scenario.
    """
    by: dict[str, list[str]] = {}
    for scen in dict.fromkeys(table["scenario"]):
        if scen == base:
            continue
        out = by.setdefault(scen, [])
        same = []
        for kpi, what in HEADLINE_KPIS:
            row = lookup(table, kpi, scen)
            if unchanged(row):
                same.append(f"{what} ({fmt_value(kpi, row['mean'])})")
                continue
            text = statement(table, kpi, what, base, scen)
            if text is not None:
                out.append(text)
        if same:
            out.append(
                f"{scenario_label(scen)} leaves unchanged, identically in every paired "
                f"replication (its levers act on other parts of the pathway): {'; '.join(same)}."
            )
    return by


@dataclass(frozen=True)
class Effect:
    """A difference from the base whose CI excludes zero, in the direction worse for patients."""

    scenario: str
    kpi: str
    diff: float
    ci_low: float
    ci_high: float
    explanation: str


def unexpected_effects(
    table: pd.DataFrame,
    base: str,
    breaches: pd.DataFrame | None = None,
    cohorts: dict[str, Cohorts] | None = None,
    scale: float = 1.0,
) -> list[Effect]:
    """Effects opposite in sign to what the scenarios' levers aim at (see :data:`BETTER`),
    each with an explanation built from the other numbers of the comparison.

    ``breaches`` (:func:`breach_summary`) and ``cohorts`` (:func:`cohorts`, per scenario) make
    the explanations quote the step that grew and the people a scenario adds or removes;
    ``scale`` (the population scale) says whether queues are smaller than England's.
    """
    out = []
    for scen in dict.fromkeys(table["scenario"]):
        if scen == base:
            continue
        why = _Why(table, base, scen, breaches, (cohorts or {}).get(scen), scale)
        for kpi, good in BETTER.items():
            r = lookup(table, kpi, scen)
            d, lo, hi = r["diff_vs_base"], r["diff_ci_low"], r["diff_ci_high"]
            if d != d or includes_zero(lo, hi) or np.sign(d) == good:
                continue
            out.append(Effect(scen, kpi, d, lo, hi, why.explain(kpi)))
    return out


@dataclass(frozen=True)
class Cohorts:
    """Who is diagnosed in the measured window under the base and under a scenario.

    Common random numbers make patient ``(replication, patient)`` the same person in every
    scenario, so the people diagnosed under both can be told from those a scenario adds (under
    the base, not diagnosed in the window: they died undiagnosed or were diagnosed later) or
    removes.
    Shares are (base, scenario) pairs over the people diagnosed under both; counts are
    England-scaled people a year.
    """

    added_per_year: float
    removed_per_year: float
    distant_share_both: tuple[float, float]
    distant_share_added: float
    one_year_survival_both: tuple[float, float]
    one_year_survival_added: float


def cohorts(
    patients: pd.DataFrame,
    base: str,
    scenario: str,
    horizon_days: float,
    years: float,
    scale: float,
) -> Cohorts | None:
    """:class:`Cohorts` of ``scenario`` vs ``base`` from the diagnosed patients of a run
    (``patients`` filtered to diagnoses after the warm-up; needs ``patient`` and
    ``death_time``). None if those columns are missing."""
    if not {"patient", "death_time"} <= set(patients.columns):
        return None
    key = ["replication", "patient"]
    b = patients[patients["scenario"] == base].set_index(key)
    s = patients[patients["scenario"] == scenario].set_index(key)
    both = b.index.intersection(s.index)
    added = s.index.difference(b.index)
    reps = max(patients["replication"].nunique(), 1)
    per_year = 1.0 / reps / years / scale

    def distant(frame: pd.DataFrame) -> float:
        stage = frame["stage_at_diagnosis"].astype(str)
        return float((stage == "distant").mean()) if len(frame) else math.nan

    def one_year(frame: pd.DataFrame) -> float:
        f = frame[frame["diagnosis_time"] <= horizon_days - DAYS_PER_YEAR]
        died = (f["death_time"] - f["diagnosis_time"]) <= DAYS_PER_YEAR
        return float((~died).mean()) if len(f) else math.nan

    return Cohorts(
        added_per_year=len(added) * per_year,
        removed_per_year=len(b.index.difference(s.index)) * per_year,
        distant_share_both=(distant(b.loc[both]), distant(s.loc[both])),
        distant_share_added=distant(s.loc[added]),
        one_year_survival_both=(one_year(b.loc[both]), one_year(s.loc[both])),
        one_year_survival_added=one_year(s.loc[added]),
    )


class _Why:
    """Explanations of wrong-way effects for one scenario, each quoting its numbers."""

    def __init__(
        self,
        table: pd.DataFrame,
        base: str,
        scen: str,
        breaches: pd.DataFrame | None,
        cohorts: Cohorts | None,
        scale: float = 1.0,
    ):
        self.table, self.base, self.scen = table, base, scen
        self.breaches, self.cohorts = breaches, cohorts
        self.rounding = (
            f" At a population scale of {scale:g} each region's queues hold fewer patients than "
            "England's, so their waits are noisier."
            if scale != 1
            else ""
        )

    def ch(self, kpi: str) -> str:
        b, s = lookup(self.table, kpi, self.base), lookup(self.table, kpi, self.scen)
        return f"{fmt_value(kpi, b['mean'])} to {fmt_value(kpi, s['mean'])}"

    def step(self, name: str) -> tuple[float, float]:
        """Mean days of a 62-day step per patient on the clock: (base, scenario)."""
        if self.breaches is None or self.breaches.empty:
            return math.nan, math.nan
        col = f"{name}_all_mean"
        b = self.breaches.loc[self.breaches["scenario"] == self.base, col]
        s = self.breaches.loc[self.breaches["scenario"] == self.scen, col]
        return (
            float(b.iloc[0]) if len(b) else math.nan,
            float(s.iloc[0]) if len(s) else math.nan,
        )

    def steps_grown(self) -> str:
        grown = []
        for name, label in BREACH_STEPS:
            b, s = self.step(name)
            if s - b >= 0.5:
                grown.append(f"{label} {b:.1f} to {s:.1f}")
        if not grown:
            return ""
        return " Mean days per patient on the 62-day clock that grew: " + "; ".join(grown) + "."

    def mdt(self) -> str:
        pet_b, pet_s = self.step("pet")
        pet = (
            f" Ga-68 PET staging, which comes before the MDT, now takes {pet_b:.1f} to "
            f"{pet_s:.1f} days per patient on average (more patients have it, and the lists "
            "are busier)."
            if pet_s - pet_b >= 0.5
            else ""
        )
        u_b = lookup(self.table, "specialist_mdt_utilisation", self.base)["mean"]
        u_s = lookup(self.table, "specialist_mdt_utilisation", self.scen)["mean"]
        fuller = "the meetings are fuller" if u_s > u_b else "the meetings have more slots"
        return (
            "More patients are discussed at a specialist MDT (share "
            f"{self.ch('specialist_mdt_discussed_share')}); {fuller} "
            f"(utilisation {self.ch('specialist_mdt_utilisation')}).{pet} The interval is "
            f"counted from diagnosis, so any wait added before the meeting shows here."
            f"{self.rounding}"
        )

    def mix(self) -> str:
        text = (
            "The people diagnosed change: diagnoses a year "
            f"{self.ch('diagnosed_per_year')}, emergency presentations "
            f"{self.ch('emergency_presentation_share')} of diagnoses, urgent referrals "
            f"{self.ch('urgent_referral_share')}."
        )
        c = self.cohorts
        if c is not None:
            text += (
                f" Common random numbers show who: the scenario diagnoses about "
                f"{c.added_per_year:,.0f} people a year who, under {scenario_label(self.base)}, "
                "died undiagnosed or were diagnosed later, and about "
                f"{c.removed_per_year:,.0f} a year diagnosed in the window under the base are "
                "not diagnosed in it under the scenario."
            )
        return text

    def explain(self, kpi: str) -> str:
        """Why ``kpi`` moved the wrong way: the mechanism, with its numbers."""
        c = self.cohorts
        if kpi in (
            "diagnosis_to_specialist_mdt_days_median",
            "diagnosis_to_specialist_mdt_days_p90",
            "specialist_mdt_within_14d_share",
            "specialist_mdt_backlog_mean",
        ):
            return self.mdt()
        if kpi in ("rtt_62d_share", "dtt_31d_share"):
            lead = (
                "Faster diagnosis shortens the start of the 62-day clock, but the days after "
                "diagnosis decide it."
                if kpi == "rtt_62d_share"
                else "The 31-day standard runs from the decision to treat to treatment."
            )
            return (
                f"{lead}{self.steps_grown()} Earlier diagnosis also brings more people to "
                "treatments with finite lists (surgery, PRRT): diagnoses a year "
                f"{self.ch('diagnosed_per_year')}, localised at diagnosis "
                f"{self.ch('stage_localised_at_diagnosis_share')}."
            )
        if kpi == "one_year_survival_share" and c is not None:
            b, s = c.one_year_survival_both
            return (
                f"Among the people diagnosed under both, one-year survival goes from "
                f"{100 * b:.1f}% to {100 * s:.1f}%. The fall comes from who is diagnosed: about "
                f"{c.added_per_year:,.0f} people a year are diagnosed only under this scenario "
                "(under the base they died undiagnosed or were diagnosed later), "
                f"and their one-year survival is {100 * c.one_year_survival_added:.0f}%."
            )
        if kpi in (
            "stage_distant_at_diagnosis_share",
            "distant_diagnosed_per_year",
            "spread_before_diagnosis_per_year",
        ) and (c is not None):
            b, s = c.distant_share_both
            text = (
                f"Among the people diagnosed under both, {100 * b:.1f}% and {100 * s:.1f}% are "
                f"distant at diagnosis. About {c.added_per_year:,.0f} people a year are "
                "diagnosed only under this scenario (under the base they died undiagnosed or "
                f"were diagnosed later); {100 * c.distant_share_added:.0f}% of them "
                "are distant."
            )
            true = lookup(self.table, "spread_at_diagnosis_share", self.scen)
            found = lookup(self.table, "stage_distant_at_diagnosis_share", self.scen)
            if found["diff_vs_base"] > 0 and true["diff_vs_base"] < found["diff_vs_base"]:
                d_true = fmt_diff("spread_at_diagnosis_share", true["diff_vs_base"])
                d_found = fmt_diff("stage_distant_at_diagnosis_share", found["diff_vs_base"])
                text += (
                    " Staging finds more of the spread that is there: the share whose NEN had "
                    f"truly spread changes by {d_true}, the share staged distant by {d_found} "
                    "(more Ga-68 PET finds spread that CT missed: stage migration, not harm)."
                )
            return text
        if kpi == "pet_wait_days_median":
            b, s = self.step("pet")
            return (
                f"More patients are listed for Ga-68 PET (PET days per patient on the 62-day "
                f"clock {b:.1f} to {s:.1f}) and the lists run fuller: a list sized for its "
                "demand with some headroom still makes more people wait for the next list than "
                f"a list that is mostly empty.{self.rounding}"
            )
        if kpi == "prrt_wait_days_median":
            return (
                "More patients reach PRRT (progressive, well-differentiated disease diagnosed "
                "and discussed sooner), and PRRT days are shared nationally."
            )
        if kpi.endswith("_region_range"):
            return (
                "The gap is between the highest and lowest region. A scenario that helps "
                "regions unevenly, or where one region's capacity binds, can widen it while "
                "most regions improve: see the regional chart and the regional KPIs in "
                f"comparison.csv.{self.rounding}"
            )
        return self.mix()


def read_sources(folder: Path) -> dict[str, Any]:
    """The stored scenario-file comments of a comparison folder ({} if absent)."""
    path = folder / SOURCES_FILE
    if not path.is_file():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data
