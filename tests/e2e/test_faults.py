"""Faults: ``kill -9`` of ``nenpath run`` in the middle of writing a replication's part leaves a
temporary file and no finished mark; ``--resume`` (taking over the dead run's folder lock)
removes the temporary, runs that replication again and gives exactly the result of an
uninterrupted run. A second run started in a folder while the first works there is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.app.cli import main
from tests.e2e.test_resume import ARGS, GATE, GATED_FROM, N
from tests.e2e.test_resume import DRIVER as GATED_DRIVER
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

STALL = 2
"""The replication whose checkpoint write is interrupted (0 and 1 are written whole)."""

DRIVER = """
import os, sys, time
from pathlib import Path
from sim.core import io
from sim.experiment import runner
from sim.app.cli import main

real = runner._write_part

def stalling(out, res):
    if res.replication < int(os.environ["STALL"]):
        return real(out, res)
    paths = io.part_paths(out, res.scenario, res.replication)
    io.write_parquet(paths["journeys"], res.journeys)
    with io.atomic_path(paths["series"]) as tmp:
        res.series.to_parquet(tmp)
        data = tmp.read_bytes()
        tmp.write_bytes(data[: len(data) // 2])
        Path(os.environ["MARK"]).write_text("half written")
        while True:
            time.sleep(1)

runner._write_part = stalling
sys.exit(main(sys.argv[1:]))
"""
"""``nenpath run`` whose checkpoint write of replication STALL stops half-way (serial, so the
replications before it are finished)."""


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert main([*ARGS, "--workers", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def reference(reference_run: Path) -> bytes:
    return (reference_run / "replications.csv").read_bytes()


def test_kill_9_during_a_checkpoint_write_then_resume(tmp_path: Path, reference: bytes) -> None:
    out = tmp_path / "run"
    mark = tmp_path / "mark"
    env = {**os.environ, "STALL": str(STALL), "MARK": str(mark)}
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *ARGS, "--workers", "1", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not mark.exists():
            assert proc.poll() is None, "the run ended before reaching the stalled write"
            assert time.monotonic() < deadline, "the stalled write was not reached in 300 s"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    parts = out / "parts" / "current_practice"
    stalled = f"rep_{STALL:05d}"
    assert sorted(p.name for p in parts.glob("rep_*.json")) == [
        f"rep_{k:05d}.json" for k in range(STALL)
    ]
    assert (parts / f"{stalled}.journeys.parquet").is_file()
    assert list(parts.glob(f".{stalled}.series.parquet.*.tmp")), "no half-written temporary"

    assert main([*ARGS, "--workers", "1", "--out", str(out), "--resume"]) == 0
    assert (out / "replications.csv").read_bytes() == reference
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"
    assert len(list(parts.glob("rep_*.json"))) == N


@pytest.mark.parametrize("victim", ["manifest.json", "replications.csv"])
def test_a_truncated_result_file_never_replaces_a_whole_one(
    victim: str, reference_run: Path, tmp_path: Path
) -> None:
    """Results are renamed into place whole: a crash mid-write leaves the old file intact."""
    from sim.core import io

    target = reference_run / victim
    before = target.read_bytes()
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_bytes(before[: len(before) // 2])
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == before
    assert not list(reference_run.glob(f".{victim}.*.tmp"))


def test_two_runs_into_one_folder_at_once(tmp_path: Path, reference: bytes) -> None:
    """The issue's bullet: two `nenpath run` into the same --out at the same moment both exited
    0 with their files mixed. The first is held mid-run (its later replications wait at a gate);
    the second exits 2 naming the folder and the first's pid and writes nothing; the first then
    finishes with exactly the uninterrupted result."""
    out = tmp_path / "run"
    gate = tmp_path / "gate"
    first = subprocess.Popen(
        [sys.executable, "-c", GATED_DRIVER, *ARGS, "--workers", "1", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, GATE: str(gate)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("parts/*/rep_*.json"))) < GATED_FROM:
            assert first.poll() is None, "the first run ended early"
            assert time.monotonic() < deadline, "the first run made no progress in 300 s"
            time.sleep(0.05)
        before = sorted(p.name for p in out.rglob("*"))
        second = subprocess.run(
            [sys.executable, "-m", "sim", *ARGS, "--workers", "1", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"nenpath: {out}: in use by another nenpath process (pid {first.pid}); wait for it "
            "to finish, or choose another --out"
        )
        assert sorted(p.name for p in out.rglob("*")) == before
        gate.write_text("open")
        assert first.wait(timeout=600) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert (out / "replications.csv").read_bytes() == reference
