"""One replication: ``simulate(scenario, replication, controls) -> RunResult``.

A pure function of its arguments: it builds the context (environment, streams, resources, log),
generates the population and its clocks, starts one process per patient at their first
presentation, runs to the horizon and returns plain arrays (no SimPy objects), so results can
cross process boundaries cheaply and KPIs can be computed anywhere.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Generator, Iterator
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
from sim.model.resources import DelayService, Resource, ServerPool, SlottedService
from sim.scenario.schema import (
    CASE_CLASSES,
    REGIONS,
    Delay,
    RunControls,
    Scenario,
    Servers,
    Sessions,
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
    sessions_per_week: int = 0


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


def scaled_slots(slots: int | None, scale: float) -> float | None:
    """Slots per session for a run at ``population_scale``: demand scales, so capacity does
    too, exactly (a fractional number of slots is spread over sessions by SlottedService)."""
    return None if slots is None else slots * scale


def scaled_capacity(capacity: int | None, scale: float) -> int | None:
    """Servers for a run at ``population_scale``: demand scales, so capacity does too.

    Rounded to the nearest whole server, and never below one where there was any, so a small
    test run keeps every resource (its queueing is coarser than England's).
    """
    if capacity is None or scale == 1.0:
        return capacity
    if capacity == 0:
        return 0
    return max(1, round(capacity * scale))


def build_resources(
    env: simpy.Environment,
    scenario: Scenario,
    calendar: Calendar,
    streams: Streams,
    log: EventLog,
) -> tuple[dict[tuple[str, int], Resource], list[ResourceInfo]]:
    """One resource per region (scope ``region``) or one for England (scope ``national``)."""
    table: dict[tuple[str, int], Resource] = {}
    infos: list[ResourceInfo] = []
    scale = scenario.population.population_scale
    class_rank = {c: i for i, c in enumerate(CASE_CLASSES)}
    for base, spec in scenario.resources:
        scope = getattr(spec, "scope", "national") if not isinstance(spec, Delay) else "national"
        regions: list[int | None] = list(range(len(REGIONS))) if scope == "region" else [None]
        for r in regions:
            rid = len(infos)
            name = base if r is None else f"{base}.{REGIONS[r]}"
            rname = None if r is None else REGIONS[r]
            rng = streams.get(f"resource/{name}")
            res: Resource
            if isinstance(spec, Sessions):
                slots = scaled_slots(spec.slots_for(rname), scale)
                res = SlottedService(
                    env,
                    log,
                    rid,
                    name,
                    calendar,
                    [(s.weekday, s.hour) for s in spec.sessions],
                    slots,
                    rng,
                    cancel_probability=spec.cancel_probability,
                    results_cutoff_days=spec.results_cutoff_days,
                    skip_bank_holidays=spec.skip_bank_holidays,
                    priority=spec.priority,
                    class_order=[class_rank[c] for c in spec.class_order],
                    escalation_days=spec.escalation_days,
                )
                info = ResourceInfo(rid, name, base, rname, "sessions", slots, len(spec.sessions))
            elif isinstance(spec, Servers):
                # Validation refuses a pool without servers (sim.scenario.schema.ServerCount), and
                # scaling keeps at least one: nothing is silently replaced here.
                c = scaled_capacity(spec.servers_for(rname), scale)
                assert c is not None and c >= 1
                res = ServerPool(
                    env,
                    log,
                    rid,
                    name,
                    c,
                    spec.service_days.sample1,
                    rng,
                    priority=spec.priority,
                    class_order=[class_rank[k] for k in spec.class_order],
                    schedule=None
                    if spec.schedule is None
                    else [(s.weekday, s.hour, round(s.share * c)) for s in spec.schedule],
                )
                info = ResourceInfo(rid, name, base, rname, "servers", c)
            else:
                assert isinstance(spec, Delay)
                res = DelayService(env, log, rid, name, spec.wait_days.sample1, rng)
                info = ResourceInfo(rid, name, base, rname, "delay", None)
            infos.append(info)
            for rr in range(len(REGIONS)) if r is None else [r]:
                table[(base, rr)] = res
    return table, infos


def simulate(scenario: Scenario, replication: int, controls: RunControls) -> RunResult:
    """Run one replication of ``scenario`` to ``controls.horizon_days``.

    Parameters
    ----------
    scenario:
        The validated scenario.
    replication:
        Replication number (0-based); with ``controls.seed`` it fixes every random stream.
    controls:
        Run controls (seed, measured years, warm-up).
    """
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
    resources, infos = build_resources(env, scenario, calendar, streams, log)
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
    with _no_cyclic_gc():
        env.run(until=horizon)
    for res in {id(r): r for r in resources.values()}.values():
        res.flush(horizon)

    ev = log.arrays()
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
        warmup_days=controls.warmup_days,
        horizon_days=horizon,
        population_scale=scenario.population.population_scale,
        events=events,
        patients=patients,
        resources=infos,
        n_generated=pop.n,
        sim_events=_events_processed(env),
        pending_events=len(getattr(env, "_queue", ())),
        wall_seconds=time.perf_counter() - started,
        extra={
            "unseen_nen_death_time": und[unseen],
            "unseen_nen_death_region": pop.region[unseen],
        },
    )


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
def _no_cyclic_gc() -> Iterator[None]:
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
    if was_enabled:
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
