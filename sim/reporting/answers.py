"""The report's first screen: one answer box for each kind of user, and regional headlines.

* **Campaigners**: time from first symptoms to diagnosis, people a year whose NEN spread before
  diagnosis (one definition, and why not the other), NEN deaths a year.
* **Planners**: utilisation, median wait and mean number waiting of every capacity resource at
  its busiest region, and the ``nenpath size`` command to run next.
* **Policy analysts**: the three largest effects, the regional gaps, the cost per QALY.
* **Regional levers**: a scenario that changes some regions only (e.g. PET lists in the North
  West) gets headlines for those regions, where its effect is, not only England's.

Everything here reads the comparison table and the utilisation table; nothing is computed that
``comparison.csv`` and ``utilisation.csv`` do not hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

from sim.core.constants import DAYS_PER_YEAR, MIN_CAPACITY_SCALE
from sim.measures.kpis import BETTER, REGISTRY, kpi_info
from sim.reporting.compare import (
    fmt_diff,
    fmt_range,
    fmt_value,
    includes_zero,
    kpi_description,
    lookup,
    scenario_label,
    statement,
    unchanged,
)
from sim.reporting.page import e as _e
from sim.reporting.plots import region_label
from sim.scenario.schema import REGIONS


class ResourceQuestion(NamedTuple):
    """What a planner asks of a resource: its name in words, the KPI that measures its service
    (``{r}`` is the region, for a regional resource) and a target to size it for."""

    label: str
    kpi: str
    target: float
    why: str


RESOURCE_QUESTIONS: dict[str, ResourceQuestion] = {
    "specialist_mdt": ResourceQuestion(
        "Specialist NET MDT",
        "specialist_mdt_within_14d_share__{r}",
        0.9,
        "90% of new patients discussed within 14 days of diagnosis",
    ),
    "local_mdt": ResourceQuestion(
        "Local MDT", "rtt_62d_share__{r}", 0.85, "the 62-day standard (85%)"
    ),
    "pet": ResourceQuestion(
        "Ga-68 DOTATATE PET", "pet_wait_days_median__{r}", 14.0, "a median wait of 2 weeks"
    ),
    "histopathology": ResourceQuestion(
        "Specialist pathology (Ki-67)",
        "histology_28d_share__{r}",
        0.75,
        "75% of urgent referrals with histology within 28 days",
    ),
    "surgery": ResourceQuestion(
        "NET surgery lists", "rtt_62d_share__{r}", 0.85, "the 62-day standard (85%)"
    ),
    "prrt": ResourceQuestion(
        "PRRT (Lutathera) days", "prrt_wait_days_median", 28.0, "a median wait of 4 weeks"
    ),
}
"""The planner's question per resource in the scenario's ``[resources]`` table (the targets
are examples a planner would start from, not standards, except the NHS 62-day and 28-day ones
and the 14-day MDT aim of the Ideal Pathway)."""

_TOP_EFFECTS = 3




def _region(r: str) -> str:
    return "England" if r == "national" else region_label(r)


def _lower_first(text: str) -> str:
    """``Share of new patients discussed at a specialist NET MDT`` -> ``share of ...``
    (acronyms kept)."""
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------------------------
# Which regions a scenario's levers change
# ---------------------------------------------------------------------------------------------


def changed_regions(base: Mapping[str, Any], scenario: Mapping[str, Any]) -> dict[str, list[str]]:
    """The parameters a scenario changes region by region: ``{path: [regions]}`` for every
    table keyed by region whose value differs from the base's in some regions (a scalar in
    the base counts as the same value for every region). Empty if the scenario changes no
    region-keyed table. See :func:`regional_lever`."""
    out: dict[str, list[str]] = {}

    def walk(b: Any, s: Any, path: str) -> None:
        if isinstance(s, Mapping) and s and set(s) <= set(REGIONS):
            diff = [
                r for r in REGIONS if r in s and s[r] != (b.get(r) if isinstance(b, Mapping) else b)
            ]
            if diff:
                out[path] = diff
            return
        if isinstance(s, Mapping):
            for k, v in s.items():
                walk(b.get(k) if isinstance(b, Mapping) else None, v, f"{path}.{k}" if path else k)

    walk(base, scenario, "")
    return out


def _national_changes(base: Mapping[str, Any], scenario: Mapping[str, Any]) -> bool:
    """Whether the scenario changes anything that is not a region-keyed table (titles and
    descriptions aside)."""
    skip = {"name", "title", "short_title", "description", "extends"}

    def walk(b: Any, s: Any) -> bool:
        if isinstance(s, Mapping) and s and set(s) <= set(REGIONS):
            return False
        if isinstance(s, Mapping) and isinstance(b, Mapping):
            keys = set(s) | set(b)
            return any(walk(b.get(k), s.get(k)) for k in keys if k not in skip)
        return bool(s != b)

    return walk(base, scenario)


def regional_lever(base: Mapping[str, Any], scenario: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{path: [regions]}`` if the scenario's levers act on some regions only (and nothing
    national changes), else {}."""
    changed = changed_regions(base, scenario)
    regions = {r for rs in changed.values() for r in rs}
    if not changed or len(regions) == len(REGIONS) or _national_changes(base, scenario):
        return {}
    return changed


