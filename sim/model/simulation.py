"""One replication: ``simulate(scenario, replication, controls) -> RunResult``.

A pure function of its arguments: it builds the context (environment, streams, resources, log),
generates the population and its clocks, starts one process per patient at their first
presentation, runs to the horizon and returns plain arrays (no SimPy objects), so results can
cross process boundaries cheaply and KPIs can be computed anywhere.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.core.calendar import Calendar
from sim.core.events import EventLog
from sim.core.streams import Streams
from sim.model.context import Patient, SimContext, patient_rows
from sim.model.natural_history import draw_clocks
from sim.model.pathway import patient_journey
from sim.model.population import generate_population
from sim.model.resources import Resource, kind_of
from sim.scenario.schema import (
    REGIONS,
    ResourceSpec,
    RunControls,
    Scenario,
)


@dataclass(frozen=True)
class ResourceInfo:
    """What a resource id in the event log stands for."""

    rid: int
    name: str
    """Full name, e.g. ``specialist_mdt.north_west`` or ``prrt``."""
    base: str
    """Resource name in the scenario, e.g. ``specialist_mdt``."""
    region: str | None
    kind: str
    capacity: float | None
    """Slots per session (sessions; fractional below full scale), servers (servers), None
    (unlimited or delay)."""
    per_week: int = 1
    """How many times a week the capacity is offered (sessions a week; 1 for a pool)."""


@dataclass
class RunResult:
    """Everything one replication produced, as plain data."""

    scenario: str
    replication: int
    seed: int
    warmup_days: float
    horizon_days: float
    population_scale: float
    events: dict[str, NDArray[Any]]
    patients: dict[str, NDArray[Any]]
    resources: list[ResourceInfo]
    n_generated: int
    sim_events: int
    """SimPy events scheduled during the run (for benchmarks)."""
    pending_events: int
    """Events still scheduled at the horizon: processes waiting (for benchmarks)."""
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    policy_start_days: float = 0.0
    """When the run switched from its base to this scenario (0: it ran as itself from t = 0)."""


def _instances(scenario: Scenario) -> Iterator[tuple[str, ResourceSpec, int | None]]:
    """Every resource instance in rid order: ``(base, spec, region index or None)``; one per
    region (scope ``region``) or one for England (scope ``national``)."""
    for base, spec in scenario.resources:
        scope = getattr(spec, "scope", "national")
        regions: list[int | None] = list(range(len(REGIONS))) if scope == "region" else [None]
        for r in regions:
            yield base, spec, r


def resource_infos(scenario: Scenario) -> list[ResourceInfo]:
    """What each resource id of a run of ``scenario`` stands for (rid = position)."""
    infos: list[ResourceInfo] = []
    scale = scenario.population.population_scale
    for base, spec, r in _instances(scenario):
        kind = kind_of(spec)
        rname = None if r is None else REGIONS[r]
        name = base if r is None else f"{base}.{rname}"
        capacity = kind.run_capacity(kind.capacity(spec, rname), scale)
        infos.append(
            ResourceInfo(len(infos), name, base, rname, kind.name, capacity, kind.per_week(spec))
        )
    return infos


def build_resources(
    env: simpy.Environment,
    scenario: Scenario,
    calendar: Calendar,
    streams: Streams,
    log: EventLog,
) -> tuple[dict[tuple[str, int], Resource], list[ResourceInfo]]:
    """One resource per region (scope ``region``) or one for England (scope ``national``)."""
    table: dict[tuple[str, int], Resource] = {}
    infos = resource_infos(scenario)
    scale = scenario.population.population_scale
    for info, (base, spec, r) in zip(infos, _instances(scenario), strict=True):
        rng = streams.get(f"resource/{info.name}")
        res = kind_of(spec).build(
            env, log, info.rid, info.name, calendar, rng, spec, info.region, scale
        )
        for rr in range(len(REGIONS)) if r is None else [r]:
            table[(base, rr)] = res
    return table, infos


# ---------------------------------------------------------------------------------------------
# Policy start: a scenario's differences from its base take effect at a time
# ---------------------------------------------------------------------------------------------

SWITCHED_SECTIONS = ("diagnostics", "mdt", "resources", "treatment", "follow_up")
"""Sections read as the pathway runs: a policy start switches them. Everything else that the
simulation reads is drawn for each patient before the run (population, natural history,
survival, the presentation clocks) and must be the base's, except the two presentation tables
the pathway reads at each step (``presentation.gp``, ``presentation.resected_at_presentation``).
``economics`` is read by the measures only."""

_PRESENTATION_SWITCHED = ("gp", "resected_at_presentation")


def policy_differences(base: Scenario, scenario: Scenario) -> list[str]:
    """Keys (dotted) where ``scenario`` differs from ``base`` in what is drawn before the run
    or in a resource's kind or scope: what a policy start cannot switch. Empty: it can."""
    keys: list[str] = []
    if scenario.start_date != base.start_date:
        keys.append("start_date")
    for section in ("population", "natural_history", "survival"):
        if getattr(scenario, section) != getattr(base, section):
            keys.append(section)
    for name in type(base.presentation).model_fields:
        if name not in _PRESENTATION_SWITCHED and getattr(scenario.presentation, name) != getattr(
            base.presentation, name
        ):
            keys.append(f"presentation.{name}")
    for (name, old), (_, new) in zip(base.resources, scenario.resources, strict=True):
        if type(old) is not type(new) or getattr(old, "scope", None) != getattr(new, "scope", None):
            keys.append(f"resources.{name}.kind/scope")
    return keys


