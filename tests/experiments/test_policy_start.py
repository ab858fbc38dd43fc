"""Policy starts and branched replications (issue 17).

A compared scenario *is* its base until the policy start and follows its own rules from then on;
within a replication the shared history is simulated once and forked into each scenario, or
recomputed for each: both give byte-identical results.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.core.constants import DAYS_PER_YEAR
from sim.core.errors import RunControlError
from sim.experiment.runner import run_experiment
from sim.model.simulation import RunResult, simulate, simulate_branches
from sim.scenario.loader import load_scenario_file, with_changes, with_population_scale
from sim.scenario.schema import RunControls, Scenario
from tests.helpers import BASELINE as BASELINE_PATH
from tests.helpers import SCENARIOS, make_scenario

SCALE = 0.02
FILES = ("replications.csv", "patients.parquet", "series.parquet", "resources.parquet")


def _controls(controls: RunControls, **changes: Any) -> RunControls:
    return RunControls.model_validate({**controls.model_dump(), **changes})


@pytest.fixture(scope="module")
def base() -> tuple[Scenario, RunControls]:
    return make_scenario(scale=SCALE, years=1, warmup_years=1, replications=2, seed=31, workers=1)


@pytest.fixture(scope="module")
def national() -> Scenario:
    scenario, _ = load_scenario_file(SCENARIOS / "national_commissioning.toml")
    return with_population_scale(scenario, SCALE)


def _same_arrays(a: RunResult, b: RunResult) -> bool:
    return (
        a.events.keys() == b.events.keys()
        and all(np.array_equal(a.events[k], b.events[k]) for k in a.events)
        and all(np.array_equal(a.patients[k], b.patients[k]) for k in a.patients)
        and all(np.array_equal(a.extra[k], b.extra[k]) for k in a.extra)
    )


def _frame_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


# ---------------------------------------------------------------------------------------------
# The model: one replication, branched
# ---------------------------------------------------------------------------------------------


def test_fork_and_recompute_give_byte_identical_runs(
    base: tuple[Scenario, RunControls], national: Scenario
) -> None:
    scenario, controls = base
    same = with_changes(scenario, {"name": "same_as_base"})
    forked = simulate_branches(scenario, [scenario, national, same], 1, controls, fork=True)
    again = simulate_branches(scenario, [scenario, national, same], 1, controls, fork=False)
    assert [r.scenario for r in forked] == [scenario.name, national.name, "same_as_base"]
    for a, b in zip(forked, again, strict=True):
        assert _same_arrays(a, b), a.scenario
        assert a.resources == b.resources
    # and neither is trivially so: national commissioning changes the run after the start
    assert not _same_arrays(forked[0], forked[1])


def test_branches_share_every_event_before_the_policy_start(
    base: tuple[Scenario, RunControls], national: Scenario
) -> None:
    scenario, controls = base
    cp, nc = simulate_branches(scenario, [scenario, national], 0, controls, fork=True)
    start = controls.policy_start_days
    assert start == controls.warmup_days == DAYS_PER_YEAR
    before = [{k: v[r.events["time"] < start] for k, v in r.events.items()} for r in (cp, nc)]
    assert len(before[0]["time"]) > 1000
    for k in before[0]:
        assert np.array_equal(before[0][k], before[1][k]), k
    after = [r.events["time"] >= start for r in (cp, nc)]
    assert after[0].sum() != after[1].sum() or not np.array_equal(
        cp.events["kind"][after[0]], nc.events["kind"][after[1]]
    )
    # national commissioning's twice-weekly specialist MDT starts at the policy start
    assert nc.policy_start_days == start and cp.policy_start_days == start


def test_the_base_branched_is_the_base_run_alone(base: tuple[Scenario, RunControls]) -> None:
    """Stopping the event loop at the policy start and switching to an identical scenario
    changes nothing: the base's branch is the run ``nenpath run`` makes of it."""
    scenario, controls = base
    alone = simulate(scenario, 0, controls)
    (branched,) = simulate_branches(scenario, [scenario], 0, controls, fork=True)
    assert alone.policy_start_days == 0.0
    assert _same_arrays(alone, branched)


def test_policy_start_zero_runs_each_scenario_as_itself(
    base: tuple[Scenario, RunControls], national: Scenario
) -> None:
    """With the policy start at t = 0 a compared scenario is what it was before policy
    starts existed: the same run as on its own."""
    scenario, controls = base
    zero = _controls(controls, policy_start_years=0.0)
    assert zero.measure_start_days == controls.warmup_days
    assert zero.horizon_days == controls.horizon_days
    assert _same_arrays(simulate(national, 0, zero, base=scenario), simulate(national, 0, zero))


