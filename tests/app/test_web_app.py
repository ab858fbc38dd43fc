"""The web app's pages through Streamlit's AppTest (no browser): widgets to overlay, the
command line's messages beside the controls, stored runs rendered without rerunning, the keyed
job folders. The real-browser run is tests/e2e/test_web_browser.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from sim.app.web import jobs, levers, pathway, results
from sim.app.workflows import run_comparison
from sim.scenario.loader import load_scenario, load_scenario_file, with_population_scale
from sim.scenario.schema import RunControls
from tests.helpers import BASELINE

SCENARIOS = BASELINE.parent
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NENPATH_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("NENPATH_SCENARIOS", str(SCENARIOS))
    return tmp_path / "outputs"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stored comparison: current practice vs the Ideal Pathway at 2% of England, 2
    replications, 1 warm-up and 1 measured year (the command line's own workflow)."""
    out = tmp_path_factory.mktemp("stored") / "outputs" / "cli_run"
    files = [BASELINE, SCENARIOS / "ideal_pathway.toml"]
    scenarios = [with_population_scale(load_scenario(f), 0.02) for f in files]
    controls = RunControls(replications=2, years=1, warmup_years=1, workers=1)
    run_comparison(
        scenarios, controls, out, progress=False, files={s.name: str(f) for s, f in
                                                         zip(scenarios, files, strict=True)}
    )  # fmt: skip
    return out


def _page(name: str) -> AppTest:
    script = f"from sim.app.web.page_{name} import render\nrender()\n"
    return AppTest.from_string(script, default_timeout=TIMEOUT)


def _next_to(at: AppTest, widget: object) -> Any:
    """The element drawn right after ``widget`` in its block."""
    stack = [at._tree]
    while stack:
        block = stack.pop()
        kids = list(getattr(block, "children", {}).values())
        for i, kid in enumerate(kids):
            if kid is widget:
                return kids[i + 1]
        stack += kids
    raise AssertionError("widget not found")


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# ----------------------------------------------------------------------------------- levers


def test_untouched_levers_make_an_empty_overlay() -> None:
    base = load_scenario(BASELINE)
    assert levers.overlay_tables(levers.base_values(base), base) == {}


def test_levers_write_what_the_intervention_files_say(tmp_path: Path) -> None:
    """Building 'a clinical nurse specialist' from the levers gives the same scenario as the
    intervention file (up to name and titles)."""
    base = load_scenario(BASELINE)
    tables = levers.overlay_tables({"cns": True}, base)
    path = levers.write_overlay(
        lambda e: levers.overlay_text(tables, "CNS", e), BASELINE, tmp_path, "CNS"
    )
    built = levers.validate_overlay(path).scenario
    ref = load_scenario(SCENARIOS / "interventions" / "clinical_nurse_specialist.toml")
    assert built is not None
    keep = {"name", "title", "short_title", "description"}
    assert built.model_dump(exclude=keep) == ref.model_dump(exclude=keep)


def test_the_downloadable_overlay_validates_next_to_its_base(tmp_path: Path) -> None:
    copy = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, copy)
    base = load_scenario(BASELINE)
    tables = levers.overlay_tables({"mdt_slots.north_west": 30, "all_referred": True}, base)
    text = levers.overlay_text(tables, "NW slots", "current_practice.toml", header="x")
    (copy / "nw.toml").write_text(text)
    from sim.app.cli import main

    assert main(["validate", str(copy / "nw.toml")]) == 0  # as `nenpath validate` says
    scenario, _ = load_scenario_file(copy / "nw.toml")
    assert scenario.resources.specialist_mdt.slots_for("north_west") == 30  # type: ignore[union-attr]
    assert scenario.resources.specialist_mdt.slots_for("london") == 24  # type: ignore[union-attr]
    assert scenario.mdt.specialist_referral_probability_by_region["south_west"] == 1.0
    assert "# assumption: set in the web app" in text


