"""Page 1: compare scenarios (files, or a variant built from the base), run, read the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from sim.app.web import jobs, levers, show
from sim.core.errors import NenPathError, Problem, ScenarioError
from sim.model.population import check_run_size
from sim.scenario.loader import load_scenario_file, with_population_scale
from sim.scenario.schema import MAX_SCALE, RunControls, Scenario

PRESETS = {
    "Quick (default)": (jobs.DEFAULT_REPLICATIONS, jobs.DEFAULT_YEARS, jobs.DEFAULT_SCALE),
    "Tiny (a check that it runs; numbers mean little)": (2, 1.0, 0.02),
    "Precise (for a decision; slow)": (10, 10.0, 1.0),
}


@st.cache_data(show_spinner=False, max_entries=64)
def _load(path: str, mtime: float) -> tuple[Scenario, RunControls]:
    return load_scenario_file(path)


def load(path: Path) -> tuple[Scenario, RunControls]:
    """A scenario file, cached until it changes; raises :class:`ScenarioError`."""
    return _load(str(path), path.stat().st_mtime if path.exists() else 0.0)


def _label(path: Path) -> str:
    return path.as_posix()


def _problems_under(key: str, problems: dict[str, list[str]]) -> None:
    for text in problems.get(key, []):
        st.error(text)


def variant_builder(base_file: Path, base: Scenario) -> tuple[Path | None, str, list[str]]:
    """The variant's controls; returns (its overlay file if it validates, the downloadable
    text, problems not tied to a control)."""
    start = levers.base_values(base)
    values: dict[str, Any] = {}
    ctrls = levers.controls()
    for c in ctrls:
        values[c.key] = st.session_state.get(f"lever.{c.key}", start[c.key])
    title = st.session_state.get("variant_title", "My variant")
    tables = levers.overlay_tables(values, base)
    path = levers.write_overlay(
        lambda ext: levers.overlay_text(tables, title, ext), base_file, jobs.app_root(), title
    )
    checked = levers.validate_overlay(path)
    placed: dict[str, list[str]] = {}
    loose: list[str] = []
    for p in checked.problems:
        where = levers.control_for(p.key)
        if where is None:
            where = next((c.key for c in ctrls for q in c.paths if q.startswith(p.key + ".")), None)
        text = levers.problem_text(p)
        (placed.setdefault(where, []) if where else loose).append(text)

    st.text_input("Title of the variant (names it in headlines)", key="variant_title",
                  value="My variant")  # fmt: skip
    groups: dict[str, list[levers.Control]] = {}
    for c in ctrls:
        groups.setdefault(c.group, []).append(c)
    for group, members in groups.items():
        with st.expander(group, expanded=group in ("Primary care", "Specialist MDT")):
            regional = all(c.key.count(".") == 1 for c in members)
            cols = st.columns(4) if regional else [st.container()]
            for i, c in enumerate(members):
                with cols[i % len(cols)]:
                    _widget(c, start[c.key])
                    _problems_under(c.key, placed)
    download = levers.overlay_text(
        tables, title, base_file.name,
        header=f"A variant of {base_file.as_posix()} built in the nen-pathway web app.\n"
        f"Save it next to {base_file.name} (it extends it), then for example:\n"
        f"  nenpath compare {base_file.as_posix()} {base_file.parent.as_posix()}/"
        f"{levers.slug(title)}.toml",
    )  # fmt: skip
    return (path if checked.scenario is not None else None), download, loose


def _widget(c: levers.Control, start: Any) -> None:
    key = f"lever.{c.key}"
    if c.kind == "share":
        st.number_input(c.label, value=float(start), step=0.05, format="%.2f", key=key,
                        help=c.help)  # fmt: skip
    elif c.kind == "count":
        # No minimum: a value the scenario cannot take gets the loader's message beside it.
        st.number_input(c.label, value=int(start if start is not None else 0), step=1,
                        key=key, help=c.help)  # fmt: skip
    else:
        st.checkbox(c.label, value=bool(start), key=key, help=c.help, disabled=bool(start))


def render() -> None:
    st.title("Compare scenarios")
    st.write(
        "Choose a base and the scenarios to compare with it, or build a variant of the base. "
        "Every scenario runs with the same synthetic patients (common random numbers), so the "
        "differences are paired."
    )
    files = jobs.scenario_files()
    if not files:
        st.error(f"No scenario files found in {jobs.scenarios_root()}/")
        return
    names = [_label(f) for f in files]
    default = next((i for i, f in enumerate(files) if f.stem == "current_practice"), 0)
    base_name = st.selectbox("Base scenario", names, index=default, key="base")
    base_file = files[names.index(base_name)]
    try:
        base, base_controls = load(base_file)
    except ScenarioError as exc:
        for p in exc.problems:
            st.error(str(p))
        return
    others = st.multiselect(
        "Compare with", [n for n in names if n != base_name], key="others",
        help="scenarios/ and scenarios/interventions/",
    )  # fmt: skip
    use_variant = st.checkbox("Add a variant built from the base", key="use_variant")
    chosen = [Path(n) for n in others]
    problems: list[str] = []
    if use_variant:
        st.subheader("Variant")
        overlay, download, loose = variant_builder(base_file, base)
        pasted = st.text_area(
            "Or paste an overlay (TOML, `extends = ...`): it replaces the controls above",
            key="pasted", height=120,
        )  # fmt: skip
        if pasted.strip():
            overlay, download, loose = _pasted(pasted, base_file)
        for text in loose:
            st.error(text)
        if overlay is None:
            problems.append("The variant does not validate: see the messages above.")
        else:
            chosen.append(overlay)
            st.success(f"The variant validates (as `nenpath validate {overlay}` would).")
        with st.expander("The variant's overlay (TOML)", expanded=False):
            st.code(download, language="toml")
        st.download_button(
            "Download the overlay", download.encode(), file_name=f"{_variant_name()}.toml",
            mime="application/toml", key="dl-overlay-variant",
        )  # fmt: skip

    st.subheader("Run controls")
    preset = st.radio("Preset", list(PRESETS), horizontal=True, key="preset")
    reps0, years0, scale0 = PRESETS[preset]
    c1, c2, c3 = st.columns(3)
    reps = c1.number_input("Replications per scenario", 1, 200, reps0, key=f"reps-{preset}")
    years = c2.number_input("Measured years", 0.25, 50.0, years0, 0.25, key=f"years-{preset}")
    scale = c3.number_input(
        "Scale (fraction of England)", 0.01, float(MAX_SCALE), scale0, 0.05, key=f"scale-{preset}"
    )
    with st.expander("Advanced: seed and warm-up"):
        seed = st.number_input("Seed", 0, 2**31 - 1, base_controls.seed, key="seed")
        warm = st.number_input(
            "Warm-up years (0: none)", 0.0, 50.0, float(jobs.warmup_years(base_controls)), 1.0,
            key="warmup",
        )  # fmt: skip
    st.caption(jobs.DEFAULT_TRADE_OFF)
    request = jobs.Request(
        "compare",
        tuple(p.as_posix() for p in [base_file, *chosen]),
        int(reps),
        float(years),
        float(scale),
        seed=int(seed),
        warmup_years=float(warm),
    )
    controls = request.controls(base_controls)
    try:
        loaded = [with_population_scale(load(Path(f))[0], scale) for f in request.files]
        for s in loaded:
            check_run_size(s.population, controls)
        if len({s.name for s in loaded}) != len(loaded):
            raise NenPathError("two scenarios have the same name: choose each once")
    except ScenarioError as exc:
        problems += [str(p) for p in exc.problems]
        loaded = []
    except NenPathError as exc:
        problems.append(f"nenpath: {exc}")
        loaded = []
    seconds = jobs.estimate_seconds(len(request.files), controls, scale)
    st.info(
        f"Estimated run time: about {jobs.clock(seconds)} for {len(request.files)} scenarios x "
        f"{reps} replications on this machine ({jobs.os.cpu_count()} cores) when idle."
        + jobs.busy_factor()[1]
    )
    if len(request.files) < 2:
        problems.append("Choose at least one scenario to compare with the base, or a variant.")
    for text in problems:
        st.error(text)
    run = st.button("Run", type="primary", disabled=bool(problems), key="run")
    if run and loaded:
        key = jobs.request_key(request, loaded, controls)
        folder = jobs.job_folder("compare", key)
        st.session_state["compare_job"] = str(folder)
        st.session_state["compare_request"] = request.__dict__
        st.session_state["compare_overlay"] = str(chosen[-1]) if use_variant else ""
        now = jobs.state(folder)
        if not (now.status == "done" and now.replications == request.replications):
            jobs.start(folder, request)
    if st.session_state.get("compare_job"):
        follow()


def _variant_name() -> str:
    return levers.slug(st.session_state.get("variant_title", "My variant"))


def _pasted(text: str, base_file: Path) -> tuple[Path | None, str, list[str]]:
    """A pasted overlay, written under outputs/app/overlays/ and checked by the loader. Its
    ``extends`` is read relative to the base's folder (where the user would save it)."""
    import tomllib

    try:
        data = tomllib.loads(text)
        ext = data.get("extends")
    except tomllib.TOMLDecodeError as exc:
        return None, text, [f"pasted overlay: TOML syntax error: {exc}"]
    if not isinstance(ext, str):
        return None, text, ["pasted overlay: extends: give the base file, e.g. "
                            f'extends = "{base_file.name}"']  # fmt: skip
    target = (base_file.parent / ext).resolve()
    folder = jobs.app_root() / "overlays" / levers.content_hash(text)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    rel = levers.extends_path(target, folder)
    body = text.replace(f'"{ext}"', f'"{rel}"', 1).replace(f"'{ext}'", f'"{rel}"', 1)
    name = data.get("name") if isinstance(data.get("name"), str) else "pasted_variant"
    path = folder / f"{levers.slug(str(name))}.toml"
    path.write_text(body, encoding="utf-8")
    checked = levers.validate_overlay(path)
    return (
        (path if checked.scenario is not None else None),
        text,
        [levers.problem_text(Problem(p.file, p.key, p.message)) for p in checked.problems],
    )


