"""What every resource kind shares: the request protocol, waiting cases and their queue."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol

import numpy as np
import simpy
from numpy.typing import NDArray
from simpy.events import NORMAL, EventPriority

from sim.core.calendar import Calendar
from sim.core.events import ROW_PACK, EventKind, EventLog
from sim.scenario.schema import CASE_CLASSES

# Event kinds bound once: looking up an IntEnum member costs about 80 ns on Python 3.11.
(
    EV_CAPACITY_CHANGE,
    EV_LEFT_QUEUE,
    EV_QUEUE_JOIN,
    EV_SERVICE_END,
    EV_SERVICE_START,
    EV_SESSION_END,
    EV_SESSION_START,
) = (
    EventKind.CAPACITY_CHANGE,
    EventKind.LEFT_QUEUE,
    EventKind.QUEUE_JOIN,
    EventKind.SERVICE_END,
    EventKind.SERVICE_START,
    EventKind.SESSION_END,
    EventKind.SESSION_START,
)

INF = math.inf
CLASS_RANK = {c: i for i, c in enumerate(CASE_CLASSES)}
"""Case-class code of each case class (the order of :data:`sim.scenario.schema.CASE_CLASSES`)."""
_LATE = EventPriority(NORMAL + 1)
"""SimPy priority processed after every normal event due at the same time."""


class LateTimeout(simpy.Event):
    """A timeout processed after every normal event due at the same instant.

    Built like :class:`simpy.events.Timeout` (an event that is already ``ok`` and is put on the
    queue with a delay), but with a lower priority, so that work scheduled for the same time,
    even later in the run (a case listed at the instant of a meeting), comes first.
    """

    def __init__(self, env: simpy.Environment, delay: float):
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, _LATE, delay)


class FailsAfter(simpy.Event):
    """An event that fails with ``exc`` after ``delay``: a timeout (scheduled as SimPy
    schedules one) whose waiting process gets the exception instead of a value."""

    def __init__(self, env: simpy.Environment, delay: float, exc: Exception):
        super().__init__(env)
        self._ok = False
        self._value = exc
        env.schedule(self, NORMAL, delay)


class Resource(Protocol):
    rid: int
    name: str

    def request(
        self,
        patient: int,
        case_class: int = 0,
        *,
        deadline: float = INF,
        leave_time: float = INF,
        u: float | None = None,
        died: type[Exception] | None = None,
    ) -> simpy.Event: ...

    def flush(self, horizon: float) -> None: ...


class Case:
    __slots__ = (
        "case_class",
        "deadline",
        "died",
        "done",
        "event",
        "leave_time",
        "list_time",
        "patient",
        "seq",
        "u",
    )

    def __init__(
        self,
        seq: int,
        patient: int,
        case_class: int,
        list_time: float,
        deadline: float,
        leave_time: float,
        event: simpy.Event,
        u: float | None,
        died: type[Exception] | None = None,
    ):
        self.seq = seq
        self.patient = patient
        self.case_class = case_class
        self.list_time = list_time
        self.deadline = deadline
        self.leave_time = leave_time
        self.event = event
        self.u = u
        self.died = died
        """If given, the event fails with this exception where it would succeed with False
        (the patient left unserved), and also where a service ends at or after ``leave_time``:
        the waiting process gets it raised without checking the outcome itself. A served
        case's event then succeeds with None, not True (a process waiting with
        ``yield from (event,)`` can only be sent None)."""
        self.done = False


def static_key(priority: str, class_order: list[int]) -> Callable[[Case], tuple[float, ...]]:
    """The queue order of a case, fixed when it is listed (unique: it ends with ``seq``).

    Escalation (the only order that changes with time) is handled apart, see SlottedService.
    """
    rank = {c: i for i, c in enumerate(class_order)}
    if priority == "fifo":
        return lambda c: (c.list_time, c.seq)
    if priority == "deadline":
        return lambda c: (c.deadline, c.list_time, c.seq)
    if priority == "class":
        return lambda c: (rank.get(c.case_class, len(rank)), c.list_time, c.seq)
    raise ValueError(f"unknown priority rule {priority!r}")


class WaitingQueue:
    """Waiting cases in priority order: a heap of static keys with lazy removal.

    A case whose patient has died is dropped when it reaches the front (recorded as LEFT_QUEUE
    at the time of death, so queue lengths rebuilt from the log are right at every moment) or
    when the run ends (:meth:`flush`). Every operation is O(log n), so an overloaded resource
    with thousands waiting costs no more per session than a quiet one.
    """

    __slots__ = ("_heap", "_key")

    def __init__(self, key: Callable[[Case], tuple[float, ...]]):
        self._key = key
        self._heap: list[tuple[tuple[float, ...], Case]] = []

    def push(self, case: Case) -> None:
        heapq.heappush(self._heap, (self._key(case), case))

    def pop(self) -> Case | None:
        """The first waiting case (skipping those already taken elsewhere), or None."""
        heap = self._heap
        while heap:
            case = heapq.heappop(heap)[1]
            if not case.done:
                return case
        return None

    def cases(self) -> list[Case]:
        return [c for _, c in self._heap if not c.done]


class ClassQueue:
    """Waiting cases in the order of the ``fifo`` and ``class`` rules, one FIFO lane per class
    rank: the same order as :class:`WaitingQueue` with :func:`static_key`, without building a
    key and sifting a heap for every case.

    Cases must be pushed in listing order (``list_time``, then ``seq``), as a resource lists
    them; :func:`waiting_queue` re-pushes a queue's cases sorted so. Taken cases (``done``)
    are skipped when they reach the front, as in :class:`WaitingQueue`.
    """

    __slots__ = ("_lanes", "_rank")

    def __init__(self, priority: str, class_order: list[int]):
        if priority == "fifo":
            self._rank: dict[int, int] | None = None
            self._lanes: list[deque[Case]] = [deque()]
        elif priority == "class":
            self._rank = {c: i for i, c in enumerate(class_order)}
            self._lanes = [deque() for _ in range(len(self._rank) + 1)]
        else:
            raise ValueError(f"a class queue orders by fifo or class, not {priority!r}")

    def push(self, case: Case) -> None:
        rank = self._rank
        if rank is None:
            self._lanes[0].append(case)
        else:
            self._lanes[rank.get(case.case_class, len(rank))].append(case)

    def pop(self) -> Case | None:
        """The first waiting case (skipping those already taken elsewhere), or None."""
        for lane in self._lanes:
            while lane:
                case = lane.popleft()
                if not case.done:
                    return case
        return None

    def cases(self) -> list[Case]:
        return [c for lane in self._lanes for c in lane if not c.done]


def waiting_queue(
    priority: str, class_order: list[int], cases: Iterable[Case] = ()
) -> ClassQueue | WaitingQueue:
    """An empty queue for a priority rule, or one holding ``cases`` (at a policy start)."""
    queue: ClassQueue | WaitingQueue
    if priority in ("fifo", "class"):
        queue = ClassQueue(priority, class_order)
    else:
        queue = WaitingQueue(static_key(priority, class_order))
    for case in sorted(cases, key=lambda c: (c.list_time, c.seq)):
        queue.push(case)
    return queue


def drop_dead(case: Case, log: EventLog, rid: int) -> None:
    """The patient died while waiting: record it at the time of death and release them."""
    case.done = True
    log.write(ROW_PACK(case.leave_time, case.patient, EV_LEFT_QUEUE, rid, case.case_class))
    if case.died is None:
        case.event.succeed(False)
    else:
        case.event.fail(case.died())


# ---------------------------------------------------------------------------------------------
# A resource kind, declared once
# ---------------------------------------------------------------------------------------------


class ResourceKind:
    """One kind of capacity (``kind = "..."`` in a scenario's ``[resources]``), declared once in
    its own module: how it is built from the scenario and switched at a policy start, its
    capacity knob (the scenario key, unit, least value and how it scales with a run's
    population), how its use is counted from the event log, and its words in the report.

    The simulation (:mod:`sim.model.simulation`), the capacity KPIs
    (:func:`sim.measures.kpis.resource_utilisation`), the sizing search
    (:mod:`sim.experiment.sizing`) and the report read a resource only through this
    interface; a new kind is a subclass in a new module plus its schema class
    (:mod:`sim.scenario.schema`), registered in :data:`sim.model.resources.KINDS`.
    """

    name: ClassVar[str]
    """The scenario's ``kind`` value."""
    spec_class: ClassVar[type[Any]]
    """Its schema class in :mod:`sim.scenario.schema`."""
    capacity_key: ClassVar[str | None] = None
    """The scenario key holding its capacity (a number or a table by region); None: it has no
    capacity (a plain delay), so it cannot be sized and has no utilisation."""
    unit: ClassVar[str] = ""
    """The capacity's unit in words (``slots per session``)."""
    weekly_unit: ClassVar[str] = ""
    """What ``capacity x per_week`` counts (``slots a week``)."""
    minimum: ClassVar[int] = 0
    """The least capacity the schema allows."""
    max_utilisation: ClassVar[float] = 1.0
    """The most its utilisation can be (a bound for its confidence interval)."""

    # -- the scenario's capacity ------------------------------------------------------------

    def capacity(self, spec: Any, region: str | None) -> int | None:
        """England-terms capacity of ``region``'s instance (None: national; None returned:
        unlimited)."""
        return None

    def per_week(self, spec: Any) -> int:
        """How many times a week its capacity is offered (sessions a week; 1 for a pool)."""
        return 1

    def run_capacity(self, capacity: int | None, scale: float) -> float | None:
        """The capacity a run at population ``scale`` holds: demand scales, so capacity does."""
        return None

    def search_units(self, capacity: int, scale: float, bound: str = "") -> int:
        """England-terms ``capacity`` -> the whole-number variable a sizing search moves
        (each value a distinct run); a search ``bound`` (``lo``/``hi``) is rounded inwards."""
        raise TypeError(f"a {self.name} resource has no capacity to size")

    def england_units(self, k: int, scale: float) -> int:
        """The search variable ``k`` -> the England-terms capacity that gives it."""
        raise TypeError(f"a {self.name} resource has no capacity to size")

    def capacity_text(self, capacity: int, per_week: int) -> str:
        """``capacity`` in words, e.g. ``3 slots per session (6 a week)``."""
        return f"{capacity} {self.unit}"

    # -- the simulation ---------------------------------------------------------------------

    def build(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        calendar: Calendar,
        rng: np.random.Generator,
        spec: Any,
        region: str | None,
        scale: float,
    ) -> Resource:
        """The running resource for ``region``'s instance (None: the national one)."""
        raise NotImplementedError

    def reconfigure(self, res: Any, spec: Any, region: str | None, scale: float) -> None:
        """At a policy start: ``res`` takes ``spec``'s settings from now on."""
        raise NotImplementedError

    # -- measures ---------------------------------------------------------------------------

    def usage(
        self,
        time: NDArray[np.float64],
        kind: NDArray[np.integer[Any]],
        code: NDArray[np.integer[Any]],
        patient: NDArray[np.integer[Any]],
        capacity: float | None,
        w0: float,
        h: float,
    ) -> tuple[float, float] | None:
        """``(offered, used)`` capacity in the window ``[w0, h]`` from one instance's events
        (arrays of the event log's columns, in log order); None: it has no capacity."""
        return None

    # -- the report -------------------------------------------------------------------------

    def describe(self, spec: Mapping[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
        """How the report's methods section describes a stored ``spec``: a noun phrase and
        ``(label, value)`` items (the report formats the values)."""
        return self.name, []