def regional_headlines(
    table: pd.DataFrame, base: str, scenario: str, lever: dict[str, list[str]]
) -> list[str]:
    """Headline sentences for the regions a regional lever changes: the changed resources'
    KPIs (:data:`RESOURCE_QUESTIONS`) and the headline KPIs, in each region."""
    regions = list(dict.fromkeys(r for rs in lever.values() for r in rs))
    resources = [p.split(".")[1] for p in lever if p.startswith("resources.")]
    kpis: dict[str, str] = {}
    for res in resources:
        q = RESOURCE_QUESTIONS.get(res)
        if q is not None and "{r}" in q.kpi:
            kpis.setdefault(q.kpi.partition("__")[0], kpi_description(q.kpi.partition("__")[0]))
    for k, what in ((k, REGISTRY[k].phrase) for k in REGISTRY if "headline" in REGISTRY[k].show):
        if not REGISTRY[k].derived:
            kpis.setdefault(k, what)
    where = ", ".join(_region(r) for r in regions)
    lines = [
        f"{scenario_label(scenario)} changes {', '.join(p for p in lever)} in {where} only; "
        f"its effect there:"
    ]
    for r in regions:
        for k, what in kpis.items():
            text_what = _lower_first(what) if what else k
            line = statement(table, f"{k}__{r}", f"{text_what} in {_region(r)}", base, scenario)
            if line is not None and not unchanged(lookup(table, f"{k}__{r}", scenario)):
                lines.append(line)
    return lines if len(lines) > 1 else []


# ---------------------------------------------------------------------------------------------
# The three boxes
# ---------------------------------------------------------------------------------------------


def _months(days: float) -> str:
    return f"{days / (DAYS_PER_YEAR / 12):.1f} months"


def _people(table: pd.DataFrame, kpi: str, base: str, scen: str, verb: str) -> str:
    s = lookup(table, kpi, scen)
    b = lookup(table, kpi, base)
    d, lo, hi = s["diff_vs_base"], s["diff_ci_low"], s["diff_ci_high"]
    if any(math.isnan(x) for x in (d, b["mean"])):
        return ""
    now = f"{fmt_value(kpi, b['mean'])} a year now"
    if unchanged(s):
        return f"no change in the people a year who {verb} ({now})"
    if includes_zero(lo, hi):
        return (
            f"these runs cannot tell whether fewer people a year would {verb} ({now}; "
            f"difference {fmt_diff(kpi, d)}, 95% CI {fmt_range(kpi, lo, hi)})"
        )
    more = "fewer" if d < 0 else "more"
    a, z = (-hi, -lo) if d < 0 else (lo, hi)
    return (
        f"<b>{fmt_diff(kpi, abs(d), signed=False)} {more}</b> people a year would {verb} "
        f"(95% CI {fmt_diff(kpi, a, signed=False)} to {fmt_diff(kpi, z, signed=False)}; "
        f"{now})"
    )