@st.fragment(run_every=1.0)
def follow() -> None:
    folder = Path(st.session_state["compare_job"])
    request = jobs.Request(**_tuples(st.session_state["compare_request"]))
    now = jobs.state(folder)
    overlay = st.session_state.get("compare_overlay") or None
    if now.status == "running":
        show.progress(now)
        if st.button("Cancel (finished replications are kept)", key="cancel"):
            now = jobs.cancel(folder)
            st.rerun(scope="app")
        return
    if now.status in ("cancelled", "failed"):
        names = _names(folder)
        k = jobs.complete_replications(now, names) if names else 0
        if now.status == "failed":
            st.error("The run stopped with an error:\n\n" + "\n".join(now.errors[-5:]))
        else:
            st.warning(
                f"Cancelled: {k} replication(s) of every scenario finished and are kept "
                f"({now.finished})."
            )
        c1, c2 = st.columns(2)
        if k >= 2 and c1.button(f"Show the answer from the {k} finished replications",
                                key="partial"):  # fmt: skip
            jobs.start(folder, request, replications=k)
            st.rerun(scope="app")
        if c2.button(f"Resume to {request.replications} replications", key="resume"):
            jobs.start(folder, request)
            st.rerun(scope="app")
        if now.status == "cancelled" and k < 2:
            return
    if now.status == "done" or (folder / jobs.RUN / "comparison.csv").is_file():
        if now.replications != request.replications:
            st.info(
                f"These results use the {now.replications} replications finished before the "
                f"run was cancelled (of {request.replications} asked for)."
            )
        show.comparison(folder / jobs.RUN, Path(overlay) if overlay else None)


def _names(folder: Path) -> list[str]:
    from sim.core.io import read_manifest

    m = read_manifest(folder / jobs.RUN) or {}
    return [str(s.get("name")) for s in m.get("scenarios", []) if isinstance(s, dict)]


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
            if isinstance(v, list) else v for k, v in d.items()}  # fmt: skip