def switches(base: Scenario | None, scenario: Scenario, controls: RunControls) -> bool:
    """Whether ``scenario`` runs as ``base`` until the policy start and switches there.

    No base, a policy start at 0, or a scenario that says its differences hold from t = 0
    (``policy_from_start``): it runs under its own rules from t = 0, as a scenario always did
    before policy starts (and as ``nenpath run`` runs one scenario).
    """
    return base is not None and controls.policy_start_days > 0.0 and not scenario.policy_from_start


def switch_policy(ctx: SimContext, scenario: Scenario) -> None:
    """At a policy start: the pathway reads ``scenario`` from now on, and every resource whose
    specification changed takes its new settings (:meth:`SlottedService.reconfigure`...).

    Patients in the middle of the pathway carry on under the new rules from their next step;
    what was drawn for each patient (clocks, uniforms) stays drawn, so common random numbers
    hold across scenarios. A resource whose specification is unchanged is not touched, so a
    scenario identical to its base continues exactly as the base does.
    """
    old = ctx.scenario
    ctx.switch_scenario(scenario)
    scale = scenario.population.population_scale
    done: set[int] = set()
    for base, spec, r in _instances(scenario):
        if getattr(old.resources, base) == spec:
            continue
        res = ctx.resources[(base, 0 if r is None else r)]
        if id(res) in done:
            continue
        done.add(id(res))
        kind_of(spec).reconfigure(res, spec, None if r is None else REGIONS[r], scale)


@dataclass
class _Run:
    """One replication's live state: what :func:`_start` builds and :func:`_advance` moves on."""

    ctx: SimContext
    log: EventLog
    resources: dict[tuple[str, int], Resource]
    pop: Any
    clocks: Any
    ids: NDArray[np.int64]
    und: NDArray[np.float64]
    unseen: NDArray[np.bool_]
    horizon: float
    started: float


def _start(scenario: Scenario, replication: int, controls: RunControls) -> _Run:
    """Build replication ``replication`` of ``scenario`` at t = 0: the population, its clocks,
    the resources and one process per patient, ready to run."""
    started = time.perf_counter()
    horizon = controls.horizon_days
    streams = Streams(controls.seed, replication)
    pop, draws = generate_population(scenario.population, streams, horizon)
    clocks = draw_clocks(
        pop, draws, scenario.natural_history, scenario.presentation, scenario.survival
    )
    env = simpy.Environment()
    log = EventLog()
    calendar = Calendar(scenario.start_date)
    resources, _ = build_resources(env, scenario, calendar, streams, log)
    ctx = SimContext(env, scenario, calendar, streams, draws, log, resources)

    first = clocks.first_presentation
    arrive = (
        (first >= 0)
        & (first < horizon)
        & (first < clocks.t_undiagnosed_death)
        & (first < clocks.t_other_death)
    )
    # NEN deaths of people never seen by health services (death-certificate-only registrations)
    und = clocks.t_undiagnosed_death
    unseen = ~arrive & (und < clocks.t_other_death) & (und <= first) & (und >= 0) & (und <= horizon)
    ids = np.flatnonzero(arrive)
    ids = ids[np.argsort(first[ids], kind="stable")]
    draws.keep_only(ids)
    env.process(_arrivals(ctx, ids, first[ids].tolist(), patient_rows(ids, pop, clocks)))
    env.process(_compact_log(env, log))
    return _Run(ctx, log, resources, pop, clocks, ids, und, unseen, horizon, started)


