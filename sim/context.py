"""The simulation context passed to every process, and the patient record it carries.

:class:`SimContext` bundles the runtime objects of one replication (environment, scenario,
streams, resources, log); the scenario itself stays a pure value. :class:`Patient` is the
pathway's view of one person: fixed attributes and clocks, plus the little state the journey
changes (diagnosed stage, current treatment line, whether a specialist team holds their care).
The helpers here (:func:`hold`, :func:`use`) are the only places a process waits, and both stop
the journey at the patient's death.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from .calendar import Calendar
from .config import REGIONS, Scenario
from .events import EventKind, EventLog
from .natural_history import Clocks
from .population import PopulationArrays
from .resources import Resource
from .streams import PatientDraws, Streams

INF = float("inf")
CLASS_NEW, CLASS_PROGRESSION, CLASS_REVIEW = 0, 1, 2
CAUSE_NEN, CAUSE_OTHER = 0, 1

ProcessGen = Generator[simpy.Event, Any, Any]


class Died(Exception):
    """Raised inside a patient's process when their death comes before what they wait for."""


class Patient:
    """One patient: fixed attributes, pre-drawn clocks and the state the journey changes."""

    __slots__ = (
        "age",
        "clock62_start",
        "death",
        "death_cause",
        "diagnosed_at",
        "female",
        "functional",
        "grade",
        "id",
        "line",
        "line_start",
        "men1",
        "n_gp",
        "onset",
        "region",
        "site",
        "specialist",
        "sstr",
        "stage",
        "t_distant",
        "t_emergency",
        "t_gp",
        "t_incidental",
        "t_other_death",
        "t_regional",
        "t_surveillance",
        "treatment",
    )

    def __init__(self, pid: int, pop: PopulationArrays, clocks: Clocks):
        self.id = pid
        self.region = int(pop.region[pid])
        self.site = int(pop.site[pid])
        self.grade = int(pop.grade[pid])
        self.functional = bool(pop.functional[pid])
        self.sstr = bool(pop.sstr_positive[pid])
        self.age = float(pop.age[pid])
        self.female = bool(pop.female[pid])
        self.men1 = bool(pop.men1[pid])
        self.onset = float(pop.onset[pid])
        self.t_regional = float(clocks.t_regional[pid])
        self.t_distant = float(clocks.t_distant[pid])
        self.t_gp = float(clocks.t_gp[pid])
        self.t_emergency = float(clocks.t_emergency[pid])
        self.t_incidental = float(clocks.t_incidental[pid])
        self.t_surveillance = float(clocks.t_surveillance[pid])
        self.t_other_death = float(clocks.t_other_death[pid])
        und = float(clocks.t_undiagnosed_death[pid])
        self.death = min(self.t_other_death, und)
        self.death_cause = CAUSE_OTHER if self.t_other_death <= und else CAUSE_NEN
        self.n_gp = 0
        self.stage = -1
        self.diagnosed_at = INF
        self.line = 0
        self.specialist = False
        self.clock62_start = INF
        self.treatment = ""
        self.line_start = INF

    def age_at(self, t: float) -> float:
        return self.age + (t - self.onset) / 365.25

    @property
    def region_name(self) -> str:
        return REGIONS[self.region]


@dataclass(frozen=True)
class SimContext:
    """Everything a process needs; built once per replication by :func:`sim.model.simulate`."""

    env: simpy.Environment
    scenario: Scenario
    calendar: Calendar
    streams: Streams
    draws: PatientDraws
    log: EventLog
    resources: dict[tuple[str, int], Resource]
    """Keyed by (resource name, region index); national resources are under every region."""

    def resource(self, name: str, region: int) -> Resource:
        return self.resources[(name, region)]

    def u(self, purpose: str, p: Patient, j: int = 0) -> float:
        """The patient's own *j*-th uniform for ``purpose``."""
        return self.draws.u(purpose, p.id, j)

    def record(
        self, t: float, p: Patient, kind: EventKind, resource: int = -1, code: int = -1
    ) -> None:
        self.log.record(t, p.id, kind, resource, code)


def hold(ctx: SimContext, p: Patient, until: float) -> ProcessGen:
    """Wait until time ``until``; raise :class:`Died` if the patient dies first."""
    env = ctx.env
    if p.death <= until:
        if p.death > env.now:
            yield env.timeout(p.death - env.now)
        raise Died
    if until > env.now:
        yield env.timeout(until - env.now)


def use(
    ctx: SimContext,
    p: Patient,
    name: str,
    case_class: int,
    deadline: float = INF,
    u: float | None = None,
) -> ProcessGen:
    """Queue for resource ``name`` in the patient's region until served; raise
    :class:`Died` if the patient dies while waiting. Returns the resource id."""
    res = ctx.resource(name, p.region)
    served = yield res.request(p.id, case_class, deadline=deadline, leave_time=p.death, u=u)
    if not served or ctx.env.now >= p.death:
        raise Died
    return res.rid


def pick(probs: list[float], u: float) -> int:
    """Index chosen by inversion from probabilities ``probs`` (summing to 1)."""
    acc = 0.0
    for i, q in enumerate(probs):
        acc += q
        if u < acc:
            return i
    return len(probs) - 1
