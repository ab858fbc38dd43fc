"""Page 2: size a service (``nenpath size`` from a form)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sim.app.web import jobs, show
from sim.app.web.page_compare import load
from sim.core.errors import NenPathError, ScenarioError
from sim.experiment.sizing import default_direction, make_question, parse_resource
from sim.measures.kpis import KPI_DESCRIPTIONS
from sim.model.resources import has_capacity
from sim.scenario.loader import with_population_scale
from sim.scenario.schema import MAX_SCALE, REGIONS

ENGLAND = "England"


def render() -> None:
    st.title("Size a service")
    st.write(
        "The least capacity of one resource for which a KPI meets a target with 95% "
        "confidence (the CI bound over replications must meet it, and the resource must keep "
        "up with demand): `nenpath size` from a form."
    )
    files = jobs.scenario_files()
    names = [f.as_posix() for f in files]
    default = next((i for i, f in enumerate(files) if f.stem == "current_practice"), 0)
    scen_name = st.selectbox("Scenario", names, index=default, key="size-scenario")
    path = Path(scen_name)
    try:
        scenario, base_controls = load(path)
    except ScenarioError as exc:
        for p in exc.problems:
            st.error(str(p))
        return
    sizable = [b for b, spec in scenario.resources if has_capacity(spec)]
    c1, c2 = st.columns(2)
    base = c1.selectbox(
        "Resource", sizable, index=sizable.index("specialist_mdt") if "specialist_mdt" in sizable
        else 0, key="size-resource",
    )  # fmt: skip
    regional = getattr(scenario.resources, base).scope == "region"
    region = (
        c2.selectbox("Region", REGIONS, index=len(REGIONS) - 1, key="size-region")
        if regional else None
    )  # fmt: skip
    resource = f"{base}.{region}" if region else base
    kpis = list(KPI_DESCRIPTIONS)
    c3, c4 = st.columns(2)
    kpi0 = "diagnosis_to_specialist_mdt_days_p90"
    kpi = c3.selectbox(
        "KPI", kpis, index=kpis.index(kpi0) if kpi0 in kpis else 0, key="size-kpi",
        help="`nenpath kpis` lists them with their meaning",
    )  # fmt: skip
    where = c4.selectbox(
        "KPI for", [ENGLAND, *REGIONS],
        index=1 + REGIONS.index(region) if region else 0, key="size-kpi-region",
    )  # fmt: skip
    full_kpi = kpi if where == ENGLAND else f"{kpi}__{where}"
    st.caption(KPI_DESCRIPTIONS.get(kpi, ""))
    c5, c6 = st.columns(2)
    target = c5.number_input("Target", value=28.0, key="size-target")
    c6.selectbox(
        "Confidence", ["95%"], key="size-confidence", disabled=True,
        help="The sizing search uses 95% confidence intervals (as `nenpath size`).",
    )  # fmt: skip
    direction = default_direction(kpi)
    st.caption(
        f"The KPI must be {'at least' if direction == 'at_least' else 'at most'} the target."
        if direction
        else "The KPI's direction cannot be told from its name."
    )
    st.subheader("Run controls")
    d1, d2, d3 = st.columns(3)
    reps = d1.number_input("Replications per capacity", 1, 200, 4, key="size-reps")
    years = d2.number_input("Measured years", 0.25, 50.0, 5.0, 0.25, key="size-years")
    scale = d3.number_input("Scale", 0.01, float(MAX_SCALE), 0.25, 0.05, key="size-scale")
    request = jobs.Request(
        "size", (path.as_posix(),), int(reps), float(years), float(scale),
        question=(("resource", resource), ("kpi", full_kpi), ("target", f"{target:g}")),
    )  # fmt: skip
    controls = request.controls(base_controls)
    problem = None
    current = None
    try:
        scaled = with_population_scale(scenario, scale)
        make_question(scaled, controls, resource, full_kpi, float(target), None, None, None, 0.95)
        res = parse_resource(scenario, resource)
        current = res.current
    except ScenarioError as exc:
        problem = "; ".join(str(p) for p in exc.problems)
    except NenPathError as exc:
        problem = f"nenpath: {exc}"
    if problem:
        st.error(problem)
    else:
        seconds = jobs.sizing_seconds(controls, scale)
        st.info(
            f"Today: {current if current is not None else 'unlimited'} "
            f"{res.kind.unit}. Estimated run "
            f"time: about {jobs.clock(seconds)}"
            f" (about {jobs.SIZING_ROUNDS} rounds of 4 capacities x {reps} replications) when idle."
            + jobs.busy_factor()[1]
        )
    if st.button("Size it", type="primary", disabled=problem is not None, key="size-run"):
        key = jobs.request_key(request, [with_population_scale(scenario, scale)], controls)
        folder = jobs.job_folder("size", key)
        st.session_state["size_job"] = str(folder)
        st.session_state["size_current"] = current
        if jobs.state(folder).status != "done":
            jobs.start(folder, request)
    if st.session_state.get("size_job"):
        follow()


@st.fragment(run_every=1.0)
def follow() -> None:
    folder = Path(st.session_state["size_job"])
    now = jobs.state(folder)
    if now.status == "running":
        show.progress(now)
        tried = [line for line in now.log if " meets " in line or " misses " in line]
        if tried:
            st.markdown("Capacities tried so far:\n" + "\n".join(f"- {t}" for t in tried))
        if st.button("Cancel (finished runs are kept)", key="size-cancel"):
            jobs.cancel(folder)
            st.rerun(scope="app")
        return
    if now.status == "failed":
        st.error("\n".join(now.errors[-5:]) or "The sizing stopped with an error.")
    elif now.status == "cancelled":
        st.warning("Cancelled; finished runs are kept: press 'Size it' again to continue.")
    elif now.status == "done":
        show.sizing(folder / jobs.RUN, st.session_state.get("size_current"))
