"""Experiments: replications of one or more scenarios, serial, on local processes or on Dask.

The replication is the unit of work. ``run_replication(scenario, k, controls)`` depends on the
scenario, ``k`` and the base seed only, never on the worker that runs it, so the serial, local
process and Dask backends give identical results. Replication *k* of every scenario uses the
same random streams (common random numbers): the same synthetic patients with the same natural
history, so differences between scenarios are paired.

Each finished replication is written to ``parts/`` as soon as it arrives (atomically); a run
that is interrupted (Ctrl-C, kill -9, a lost machine) loses only the replications in flight and
``resume=True`` finishes it, running only the missing ones. A replication that raises, or whose
worker dies, is reported with its scenario, replication number, seed and traceback; the others
are kept. On Ctrl-C the local workers are ended at once (they ignore SIGINT themselves, so the
terminal shows one message rather than a traceback per worker); after ``kill -9`` of the main
process each worker notices within a second and exits.

Backends (chosen by ``dask`` and ``controls.workers``):

* serial, in this process (one worker, or a single replication to run);
* local processes, ``concurrent.futures.ProcessPoolExecutor`` with the ``forkserver`` start
  method (``spawn`` where there is none), never ``fork`` (not safe with threads);
* Dask: ``dask="local"`` starts a ``LocalCluster`` (one single-threaded process per worker);
  an address (``tcp://host:8786``) uses a running scheduler, whose workers must have the same
  version of this package installed.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core import io
from sim.core.errors import ReplicationError, RunControlError
from sim.experiment.analysis import relative_half_width, replications_needed, summarise
from sim.measures.economics import economic_kpis
from sim.measures.kpis import (
    KPI_DESCRIPTIONS,
    RESOURCE_COLUMNS,
    kpi_bounds,
    patient_journeys,
    replication_kpis,
    resource_utilisation,
    weekly_series,
)
from sim.model.population import check_run_size
from sim.model.simulation import (
    BranchFailed,
    RunResult,
    fork_available,
    policy_differences,
    simulate,
    simulate_branches,
    switches,
)
from sim.scenario.loader import scenario_dict, scenario_hash
from sim.scenario.schema import REGIONS, RunControls, Scenario

MAIN_KPI = "diagnostic_interval_days_median"


@dataclass
class ReplicationOutput:
    """What one replication sends back: KPIs, patient journeys and weekly series."""

    scenario: str
    replication: int
    seed: int
    kpis: dict[str, float]
    journeys: pd.DataFrame
    series: pd.DataFrame
    wall_seconds: float
    sim_events: int
    logged_events: int
    resources: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RESOURCE_COLUMNS))
    """Use of every capacity resource in the measured window
    (:func:`sim.measures.kpis.resource_utilisation`)."""


@dataclass(frozen=True)
class Failure:
    """A replication that did not finish. To rerun it alone:
    ``run_replication(scenario, replication, controls)`` with ``controls.seed == seed``."""

    scenario: str
    replication: int
    seed: int
    traceback: str


@dataclass
class ExperimentResult:
    replications: pd.DataFrame
    """One row per scenario x replication: ``scenario, replication`` then one column per KPI."""
    summary: pd.DataFrame
    failures: list[Failure] = field(default_factory=list)
    out: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    reused: int = 0
    """Finished replications taken from ``out`` by a resume rather than run again."""


def run_replication(
    scenario: Scenario, replication: int, controls: RunControls, base: Scenario | None = None
) -> ReplicationOutput:
    """Simulate replication ``replication`` and reduce it to KPIs, journeys and series (as
    ``base`` until the policy start if a base is given: :func:`sim.model.simulation.simulate`)."""
    return reduce_result(scenario, simulate(scenario, replication, controls, base), controls)


def reduce_result(
    scenario: Scenario, result: RunResult, controls: RunControls
) -> ReplicationOutput:
    """One simulated replication as KPIs, journeys (measured window), series and resource use."""
    replication = result.replication
    journeys = patient_journeys(result)
    kpis = {k: float(v) for k, v in replication_kpis(result, journeys).items()}
    kpis.update(economic_kpis(scenario, result, journeys))
    keep = (journeys["diagnosis_time"] >= result.warmup_days) | (
        journeys["diagnosis_time"].isna()
        & (journeys["first_presentation_time"] >= result.warmup_days)
    )
    jr = journeys[keep].reset_index()
    jr.insert(0, "replication", replication)
    jr.insert(0, "scenario", scenario.name)
    series = weekly_series(result, journeys)
    series.insert(0, "replication", replication)
    series.insert(0, "scenario", scenario.name)
    resources = resource_utilisation(result)
    resources.insert(0, "replication", replication)
    resources.insert(0, "scenario", scenario.name)
    return ReplicationOutput(
        scenario=scenario.name,
        replication=replication,
        seed=controls.seed,
        kpis=kpis,
        journeys=jr,
        series=series,
        wall_seconds=result.wall_seconds,
        sim_events=result.sim_events,
        logged_events=len(result.events["time"]),
        resources=resources,
    )


Replicate = Callable[[Scenario, int, RunControls], ReplicationOutput]
"""What runs one replication: :func:`run_replication` or a stand-in with its signature (tests
pass one that fails on purpose). Must be picklable (a module-level function) for the process and
Dask backends."""


def _safe_replication(
    replicate: Replicate,
    scenario: Scenario,
    replication: int,
    controls: RunControls,
    code: str | None = None,
) -> ReplicationOutput | Failure:
    """Run one replication; an exception becomes a :class:`Failure` carrying its traceback.

    ``code`` is the main process's :func:`code_hash`: a worker whose model code differs (another
    version installed on a Dask worker, or files edited since the run started) refuses to run,
    since its results would not be this run's.
    """
    if code is not None and code != code_hash():
        return Failure(
            scenario.name,
            replication,
            controls.seed,
            f"this worker's model code (sha256 {code_hash()[:12]}) differs from that of the "
            f"process running the experiment ({code[:12]}): install the same version of "
            "nen-pathway on every worker and do not edit sim/ during a run\n",
        )
    try:
        return replicate(scenario, replication, controls)
    except Exception:
        return Failure(scenario.name, replication, controls.seed, traceback.format_exc())


def fingerprint(
    scenarios: list[Scenario], controls: RunControls, base: Scenario | None = None
) -> str:
    """What makes two runs the same run: scenarios, their base (what they are until the policy
    start), seed, run length, policy start and the model's code.

    Replication count, workers, backend and branching (shared prefix or recomputed) are left
    out: a resumed or extended run may add replications, and none of these changes results.
    The code is in: replications made by another version of the model must not be mixed into
    one result by a resume.
    """
    blob: dict[str, Any] = {
        "scenarios": [[s.name, scenario_hash(s)] for s in scenarios],
        "seed": controls.seed,
        "years": controls.years,
        "warmup_days": controls.warmup_days,
        "code": code_hash(),
    }
    if base is not None and any(switches(base, s, controls) for s in scenarios):
        blob["base"] = scenario_hash(base)
        blob["policy_start_days"] = controls.policy_start_days
    if controls.measure_start_days != controls.warmup_days:
        blob["measure_start_days"] = controls.measure_start_days
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


MODEL_PACKAGES = ("core", "scenario", "model", "measures", "experiment")
"""The packages of :mod:`sim` whose code decides a replication's numbers: every module in them,
present or future, is hashed. The layers above (reporting, calibration, app) only present or
drive finished runs: editing them does not invalidate replications."""


def code_hash() -> str:
    """SHA-256 of the modules that decide a replication's numbers, as they were when this
    process imported the package (so an edit made while a run is going is not mistaken for its
    code). Editing the CLI, reports or plots does not invalidate finished replications."""
    return _CODE_SHA256


_SIM = Path(__file__).resolve().parents[1]


def hashed_sources(root: Path = _SIM) -> list[Path]:
    """Every source file :func:`code_hash` covers: all modules of :data:`MODEL_PACKAGES`
    under ``root`` (the installed ``sim`` folder), found by walking the folders."""
    return [path for pkg in MODEL_PACKAGES for path in sorted((root / pkg).rglob("*.py"))]


def source_hash(root: Path = _SIM) -> str:
    """SHA-256 of :func:`hashed_sources`, each file's path (relative to ``root``) and bytes."""
    h = hashlib.sha256()
    for path in hashed_sources(root):
        name = path.relative_to(root).with_suffix("").as_posix()
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_CODE_SHA256 = source_hash()  # read once, with the modules (a few dozen small files)


