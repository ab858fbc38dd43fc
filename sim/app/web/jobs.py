"""Runs started from the app: keyed folders, a background process, progress, cancel, estimates.

A request (what to run and with which run controls) has a key: the SHA-256 of its scenarios'
names and hashes (after ``--scale``), seed, measured years, warm-up, replications and, for a
sizing, the question. Its job folder is ``outputs/app/<kind>_<key>/``::

    job.json     the request and the ``nenpath`` arguments
    pid.json     the background process (while it runs)
    log.txt      its standard error: one line per finished replication, errors
    out.txt      its standard output: headlines or the sizing answer
    rc.json      its exit status, once it has ended
    run/         the nenpath run folder (--out): manifest, parts/ (checkpoints), results

The same request is answered from ``run/`` without running again. Different requests have
different folders, so two browser sessions never write into each other's; two sessions making
the same request share one process (the second finds it running and follows its progress), and
nenpath's own folder lock refuses any second writer. The process is ``nenpath`` itself
(:mod:`sim.app.web.job`): the command line's runner, checkpoints and messages. Cancel sends it
SIGINT, as Ctrl-C would: finished replications stay in ``run/parts/``, and ``--resume`` (which
every app job passes) reuses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from sim.core import io
from sim.core.io import MANIFEST, PARTS, is_own_manifest, read_manifest, write_json
from sim.scenario.loader import scenario_hash
from sim.scenario.schema import DEFAULT_WARMUP_YEARS, RunControls, Scenario

RUN = "run"
"""The nenpath run folder inside a job folder."""


def outputs_root() -> Path:
    """Where runs are stored: ``outputs/`` of the working folder (as the command line), or
    ``$NENPATH_OUTPUTS``."""
    return Path(os.environ.get("NENPATH_OUTPUTS", "outputs"))


def app_root() -> Path:
    return outputs_root() / "app"


def scenarios_root() -> Path:
    """The scenario files offered: ``scenarios/`` of the working folder, else the source
    tree's, or ``$NENPATH_SCENARIOS``."""
    given = os.environ.get("NENPATH_SCENARIOS")
    if given:
        return Path(given)
    here = Path("scenarios")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "scenarios"


def scenario_files(root: Path | None = None) -> list[Path]:
    """``scenarios/*.toml`` then ``scenarios/interventions/*.toml``."""
    root = root or scenarios_root()
    files = sorted(root.glob("*.toml")) + sorted((root / "interventions").glob("*.toml"))
    return [f for f in files if f.is_file()]


# ---------------------------------------------------------------------------------------------
# Run controls and the time they take
# ---------------------------------------------------------------------------------------------

DEFAULT_REPLICATIONS = 5
DEFAULT_YEARS = 5.0
DEFAULT_SCALE = 0.5
DEFAULT_TRADE_OFF = (
    "Defaults: half of England (--scale 0.5), 5 replications per scenario, 5 measured years "
    "after the scenario's warm-up: an answer with 95% confidence intervals in about a minute "
    "or two on a 2-core laptop. They trade away precision: half the patients per queue makes "
    "waits noisier (counts are still England-scaled), 5 replications give intervals about 1.5 "
    "times as wide as 10 would, and 5 years see fewer late outcomes (five-year survival, "
    "deaths averted later). For a decision, use --scale 1, 10 or more replications and 10 "
    "years (the README's command), or the 'Precise' preset here."
)

SECONDS_PER_REPLICATION = 2.5
"""Fixed cost of one replication (set-up, population, KPIs): 2.8 s measured for a 14-year
replication at --scale 0.02 on the project's 2-core machine (2026-12-02, shared)."""
SECONDS_PER_SCALE_YEAR = 1.0
"""Cost per simulated year of all of England: about 17 s for a 17-year replication at
--scale 1 (README, benchmarks/demo.py, 2026-12-02)."""
STARTUP_SECONDS = 10.0
"""Starting the process and workers, and writing the report."""
SIZING_ROUNDS = 3
"""Rounds a sizing search typically takes (:func:`sim.experiment.sizing.search_in_rounds`
with its default 4 capacities a round, over the default range of 4x the scenario's)."""