def campaigner_box(table: pd.DataFrame, base: str, names: list[str]) -> str:
    kpi = "symptom_to_diagnosis_days_median"
    items = []
    for scen in names[1:]:
        b, s = lookup(table, kpi, base), lookup(table, kpi, scen)
        parts = []
        if not math.isnan(s["mean"]):
            if unchanged(s):
                timing = (
                    f"the median time from first symptoms to diagnosis stays {_months(b['mean'])}"
                )
            else:
                verdict = (
                    "a difference these runs cannot tell from none"
                    if includes_zero(s["diff_ci_low"], s["diff_ci_high"])
                    else f"95% CI {fmt_range(kpi, s['diff_ci_low'], s['diff_ci_high'])}"
                )
                timing = (
                    f"the median time from first symptoms to diagnosis would go from "
                    f"<b>{_months(b['mean'])} to {_months(s['mean'])}</b> "
                    f"({fmt_diff(kpi, s['diff_vs_base'])}, {verdict})"
                )
            parts.append(timing)
        for k, verb in (
            ("spread_before_diagnosis_per_year", "have their NEN spread before diagnosis"),
            ("nen_deaths_per_year", "die of their NEN"),
        ):
            text = _people(table, k, base, scen, verb)
            if text:
                parts.append(text)
        items.append(f"<li><b>{_e(scenario_label(scen))}</b>: " + "; ".join(parts) + ".</li>")
    return (
        "<div class='box'><h3>For campaigners</h3><ul>"
        + "".join(items)
        + "</ul><p class='small'>&ldquo;Spread before diagnosis&rdquo; counts everyone whose NEN "
        "had spread to distant organs by the time of diagnosis, whether or not the scans found "
        "it, plus people who died of it undiagnosed. The count of people <i>diagnosed with "
        "distant spread</i> (in the table below) is not used here: better staging (more "
        "Ga-68 PET) finds spread that CT missed and so raises it without anyone being worse "
        "off. Deaths are NEN deaths a year, diagnosed or not, once the change is in "
        "place.</p></div>"
    )


def _pct(share: float) -> str:
    return "&lt;1%" if share < 0.005 else f"{100 * share:.0f}%"


def _busiest(util: pd.DataFrame, scen: str, res: str) -> pd.Series | None:
    g = util[(util["scenario"] == scen) & (util["base"] == res)]
    g = g[g["utilisation"].notna()]
    if g.empty:
        return None
    return g.loc[g["utilisation"].idxmax()]


def planner_box(
    util: pd.DataFrame, base: str, names: list[str], base_file: str | None, scale: float = 1.0
) -> str:
    if util.empty:
        return (
            "<div class='box'><h3>For NHS planners</h3><p>Resource use was not recorded in "
            "this run.</p></div>"
        )
    head = "<tr><th>resource</th>" + "".join(
        f"<th>{_e(scenario_label(s, short=True))}: busiest region, utilisation, median wait, "
        "mean waiting</th>"
        for s in names
    )
    rows = []
    worst: tuple[float, str, str] | None = None
    for res in dict.fromkeys(util["base"]):
        cells = [
            f"<td>{_e(RESOURCE_QUESTIONS[res].label if res in RESOURCE_QUESTIONS else res)}</td>"
        ]
        for s in names:
            x = _busiest(util, s, res)
            if x is None:
                cells.append("<td></td>")
                continue
            wait = x.get("wait_days_median", math.nan)
            waiting = x.get("waiting_mean", math.nan)
            flag = " &#9888;" if x["utilisation"] > 0.85 else ""
            cells.append(
                f"<td class='n'>{_e(_region(str(x['region'])))}: "
                f"<b>{_pct(x['utilisation'])}</b>{flag}; "
                + (f"{wait:.1f} d; " if wait == wait else "&ndash;; ")
                + (f"{waiting:,.0f}" if waiting == waiting else "&ndash;")
                + "</td>"
            )
            if s == base and (worst is None or x["utilisation"] > worst[0]):
                worst = (float(x["utilisation"]), res, str(x["region"]))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    nxt = ""
    if worst is not None and worst[1] in RESOURCE_QUESTIONS:
        q = RESOURCE_QUESTIONS[worst[1]]
        regional = worst[2] != "national"
        resource = f"{worst[1]}.{worst[2]}" if regional else worst[1]
        kpi = q.kpi.format(r=worst[2]) if regional else q.kpi.partition("__")[0]
        cmd = (
            f"nenpath size {base_file or 'scenarios/current_practice.toml'} "
            f"--resource {resource} --kpi {kpi} --target {q.target:g} --scale 1"
        )
        nxt = (
            f"<p>The busiest resource under {_e(scenario_label(base))} is "
            f"{_e(q.label)} in {_e(_region(worst[2]))} ({100 * worst[0]:.0f}% used). To find the "
            f"least capacity that gives {_e(q.why)}, run:</p><pre>{_e(cmd)}</pre>"
        )
    return (
        "<div class='box'><h3>For NHS planners</h3>"
        "<p>Each capacity resource at its busiest region (&#9888;: above 85% used, where waits "
        "grow fast): share of capacity used, median wait from joining its queue to being "
        "served (days), and the mean number of cases waiting for it in England at any time. "
        "Every region and resource: <a href='#capacity'>capacity resources</a> and "
        "utilisation.csv.</p>"
        f"<table>{head}</tr>{''.join(rows)}</table>{nxt}{scale_caution(scale)}</div>"
    )