# ---------------------------------------------------------------------------------------------
# Experiments: backends, branching modes, resume
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compared(
    tmp_path_factory: pytest.TempPathFactory,
    base: tuple[Scenario, RunControls],
    national: Scenario,
) -> Path:
    scenario, controls = base
    root = tmp_path_factory.mktemp("policy")
    same = with_changes(scenario, {"name": "same_as_base"})
    scenarios = [scenario, national, same]
    two = _controls(controls, workers=2)
    for name, ctl, mode in (
        ("fork", controls, "fork"),
        ("recompute", controls, "recompute"),
        ("fork_processes", two, "fork"),
    ):
        run_experiment(scenarios, ctl, root / name, progress=False, base=scenario, branching=mode)
    # forking inside a Dask worker process (a multi-threaded process) works too
    run_experiment(
        scenarios, two, root / "fork_dask", progress=False, base=scenario, dask="local",
        branching="fork",
    )  # fmt: skip
    run_experiment([scenario], controls, root / "alone", progress=False)
    return root


@pytest.mark.parametrize("name", FILES)
def test_fork_recompute_and_worker_processes_write_identical_files(
    compared: Path, name: str
) -> None:
    fork = (compared / "fork" / name).read_bytes()
    assert (compared / "recompute" / name).read_bytes() == fork
    assert (compared / "fork_processes" / name).read_bytes() == fork
    assert (compared / "fork_dask" / name).read_bytes() == fork


def test_a_scenario_identical_to_its_base_differs_in_no_kpi(compared: Path) -> None:
    reps = pd.read_csv(compared / "fork" / "replications.csv")
    cp = reps[reps["scenario"] == "current_practice"].drop(columns="scenario")
    same = reps[reps["scenario"] == "same_as_base"].drop(columns="scenario")
    assert len(cp) == 2
    _frame_equal(cp, same)
    # ... and the base compared is the base run alone, KPI for KPI
    alone = pd.read_csv(compared / "alone" / "replications.csv").drop(columns="scenario")
    _frame_equal(cp, alone)


def test_the_manifest_records_the_policy_start(compared: Path) -> None:
    import json

    manifest = json.loads((compared / "fork" / "manifest.json").read_text())
    assert manifest["base"] == "current_practice"
    assert manifest["controls"]["policy_start_days"] == pytest.approx(DAYS_PER_YEAR)
    assert manifest["controls"]["measure_start_days"] == pytest.approx(DAYS_PER_YEAR)


def test_resume_reruns_only_the_missing_branches(
    tmp_path: Path, base: tuple[Scenario, RunControls], national: Scenario, compared: Path
) -> None:
    """A resume after losing one scenario's part of a replication recomputes the shared
    history for it alone and gives the same files."""
    import shutil

    scenario, controls = base
    same = with_changes(scenario, {"name": "same_as_base"})
    out = tmp_path / "run"
    shutil.copytree(compared / "fork", out)
    for f in (out / "parts" / national.name).glob("rep_00001*"):
        f.unlink()
    result = run_experiment(
        [scenario, national, same], controls, out, progress=False, base=scenario, resume=True
    )
    assert result.reused == 5
    for name in FILES:
        assert (out / name).read_bytes() == (compared / "fork" / name).read_bytes(), name


def test_another_policy_start_is_another_run(
    tmp_path: Path, base: tuple[Scenario, RunControls], national: Scenario
) -> None:
    from sim.experiment.runner import fingerprint

    scenario, controls = base
    later = _controls(controls, policy_start_years=0.5)
    assert fingerprint([scenario, national], controls, scenario) != fingerprint(
        [scenario, national], later, scenario
    )
    assert fingerprint([scenario, national], controls, scenario) != fingerprint(
        [scenario, national], controls
    )


# ---------------------------------------------------------------------------------------------
# The transition
# ---------------------------------------------------------------------------------------------