def estimate_seconds(
    scenarios: int,
    controls: RunControls,
    scale: float,
    *,
    cores: int | None = None,
) -> float:
    """Rough wall-clock seconds for ``scenarios`` x ``controls.replications`` replications
    on ``cores`` cores (default: this machine's)."""
    cores = max(1, min(cores or os.cpu_count() or 1, controls.workers or 10**6))
    years = controls.years + controls.warmup_days / 365.25
    per = SECONDS_PER_REPLICATION + SECONDS_PER_SCALE_YEAR * scale * years
    tasks = scenarios * controls.replications
    rounds = math.ceil(tasks / min(cores, tasks))
    return STARTUP_SECONDS + rounds * per


def sizing_seconds(controls: RunControls, scale: float, *, cores: int | None = None) -> float:
    """Rough wall-clock seconds for a sizing search: :data:`SIZING_ROUNDS` rounds, each one run
    whose replications simulate their history to the policy start once and then each of the
    round's capacities for the measured years."""
    from sim.experiment.sizing import DEFAULT_PER_ROUND

    cores = max(1, min(cores or os.cpu_count() or 1, controls.workers or 10**6))
    shared = min(controls.policy_start_days, controls.horizon_days) / 365.25
    branched = controls.horizon_days / 365.25 - shared
    years = shared + DEFAULT_PER_ROUND * branched
    per = SECONDS_PER_REPLICATION + SECONDS_PER_SCALE_YEAR * scale * years
    rounds = math.ceil(controls.replications / min(cores, controls.replications))
    return SIZING_ROUNDS * (STARTUP_SECONDS + rounds * per)


def busy_factor() -> tuple[float, str]:
    """How much slower than idle this machine is now (the 1-minute load average over the
    cores, at least 1), and a note saying so when it is busy. The estimates above are for an
    otherwise idle machine: the default comparison measured 225 s with a load average of 9 on 2
    cores, against about 65 s estimated idle."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0, ""
    factor = max(1.0, load / cores)
    if factor < 1.2:
        return 1.0, ""
    return factor, (
        f" The machine is busy now (load {load:.1f} on {cores} cores): expect up to "
        f"{factor:.1f} times as long."
    )


def clock(seconds: float) -> str:
    """``1 min 20 s`` / ``45 s``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# ---------------------------------------------------------------------------------------------
# Requests, keys and folders
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What to run: ``kind`` ``compare`` or ``size``, the scenario files (base first), the run
    controls, and for a sizing the question (resource, kpi, target)."""

    kind: str
    files: tuple[str, ...]
    replications: int
    years: float
    scale: float
    seed: int | None = None
    warmup_years: float | None = None
    question: tuple[tuple[str, str], ...] = ()

    def args(self, out: Path) -> list[str]:
        """The ``nenpath`` command line (without ``nenpath``)."""
        if self.kind == "compare":
            args = ["compare", *self.files]
        else:
            args = ["size", self.files[0]]
            for k, v in self.question:
                args += [f"--{k}", v]
        args += [
            "--replications",
            str(self.replications),
            "--years",
            f"{self.years:g}",
            "--scale",
            f"{self.scale:g}",
        ]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        if self.warmup_years is not None:
            args += ["--warmup-years", f"{self.warmup_years:g}"]
        return [*args, "--out", str(out), "--resume"]

    def controls(self, defaults: RunControls) -> RunControls:
        return RunControls.model_validate(
            {
                **defaults.model_dump(),
                "replications": self.replications,
                "years": self.years,
                **({"seed": self.seed} if self.seed is not None else {}),
                **({"warmup_years": self.warmup_years} if self.warmup_years is not None else {}),
            }
        )


def request_key(request: Request, scenarios: list[Scenario], controls: RunControls) -> str:
    """The key of a request: its scenarios (names and hashes at its scale), the controls that
    change results (seed, years, warm-up), replications and the sizing question."""
    blob = {
        "kind": request.kind,
        "scenarios": [[s.name, scenario_hash(s)] for s in scenarios],
        "seed": controls.seed,
        "years": controls.years,
        "warmup_days": controls.warmup_days,
        "replications": controls.replications,
        "question": list(request.question),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def job_folder(kind: str, key: str) -> Path:
    return app_root() / f"{kind}_{key[:16]}"


# ---------------------------------------------------------------------------------------------
# Starting, following and cancelling
# ---------------------------------------------------------------------------------------------


@dataclass
class JobState:
    """What a job folder says now."""

    folder: Path
    status: str
    """``new`` (never started), ``running``, ``done``, ``failed``, ``cancelled``."""
    done: int = 0
    total: int = 0
    elapsed: str = ""
    eta: str = ""
    rc: int | None = None
    log: list[str] = field(default_factory=list)
    """The last lines of the process's standard error (progress and messages)."""
    errors: list[str] = field(default_factory=list)
    """Lines of standard error that are not progress (the command line's messages)."""
    finished: dict[str, int] = field(default_factory=dict)
    """Finished replications (checkpoints) per scenario."""
    replications: int | None = None
    """Replications the last process was asked for."""

    @property
    def run(self) -> Path:
        return self.folder / RUN