def scale_caution(scale: float) -> str:
    """A warning for capacity figures computed below :data:`MIN_CAPACITY_SCALE`."""
    if scale >= MIN_CAPACITY_SCALE:
        return ""
    return (
        f"<p class='note'>This run simulates {scale:g} of England. Waits, utilisation and "
        "standards set by queues are <b>biased</b> at this scale, not just noisier: fewer "
        "slots or servers per queue wait longer at the same utilisation, and slots per "
        f"session are rounded. Plan on runs at --scale {MIN_CAPACITY_SCALE:g} or more (the "
        "README's 'Scale' table gives the measured bias).</p>"
    )


def largest_effects(table: pd.DataFrame, base: str, scen: str, n: int = _TOP_EFFECTS) -> list[str]:
    """The ``n`` England KPIs with a better direction whose paired difference excludes zero and
    is largest relative to the base's value, as sentences."""
    ranked = []
    for kpi, good in BETTER.items():
        info = kpi_info(kpi)
        if info is None or kpi.endswith("_region_range"):
            continue
        s, b = lookup(table, kpi, scen), lookup(table, kpi, base)
        d, lo, hi = s["diff_vs_base"], s["diff_ci_low"], s["diff_ci_high"]
        if math.isnan(d) or includes_zero(lo, hi) or not b["mean"]:
            continue
        ranked.append((abs(d / b["mean"]), kpi, d, lo, hi, b["mean"], s["mean"], good))
    ranked.sort(key=lambda x: -x[0])
    out = []
    for _, kpi, d, lo, hi, bm, sm, good in ranked[:n]:
        better = "better" if (d > 0) == (good > 0) else "worse"
        out.append(
            f"{_e(kpi_description(kpi))}: {_e(fmt_value(kpi, bm))} &rarr; "
            f"{_e(fmt_value(kpi, sm))} ({_e(fmt_diff(kpi, d))}, 95% CI "
            f"{_e(fmt_range(kpi, lo, hi))}; {better} for patients)"
        )
    return out


def _equity(table: pd.DataFrame, base: str, scen: str) -> str:
    moved = []
    for k in (k for k in BETTER if k.endswith("_region_range")):
        s = lookup(table, k, scen)
        if math.isnan(s["diff_vs_base"]) or includes_zero(s["diff_ci_low"], s["diff_ci_high"]):
            continue
        word = "narrows" if s["diff_vs_base"] < 0 else "widens"
        b = lookup(table, k, base)
        moved.append(
            f"{word} the gap between regions in "
            f"{_e(_lower_first(kpi_description(k.removesuffix('_region_range'))))} from "
            f"{_e(fmt_value(k, b['mean']))} to {_e(fmt_value(k, s['mean']))}"
        )
    return (
        "; ".join(moved)
        if moved
        else "no change in the gaps between regions that these runs can detect"
    )


def analyst_box(
    table: pd.DataFrame, base: str, names: list[str], economics: Mapping[str, str]
) -> str:
    items = []
    for scen in names[1:]:
        effects = largest_effects(table, base, scen)
        body = (
            "<ol>" + "".join(f"<li>{x}</li>" for x in effects) + "</ol>"
            if effects
            else " no England KPI with a direction changes beyond the runs' noise."
        )
        econ = economics.get(scen)
        items.append(
            f"<li><b>{_e(scenario_label(scen))}</b>: largest effects{':' if effects else ''}"
            f"{body}<p>Equity: {_equity(table, base, scen)}.</p>"
            + (f"<p>Value for money: {_e(econ)}</p>" if econ else "")
            + "</li>"
        )
    return (
        "<div class='box'><h3>For policy analysts</h3><ul>" + "".join(items) + "</ul>"
        "<p class='small'>Largest: the paired differences whose 95% CI excludes zero, ranked by "
        "their size relative to the base's value. Every KPI, England and by region, is in "
        "comparison.csv.</p></div>"
    )


def answers_section(
    table: pd.DataFrame,
    util: pd.DataFrame,
    names: list[str],
    economics: Mapping[str, str],
    base_file: str | None,
    scale: float = 1.0,
) -> str:
    """The three answer boxes (empty if there is nothing to compare)."""
    if len(names) < 2:
        return ""
    base = names[0]
    return (
        "<h2 id='answers'>At a glance</h2>"
        + campaigner_box(table, base, names)
        + planner_box(util, base, names, base_file, scale)
        + analyst_box(table, base, names, economics)
    )
