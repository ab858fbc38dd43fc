"""What every resource kind shares: the request protocol, waiting cases and their queue."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

import simpy
from simpy.events import NORMAL, EventPriority

from sim.core.events import ROW_PACK, EventKind, EventLog

# Event kinds bound once: looking up an IntEnum member costs about 80 ns on Python 3.11.
(
    EV_LEFT_QUEUE,
    EV_QUEUE_JOIN,
    EV_SERVICE_END,
    EV_SERVICE_START,
    EV_SESSION_END,
    EV_SESSION_START,
) = (
    EventKind.LEFT_QUEUE,
    EventKind.QUEUE_JOIN,
    EventKind.SERVICE_END,
    EventKind.SERVICE_START,
    EventKind.SESSION_END,
    EventKind.SESSION_START,
)

INF = math.inf
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