# ---------------------------------------------------------------------------------------------
# Backends: each yields finished ReplicationOutput | Failure as they complete
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """The unit of work: replication ``replication`` of ``scenarios``. With a ``base``, the
    scenarios are branches of one shared history (the base until the policy start,
    :func:`sim.model.simulation.simulate_branches`); without, one scenario run as itself."""

    scenarios: tuple[Scenario, ...]
    replication: int
    base: Scenario | None = None
    branching: str = "fork"


Outputs = list[ReplicationOutput | Failure]

BRANCHING_MODES = ("auto", "fork", "recompute")
"""``fork``: simulate the shared history once per replication and fork a branch per scenario;
``recompute``: every branch simulates it again (same results, the switch for Windows and for
benchmarks); ``auto``: fork where the platform has it."""


def resolve_branching(mode: str | None) -> str:
    """``fork`` or ``recompute`` for ``mode`` (None: the ``NENPATH_BRANCHING`` environment
    variable, else ``auto``)."""
    mode = mode or os.environ.get("NENPATH_BRANCHING") or "auto"
    if mode not in BRANCHING_MODES:
        raise RunControlError(
            f"branching {mode!r}: must be one of {', '.join(BRANCHING_MODES)} (--branching or "
            "NENPATH_BRANCHING)"
        )
    if mode == "auto":
        return "fork" if fork_available() else "recompute"
    return mode