def test_variant_widgets_build_a_validated_overlay() -> None:
    at = _page("compare")
    at.run()
    assert not at.exception
    at.checkbox(key="use_variant").check().run()
    at.text_input(key="variant_title").input("Two meetings and a nurse").run()
    at.checkbox(key="lever.cns").check().run()
    at.number_input(key="lever.mdt_meetings").set_value(2).run()
    assert not at.exception
    assert not _errors(at)
    code = "\n".join(c.value for c in at.code)
    assert 'title = "Two meetings and a nurse"' in code
    assert "outcome_to_decision_days" in code
    assert 'sessions = [{weekday = "tue", hour = 13.0}, {weekday = "fri", hour = 13.0}]' in code
    assert "extra_specialist_mdt_meetings" in code  # the second meeting's cost
    assert any("validates" in s.value for s in at.success)
    assert not at.button(key="run").disabled


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lever.pet_slots.london", -1, "resources.pet.slots_per_session.london: must be at "
         "least 0, got -1"),
        ("lever.prrt_slots", -1, "resources.prrt.slots_per_session: must be at least 0, got -1"),
        ("lever.cga", 1.5, "presentation.gp.cga_requested_probability"),
        ("lever.mdt_meetings", 3, "resources.specialist_mdt.sessions"),
    ],
)  # fmt: skip
def test_bad_lever_gets_the_command_lines_message_beside_it(
    key: str, value: float, message: str
) -> None:
    at = _page("compare")
    at.run()
    at.checkbox(key="use_variant").check().run()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    errors = _errors(at)
    assert any(message in e for e in errors), errors
    assert at.button(key="run").disabled
    # Beside the control: the error follows the widget in the same block.
    after = _next_to(at, at.number_input(key=key))
    assert message in after.value


def test_pasted_overlay_with_an_unknown_region_gets_the_loaders_message() -> None:
    at = _page("compare")
    at.run()
    at.checkbox(key="use_variant").check().run()
    at.text_area(key="pasted").input(
        'extends = "current_practice.toml"\ntitle = "x"\n'
        "[resources.specialist_mdt.slots_per_session]\nnowhere = 3\n"
    ).run()
    assert not at.exception
    errors = "\n".join(_errors(at))
    assert "resources.specialist_mdt.slots_per_session.nowhere" in errors
    assert at.button(key="run").disabled


def test_run_controls_estimate_and_need_two_scenarios() -> None:
    at = _page("compare")
    at.run()
    assert any("Choose at least one scenario" in e for e in _errors(at))
    at.multiselect(key="others").select(str(SCENARIOS / "ideal_pathway.toml")).run()
    assert not _errors(at)
    assert any("Estimated run time" in i.value for i in at.info)


# ------------------------------------------------------------------------------ jobs and keys


def test_request_keys_separate_different_runs() -> None:
    s, c = load_scenario_file(BASELINE)
    req = jobs.Request("compare", (str(BASELINE), "x.toml"), 2, 1.0, 0.02)
    ctl = req.controls(c)
    a = jobs.request_key(req, [with_population_scale(s, 0.02)], ctl)
    assert a == jobs.request_key(req, [with_population_scale(s, 0.02)], ctl)
    assert a != jobs.request_key(req, [with_population_scale(s, 0.05)], ctl)
    more = jobs.Request("compare", req.files, 3, 1.0, 0.02)
    assert a != jobs.request_key(more, [with_population_scale(s, 0.02)], more.controls(c))
    other_seed = jobs.Request("compare", req.files, 2, 1.0, 0.02, seed=7)
    assert a != jobs.request_key(
        other_seed, [with_population_scale(s, 0.02)], other_seed.controls(c)
    )
    assert req.args(Path("o"))[-3:] == ["--out", "o", "--resume"]


def test_estimate_grows_with_work() -> None:
    c = RunControls(replications=5, years=5, warmup_years=12)
    small = jobs.estimate_seconds(2, c, 0.5, cores=2)
    assert jobs.estimate_seconds(2, c, 1.0, cores=2) > small
    assert jobs.estimate_seconds(3, c, 0.5, cores=2) > small
    assert jobs.estimate_seconds(2, c, 0.5, cores=1) > small
    # The defaults answer within a few minutes on 2 cores (what the page promises).
    assert jobs.estimate_seconds(3, c, jobs.DEFAULT_SCALE, cores=2) < 180
    # A sizing: a few rounds, each sharing the history and branching into 4 capacities, so
    # dearer than one run and cheaper than its capacities run one after the other.
    one = jobs.estimate_seconds(1, c, 0.5, cores=2)
    sized = jobs.sizing_seconds(c, 0.5, cores=2)
    assert one < sized < 4 * jobs.SIZING_ROUNDS * one


