"""A replication that raises is reported with scenario, replication number, seed and traceback;
the other replications are kept, and a resume runs only the missing one.

The failure is injected through run_experiment's ``replicate`` seam (a module-level function so
worker processes can import it), never by patching the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from sim.core.errors import ReplicationError
from sim.experiment.runner import ReplicationOutput, run_experiment, run_replication
from sim.scenario.schema import RunControls, Scenario
from tests.helpers import make_scenario

SEED = 4242


def fail_on_two(scenario: Scenario, replication: int, controls: RunControls) -> ReplicationOutput:
    if replication == 2:
        raise ValueError("injected failure in replication two")
    return run_replication(scenario, replication, controls)


def always_fail(scenario: Scenario, replication: int, controls: RunControls) -> ReplicationOutput:
    raise RuntimeError(f"injected failure {replication}")


def worker_dies_on_three(
    scenario: Scenario, replication: int, controls: RunControls
) -> ReplicationOutput:
    if replication == 3:
        os._exit(9)  # the worker process disappears, as if killed by the OOM killer
    return run_replication(scenario, replication, controls)


def _controls(workers: int) -> tuple[Scenario, RunControls]:
    return make_scenario(
        scale=0.02, years=1, warmup_years=0.5, replications=4, workers=workers, seed=SEED
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario, controls = _controls(1)
    out = tmp_path_factory.mktemp("clean") / "run"
    run_experiment([scenario], controls, out, progress=False)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_failure_is_reported_and_the_others_kept(workers: int, tmp_path: Path, clean: Path) -> None:
    scenario, controls = _controls(workers)
    out = tmp_path / "run"
    result = run_experiment([scenario], controls, out, progress=False, replicate=fail_on_two)

    assert len(result.failures) == 1
    f = result.failures[0]
    assert (f.scenario, f.replication, f.seed) == ("current_practice", 2, SEED)
    assert "ValueError: injected failure in replication two" in f.traceback
    assert "fail_on_two" in f.traceback  # the worker's traceback, not just the message
    assert list(result.replications["replication"]) == [0, 1, 3]

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete_with_failures"
    assert [(x["replication"], x["seed"]) for x in manifest["failures"]] == [(2, SEED)]
    assert sorted(p.name for p in (out / "parts" / "current_practice").glob("*.json")) == [
        "rep_00000.json",
        "rep_00001.json",
        "rep_00003.json",
    ]
    # the kept replications are exactly those of a run without the failure
    clean_reps = pd.read_csv(clean / "replications.csv")
    got = pd.read_csv(out / "replications.csv")
    pd.testing.assert_frame_equal(
        got, clean_reps[clean_reps["replication"] != 2].reset_index(drop=True)
    )

    # resuming runs replication 2 only and gives the clean run, byte for byte
    ran: list[int] = []
    run_experiment(
        [scenario],
        controls,
        out,
        resume=True,
        progress=False,
        on_output=lambda res: ran.append(res.replication),
    )
    assert ran == [2]
    assert (out / "replications.csv").read_bytes() == (clean / "replications.csv").read_bytes()


def test_every_replication_failing_raises_with_the_seed(tmp_path: Path) -> None:
    scenario, controls = _controls(1)
    with pytest.raises(ReplicationError) as info:
        run_experiment(
            [scenario], controls, tmp_path / "run", progress=False, replicate=always_fail
        )
    err = info.value
    assert (err.scenario, err.replication, err.seed) == ("current_practice", 0, SEED)
    assert "RuntimeError: injected failure 0" in err.traceback
    assert f"seed {SEED}" in str(err) and "replication 0" in str(err)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete_with_failures" and len(manifest["failures"]) == 4


def test_a_worker_that_dies_fails_its_replications_only(tmp_path: Path) -> None:
    scenario, controls = _controls(2)
    result = run_experiment(
        [scenario], controls, tmp_path / "run", progress=False, replicate=worker_dies_on_three
    )
    failed = {f.replication for f in result.failures}
    done = set(result.replications["replication"])
    assert 3 in failed and failed | done == {0, 1, 2, 3} and not failed & done
    assert all("died or was lost" in f.traceback for f in result.failures)


def test_a_worker_with_other_model_code_refuses() -> None:
    """What a Dask worker with another version installed (or a worker started after sim/ was
    edited) does: it runs nothing and says why."""
    from sim.experiment.runner import Failure, _safe_replication

    scenario, controls = _controls(1)
    res = _safe_replication(run_replication, scenario, 3, controls, "0" * 64)
    assert isinstance(res, Failure) and (res.replication, res.seed) == (3, SEED)
    assert "model code" in res.traceback and "same version" in res.traceback
