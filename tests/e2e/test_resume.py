"""Checkpoint and resume, end to end: a run killed with ``kill -9`` or stopped with Ctrl-C keeps
its finished replications; ``--resume`` runs only the missing ones and gives exactly the result
of an uninterrupted run.

The runs are real ``nenpath run`` processes (the CLI's ``main`` in a fresh interpreter). A
finished replication is one whose ``parts/<scenario>/rep_NNNNN.json`` exists; since every file is
written under a temporary name and renamed, a part that is not rewritten keeps its inode, which
is how the test sees that a resume did not redo it.

So that the interruption lands mid-way whatever the machine's load, the interrupted run goes
through run_experiment's ``replicate`` seam with :func:`gated`: replications from
:data:`GATED_FROM` on wait for a file that never appears, so the run is interrupted with
exactly the earlier replications finished. (Timing alone is not enough: on a loaded machine the
main process can fall so far behind its workers that every replication is done before the
first part is written.) The resumes and the reference run use the real replication.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.app.cli import main
from sim.experiment.runner import ReplicationOutput, run_replication
from sim.scenario.schema import RunControls, Scenario
from tests.helpers import BASELINE, ROOT, quick_run_options

pytestmark = pytest.mark.slow

N = 6
GATED_FROM = 2
"""Replications from this one on wait in the interrupted runs: 0 and 1 finish, the rest not."""
GATE = "NENPATH_TEST_GATE"
ARGS = ["run", str(BASELINE), *quick_run_options(N), "--no-progress"]


def gated(scenario: Scenario, replication: int, controls: RunControls) -> ReplicationOutput:
    """The real replication, but from :data:`GATED_FROM` on only once the file named by the
    environment variable :data:`GATE` exists (module level, so workers can import it)."""
    if replication >= GATED_FROM:
        while not Path(os.environ[GATE]).exists():
            time.sleep(0.05)
    return run_replication(scenario, replication, controls)


DRIVER = """
import sys
from sim.experiment import runner
from sim.app.cli import main
from tests.e2e.test_resume import gated

runner.run_experiment.__kwdefaults__["replicate"] = gated
sys.exit(main(sys.argv[1:]))
"""
"""``nenpath`` with the gated replication: the CLI's own code path otherwise."""


def _start(out: Path, log: Path) -> subprocess.Popen[bytes]:
    """``nenpath run`` with two local workers and the gate closed, in its own process group
    (like a shell job)."""
    env = {**os.environ, GATE: str(out.parent / "never-created")}
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", DRIVER, *ARGS, "--workers", "2", "--out", str(out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            # As in a terminal, whatever this test runs under: a shell's background job starts
            # with SIGINT ignored, which Python would pass on and the run would never see Ctrl-C.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _parts(out: Path) -> dict[str, int]:
    """Finished replications: part file name -> inode."""
    return {p.name: p.stat().st_ino for p in (out / "parts").glob("*/rep_*.json")}


def _wait_for_the_ungated_parts(out: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until replications 0 .. GATED_FROM - 1 are written (the others wait at the gate)."""
    deadline = time.monotonic() + 120
    while len(_parts(out)) < GATED_FROM:
        assert proc.poll() is None, "the run ended before finishing its ungated replications"
        assert time.monotonic() < deadline, "the ungated replications did not finish in 120 s"
        time.sleep(0.02)
    time.sleep(0.2)  # the main process is now waiting for the gated ones


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            group, state = int(fields[2]), fields[0]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while being read
        if group == pgid and state != "Z":
            found.append(int(stat.parent.name))
    return found


def _assert_no_process_left(pgid: int) -> None:
    """Workers notice their parent is gone and exit (within about a second)."""
    deadline = time.monotonic() + 15
    while (left := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        os.killpg(pgid, signal.SIGKILL)
    assert not left, f"processes left running after the run ended: {left}"


def _resume(out: Path) -> int:
    return main([*ARGS, "--workers", "1", "--out", str(out), "--resume"])


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert main([*ARGS, "--workers", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def reference(reference_run: Path) -> bytes:
    return (reference_run / "replications.csv").read_bytes()


def test_kill_9_then_resume(
    tmp_path: Path, reference: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    proc = _start(out, tmp_path / "stderr.txt")
    try:
        _wait_for_the_ungated_parts(out, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, like `kill -9 PID`
        assert proc.wait(timeout=30) == -signal.SIGKILL
        _assert_no_process_left(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finished = _parts(out)
    assert sorted(finished) == [f"rep_{k:05d}.json" for k in range(GATED_FROM)]
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert not (out / "replications.csv").exists()

    capsys.readouterr()
    assert _resume(out) == 0
    assert f"{N} replications ({len(finished)} reused from the interrupted run)" in (
        capsys.readouterr().out
    )
    after = _parts(out)
    assert len(after) == N
    assert {k: after[k] for k in finished} == finished, "a finished replication was redone"
    assert (out / "replications.csv").read_bytes() == reference
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"


def test_ctrl_c_keeps_finished_work_and_exits_130(tmp_path: Path, reference: bytes) -> None:
    out = tmp_path / "run"
    proc = _start(out, tmp_path / "stderr.txt")
    try:
        _wait_for_the_ungated_parts(out, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole job
        code = proc.wait(timeout=60)
        _assert_no_process_left(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = (tmp_path / "stderr.txt").read_text()
    assert code == 130, err
    assert "interrupted" in err and "--resume" in err
    assert "Traceback" not in err, err
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    finished = _parts(out)
    assert sorted(finished) == [f"rep_{k:05d}.json" for k in range(GATED_FROM)]

    assert _resume(out) == 0
    after = _parts(out)
    assert {k: after[k] for k in finished} == finished, "a finished replication was redone"
    assert (out / "replications.csv").read_bytes() == reference


def test_resume_refuses_a_run_with_other_settings(
    reference_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (reference_run / "replications.csv").read_bytes()
    code = main([*ARGS, "--workers", "1", "--out", str(reference_run), "--resume", "--seed", "7"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--resume can only continue the same run" in err and "Traceback" not in err
    assert (reference_run / "replications.csv").read_bytes() == before


def test_resume_of_a_finished_run_runs_nothing(reference_run: Path) -> None:
    before = _parts(reference_run)
    assert _resume(reference_run) == 0
    assert _parts(reference_run) == before