def run_task(
    task: Task, controls: RunControls, replicate: Replicate, code: str | None = None
) -> Outputs:
    """Run one task; an exception fails the scenarios it concerns (:class:`Failure`)."""
    k = task.replication
    if task.base is None:
        return [_safe_replication(replicate, s, k, controls, code) for s in task.scenarios]
    if code is not None and code != code_hash():
        return [_safe_replication(replicate, s, k, controls, code) for s in task.scenarios]
    if replicate is not run_replication:  # a stand-in (tests): it knows nothing of branches
        return [_safe_replication(replicate, s, k, controls) for s in task.scenarios]
    base = task.base
    try:
        branches = simulate_branches(
            base,
            list(task.scenarios),
            k,
            controls,
            fork=task.branching == "fork" and len(task.scenarios) > 1,
            reduce=lambda s, r: reduce_result(s, r, controls),
        )
    except Exception:
        tb = "the shared history (the base until the policy start) failed:\n"
        tb += traceback.format_exc()
        return [Failure(s.name, k, controls.seed, tb) for s in task.scenarios]
    return [
        Failure(s.name, k, controls.seed, out.traceback) if isinstance(out, BranchFailed) else out
        for s, out in zip(task.scenarios, branches, strict=True)
    ]


def _serial(
    tasks: list[Task], controls: RunControls, replicate: Replicate
) -> Generator[Outputs, None, None]:
    for task in tasks:
        yield run_task(task, controls, replicate)