def test_a_capacity_cut_at_the_policy_start_raises_the_backlog_only_after_it() -> None:
    """Specialist MDT slots cut to a tenth two years into the run: the weekly backlog is the
    base's, week for week, up to the policy start, and climbs only afterwards."""
    scenario, controls = make_scenario(
        scale=0.05, years=2, warmup_years=2, replications=1, seed=5, workers=1
    )
    slots = scenario.resources.specialist_mdt.slots_per_session
    assert isinstance(slots, dict)
    cut = with_changes(
        scenario,
        {
            "name": "cut",
            "resources.specialist_mdt.slots_per_session": {
                r: max(1, v // 10) for r, v in slots.items()
            },
        },
    )
    result = run_experiment([scenario, cut], controls, None, progress=False, base=scenario)
    assert not result.failures
    # series are in memory only through a folder: rebuild them from a run in memory
    from sim.experiment.runner import run_replication

    cp = run_replication(scenario, 0, controls).series.set_index("week")
    cu = run_replication(cut, 0, controls, base=scenario).series.set_index("week")
    start_week = int(controls.policy_start_days // 7)
    before = slice(0, start_week - 1)
    pd.testing.assert_series_equal(
        cp.loc[before, "specialist_backlog"], cu.loc[before, "specialist_backlog"]
    )
    last_year = cu.index >= cu.index.max() - 52
    base_level = cp.loc[last_year, "specialist_backlog"].mean()
    assert cu.loc[last_year, "specialist_backlog"].mean() > 5 * max(base_level, 1.0)
    # rising through the measured window: the second year's backlog above the first's
    first_year = (cu.index >= start_week) & (cu.index < start_week + 52)
    assert (
        cu.loc[last_year, "specialist_backlog"].mean()
        > cu.loc[first_year, "specialist_backlog"].mean()
    )
    # and the KPIs say so: fewer discussed within 14 days
    reps = result.replications.set_index("scenario")
    kpi = "specialist_mdt_within_14d_share"
    assert reps.loc["cut", kpi] < reps.loc["current_practice", kpi]


# ---------------------------------------------------------------------------------------------
# What a policy start cannot switch
# ---------------------------------------------------------------------------------------------


def test_a_change_to_what_is_drawn_before_the_run_is_refused(
    base: tuple[Scenario, RunControls],
) -> None:
    scenario, controls = base
    other = with_changes(scenario, {"name": "older", "population.female_share": 0.6})
    with pytest.raises(RunControlError, match=r"'older' differs .* population.*policy_from_start"):
        run_experiment([scenario, other], controls, None, progress=False, base=scenario)
    # said to differ from t = 0, it runs as itself: the run it makes alone
    history = with_changes(other, {"policy_from_start": True})
    res = run_experiment([scenario, history], controls, None, progress=False, base=scenario)
    alone = run_experiment([history], controls, None, progress=False)
    got = res.replications[res.replications["scenario"] == "older"]
    _frame_equal(got, alone.replications)


def test_settle_years_move_the_measured_window(base: tuple[Scenario, RunControls]) -> None:
    _, controls = base
    settled = _controls(controls, settle_years=0.5)
    assert settled.policy_start_days == controls.warmup_days
    assert settled.measure_start_days == controls.warmup_days + 0.5 * DAYS_PER_YEAR
    assert settled.horizon_days == settled.measure_start_days + controls.years * DAYS_PER_YEAR
    later = _controls(controls, policy_start_years=3.0)
    assert later.measure_start_days == 3.0 * DAYS_PER_YEAR
    assert not math.isnan(later.horizon_days)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("**/*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_can_start_at_a_policy_start(path: Path) -> None:
    """Every shipped scenario changes only what the pathway reads as it runs, unless it says
    it differs from t = 0 (the sensitivity analyses' other worlds)."""
    from sim.model.simulation import policy_differences

    cp, _ = load_scenario_file(SCENARIOS / "current_practice.toml")
    scenario, _ = load_scenario_file(path)
    if scenario.policy_from_start:
        assert path.parent.name == "sensitivity", path  # policies switch; only these may not
        return
    assert policy_differences(cp, scenario) == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("soon", "a number of years from t=0 (at least 0) or a date"),
        ("-1", "a number of years from t=0 (at least 0) or a date"),
        ("2020-01-01", "before"),
    ],
)
def test_a_bad_policy_start_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, message: str
) -> None:
    from sim.app.cli import main
    from tests.helpers import BASELINE, quick_run_options

    try:
        code = main(
            ["compare", str(BASELINE), str(SCENARIOS / "ideal_pathway.toml"), "--policy-start",
             option, "--out", str(tmp_path / "out"), *quick_run_options(1), "--no-progress"]
        )  # fmt: skip
    except SystemExit as exc:  # argparse's own exit for a malformed option
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert message in err and "Traceback" not in err, err


