"""App jobs as real background processes: a second start follows the running one, cancel
keeps finished replications, and the answer from them reuses their checkpoints."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sim.app.web import jobs
from sim.core.io import read_manifest
from tests.helpers import BASELINE

pytestmark = pytest.mark.slow


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancel_keeps_finished_replications_and_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NENPATH_OUTPUTS", str(tmp_path / "outputs"))
    files = (str(BASELINE), str(BASELINE.parent / "ideal_pathway.toml"))
    request = jobs.Request("compare", files, 12, 1.0, 0.02, warmup_years=1.0)
    folder = jobs.job_folder("compare", "0123456789abcdef")
    first = jobs.start(folder, request)
    assert first.status == "running"
    pid = json.loads((folder / "pid.json").read_text())["pid"]
    again = jobs.start(folder, request)  # another session, same request: follows it
    assert again.status == "running"
    assert json.loads((folder / "pid.json").read_text())["pid"] == pid

    def both_have_two() -> bool:
        done = jobs.finished_parts(folder / jobs.RUN)
        return len(done) == 2 and min(done.values()) >= 2

    _wait(both_have_two, 240, "two replications of each scenario")
    st = jobs.cancel(folder)
    assert st.status == "cancelled", st
    k = jobs.complete_replications(st, ["current_practice", "ideal_pathway"])
    assert 2 <= k < 12
    kept = {p: p.stat().st_mtime_ns for p in (folder / jobs.RUN / "parts").rglob("rep_*.json")}
    assert len(kept) >= 2 * k
    assert read_manifest(folder / jobs.RUN)["status"] == "interrupted"  # type: ignore[index]

    jobs.start(folder, request, replications=k)
    _wait(lambda: jobs.state(folder).status != "running", 240, "the partial answer")
    st = jobs.state(folder)
    assert st.status == "done", st.errors
    assert st.replications == k
    manifest = read_manifest(folder / jobs.RUN)
    assert manifest is not None and manifest["replications"] == k
    assert (folder / jobs.RUN / "comparison.csv").is_file()
    # Nothing finished before the cancel was run again: the checkpoints are untouched.
    for p, mtime in kept.items():
        assert p.stat().st_mtime_ns == mtime, p
    assert "done (" not in (folder / "log.txt").read_text()  # no replication was run