def _worker_init(main_pid: int) -> None:
    """Set up a local worker process.

    Ctrl-C is the main process's business: it stops the run and ends the workers, so workers
    ignore SIGINT (otherwise each would print its own traceback). A worker also exits on its own
    when the main process disappears (killed with ``kill -9``) instead of finishing replications
    for nobody; with the forkserver start method its parent is the fork server, which stays up
    as long as any worker does, so it is the main process that is watched.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while io.process_alive(main_pid):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="nenpath-main-watch", daemon=True).start()


def _processes(
    tasks: list[Task], controls: RunControls, workers: int, replicate: Replicate
) -> Generator[Outputs, None, None]:
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["sim.experiment.runner"])
    code = code_hash()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
    )
    finished = False
    try:
        task_of: dict[Future[Outputs], Task] = {
            pool.submit(run_task, task, controls, replicate, code): task for task in tasks
        }
        pending = set(task_of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield _result(fut, task_of[fut], controls)
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            # Interrupted (Ctrl-C, an error, the consumer stopped): drop queued replications and
            # end the ones in flight now rather than waiting for them to finish. The worker
            # processes are taken first: shutdown() forgets them.
            procs = _worker_processes(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            _terminate(procs)


def _result(fut: Any, task: Task, controls: RunControls) -> Outputs:
    """A finished future's outputs; a worker that died (killed, out of memory) or a Dask task
    that was lost fails that replication (of the task's scenarios) only."""
    try:
        res: Outputs = fut.result()
    except Exception:
        tb = traceback.format_exc() + (
            "(the worker running it died or was lost; "
            "the replication itself may be fine: --resume runs it again)\n"
        )
        return [Failure(s.name, task.replication, controls.seed, tb) for s in task.scenarios]
    return res


def _worker_processes(pool: ProcessPoolExecutor) -> list[Any]:
    """A pool's worker processes (``multiprocessing.Process``); the executor keeps them in a
    private attribute and drops it on ``shutdown()``."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _terminate(procs: list[Any]) -> None:
    """End worker processes now (SIGTERM; a replication in flight is lost, as documented)."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)


def _dask(
    tasks: list[Task],
    controls: RunControls,
    address: str,
    workers: int | None,
    replicate: Replicate,
) -> Generator[Outputs, None, None]:
    from distributed import Client, LocalCluster, as_completed

    code = code_hash()
    cluster = None
    if address == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise RunControlError(
                f"--dask {address}: cannot reach a Dask scheduler there ({exc}); give the "
                "address `dask scheduler` printed (tcp://host:8786) or 'local'"
            ) from None
    try:
        task_of = {
            client.submit(run_task, task, controls, replicate, code, pure=False): task
            for task in tasks
        }
        for fut in as_completed(list(task_of)):
            yield _result(fut, task_of[fut], controls)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


def run_experiment(
    scenarios: list[Scenario],
    controls: RunControls,
    out: Path | None = None,
    *,
    dask: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | None = None,
    precision: float | None = None,
    precision_kpis: Iterable[str] = (MAIN_KPI,),
    max_replications: int = 200,
    files: dict[str, str] | None = None,
    on_output: Callable[[ReplicationOutput], None] | None = None,
    replicate: Replicate = run_replication,
    base: Scenario | None = None,
    branching: str | None = None,
) -> ExperimentResult:
    """Run ``controls.replications`` replications of every scenario (CRN across scenarios).

    Parameters
    ----------
    scenarios:
        Scenarios to run; names must be distinct.
    controls:
        Seed, measured years, warm-up, replications and workers (default: all cores).
    out:
        Run folder (see :mod:`sim.core.io`); ``None`` keeps everything in memory.
    dask:
        ``None`` for local processes, ``"local"`` for a Dask LocalCluster, or a scheduler
        address (``tcp://host:8786``).
    resume:
        Reuse finished replications of the same run found in ``out``.
    force:
        Replace ``out`` even if it holds a different run.
    progress:
        Show a progress bar (default: only when standard error is a terminal).
    precision:
        If given, keep adding replications (up to ``max_replications``) until the CI half-width
        of each of ``precision_kpis`` is at most this fraction of its mean, in every scenario.
    files:
        Scenario name -> file it came from (recorded in the manifest).
    on_output:
        Called in this process with every replication run now (not with those reused by
        ``resume``), in the order they finish.
    replicate:
        What runs one replication (default :func:`run_replication`); a seam for tests.
    base:
        The scenario the others are compared with (usually the first). Given, every scenario
        *is* the base until ``controls.policy_start_days`` and switches to its own rules there
        (unless the policy starts at 0 or it says ``policy_from_start``); replication *k* of
        all of them is one unit of work that simulates the shared history once
        (``branching``). None: each scenario runs under its own rules from t = 0.
    branching:
        ``fork``, ``recompute`` or ``auto`` (default: ``NENPATH_BRANCHING``, else ``auto``):
        how branches get the shared history; results are identical either way.

    Returns
    -------
    ExperimentResult
        Replications ``0 .. n-1`` of every scenario that finished (``n`` is
        ``controls.replications``, or more if ``precision`` asked for them) and their summary;
        failed replications are listed in ``failures``.

    Raises
    ------
    ReplicationError
        If every replication failed. ``KeyboardInterrupt`` is passed on after the manifest is
        marked ``interrupted``; finished replications stay in ``out`` for ``resume``.
    """
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise RunControlError(f"scenario names must be distinct, got {names}")
    precision_kpis = tuple(precision_kpis)
    if precision is not None:
        check_kpis(precision_kpis, "--precision-kpi")
    for s in scenarios:
        check_run_size(s.population, controls)
    if base is not None:
        check_policy_start(base, scenarios, controls)
    mode = resolve_branching(branching)
    with io.folder_lock(out) if out is not None else contextlib.nullcontext():
        return _experiment(
            scenarios, controls, out, dask, resume, force, progress, precision, precision_kpis,
            max_replications, files, on_output, replicate, base, mode,
        )  # fmt: skip


def check_policy_start(base: Scenario, scenarios: list[Scenario], controls: RunControls) -> None:
    """Raise :class:`RunControlError` for a scenario whose differences from ``base`` cannot
    take effect at the policy start (what is drawn for each patient before the run, or a
    resource's kind or scope), naming what differs and the ways out."""
    for s in scenarios:
        if not switches(base, s, controls):
            continue
        keys = policy_differences(base, s)
        if keys:
            raise RunControlError(
                f"scenario {s.name!r} differs from the base {base.name!r} in {', '.join(keys)}: "
                "what is drawn for each patient before the run (or a resource's kind or scope) "
                f"cannot switch at the policy start ({controls.policy_start_days / 365.25:g} "
                "years); set policy_from_start = true in the scenario file to run it under its "
                "own rules from t = 0, or give --policy-start 0"
            )


def _experiment(
    scenarios: list[Scenario],
    controls: RunControls,
    out: Path | None,
    dask: str | None,
    resume: bool,
    force: bool,
    progress: bool | None,
    precision: float | None,
    precision_kpis: tuple[str, ...],
    max_replications: int,
    files: dict[str, str] | None,
    on_output: Callable[[ReplicationOutput], None] | None,
    replicate: Replicate,
    base: Scenario | None,
    branching: str,
) -> ExperimentResult:
    """:func:`run_experiment` once its folder is held (see there)."""
    names = [s.name for s in scenarios]
    started = time.perf_counter()
    workers = controls.workers or os.cpu_count() or 1
    fp = fingerprint(scenarios, controls, base)
    outputs: dict[tuple[str, int], dict[str, float]] = {}
    failures: list[Failure] = []
    manifest: dict[str, Any] = {}
    if out is not None:
        reuse = io.prepare_folder(out, fp, force=force, resume=resume)
        if reuse:
            outputs.update(_load_parts(out, names))
        manifest = _manifest(scenarios, controls, fp, files, dask, workers, base)
        io.write_json(out / io.MANIFEST, manifest)
    loaded = set(outputs)

    # None: a bar on a terminal, one line per finished replication otherwise (a log, CI).
    mode = ("bar" if sys.stderr.isatty() else "lines") if progress is None else progress
    target = controls.replications
    bar = _Progress(mode, len(scenarios) * target, done=sum(1 for (_, k) in outputs if k < target))
    try:
        while True:
            failed = {(f.scenario, f.replication) for f in failures}
            tasks = _tasks(scenarios, range(target), outputs.keys() | failed, controls, base)
            tasks = [Task(t.scenarios, t.replication, t.base, branching) for t in tasks]
            stream: Generator[Outputs, None, None]
            if dask is not None and tasks:
                stream = _dask(tasks, controls, dask, controls.workers, replicate)
            elif workers <= 1 or len(tasks) <= 1:
                stream = _serial(tasks, controls, replicate)
            else:
                stream = _processes(tasks, controls, min(workers, len(tasks)), replicate)
            # closing(): an interruption while a replication is being stored still ends the
            # backend (and its workers) at once.
            with contextlib.closing(stream):
                for res in (r for batch in stream for r in batch):
                    if isinstance(res, Failure):
                        failures.append(res)
                        bar.note(
                            f"replication {res.replication} of {res.scenario} "
                            f"(seed {res.seed}) failed; the others go on"
                        )
                        bar.advance(1, scenario=res.scenario, replication=res.replication)
                        continue
                    outputs[(res.scenario, res.replication)] = res.kpis
                    if out is not None:
                        _write_part(out, res)
                    if on_output is not None:
                        on_output(res)
                    bar.advance(
                        1,
                        _half_width_text(outputs, names[0], target),
                        scenario=res.scenario,
                        replication=res.replication,
                    )
            if precision is None or target >= max_replications:
                break
            kept = {sk: v for sk, v in outputs.items() if sk[1] < target}
            need = _replications_for(kept, names, precision_kpis, precision)
            if need <= target:
                break
            new_target = min(max(need, target + 1), max_replications)
            bar.extend(len(scenarios) * (new_target - target))
            target = new_target
    except KeyboardInterrupt:
        if out is not None:
            manifest.update(status="interrupted", timings=_timings(started))
            io.write_json(out / io.MANIFEST, manifest)
        raise
    finally:
        bar.close()

    # Parts of an earlier, longer run of the same settings stay on disk but are not reported.
    outputs = {sk: v for sk, v in outputs.items() if sk[1] < target}
    reps = _replications_frame(outputs, names)
    kpi_names = [c for c in reps.columns if c not in ("scenario", "replication")]
    summary = summarise(reps, kpi_names, bounds=kpi_bounds) if len(reps) else _empty_summary()
    timings = _timings(started)
    if out is not None:
        if len(reps):
            _finish_folder(out, reps, summary, names, len(scenarios) == 1)
        manifest.update(
            status="complete" if not failures else "complete_with_failures",
            replications=target,
            timings=timings,
            failures=[f.__dict__ for f in failures],
        )
        io.write_json(out / io.MANIFEST, manifest)
    result = ExperimentResult(
        reps, summary, failures, out, timings, reused=len(loaded & set(outputs))
    )
    if failures and not outputs:
        f = failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    return result


def _tasks(
    scenarios: list[Scenario],
    replications: Iterable[int],
    done: Iterable[tuple[str, int]],
    controls: RunControls,
    base: Scenario | None,
) -> list[Task]:
    """The work left: per replication, one task holding every scenario that branches from the
    base (the shared history is simulated once for them), and one task per scenario that runs
    as itself. Scenarios already done (finished, reused by a resume, or failed) are left out:
    a branch's result does not depend on which other branches run with it."""
    skip = set(done)
    tasks: list[Task] = []
    for k in replications:
        todo = [s for s in scenarios if (s.name, k) not in skip]
        shared = tuple(s for s in todo if base is not None and switches(base, s, controls))
        if shared:
            tasks.append(Task(shared, k, base))
        tasks += [Task((s,), k) for s in todo if s not in shared]
    return tasks


def check_kpis(kpis: Iterable[str], option: str) -> None:
    """Raise :class:`RunControlError` for a name that is not a KPI (``<kpi>`` or
    ``<kpi>__<region>``, :data:`sim.measures.kpis.KPI_DESCRIPTIONS`), suggesting the nearest."""
    valid = [*KPI_DESCRIPTIONS, *(f"{k}__{r}" for k in KPI_DESCRIPTIONS for r in REGIONS)]
    for kpi in kpis:
        if kpi not in valid:
            near = difflib.get_close_matches(kpi, valid, n=1)
            hint = f"did you mean {near[0]}?" if near else f"e.g. {MAIN_KPI}"
            raise RunControlError(
                f"{option} {kpi}: not a KPI; {hint} (KPIs are listed in summary.csv; a region's "
                "is <kpi>__<region>)"
            )


def _timings(started: float) -> dict[str, float]:
    return {"wall_seconds": time.perf_counter() - started}


def _empty_summary() -> pd.DataFrame:
    return pd.DataFrame(columns=["scenario", "kpi", "mean", "ci_low", "ci_high", "n"])


def _replications_for(
    outputs: dict[tuple[str, int], dict[str, float]],
    names: list[str],
    kpis: Iterable[str],
    precision: float,
) -> int:
    need = 0
    for name in names:
        rows = [v for (s, _), v in outputs.items() if s == name]
        for k in kpis:
            need = max(need, replications_needed([r.get(k, float("nan")) for r in rows], precision))
    return need


def _half_width_text(
    outputs: dict[tuple[str, int], dict[str, float]], name: str, target: int
) -> str:
    """The main KPI's current 95% CI half-width in the first scenario, e.g. ``±3.1%``."""
    vals = [v.get(MAIN_KPI, math.nan) for (s, k), v in outputs.items() if s == name and k < target]
    hw = relative_half_width(vals)
    return "" if math.isnan(hw) else f"{MAIN_KPI} ±{hw:.1%}"


def _replications_frame(
    outputs: dict[tuple[str, int], dict[str, float]], names: list[str]
) -> pd.DataFrame:
    order = {n: i for i, n in enumerate(names)}
    keys = sorted(outputs, key=lambda sk: (order[sk[0]], sk[1]))
    rows = [{"scenario": s, "replication": k, **outputs[(s, k)]} for s, k in keys]
    return pd.DataFrame(rows)


def _write_part(out: Path, res: ReplicationOutput) -> None:
    paths = io.part_paths(out, res.scenario, res.replication)
    io.write_parquet(paths["journeys"], res.journeys)
    io.write_parquet(paths["series"], res.series)
    io.write_parquet(paths["resources"], _resource_frame(res))
    # The KPI file is written last: its presence marks the replication as finished.
    io.write_json(
        paths["kpis"],
        {
            "scenario": res.scenario,
            "replication": res.replication,
            "seed": res.seed,
            "wall_seconds": res.wall_seconds,
            "sim_events": res.sim_events,
            "logged_events": res.logged_events,
            "kpis": res.kpis,
        },
    )


def _resource_frame(res: ReplicationOutput) -> pd.DataFrame:
    """The replication's resource use with a fixed schema (so parts concatenate)."""
    frame = res.resources
    if frame.empty:
        frame = pd.DataFrame(
            {"scenario": pd.Series(dtype=str), "replication": pd.Series(dtype="int64")}
            | {
                c: pd.Series(dtype=float if c in _RESOURCE_NUMBERS else str)
                for c in RESOURCE_COLUMNS
            }
        )
    return frame.astype({c: float for c in _RESOURCE_NUMBERS} | {"replication": "int64"})


_RESOURCE_NUMBERS = ("capacity", "offered", "used", "utilisation")


def _load_parts(out: Path, names: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    found: dict[tuple[str, int], dict[str, float]] = {}
    for name in names:
        folder = out / io.PARTS / name
        for f in sorted(folder.glob("rep_*.json")):
            try:
                data = json.loads(f.read_text())
                k = int(data["replication"])
                kpis = {key: float(v) for key, v in data["kpis"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # not a finished part: the replication is run again
            if all(p.exists() for p in io.part_paths(out, name, k).values()):
                found[(name, k)] = kpis
    return found


def _finish_folder(
    out: Path, reps: pd.DataFrame, summary: pd.DataFrame, names: list[str], single: bool
) -> None:
    io.write_csv(out / "replications.csv", reps)
    io.write_csv(out / "summary.csv", summary.drop(columns="scenario") if single else summary)
    keys = list(zip(reps["scenario"], reps["replication"], strict=True))
    io.concat_parquet(
        [io.part_paths(out, s, int(k))["journeys"] for s, k in keys], out / "patients.parquet"
    )
    io.concat_parquet(
        [io.part_paths(out, s, int(k))["series"] for s, k in keys], out / "series.parquet"
    )
    io.concat_parquet(
        [io.part_paths(out, s, int(k))["resources"] for s, k in keys], out / "resources.parquet"
    )


def _manifest(
    scenarios: list[Scenario],
    controls: RunControls,
    fp: str,
    files: dict[str, str] | None,
    dask: str | None,
    workers: int,
    base: Scenario | None,
) -> dict[str, Any]:
    switched = base is not None and any(switches(base, s, controls) for s in scenarios)
    return {
        "tool": "nen-pathway",
        "status": "running",
        "fingerprint": fp,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "controls": {
            **controls.model_dump(mode="json"),
            "warmup_days": controls.warmup_days,
            "horizon_days": controls.horizon_days,
            "measure_start_days": controls.measure_start_days,
            "policy_start_days": controls.policy_start_days if switched else 0.0,
        },
        "base": base.name if switched and base is not None else None,
        "backend": f"dask:{dask}"
        if dask
        else ("serial" if workers <= 1 else f"processes:{workers}"),
        "scenarios": [
            {
                "name": s.name,
                "hash": scenario_hash(s),
                "file": (files or {}).get(s.name),
                "resolved": scenario_dict(s),
            }
            for s in scenarios
        ],
        "versions": io.versions(),
        "git_commit": io.git_commit(),
        "code_sha256": code_hash(),
    }


class _Progress:
    """Progress on standard error. ``mode`` True or ``"bar"``: a bar with replications done,
    ETA and the main KPI's current CI half-width (relative to its mean); ``"lines"``: one plain
    line per finished replication (scenario, replication, elapsed time, ETA), for logs; False:
    silent."""

    def __init__(self, mode: bool | str, total: int, done: int = 0):
        self._bar: Any = None
        self._lines = mode == "lines"
        self._total, self._done, self._resumed = total, done, done
        self._started = time.perf_counter()
        if mode is True or mode == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("replications"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[hw]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.start()
            # Replications reused by a resume count as done without skewing the ETA.
            self._task = self._bar.add_task("run", total=total, completed=done, hw="")

    def advance(
        self,
        n: int,
        text: str | None = None,
        scenario: str | None = None,
        replication: int | None = None,
    ) -> None:
        self._done += n
        if self._lines and n:
            self._line(scenario, replication, text)
        if self._bar is not None and n:
            if text is None:
                self._bar.update(self._task, advance=n)
            else:
                self._bar.update(self._task, advance=n, hw=text)

    def _line(self, scenario: str | None, replication: int | None, text: str | None) -> None:
        elapsed = time.perf_counter() - self._started
        # Replications reused by a resume took no time now: the rate is over this session's.
        ran = self._done - self._resumed
        left = max(self._total - self._done, 0)
        eta = _clock(elapsed / ran * left) if ran > 0 else "-:--:--"
        what = f"{scenario} replication {replication}" if scenario is not None else "replication"
        hw = f"; {text}" if text else ""
        print(
            f"{what} done ({self._done}/{self._total}); elapsed {_clock(elapsed)}, ETA {eta}{hw}",
            file=sys.stderr,
            flush=True,
        )

    def extend(self, n: int) -> None:
        self._total += n
        if self._bar is not None:
            task = self._bar.tasks[0]
            self._bar.update(self._task, total=(task.total or 0) + n)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text)
        elif self._lines:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _clock(seconds: float) -> str:
    """``h:mm:ss``."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
