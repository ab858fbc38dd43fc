"""Experiments: replications of one or more scenarios, serial, on local processes or on Dask.

The replication is the unit of work. ``run_replication(scenario, k, controls)`` depends on the
scenario, ``k`` and the base seed only, never on the worker that runs it, so the serial, local
process and Dask backends give identical results. Replication *k* of every scenario uses the
same random streams (common random numbers): the same synthetic patients with the same natural
history, so differences between scenarios are paired.

Each finished replication is written to ``parts/`` as soon as it arrives (atomically); a run
that is interrupted (Ctrl-C, kill -9, a lost machine) loses only the replications in flight and
``resume=True`` finishes it. A replication that raises is reported with its scenario,
replication number, seed and traceback; the others are kept.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import io
from .analysis import relative_half_width, replications_needed, summarise
from .config import RunControls, Scenario
from .errors import ReplicationError, RunControlError
from .kpis import patient_journeys, replication_kpis, weekly_series
from .loader import scenario_dict, scenario_hash
from .model import simulate

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


@dataclass(frozen=True)
class Failure:
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


def run_replication(
    scenario: Scenario, replication: int, controls: RunControls
) -> ReplicationOutput:
    """Simulate replication ``replication`` and reduce it to KPIs, journeys and series."""
    result = simulate(scenario, replication, controls)
    journeys = patient_journeys(result)
    kpis = replication_kpis(result, journeys)
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
    )


def _safe_replication(
    scenario: Scenario, replication: int, controls: RunControls
) -> ReplicationOutput | Failure:
    try:
        return run_replication(scenario, replication, controls)
    except Exception:
        return Failure(scenario.name, replication, controls.seed, traceback.format_exc())


def fingerprint(scenarios: list[Scenario], controls: RunControls) -> str:
    """What makes two runs the same run (replication count and workers excluded: a resumed or
    extended run may add replications, and workers never change results)."""
    blob = {
        "scenarios": [[s.name, scenario_hash(s)] for s in scenarios],
        "seed": controls.seed,
        "years": controls.years,
        "warmup_days": controls.warmup_days,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Backends: each yields finished ReplicationOutput | Failure as they complete
# ---------------------------------------------------------------------------------------------

Task = tuple[Scenario, int]


def _serial(tasks: list[Task], controls: RunControls) -> Iterator[ReplicationOutput | Failure]:
    for scen, k in tasks:
        yield _safe_replication(scen, k, controls)


def _processes(
    tasks: list[Task], controls: RunControls, workers: int
) -> Iterator[ReplicationOutput | Failure]:
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["sim.runner"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: set[Future[ReplicationOutput | Failure]] = {
            pool.submit(_safe_replication, s, k, controls) for s, k in tasks
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def _dask(
    tasks: list[Task], controls: RunControls, address: str, workers: int | None
) -> Iterator[ReplicationOutput | Failure]:
    from distributed import Client, LocalCluster, as_completed

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
        client = Client(address)
    try:
        futures = [client.submit(_safe_replication, s, k, controls, pure=False) for s, k in tasks]
        for fut in as_completed(futures):
            yield fut.result()
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
) -> ExperimentResult:
    """Run ``controls.replications`` replications of every scenario (CRN across scenarios).

    Parameters
    ----------
    scenarios:
        Scenarios to run; names must be distinct.
    controls:
        Seed, measured years, warm-up, replications and workers (default: all cores).
    out:
        Run folder (see :mod:`sim.io`); ``None`` keeps everything in memory.
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
    """
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise RunControlError(f"scenario names must be distinct, got {names}")
    started = time.perf_counter()
    workers = controls.workers or os.cpu_count() or 1
    fp = fingerprint(scenarios, controls)
    outputs: dict[tuple[str, int], dict[str, float]] = {}
    failures: list[Failure] = []
    manifest: dict[str, Any] = {}
    if out is not None:
        reuse = io.prepare_folder(out, fp, force=force, resume=resume)
        if reuse:
            outputs.update(_load_parts(out, names))
        manifest = _manifest(scenarios, controls, fp, files, dask, workers)
        io.write_json(out / io.MANIFEST, manifest)

    show = sys.stderr.isatty() if progress is None else progress
    target = controls.replications
    bar = _Progress(show, len(scenarios) * target)
    bar.advance(sum(1 for (s, k) in outputs if k < target))
    try:
        while True:
            tasks = [
                (s, k)
                for k in range(target)
                for s in scenarios
                if (s.name, k) not in outputs
                and not any(f.scenario == s.name and f.replication == k for f in failures)
            ]
            if dask is not None:
                stream = _dask(tasks, controls, dask, controls.workers)
            elif workers <= 1 or len(tasks) <= 1:
                stream = _serial(tasks, controls)
            else:
                stream = _processes(tasks, controls, min(workers, len(tasks)))
            for res in stream:
                if isinstance(res, Failure):
                    failures.append(res)
                    bar.note(f"replication {res.replication} of {res.scenario} failed")
                    bar.advance(1)
                    continue
                outputs[(res.scenario, res.replication)] = res.kpis
                if out is not None:
                    _write_part(out, res)
                if on_output is not None:
                    on_output(res)
                bar.advance(1, _half_width_text(outputs, names[0]))
            if precision is None or target >= max_replications:
                break
            need = _replications_for(outputs, names, precision_kpis, precision)
            if need <= target:
                break
            new_target = min(max(need, target + 1), max_replications)
            bar.extend(len(scenarios) * (new_target - target))
            target = new_target
    finally:
        bar.close()

    reps = _replications_frame(outputs, names)
    summary = summarise(reps, [c for c in reps.columns if c not in ("scenario", "replication")])
    timings = {"wall_seconds": time.perf_counter() - started}
    if out is not None:
        _finish_folder(out, reps, summary, names, len(scenarios) == 1)
        manifest.update(
            status="complete" if not failures else "complete_with_failures",
            replications=target,
            timings=timings,
            failures=[f.__dict__ for f in failures],
        )
        io.write_json(out / io.MANIFEST, manifest)
    result = ExperimentResult(reps, summary, failures, out, timings)
    if failures and not outputs:
        f = failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    return result


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


def _half_width_text(outputs: dict[tuple[str, int], dict[str, float]], name: str) -> str:
    vals = [v.get(MAIN_KPI, float("nan")) for (s, _), v in outputs.items() if s == name]
    hw = relative_half_width(vals)
    return "" if hw != hw else f"{MAIN_KPI} ±{hw:.1%}"


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


def _load_parts(out: Path, names: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    found: dict[tuple[str, int], dict[str, float]] = {}
    for name in names:
        folder = out / io.PARTS / name
        for f in sorted(folder.glob("rep_*.json")):
            try:
                data = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            k = int(data["replication"])
            if all(p.exists() for p in io.part_paths(out, name, k).values()):
                found[(name, k)] = {key: float(v) for key, v in data["kpis"].items()}
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


def _manifest(
    scenarios: list[Scenario],
    controls: RunControls,
    fp: str,
    files: dict[str, str] | None,
    dask: str | None,
    workers: int,
) -> dict[str, Any]:
    return {
        "tool": "nen-pathway",
        "status": "running",
        "fingerprint": fp,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "controls": {
            **controls.model_dump(mode="json"),
            "warmup_days": controls.warmup_days,
            "horizon_days": controls.horizon_days,
        },
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
    }


class _Progress:
    """A rich progress bar on a terminal; silent otherwise."""

    def __init__(self, show: bool, total: int):
        self._bar = None
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("replications"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[hw]}"),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("run", total=total, hw="")

    def advance(self, n: int, text: str | None = None) -> None:
        if self._bar is not None and n:
            if text is None:
                self._bar.update(self._task, advance=n)
            else:
                self._bar.update(self._task, advance=n, hw=text)

    def extend(self, n: int) -> None:
        if self._bar is not None:
            task = self._bar.tasks[0]
            self._bar.update(self._task, total=(task.total or 0) + n)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