_PROGRESS = re.compile(r"\((\d+)/(\d+)\); elapsed ([^,;\s]+), ETA ([^,;\s]+)")


def _pid_alive(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is this job's process (alive, not a zombie, running this job)."""
    if not io.process_alive(pid):
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): existence is all we can tell
    return str(folder.resolve()).encode() in cmd


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def finished_parts(run: Path) -> dict[str, int]:
    """Finished replications per scenario in a run folder's checkpoints."""
    parts = run / PARTS
    if not parts.is_dir():
        return {}
    return {d.name: len(list(d.glob("rep_*.json"))) for d in sorted(parts.iterdir()) if d.is_dir()}


def state(folder: Path) -> JobState:
    """The job's state, from its files (any session can read it)."""
    job = _read(folder / "job.json")
    if not isinstance(job, dict):
        return JobState(folder, "new")
    pid = _read(folder / "pid.json")
    rc = _read(folder / "rc.json")
    lines: list[str] = []
    with contextlib.suppress(OSError):
        lines = (folder / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    st = JobState(folder, "new", replications=job.get("replications"))
    st.log = lines[-12:]
    st.errors = [
        line
        for line in lines
        if line.strip() and not _PROGRESS.search(line) and not line.startswith("warning: ")
    ]
    st.finished = finished_parts(folder / RUN)
    for line in reversed(lines):
        m = _PROGRESS.search(line)
        if m:
            st.done, st.total = int(m[1]), int(m[2])
            st.elapsed, st.eta = m[3], m[4]
            break
    # start() removes rc.json and pid.json before each process: rc.json is this process's.
    if isinstance(pid, dict) and _pid_alive(int(pid.get("pid", -1)), folder):
        st.status = "running"
    elif isinstance(rc, dict):
        st.rc = int(rc.get("rc", 1))
        st.status = {0: "done", 130: "cancelled"}.get(st.rc, "failed")
    elif isinstance(pid, dict):
        st.status = "cancelled"  # killed without a word: checkpoints are kept all the same
    return st


def start(folder: Path, request: Request, replications: int | None = None) -> JobState:
    """Start ``request`` in ``folder`` in a background process unless a process already runs
    there (then follow it). ``replications`` overrides the request's (to finish a cancelled
    run with the replications already done: ``--resume`` reuses them all)."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / ".start.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return state(folder)  # another session is starting it this instant
    try:
        now = state(folder)
        if now.status == "running":
            return now
        n = replications or request.replications
        args = Request(**{**request.__dict__, "replications": n}).args(folder / RUN)
        write_json(
            folder / "job.json",
            {
                "kind": request.kind,
                "request": request.__dict__,
                "replications": n,
                "args": args,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        for name in ("rc.json", "pid.json"):
            (folder / name).unlink(missing_ok=True)
        (folder / "log.txt").write_text("", encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.app.web.job", str(folder.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not stopped by a signal meant for the app's server
            cwd=os.getcwd(),
        )
        write_json(folder / "pid.json", {"pid": proc.pid, "started": time.time()})
        # Between fork and exec the child still shows this process's command line, so a
        # state() read at once would take it for another process (a job "cancelled" at its
        # start on a loaded machine): wait until it runs the job, or has ended.
        deadline = time.monotonic() + 30.0
        while proc.poll() is None and not _pid_alive(proc.pid, folder):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
    finally:
        lock.release()
    return state(folder)


def cancel(folder: Path, wait: float = 20.0) -> JobState:
    """Interrupt the job's process as Ctrl-C would (finished replications are kept); after
    ``wait`` seconds without it ending, terminate it."""
    pid = _read(folder / "pid.json")
    if not isinstance(pid, dict):
        return state(folder)
    p = int(pid.get("pid", -1))
    if not _pid_alive(p, folder):
        return state(folder)
    with contextlib.suppress(ProcessLookupError):
        os.kill(p, signal.SIGINT)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _pid_alive(p, folder):
        time.sleep(0.2)
    if _pid_alive(p, folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    return state(folder)


def complete_replications(st: JobState, names: list[str]) -> int:
    """Replications finished for every scenario (what a cancelled comparison can report)."""
    return min((st.finished.get(n, 0) for n in names), default=0)


# ---------------------------------------------------------------------------------------------
# Stored runs
# ---------------------------------------------------------------------------------------------

_CANDIDATE = re.compile(r"(slots_per_session|servers)_\d+")


@dataclass
class StoredRun:
    folder: Path
    kind: str
    """``compare``, ``run`` or ``sizing``."""
    status: str
    created: str
    scenarios: list[str]
    replications: int | None
    by_app: bool


def stored_runs(root: Path | None = None, depth: int = 4) -> list[StoredRun]:
    """Every run folder under ``outputs/`` (written by the command line or the app), newest
    first: folders whose ``manifest.json`` nenpath wrote, except sizing's per-capacity runs
    and checkpoint folders."""
    root = root or outputs_root()
    found: list[StoredRun] = []
    if not root.is_dir():
        return found
    stack = [(root, 0)]
    while stack:
        folder, level = stack.pop()
        manifest = read_manifest(folder) if (folder / MANIFEST).is_file() else None
        if manifest is not None and (is_own_manifest(manifest) or manifest.get("kind") == "sizing"):
            found.append(_stored(folder, manifest))
            continue
        if level >= depth:
            continue
        with contextlib.suppress(OSError):
            for child in folder.iterdir():
                if (
                    child.is_dir()
                    and not child.is_symlink()
                    and child.name != PARTS
                    and not child.name.startswith(".")
                    and not _CANDIDATE.fullmatch(child.name)
                ):
                    stack.append((child, level + 1))
    found.sort(key=lambda r: r.created, reverse=True)
    return found


def _stored(folder: Path, manifest: dict[str, Any]) -> StoredRun:
    scenarios = [
        s.get("name", "?") for s in manifest.get("scenarios", []) or [] if isinstance(s, dict)
    ]
    if manifest.get("kind") == "sizing":
        kind = "sizing"
        scenarios = [f"{manifest.get('resource')} for {manifest.get('kpi')}"]
    else:
        kind = "compare" if len(scenarios) > 1 else "run"
    created = str(manifest.get("created") or "")
    if not created:
        with contextlib.suppress(OSError):
            created = time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.localtime((folder / MANIFEST).stat().st_mtime)
            )
    reps = manifest.get("replications") or (manifest.get("controls") or {}).get("replications")
    return StoredRun(
        folder=folder,
        kind=kind,
        status=str(manifest.get("status", "?")),
        created=created,
        scenarios=scenarios,
        replications=int(reps) if isinstance(reps, int | float) else None,
        by_app=folder.name == RUN and (folder.parent / "job.json").is_file(),
    )


def warmup_years(controls: RunControls) -> float:
    return controls.warmup_years if controls.warmup_years is not None else DEFAULT_WARMUP_YEARS
