"""The progress bar: on a terminal it shows replications done, the ETA and the main KPI's current
CI half-width; when standard error is not a terminal (a log file, CI) no bar is drawn, but one
plain line per finished replication says which, the time so far and the ETA.

The terminal is a real pseudo-terminal (``pty``), as in an interactive shell.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.app.cli import main
from tests.helpers import BASELINE, ROOT, quick_run_options

pytestmark = pytest.mark.slow

ARGS = ["-m", "sim", "run", str(BASELINE), *quick_run_options(3), "--workers", "1", "--force"]


def _stderr_on_a_terminal(out: str) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "150", "LINES": "40"}
    proc = subprocess.Popen(
        [sys.executable, *ARGS, "--out", out],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal has exited
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=120)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def test_bar_on_a_terminal(tmp_path: Path) -> None:
    code, text = _stderr_on_a_terminal(str(tmp_path))
    assert code == 0, text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # drop colours and cursor moves
    assert "replications" in plain
    assert re.search(r"\b3/3\b", plain), plain
    assert re.search(r"ETA\s+(\d+:\d\d:\d\d|-:--:--)", plain), plain
    assert re.search(r"diagnostic_interval_days_median ±\d+\.\d%", plain), plain
    assert "\x1b[" in text  # drawn in place with terminal control codes


def test_lines_not_a_bar_when_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under pytest, standard error is a pipe: no bar is drawn there, one line per replication."""
    assert main([*ARGS[2:], "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "\x1b[" not in captured.err and "\r" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 3, captured.err
    pattern = (
        r"current_practice replication (\d) done \((\d)/3\); elapsed \d+:\d\d:\d\d, "
        r"ETA (\d+:\d\d:\d\d)"
    )
    found = [re.match(pattern, line) for line in lines]
    assert all(found), lines
    assert sorted(int(m.group(1)) for m in found if m) == [0, 1, 2]
    assert [int(m.group(2)) for m in found if m] == [1, 2, 3]
    assert found[-1] is not None and found[-1].group(3) == "0:00:00"  # nothing left
    assert "results written to" in captured.out and "\x1b[" not in captured.out


def test_no_progress_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS[2:], "--out", str(tmp_path), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
