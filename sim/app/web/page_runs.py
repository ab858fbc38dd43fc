"""Page 3: open a past run (any run folder under outputs/, from the app or the command line)."""

from __future__ import annotations

import streamlit as st

from sim.app.web import jobs, results, show


def render() -> None:
    st.title("Open a past run")
    runs = jobs.stored_runs()
    if not runs:
        st.info(f"No run folders under {jobs.outputs_root()}/ yet.")
        return
    labels = [
        f"{r.created[:16]} · {r.kind} · {', '.join(r.scenarios)[:80]} · {r.status} · {r.folder}"
        for r in runs
    ]
    st.caption(f"{len(runs)} run folders under {jobs.outputs_root()}/, newest first.")
    pick = st.selectbox("Run", labels, key="past-run")
    run = runs[labels.index(pick)]
    if run.kind == "sizing":
        show.sizing(run.folder, key="past-size")
    elif (run.folder / "comparison.csv").is_file():
        overlay = None
        job = run.folder.parent / "job.json"
        if run.by_app and job.is_file():
            import json

            files = json.loads(job.read_text()).get("request", {}).get("files", [])
            cands = [f for f in files if "/overlays/" in f]
            overlay = jobs.Path(cands[-1]) if cands else None
        show.comparison(run.folder, overlay, key="past-cmp")
    else:
        summary = results.summary_frame(run.folder)
        if summary.empty:
            st.warning(
                f"{run.folder}: no finished results (status {run.status}); "
                "`nenpath run --resume --out` with the same settings finishes it."
            )
        else:
            show.table(summary, "summary.csv: every KPI's mean and 95% CI.")
