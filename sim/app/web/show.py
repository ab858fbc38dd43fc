"""Drawing stored results and job progress (shared by the pages)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sim.app.web import charts, jobs, results
from sim.core.errors import NenPathError
from sim.reporting.compare import COMPARISON_FILE, REGIONS_FILE, kpi_description
from sim.reporting.plots import REGIONAL_KPIS, STANDARDS

INTERVALS = (
    ("primary_care_interval_days_median", "First GP consultation to referral"),
    ("diagnostic_interval_days_median", "First presentation to diagnosis"),
    ("symptom_to_diagnosis_days_median", "First symptoms to diagnosis"),
    ("diagnosis_to_specialist_mdt_days_median", "Diagnosis to specialist MDT"),
    ("pet_wait_days_median", "Wait for Ga-68 PET"),
    ("prrt_wait_days_median", "Wait for PRRT"),
)
STAGE = (
    ("stage_localised_at_diagnosis_share", "Localised at diagnosis"),
    ("stage_distant_at_diagnosis_share", "Distant spread at diagnosis (as staged)"),
    ("spread_at_diagnosis_share", "Spread before diagnosis (true stage)"),
    ("emergency_presentation_share", "Diagnosed after an emergency presentation"),
)
OUTCOMES = (
    ("qalys_discounted_per_year", "QALYs a year (discounted)"),
    ("life_years_per_year", "Life-years a year"),
    ("nen_deaths_per_year", "NEN deaths a year"),
    ("cost_total_per_year", "NHS cost a year (GBP)"),
)


def table(frame: pd.DataFrame, caption: str) -> None:
    """A table as the text alternative of the chart above it."""
    st.caption(caption)
    st.dataframe(frame, hide_index=True, width="stretch")


def comparison(folder: Path, overlay: Path | None = None, key: str = "cmp") -> None:
    """Everything a stored comparison says: headlines by user, charts with their tables, the
    regional table, outcomes and costs, downloads."""
    try:
        c = results.load_comparison(folder)
    except NenPathError as exc:
        st.error(str(exc))
        return
    m = c.manifest
    ctl = m.get("controls", {})
    scale = ((m.get("scenarios") or [{}])[0].get("resolved", {}).get("population", {})).get(
        "population_scale", "?"
    )
    st.caption(
        f"{len(c.names)} scenarios; {c.replications} replications each; "
        f"{ctl.get('years', '?')} measured years after {ctl.get('warmup_years') or 'the default'}"
        f" warm-up years; scale {scale}; seed {ctl.get('seed', '?')}; folder `{folder}`"
    )
    if c.replications and c.replications < 5:
        st.warning(f"Only {c.replications} replications: the 95% confidence intervals are rough.")
    st.subheader("Headlines")
    for scen, groups in results.headlines_by_user(c).items():
        st.markdown(f"**{c.label(scen)}** compared with **{c.label(c.base)}**")
        cols = st.columns(len(groups))
        for col, (user, lines) in zip(cols, groups.items(), strict=True):
            with col:
                what = next(w for u, w, _ in results.USERS if u == user)
                st.markdown(f"*{user}* ({what})")
                st.markdown("\n".join(f"- {line}" for line in lines) or "- (nothing to say)")
    st.subheader("Charts")
    tabs = st.tabs(
        ["Key intervals", "Standards", "Stage", "Regions", "Outcomes and costs", "Capacity use"]
    )
    with tabs[0]:
        f = results.kpi_frame(c, list(INTERVALS))
        if not f.empty:
            st.plotly_chart(
                charts.ci_dots(f, "Median intervals (95% CI)", "days"),
                width="stretch", key=f"{key}-intervals",
            )  # fmt: skip
            table(f[["measure", "scenario", "value (95% CI)"]], "The chart's numbers.")
    with tabs[1]:
        f = results.kpi_frame(c, [(k, label.replace("\n", " ")) for k, label, _ in STANDARDS])
        if not f.empty:
            thresholds = {label.replace("\n", " "): t for _, label, t in STANDARDS}
            st.plotly_chart(
                charts.ci_dots(
                    f, "NHS cancer waiting-time standards (95% CI; bar: operational threshold)",
                    "% meeting the standard", thresholds=thresholds, percent=True,
                ),
                width="stretch", key=f"{key}-standards",
            )  # fmt: skip
            table(
                f[["measure", "scenario", "value (95% CI)"]].assign(
                    threshold=[f"{100 * thresholds[x]:.0f}%" for x in f["measure"]]
                ),
                "Share meeting each standard, and the standard's operational threshold.",
            )
    with tabs[2]:
        f = results.kpi_frame(c, list(STAGE))
        if not f.empty:
            st.plotly_chart(
                charts.ci_dots(f, "Stage and route at diagnosis (95% CI)", "% of people "
                               "diagnosed", percent=True),
                width="stretch", key=f"{key}-stage",
            )  # fmt: skip
            table(f[["measure", "scenario", "value (95% CI)"]], "The chart's numbers.")
    with tabs[3]:
        names: dict[str, str] = {k: label for k, label, _ in REGIONAL_KPIS}
        kpi: str = st.selectbox(
            "Measure by region",
            list(names),
            format_func=lambda k: names[k],
            key=f"{key}-region-kpi",
        ) or next(iter(names))
        f = results.regional_frame(c, kpi)
        if not f.empty:
            share = kpi.endswith("_share")
            st.plotly_chart(
                charts.regional_dots(f, f"{names[kpi]} by NHS region (95% CI)", names[kpi],
                                     percent=share),
                width="stretch", key=f"{key}-regions",
            )  # fmt: skip
        regional = results.regional_table(c, [k for k, _, _ in REGIONAL_KPIS])
        if not regional.empty:
            table(regional, "Every region, each measure with its 95% CI (the regional table).")
    with tabs[4]:
        f = results.kpi_frame(c, list(OUTCOMES))
        if f.empty:
            st.info("This run has no outcomes and costs (no [economics] table).")
        else:
            if not c.economics.empty and "d_qalys" in c.economics:
                econ = c.economics[c.economics["scenario"] != c.base]
                if not econ.empty:
                    labels = {s: c.label(s, short=True) for s in c.names}
                    st.plotly_chart(
                        charts.economics_bars(econ, labels), width="stretch",
                        key=f"{key}-economics",
                    )  # fmt: skip
                    table(econ, "Against the base, per year, with 95% CIs (economics.csv).")
            table(f[["measure", "scenario", "value (95% CI)"]], "Outcomes and costs a year.")
    with tabs[5]:
        if c.utilisation.empty:
            st.info("No capacity use was stored.")
        else:
            table(c.utilisation, "Mean utilisation of each capacity resource (95% CI).")
    st.subheader("Downloads")
    cols = list(st.columns(4))
    for col, name, mime in (
        (cols[0], COMPARISON_FILE, "text/csv"),
        (cols[1], "report.html", "text/html"),
        (cols[2], REGIONS_FILE, "text/csv"),
    ):
        path = folder / name
        if path.is_file():
            col.download_button(
                f"Download {name}", path.read_bytes(), file_name=name, mime=mime,
                key=f"{key}-dl-{name}",
            )  # fmt: skip
    if overlay is not None and overlay.is_file():
        cols[3].download_button(
            "Download the overlay", overlay.read_bytes(), file_name=overlay.name,
            mime="application/toml", key=f"{key}-dl-overlay",
        )  # fmt: skip
    with st.expander("Every KPI (comparison.csv)"):
        t = c.table.copy()
        t.insert(1, "meaning", [kpi_description(k) for k in t["kpi"]])
        st.dataframe(t, hide_index=True, width="stretch")


def sizing(folder: Path, current: float | None = None, key: str = "size") -> None:
    """A stored sizing: the answer in words, the curve with its CIs and today's capacity."""
    try:
        s = results.load_sizing(folder)
    except NenPathError as exc:
        st.error(str(exc))
        return
    m = s.manifest
    (st.success if s.recommended is not None else st.warning)(s.message)
    x = "slots_per_week" if "slots_per_week" in s.table else s.table.columns[0]
    rec = s.recommended
    per_week = 1.0
    if "slots_per_week" in s.table and len(s.table):
        first = s.table.iloc[0]
        per_week = float(first["slots_per_week"]) / max(float(first[s.table.columns[0]]), 1e-9)
    st.plotly_chart(
        charts.sizing_curve(
            s.table, x, str(m.get("kpi")), float(m.get("target", 0.0)),
            None if current is None else current * per_week,
            None if rec is None else rec * per_week,
        ),
        width="stretch", key=f"{key}-curve",
    )  # fmt: skip
    table(
        s.table,
        "Every capacity tried (England terms): the KPI's mean and 95% CI, "
        "utilisation, and whether the target is met (sizing.csv).",
    )
    path = folder / "sizing.csv"
    st.download_button(
        "Download sizing.csv", path.read_bytes(), file_name="sizing.csv", mime="text/csv",
        key=f"{key}-dl",
    )  # fmt: skip


def progress(st_: jobs.JobState, expect: int | None = None) -> None:
    """Replications done, ETA and the latest lines of the run."""
    if st_.total:
        st.progress(
            min(st_.done / st_.total, 1.0),
            text=f"{st_.done} of {st_.total} replications done; elapsed {st_.elapsed}, "
            f"ETA {st_.eta}",
        )
    else:
        st.progress(0.0, text="starting (loading scenarios, starting workers) ...")
    if st_.log:
        with st.expander("What the run is printing"):
            st.code("\n".join(st_.log[-8:]), language=None)