def _advance(run: _Run, until: float, *, collect: bool = True) -> None:
    """Run the event loop to ``until`` (``collect=False`` in a forked branch: a collection
    would touch every object and copy the parent's whole memory)."""
    with _no_cyclic_gc(collect=collect):
        run.ctx.env.run(until=until)


def _finish(
    run: _Run, scenario: Scenario, replication: int, controls: RunControls, policy_start: float
) -> RunResult:
    """The run at its horizon as plain arrays (no SimPy objects)."""
    horizon, pop, clocks, ids, env = run.horizon, run.pop, run.clocks, run.ids, run.ctx.env
    for res in {id(r): r for r in run.resources.values()}.values():
        res.flush(horizon)
    ev = run.log.arrays()
    keep = np.asarray(ev["time"]) <= horizon
    events = {k: v[keep] for k, v in ev.items()}
    patients: dict[str, NDArray[Any]] = {
        "patient": ids.astype(np.int32),
        "region": pop.region[ids],
        "site": pop.site[ids],
        "grade": pop.grade[ids],
        "functional": pop.functional[ids],
        "sstr_positive": pop.sstr_positive[ids],
        "age_at_onset": pop.age[ids],
        "female": pop.female[ids],
        "men1": pop.men1[ids],
        "onset_time": pop.onset[ids],
        "stage_at_onset": clocks.stage_at_onset[ids],
        "symptomatic": np.isfinite(clocks.t_gp[ids]),
    }
    return RunResult(
        scenario=scenario.name,
        replication=replication,
        seed=controls.seed,
        warmup_days=controls.measure_start_days,
        horizon_days=horizon,
        population_scale=scenario.population.population_scale,
        events=events,
        patients=patients,
        resources=resource_infos(scenario),
        n_generated=pop.n,
        sim_events=_events_processed(env),
        pending_events=len(getattr(env, "_queue", ())),
        wall_seconds=time.perf_counter() - run.started,
        extra={
            "unseen_nen_death_time": run.und[run.unseen],
            "unseen_nen_death_region": pop.region[run.unseen],
        },
        policy_start_days=policy_start,
    )


def simulate(
    scenario: Scenario,
    replication: int,
    controls: RunControls,
    base: Scenario | None = None,
) -> RunResult:
    """Run one replication of ``scenario`` to ``controls.horizon_days``.

    Parameters
    ----------
    scenario:
        The validated scenario.
    replication:
        Replication number (0-based); with ``controls.seed`` it fixes every random stream.
    controls:
        Run controls (seed, measured years, warm-up, policy start).
    base:
        The scenario it is compared with. If given (and :func:`switches` holds), the run *is*
        ``base`` until ``controls.policy_start_days`` and ``scenario`` from then on
        (:func:`switch_policy`); without one it is ``scenario`` from t = 0.
    """
    if base is None or not switches(base, scenario, controls):
        run = _start(scenario, replication, controls)
        _advance(run, run.horizon)
        return _finish(run, scenario, replication, controls, 0.0)
    out = simulate_branches(base, [scenario], replication, controls, fork=False)[0]
    if isinstance(out, BranchFailed):
        raise RuntimeError(out.traceback)
    assert isinstance(out, RunResult)
    return out


@dataclass(frozen=True)
class BranchFailed:
    """A branch that raised (its traceback as text); the other branches are unaffected."""

    scenario: str
    traceback: str


def fork_available() -> bool:
    """Whether branches can share their prefix by ``os.fork()`` (Linux, macOS; not Windows)."""
    return hasattr(os, "fork")