def test_progress_and_status_are_read_from_the_job_folder(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    assert jobs.state(folder).status == "new"
    (folder / "job.json").write_text('{"replications": 4}')
    (folder / "log.txt").write_text(
        "a replication 0 done (1/8); elapsed 0:00:05, ETA 0:00:35\n"
        "b replication 0 done (2/8); elapsed 0:00:06, ETA 0:00:18; x ±3.0%\n"
    )
    (folder / "rc.json").write_text('{"rc": 130}')
    st = jobs.state(folder)
    assert (st.done, st.total, st.eta, st.status) == (2, 8, "0:00:18", "cancelled")
    (folder / "rc.json").write_text('{"rc": 0}')
    assert jobs.state(folder).status == "done"
    (folder / "rc.json").write_text('{"rc": 2}')
    (folder / "log.txt").write_text("nenpath: --scale: must be at most 100\n")
    st = jobs.state(folder)
    assert st.status == "failed" and st.errors == ["nenpath: --scale: must be at most 100"]


# ------------------------------------------------------------------------- stored results


def test_headlines_are_grouped_by_user_and_are_the_reports(stored: Path) -> None:
    c = results.load_comparison(stored)
    by = results.headlines_by_user(c)
    assert list(by) == ["ideal_pathway"]
    groups = by["ideal_pathway"]
    assert list(groups) == [u for u, _, _ in results.USERS]
    lines = [line for g in groups.values() for line in g]
    report = (stored / "report.html").read_text()
    # Each sentence is the report's (same numbers, same words).
    for line in lines:
        first = line.split(" (")[0][:60].replace("&", "&amp;")
        assert first in report, first
    assert any("QALYs" in line for line in groups["Policy analysts"])


def test_past_run_page_reopens_a_cli_run_without_rerunning(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NENPATH_OUTPUTS", str(stored.parent))
    before = {p: p.stat().st_mtime for p in stored.rglob("*") if p.is_file()}
    at = _page("runs")
    at.run()
    assert not at.exception
    assert str(stored) in at.selectbox(key="past-run").value
    text = "\n".join(m.value for m in at.markdown)
    assert "Campaigners" in text and "NHS planners" in text and "Policy analysts" in text
    charts = at.get("plotly_chart")
    assert len(charts) >= 4
    tables = at.dataframe
    assert len(tables) >= len(charts)  # every chart has its table
    labels = [b.label for b in at.get("download_button")]
    assert "Download comparison.csv" in labels and "Download report.html" in labels
    after = {p: p.stat().st_mtime for p in stored.rglob("*") if p.is_file()}
    assert after == before  # nothing rerun or rewritten


def test_stored_runs_lists_cli_and_app_folders(stored: Path, tmp_path: Path) -> None:
    root = tmp_path / "outs"
    shutil.copytree(stored, root / "cli_run")
    shutil.copytree(stored, root / "app" / "compare_abc" / "run")
    (root / "app" / "compare_abc" / "job.json").write_text("{}")
    runs = jobs.stored_runs(root)
    assert {r.folder.relative_to(root).as_posix() for r in runs} == {
        "cli_run",
        "app/compare_abc/run",
    }
    assert {r.by_app for r in runs} == {True, False}
    assert all(r.kind == "compare" for r in runs)


def test_compare_page_answers_a_done_request_from_disk(stored: Path, _outputs: Path) -> None:
    """The same request is answered from its folder: a finished job is shown, not rerun."""
    _s, c = load_scenario_file(BASELINE)
    files = (str(BASELINE), str(SCENARIOS / "ideal_pathway.toml"))
    req = jobs.Request("compare", files, 2, 1.0, 0.02, seed=c.seed, warmup_years=1.0)
    ctl = req.controls(c)
    scen = [with_population_scale(load_scenario(f), 0.02) for f in files]
    folder = jobs.job_folder("compare", jobs.request_key(req, scen, ctl))
    shutil.copytree(stored, folder / jobs.RUN)
    (folder / "job.json").write_text('{"replications": 2, "args": []}')
    (folder / "rc.json").write_text('{"rc": 0}')
    at = _page("compare")
    at.run()
    at.multiselect(key="others").select(files[1]).run()
    at.radio(key="preset").set_value(next(p for p in at.radio(key="preset").options
                                          if p.startswith("Tiny"))).run()  # fmt: skip
    at.number_input(key="warmup").set_value(1.0).run()
    at.button(key="run").click().run()
    assert not at.exception
    assert at.session_state["compare_job"] == str(folder)
    assert not (folder / "pid.json").exists()  # nothing was started
    assert any("Campaigners" in m.value for m in at.markdown)


# ------------------------------------------------------------------------------ the others


def test_size_page_form_and_its_messages() -> None:
    at = _page("size")
    at.run()
    assert not at.exception
    assert not _errors(at)
    assert any("Today: 19 slots per session" in i.value for i in at.info)
    at.selectbox(key="size-kpi").set_value("specialist_mdt_within_14d_share").run()
    at.number_input(key="size-target").set_value(5.0).run()
    errors = _errors(at)
    assert any("--target 5: specialist_mdt_within_14d_share" in e for e in errors), errors
    assert at.button(key="size-run").disabled


def test_watch_log_follows_the_event_log() -> None:
    """Every sampled patient arrives, moves forward through the steps in time order and
    leaves once; the table counts people at each step."""
    w = pathway.pathway_log(BASELINE, patients=20, window_weeks=12, scale=0.02)
    log = w.log
    assert w.patients > 0 and log["entity_id"].nunique() == w.patients
    for _, sub in log.groupby("entity_id"):
        assert sub["event"].iloc[0] == "arrival" and sub["event"].iloc[-1] == "depart"
        assert sub["time"].is_monotonic_increasing
        assert (sub["event"] == "depart").sum() == 1
    counts = pathway.step_counts(w)
    assert (counts.drop(columns="week").sum(axis=1) <= w.patients).all()
    assert counts.drop(columns="week").to_numpy().sum() > 0


def test_to_vidigi_on_a_hand_made_log() -> None:
    ev = pd.DataFrame(
        {
            "entity_id": [1, 1, 1, 1, 1, 2],
            "event": [
                "presentation",
                "referral",
                "diagnosis",
                "queue_join",
                "treatment_start",
                "presentation",
            ],
            "time": [100.0, 110.0, 130.0, 131.0, 150.0, 300.0],
            "resource": ["", "", "", "specialist_mdt.london", "", ""],
        }
    )
    w = pathway.to_vidigi(ev, start=95.0, days=100.0, patients=10)
    assert w.patients == 1  # patient 2 presents after the window's first half
    assert list(w.log["event"]) == [
        "arrival", "gp", "secondary_care", "diagnosed", "specialist_mdt", "depart",
    ]  # fmt: skip
    assert list(w.log["time"]) == [5.0, 5.0, 15.0, 35.0, 36.0, 55.0]


def test_watch_page_animates() -> None:
    at = _page("watch")
    at.run()
    at.number_input(key="watch-patients").set_value(10).run()
    at.number_input(key="watch-weeks").set_value(8).run()
    at.button(key="watch-run").click().run(timeout=120)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 1


def test_size_page_shows_a_stored_sizing_with_todays_capacity(
    tmp_path: Path, _outputs: Path
) -> None:
    """A sizing run through the app's job (the `nenpath size` command in-process here) is
    shown with its answer in words, the curve (today's capacity marked) and its table."""
    from sim.app.cli import main

    q = (("resource", "specialist_mdt.north_west"),
         ("kpi", "diagnosis_to_specialist_mdt_days_p90__north_west"), ("target", "28"))  # fmt: skip
    req = jobs.Request("size", (str(BASELINE),), 2, 1.0, 0.05, warmup_years=1.0, question=q)
    folder = jobs.job_folder("size", "fedcba9876543210")
    assert main([*req.args(folder / jobs.RUN)[:-1], "--no-progress"]) == 0
    (folder / "job.json").write_text('{"replications": 2, "args": []}')
    (folder / "rc.json").write_text('{"rc": 0}')
    at = _page("size")
    at.session_state["size_job"] = str(folder)
    at.session_state["size_current"] = 19
    at.run()
    assert not at.exception
    said = [w.value for w in at.warning] + [w.value for w in at.success]
    assert any("specialist_mdt" in x and "north_west" in x for x in said), said
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    fig = json.loads(charts[0].proto.spec)
    shapes = fig["layout"].get("shapes", [])
    assert any(sh.get("x0") == 19 for sh in shapes)  # today's 19 slots a week
    assert any(sh.get("y0") == 28.0 for sh in shapes)  # the target
    assert len(at.dataframe) == 1
