"""The report's "Outcomes and costs" section: outcomes and costs per year with CIs, the ICER
table, costs by category as stacked bars, and CHEERS 2022 methods lines [S161] listing every
unit cost and utility of each compared scenario with its source.

Layout only: the numbers come from :mod:`sim.measures.economics` (KPIs,
:func:`~sim.measures.economics.icer_table`); the report (:mod:`sim.reporting.report`) calls
:func:`economics_section` and passes its own table renderer, flattener and source lookup, so
this module depends on nothing in it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from sim.measures.economics import BUDGET_YEARS, THRESHOLDS, _gbp, price_factor
from sim.reporting.page import e as _e
from sim.scenario.schema import COST_CATEGORIES, REGIONS, Economics

OUTCOME_KPIS: tuple[str, ...] = (
    "qalys_discounted_per_year",
    "life_years_discounted_per_year",
    "life_years_per_year",
    "qalys_discounted_per_1000_diagnosed",
    "life_years_discounted_per_1000_diagnosed",
    "all_deaths_per_year",
    "other_cause_deaths_per_year",
    "nen_deaths_per_year",
    "cost_total_per_year",
    "cost_total_per_patient_diagnosed",
    *(f"cost_{c}_per_year" for c in COST_CATEGORIES),
)
"""The KPIs tabulated in the section, in order."""




def cost_bars(table: pd.DataFrame, names: list[str], label: Callable[[str], str]) -> Any:
    """Stacked bars: mean cost a year by category (GBP million), one bar per scenario."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    bottom = np.zeros(len(names))
    cmap = colormaps["tab20"]
    for i, c in enumerate(COST_CATEGORIES):
        rows = table[table["kpi"] == f"cost_{c}_per_year"].set_index("scenario")
        values = np.array([float(rows["mean"].get(s, np.nan)) for s in names]) / 1e6
        values = np.nan_to_num(values)
        if not values.any():
            continue
        ax.bar(
            [textwrap.fill(label(s), 16) for s in names],
            values,
            bottom=bottom,
            label=c.replace("_", " "),
            color=cmap(i % 20),
        )
        bottom += values
    ax.set_ylabel("GBP million a year (England, discounted)")
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def regional_cost_bars(table: pd.DataFrame, scenario: str) -> Any:
    """Stacked bars: mean cost per person diagnosed by category in England and each NHS region
    for one scenario (regions differ in size, so per person, not per year)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    places = ["england", *REGIONS]
    fig = Figure(figsize=(9, 4.8))
    ax = fig.subplots()
    bottom = np.zeros(len(places))
    cmap = colormaps["tab20"]
    rows = table[table["scenario"] == scenario].set_index("kpi")["mean"]
    names = [
        p.replace("_", " ").title().replace(" Of ", " of ").replace(" And ", " and ")
        for p in places
    ]
    for i, c in enumerate(COST_CATEGORIES):
        kpi = f"cost_{c}_per_patient_diagnosed"
        keys = [kpi if p == "england" else f"{kpi}__{p}" for p in places]
        values = np.nan_to_num(np.array([float(rows.get(k, np.nan)) for k in keys])) / 1e3
        if not values.any():
            continue
        ax.bar(names, values, bottom=bottom, label=c.replace("_", " "), color=cmap(i % 20))
        bottom += values
    ax.set_ylabel("GBP thousand per person diagnosed (discounted)")
    ax.tick_params(axis="x", labelsize=7, rotation=20)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _icer_cell(r: dict[str, Any]) -> str:
    if str(r["icer_note"]).startswith("identical"):
        return "identical to the base"
    if r["icer"] != r["icer"]:
        return "n/a"
    text = _gbp(r["icer"]) + " per QALY"
    if r["icer_low"] == r["icer_low"]:
        text += f" (95% CI {_gbp(r['icer_low'])} to {_gbp(r['icer_high'])})"
    if r["icer_note"]:
        text += f"; {r['icer_note']}"
    return text


def _ci(m: float, lo: float, hi: float, fmt: Callable[[float], str]) -> str:
    if lo != lo:
        return fmt(m)
    return f"{fmt(m)} ({fmt(lo)} to {fmt(hi)})"


def icer_html(icers: pd.DataFrame, base: str, label: Callable[[str], str]) -> str:
    """The ICER table as HTML."""
    rows = [r for r in icers.to_dict("records") if r["scenario"] != base]
    if not rows:
        return ""
    head = (
        "<tr><th>Scenario vs base</th><th>QALYs gained a year (95% CI)</th>"
        "<th>Extra cost a year (95% CI)</th><th>ICER (bootstrap 95% CI)</th>"
        + "".join(f"<th>Net monetary benefit at {_gbp(x)}/QALY (95% CI)</th>" for x in THRESHOLDS)
        + "</tr>"
    )
    body = ""
    for r in rows:
        body += (
            f"<tr><td>{_e(label(r['scenario']))}</td>"
            f"<td>{_e(_ci(r['d_qalys'], r['d_qalys_low'], r['d_qalys_high'], _q))}</td>"
            f"<td>{_e(_ci(r['d_cost'], r['d_cost_low'], r['d_cost_high'], _gbp))}</td>"
            f"<td>{_e(_icer_cell(r))}</td>"
            + "".join(
                f"<td>{_e(_ci(r[f'nmb_{int(x)}'], r[f'nmb_{int(x)}_low'], r[f'nmb_{int(x)}_high'], _gbp))}</td>"  # noqa: E501
                for x in THRESHOLDS
            )
            + "</tr>"
        )
    return f"<table>{head}{body}</table>"


def _q(v: float) -> str:
    return f"{v:,.1f}"


def methods_html(
    names: list[str],
    resolved: dict[str, Any],
    sources: dict[str, Any],
    flatten: Callable[[Any], dict[str, Any]],
    source_of: Callable[[str, dict[str, Any]], str],
    label: Callable[[str], str],
) -> str:
    """CHEERS 2022 items that apply, then every economic input of each scenario with its source
    (the scenario file's comment; inputs equal to the base's are listed once, under the base)."""
    base = names[0]
    econ = resolved.get(base, {}).get("economics")
    if not econ:
        return ""
    rate = econ.get("discount_rate")
    year = econ.get("price_year")
    shown = econ.get("report_price_year") or year
    if shown != year:
        try:
            factor = f" (x {price_factor(Economics.model_validate(econ)):.4f})"
        except ValueError:
            factor = ""
        prices = (
            f"GBP, {_e(shown)} prices: every cost, stated in {_e(year)} prices, uprated by the "
            f"NHS cost inflation index, pay and prices [S191]{factor}."
        )
    else:
        prices = (
            f"GBP, {_e(year)} prices; a value from another year is converted with the NHS cost "
            "inflation index [S191] where its comment says so, and stated as it is otherwise "
            "(each value's year is in its source below)."
        )
    items = [
        "<b>Perspective</b>: NHS and personal social services costs; health effects of the "
        "patients (NICE reference case [S150]).",
        f"<b>Currency and price year</b>: {prices}",
        "<b>Time origin and horizon</b>: the start of the measured window, to the end of the "
        "run. Each scenario runs from t = 0, so in the window its policy is in steady state, "
        "and a calendar origin shared by all scenarios gives earlier diagnosis no lead-time "
        "credit. Everyone the model follows counts while alive in the window; life after the "
        "horizon is censored there (no extrapolation), so gains realised later are missed.",
        f"<b>Discounting</b>: {100 * float(rate):.1f}% a year for costs and effects, "
        "continuously from the window's start (NICE: 3.5% [S150]; 1.5% as a sensitivity "
        "[S152]: set <code>[economics] discount_rate</code>).",
        "<b>Outcomes</b>: life-years and QALYs from health states in the event log (before "
        "diagnosis; diagnosed by stage; on each treatment line; progressed; best supportive "
        "care), utilities below"
        + (
            ", each multiplied by the UK population norm at the patient's age and sex over the "
            "norm of the population the utilities come from (Ara &amp; Brazier [S180])"
            if (econ.get("utility_norms") or {}).get("apply")
            else " (not adjusted for age and sex)"
        )
        + "; NEN and other-cause deaths.",
        "<b>Resources and costs</b>: activities in the event log times unit costs (below); "
        "drugs per month from each line's start to the next progression, line, death or the "
        "horizon; surveillance per scan interval; the scenario's fixed yearly costs.",
        "<b>Uncertainty</b>: 95% confidence intervals over replications (paired differences "
        "under common random numbers); the ICER's interval is a bootstrap over paired "
        "replications (4,000 resamples, fixed seed), given in words where it crosses zero or "
        "infinity. Parameter uncertainty (costs, utilities and the clinical inputs, ranges in "
        "calibration/parameters.toml) is propagated by a comparison PSA, <code>nenpath psa "
        "BASE OTHER...</code>: cost-effectiveness plane, acceptability curve and EVPI.",
        "<b>Decision rule</b>: net monetary benefit at GBP 25,000 and 35,000 per QALY, NICE's "
        "threshold range from April 2026 [S153] (superseding PMG36's GBP 20,000-30,000).",
    ]
    out = "<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>"

    def inputs(name: str) -> dict[str, Any]:
        # the numbers that need a source: non-zero numbers (labels, defaults of 0 and absent
        # caps are not inputs)
        return {
            k: v
            for k, v in flatten(resolved.get(name, {})).items()
            if k.startswith("economics.")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and v != 0
        }

    base_flat = inputs(base)
    for n in names:
        flat = inputs(n)
        shown = flat if n == base else {k: v for k, v in flat.items() if base_flat.get(k) != v}
        if not shown:
            continue
        rows = "".join(
            f"<tr><td><code>{_e(k.removeprefix('economics.'))}</code></td><td>{_e(v)}</td>"
            f"<td class='small'>{_e(source_of(k, sources.get(n, {})))}</td></tr>"
            for k, v in shown.items()
        )
        title = "every input" if n == base else "inputs that differ from the base"
        out += (
            f"<p><b>{_e(label(n))}</b>: {title}</p>"
            f"<table><tr><th>input</th><th>value</th><th>source</th></tr>{rows}</table>"
        )
    return out


def budget_html(
    table: pd.DataFrame,
    names: list[str],
    kpi_table: Callable[[pd.DataFrame, list[str], tuple[str, ...]], str],
) -> str:
    """The budget by year after the policy start (undiscounted), with each scenario's paired
    difference from the base: its budget impact ("" when the run has none)."""
    years = tuple(
        f"cost_year_{i}"
        for i in range(1, BUDGET_YEARS + 1)
        if not table[table["kpi"] == f"cost_year_{i}"].empty
    )
    if not years:
        return ""
    return (
        "<h3>Budget impact by year</h3><p>NHS and PSS cost in each year after the policy start "
        "(the start of the measured window), England, <b>undiscounted</b> as a budget impact "
        "analysis reports it, fixed costs included; the difference from the base is that "
        "year's budget impact (95% CI).</p>" + kpi_table(table, names, years)
    )


def economics_section(
    table: pd.DataFrame,
    icers: pd.DataFrame,
    names: list[str],
    resolved: dict[str, Any],
    sources: dict[str, Any],
    *,
    kpi_table: Callable[[pd.DataFrame, list[str], tuple[str, ...]], str],
    flatten: Callable[[Any], dict[str, Any]],
    source_of: Callable[[str, dict[str, Any]], str],
    label: Callable[[str], str],
    png: Callable[[Any], str],
) -> str:
    """The whole section's HTML ("" when the run has no economic KPIs)."""
    if table[table["kpi"] == "cost_total_per_year"].empty:
        return ""
    bars = png(cost_bars(table, names, label))
    return (
        "<h2 id='economics'>Outcomes and costs</h2>"
        "<p>Per year of the measured window, England (England-scaled), discounted unless "
        "stated; 95% CIs over replications; differences paired. Figures per 1,000 people "
        "diagnosed (or per person diagnosed) divide window totals by the people diagnosed in the "
        "window, so they fall when a scenario diagnoses more people: compare the totals a year. "
        "Life-years a year are the person-years lived in the window by the people with a NEN "
        "the model follows, so longer survival shows there before it shows in deaths a year.</p>"
        + kpi_table(table, names, OUTCOME_KPIS)
        + "<h3>Cost-effectiveness against the base</h3>"
        + icer_html(icers, names[0], label)
        + budget_html(table, names, kpi_table)
        + "<figure><img alt='Costs by category' src='data:image/png;base64,"
        + bars
        + "'><figcaption>NHS and PSS cost a year by category (means over replications).</figcaption></figure>"  # noqa: E501
        + "<figure><img alt='Costs by region' src='data:image/png;base64,"
        + png(regional_cost_bars(table, names[0]))
        + f"'><figcaption>Cost per person diagnosed by category, England and each NHS region, "
        f"{_e(label(names[0]))} (means over replications; every category by region and "
        "scenario is in regions.csv).</figcaption></figure>"
        + "<h3>Methods (CHEERS 2022 [S161])</h3>"
        + methods_html(names, resolved, sources, flatten, source_of, label)
    )