def simulate_branches(
    base: Scenario,
    scenarios: list[Scenario],
    replication: int,
    controls: RunControls,
    *,
    fork: bool,
    reduce: Callable[[Scenario, RunResult], Any] | None = None,
) -> list[Any]:
    """Replication ``replication`` of each of ``scenarios``, all branched from ``base`` at the
    policy start: the shared history (``base`` from t = 0 to ``controls.policy_start_days``),
    then each scenario on its own (:func:`switch_policy`) to the horizon.

    With ``fork=True`` the shared history is simulated once; at the policy start the process
    forks once per scenario (one child at a time): each child holds a copy-on-write copy of the
    whole simulation state (SimPy's processes are generators, which cannot be copied or
    pickled), switches, runs on and sends back ``reduce(scenario, result)`` (default: the
    :class:`RunResult`) pickled through a pipe, then exits. With ``fork=False`` every branch
    simulates the shared history again. Both run the same steps in the same order from the
    same streams (the prefix is a pure function of base, seed and replication), so they give
    byte-identical results. Returns one item per scenario, in order; a branch that raised
    gives a :class:`BranchFailed` in its place.
    """
    reduce_ = reduce if reduce is not None else (lambda _s, r: r)
    policy_start = controls.policy_start_days
    if not 0.0 < policy_start < controls.horizon_days:
        raise ValueError(f"the policy start must lie inside the run, got {policy_start} days")
    if fork and not fork_available():
        fork = False
    if not fork:
        out: list[Any] = []
        for scenario in scenarios:
            run: _Run | None = _start(base, replication, controls)
            assert run is not None
            _advance(run, policy_start)
            out.append(_branch(run, scenario, replication, controls, reduce_))
            run = None  # free this branch before the next one is built
        return out
    run = _start(base, replication, controls)
    _advance(run, policy_start)
    return [_forked(run, s, replication, controls, reduce_) for s in scenarios]


def _branch(
    run: _Run,
    scenario: Scenario,
    replication: int,
    controls: RunControls,
    reduce: Callable[[Scenario, RunResult], Any],
) -> Any:
    """From the policy start: switch to ``scenario``, run to the horizon, reduce.

    No garbage collection at the switch, in either path: the earlier garbage was collected
    when the prefix started, and a collection here would only walk the live prefix (in a
    forked child, touching every object would also copy the parent's memory)."""
    try:
        switch_policy(run.ctx, scenario)
        _advance(run, run.horizon, collect=False)
        result = _finish(run, scenario, replication, controls, controls.policy_start_days)
        return reduce(scenario, result)
    except Exception:
        return BranchFailed(scenario.name, traceback.format_exc())


def _forked(
    run: _Run,
    scenario: Scenario,
    replication: int,
    controls: RunControls,
    reduce: Callable[[Scenario, RunResult], Any],
) -> Any:
    """One branch in a forked child; the parent keeps the prefix for the next branch."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when a process with threads forks (a process-pool or Dask worker
        # has a few): another thread may hold a lock the child then waits for. The child here
        # only simulates, writes to its pipe and leaves with os._exit: it takes no lock of
        # those threads (logging, executors, the event loop), and glibc's malloc is fork-safe.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read_fd)
            gc.disable()
            out = _branch(run, scenario, replication, controls, reduce)
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return BranchFailed(
            scenario.name,
            f"the branch of {scenario.name} (replication {replication}) forked at the policy "
            f"start ended without a result (wait status {status}: killed, or out of memory)\n",
        )
    return pickle.loads(data)


def _arrivals(
    ctx: SimContext, ids: NDArray[np.int64], times: list[float], rows: Iterator[tuple[Any, ...]]
) -> Generator[simpy.Event, Any, None]:
    """Start each patient's journey at their first presentation (``ids`` in time order)."""
    env = ctx.env
    for pid, t, row in zip(ids.tolist(), times, rows, strict=True):
        if t > env.now:
            yield env.timeout(t - env.now)
        env.process(patient_journey(ctx, Patient(pid, row)))


@contextlib.contextmanager
def _no_cyclic_gc(collect: bool = True) -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while the event loop runs.

    A national run holds millions of live objects (log records, patients, pending events); the
    collector would rescan them again and again, making the run's cost grow faster than its
    length (measured: 48 s -> 31 s for a national 20-year replication). Nothing in the loop
    relies on collecting cycles. The garbage of earlier replications in the same process is
    collected first (about 0.1 s at a quarter of England): left to the collector's thresholds
    it could survive into this run, and a process simulating replication after replication
    grew by 55 MB a replication at half of England; with the collection it stays flat.
    """
    was_enabled = gc.isenabled()
    if was_enabled and collect:
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compact_log(env: simpy.Environment, log: EventLog) -> Generator[simpy.Event, Any, None]:
    """Every simulated quarter, move the log's records into compact numpy storage."""
    while True:
        yield env.timeout(LOG_COMPACT_DAYS)
        log.compact()


LOG_COMPACT_DAYS = 91.0


def _events_processed(env: simpy.Environment) -> int:
    """SimPy events scheduled so far (its event-id counter); for benchmarks only."""
    eid = getattr(env, "_eid", None)
    try:
        return int(next(eid)) if eid is not None else -1
    except TypeError:
        return -1
