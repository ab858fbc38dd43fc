"""The simulation context passed to every process, and the patient record it carries.

:class:`SimContext` bundles the runtime objects of one replication (environment, scenario,
streams, resources, log); the scenario itself stays a pure value. :class:`Patient` is the
pathway's view of one person: fixed attributes and clocks, plus the little state the journey
changes (diagnosed stage, current treatment line, whether a specialist team holds their care).
The helpers here (:func:`hold`, :func:`use`) are the only places a process waits, and both stop
the journey at the patient's death.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.core.calendar import Calendar
from sim.core.constants import DAYS_PER_YEAR
from sim.core.distributions import Sampler
from sim.core.events import ROW_PACK, CaseClass, DeathCause, EventKind, EventLog
from sim.core.streams import PatientDraws, Streams
from sim.model.natural_history import Clocks, DiseaseClock
from sim.model.population import PopulationArrays
from sim.model.resources import Resource
from sim.model.resources.base import FailsAfter
from sim.scenario.schema import REGIONS, Scenario

INF = float("inf")
CLASS_NEW, CLASS_PROGRESSION, CLASS_REVIEW = CaseClass.NEW, CaseClass.PROGRESSION, CaseClass.REVIEW
CAUSE_NEN, CAUSE_OTHER = DeathCause.NEN, DeathCause.OTHER

ProcessGen = Generator[simpy.Event, Any, Any]


class Died(Exception):
    """Raised inside a patient's process when their death comes before what they wait for."""


PATIENT_COLUMNS = (
    "region",
    "site",
    "grade",
    "functional",
    "sstr_positive",
    "age",
    "female",
    "men1",
    "onset",
    "t_regional",
    "t_distant",
    "t_gp",
    "t_emergency",
    "t_incidental",
    "t_surveillance",
    "t_other_death",
    "t_undiagnosed_death",
    "survival_ref",
    "untreated_factor",
)
"""Population and clock arrays a :class:`Patient` is built from, in constructor order."""


def patient_rows(ids: Any, pop: PopulationArrays, clocks: Clocks) -> Iterator[tuple[Any, ...]]:
    """One tuple of plain Python values per patient in ``ids`` (vectorised extraction)."""
    cols = [getattr(pop, c) if hasattr(pop, c) else getattr(clocks, c) for c in PATIENT_COLUMNS]
    return zip(*(col[ids].tolist() for col in cols), strict=True)


class Patient:
    """One patient: fixed attributes, pre-drawn clocks and the state the journey changes.

    ``t_regional`` and ``t_distant`` start as the untreated course; curative treatment moves
    them (:func:`sim.model.disease.resect`), and ``death`` follows the disease and its care
    (:func:`sim.model.disease.update_death`)."""

    __slots__ = (
        "age",
        "care_specialist",
        "care_start",
        "clock",
        "clock62_start",
        "cured",
        "death",
        "death_cause",
        "diagnosed_at",
        "echo_done",
        "female",
        "functional",
        "given",
        "grade",
        "id",
        "line",
        "line_start",
        "men1",
        "n_gp",
        "occult",
        "onset",
        "region",
        "row",
        "site",
        "specialist",
        "sstr",
        "sstr_known",
        "stage",
        "survival_ref",
        "t_distant",
        "t_emergency",
        "t_gp",
        "t_incidental",
        "t_other_death",
        "t_regional",
        "t_surveillance",
        "treatment",
    )

    def __init__(self, pid: int, row: tuple[Any, ...]):
        """``row`` holds the values of :data:`PATIENT_COLUMNS` for this patient."""
        self.id = pid
        self.row = -1
        """Where this patient's uniforms are in :class:`PatientDraws` (looked up on first use)."""
        (
            self.region,
            self.site,
            self.grade,
            self.functional,
            self.sstr,
            self.age,
            self.female,
            self.men1,
            self.onset,
            self.t_regional,
            self.t_distant,
            self.t_gp,
            self.t_emergency,
            self.t_incidental,
            self.t_surveillance,
            self.t_other_death,
            und,
            self.survival_ref,
            untreated_factor,
        ) = row
        self.clock = DiseaseClock(self.survival_ref, 1.0 / untreated_factor)
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
        self.care_start = INF
        self.care_specialist = False
        self.cured = False
        self.given = 0
        """Bit set of the treatments given so far (bit i = config.TREATMENTS[i])."""
        self.sstr_known = False
        self.echo_done = -INF
        """When an echocardiogram for carcinoid heart disease is reported (surgery waits)."""
        self.occult = False
        """Whether distant spread is present but was missed by CT/MRI staging."""
        """Whether SSTR status is known from SSTR imaging (Ga-68 PET)."""

    def age_at(self, t: float) -> float:
        return self.age + (t - self.onset) / DAYS_PER_YEAR

    @property
    def region_name(self) -> str:
        return REGIONS[self.region]


