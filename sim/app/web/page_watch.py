"""Page 4: watch a sample of patients move through the pathway (vidigi animation)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from sim.app.web import jobs, pathway, show
from sim.core.errors import NenPathError, ScenarioError


@st.cache_data(show_spinner=False, max_entries=8)
def _watch(path: str, mtime: float, patients: int, weeks: int, seed: int) -> pathway.Watched:
    return pathway.pathway_log(Path(path), patients=patients, window_weeks=weeks, seed=seed)


def render() -> None:
    st.title("Watch the pathway")
    st.write(
        "One small replication (5% of England, one warm-up year) of the chosen scenario; a "
        "sample of people who first present in the first half of the window, moved a week at "
        "a time through their GP, tests, pathology, PET and MDT queues until their first "
        "treatment. It shows how the pathway flows, not the answer: use Compare for that."
    )
    files = jobs.scenario_files()
    names = [f.as_posix() for f in files]
    default = next((i for i, f in enumerate(files) if f.stem == "current_practice"), 0)
    c1, c2, c3 = st.columns(3)
    name = c1.selectbox("Scenario", names, index=default, key="watch-scenario")
    patients = c2.number_input("Patients in the sample", 5, 200, 60, 5, key="watch-patients")
    weeks = c3.number_input("Window (weeks)", 4, 104, 26, 2, key="watch-weeks")
    if not st.button("Animate", type="primary", key="watch-run"):
        return
    path = Path(name)
    try:
        with st.spinner("Simulating ..."):
            w = _watch(str(path), path.stat().st_mtime, int(patients), int(weeks), 12345)
    except ScenarioError as exc:
        for p in exc.problems:
            st.error(str(p))
        return
    except NenPathError as exc:
        st.error(f"nenpath: {exc}")
        return
    if w.patients == 0:
        st.warning("Nobody presented in the window: try a longer one.")
        return
    st.plotly_chart(pathway.animate(w), width="stretch", key="watch-animation")
    st.caption(
        "Press ▶ to play. Each dot is one person; the number above the slider is days since "
        "the window's start. The table below gives the same counts week by week."
    )
    show.table(
        pathway.step_counts(w),
        f"The animation as a table: how many of the {w.patients} sampled people are at each "
        "step at the start of each week.",
    )
    st.download_button(
        "Download the event log (vidigi convention)", w.log.to_csv(index=False).encode(),
        file_name="pathway_event_log.csv", mime="text/csv", key="watch-dl",
    )  # fmt: skip