def test_policy_start_given_as_a_date(tmp_path: Path) -> None:
    """``--policy-start 2025-07-07`` is 182 days after current practice's start_date."""
    import json

    from sim.app.cli import main
    from tests.helpers import BASELINE, quick_run_options

    out = tmp_path / "out"
    code = main(
        ["compare", str(BASELINE), str(SCENARIOS / "ideal_pathway.toml"), "--policy-start",
         "2025-07-07", "--out", str(out), *quick_run_options(1), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    controls = json.loads((out / "manifest.json").read_text())["controls"]
    assert controls["policy_start_days"] == pytest.approx(182.0)
    assert controls["measure_start_days"] == pytest.approx(0.5 * DAYS_PER_YEAR)


def test_after_the_switch_decisions_follow_the_new_rule_tables(
    base: tuple[Scenario, RunControls],
) -> None:
    """A scenario whose only first-line rule is best supportive care (and no tumour removed at
    presentation, the one first treatment no rule decides): decisions before the policy start
    are the base's (same events), and every first decision made after it is best supportive
    care. A decision agreed at an MDT before the start is recorded up to a few weeks later
    (the outcome-to-decision delay), so the check starts 60 days after it. Guards against rule
    tables compiled once from the base."""
    from sim.core.events import EventKind
    from sim.scenario.schema import SITES, TREATMENTS

    scenario, controls = base
    none = {site: 0.0 for site in SITES}
    bsc = with_changes(
        scenario,
        {
            "name": "bsc_only",
            "treatment.first_line": [{"when": {}, "choose": {"best_supportive_care": 1.0}}],
            "presentation.resected_at_presentation.incidental": none,
            "presentation.resected_at_presentation.emergency": none,
        },
    )
    cp, new = simulate_branches(scenario, [scenario, bsc], 0, controls, fork=True)
    start = controls.policy_start_days
    code = TREATMENTS.index("best_supportive_care")

    def decisions(r: RunResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = r.events
        m = e["kind"] == EventKind.DECISION_TO_TREAT
        return e["time"][m], e["patient"][m], e["code"][m]

    (t0, p0, c0), (t1, p1, c1) = decisions(cp), decisions(new)
    assert np.array_equal(t0[t0 < start], t1[t1 < start])
    assert np.array_equal(c0[t0 < start], c1[t1 < start])
    assert np.array_equal(p0[t0 < start], p1[t1 < start])
    # each patient's first decision (first line), for those first decided on after the start
    first: dict[int, tuple[float, int]] = {}
    for t, p, c in zip(t1.tolist(), p1.tolist(), c1.tolist(), strict=True):
        first.setdefault(p, (t, c))
    first_after = [c for t, c in first.values() if t >= start + 60.0]
    assert len(first_after) > 20
    assert set(first_after) == {code}
    assert (c0[t0 >= start] != code).any()  # the base kept treating


def test_policy_start_date_in_the_run_table(tmp_path: Path) -> None:
    """``[run] policy_start_date = 2025-07-07`` (a TOML date) is 182 days after current
    practice's start_date (2025-01-06), as the command line's date form."""
    path = tmp_path / "dated.toml"
    path.write_text(f'extends = "{BASELINE_PATH}"\n[run]\npolicy_start_date = 2025-07-07\n')
    scenario, controls = load_scenario_file(path)
    assert str(scenario.start_date) == "2025-01-06"
    assert controls.policy_start_days == pytest.approx(182.0)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("policy_start_date = 2024-12-30", "before the scenario's start_date 2025-01-06"),
        ('policy_start_date = "2025-07-07"', "must be a date written YYYY-MM-DD"),
        ("policy_start_date = 2025-07-07\npolicy_start_years = 1", "not both"),
    ],
)
def test_a_bad_policy_start_date_names_the_file_and_key(
    tmp_path: Path, run: str, message: str
) -> None:
    from sim.core.errors import ScenarioError

    path = tmp_path / "dated.toml"
    path.write_text(f'extends = "{BASELINE_PATH}"\n[run]\n{run}\n')
    with pytest.raises(ScenarioError) as exc:
        load_scenario_file(path)
    (problem,) = exc.value.problems
    assert problem.key == "run.policy_start_date" and message in problem.message
    assert str(path) in str(problem.file)