@dataclass(frozen=True)
class SimContext:
    """Everything a process needs; built once per replication by
    :func:`sim.model.simulation.simulate`."""

    env: simpy.Environment
    scenario: Scenario
    calendar: Calendar
    streams: Streams
    draws: PatientDraws
    log: EventLog
    resources: dict[tuple[str, int], Resource]
    """Keyed by (resource name, region index); national resources are under every region."""

    def switch_scenario(self, scenario: Scenario) -> None:
        """At a policy start: every process reads ``scenario`` from now on
        (:func:`sim.model.simulation.switch_policy` also reconfigures the resources)."""
        object.__setattr__(self, "scenario", scenario)

    def resource(self, name: str, region: int) -> Resource:
        return self.resources[(name, region)]

    def u(self, purpose: str, p: Patient, j: int = 0) -> float:
        """The patient's own *j*-th uniform for ``purpose``."""
        row = p.row
        if row < 0:
            row = p.row = self.draws.row(p.id)
        try:
            value: float = self.draws.by_purpose[purpose][j][row]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):  # the column's first use
            value = self.draws.view(purpose, j)[row]
        return value

    def draw(self, dist: Sampler, purpose: str, p: Patient, j: int = 0) -> float:
        """A value of ``dist`` from the patient's own *j*-th uniform for ``purpose``."""
        row = p.row  # as in u(), written out: this is the event loop's most frequent call
        if row < 0:
            row = p.row = self.draws.row(p.id)
        try:
            u: float = self.draws.by_purpose[purpose][j][row]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):  # the column's first use
            u = self.draws.view(purpose, j)[row]
        return dist.sample1(u)

    def record(
        self, t: float, p: Patient, kind: EventKind, resource: int = -1, code: int = -1
    ) -> None:
        self.log.write(ROW_PACK(t, p.id, kind, resource, code))


def hold(ctx: SimContext, p: Patient, until: float) -> tuple[simpy.Event, ...]:
    """Wait until time ``until``; raise :class:`Died` if the patient dies first.

    Used as ``yield from hold(ctx, p, until)``: it returns the event to wait for (none if
    ``until`` has come), so a wait costs no generator of its own. If the patient dies first, the
    event fails with :class:`Died` at the death, which SimPy raises in the waiting process
    there; if they are already dead, :class:`Died` is raised at once."""
    env = ctx.env
    now = env.now
    death = p.death
    if death <= until:
        if death > now:
            return (FailsAfter(env, death - now, Died()),)
        raise Died
    if until > now:
        return (env.timeout(until - now),)
    return ()


def use(
    ctx: SimContext,
    p: Patient,
    name: str,
    case_class: int,
    deadline: float = INF,
    u: float | None = None,
) -> tuple[simpy.Event]:
    """Queue for resource ``name`` in the patient's region until served; raise
    :class:`Died` if the patient dies while waiting (or before their service ends).

    Used as ``yield from use(...)``, like :func:`hold`: it returns the resource's event, which
    fails with :class:`Died` if the patient leaves unserved (the resource raises it in the
    waiting process), so a queue costs no generator of its own."""
    res = ctx.resources[name, p.region]
    return (res.request(p.id, case_class, deadline=deadline, leave_time=p.death, u=u, died=Died),)


def pick(probs: Iterable[float], u: float) -> int:
    """Index chosen by inversion from probabilities ``probs`` (summing to 1)."""
    acc = 0.0
    i = -1
    for i, q in enumerate(probs):
        acc += q
        if u < acc:
            return i
    return i
