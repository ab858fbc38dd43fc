"""Capacity as the NHS runs it: weekly slotted sessions, server pools and plain delays.

Every resource offers one call, ``request(patient, case_class, ...) -> simpy.Event``; the event
succeeds with ``True`` when the case has been served (discussed at the meeting, scanned,
reported) or ``False`` if the patient left the queue unserved (died while waiting).

* :class:`SlottedService` - an MDT meeting, a PET list, a PRRT treatment day. A weekly calendar
  of sessions, each with a number of case slots. A case is *listed* when requested; it is
  eligible for a session only if listed at least ``results_cutoff_days`` before it (results
  must be back). At each session the eligible cases are ordered by the priority rule and the
  first ``slots`` are served; the rest roll to the next session. Sessions on bank holidays and
  randomly cancelled sessions are skipped. A session is held after everything else that
  happens at its instant, so a case listed at the very time of the meeting with no cut-off is
  taken at it, whatever the order in which SimPy processes simultaneous events. (Ciw's
  ``Slotted`` schedules, one process per resource rather than per case.)
* :class:`ServerPool` - ``c`` parallel servers with a service time (pathologists reporting
  biopsies with Ki-67); the M/M/c queue of Erlang C when arrivals are Poisson and service
  exponential.
* :class:`DelayService` - no capacity modelled: an exogenous wait (general CT/MRI and
  endoscopy, where NEN patients are a tiny share of demand).

Monitoring goes through the event log only (``_log``): queue joins, service starts and ends,
session starts, ends and cancellations. Queue length, backlog and utilisation over time are
rebuilt from the log (:mod:`sim.measures.kpis`); nothing is tallied here.

Priority rules (``priority``):

``fifo``
    in order of listing.
``class``
    by case class in ``class_order`` (default new diagnoses, then progressions, then routine
    reviews), then by listing time; with ``escalation_days`` set, cases within that many days
    of their 62-day breach date go first.
``deadline``
    earliest breach date first (cases without a deadline last), then listing time.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

import numpy as np
import simpy
from simpy.events import NORMAL, EventPriority

from sim.core.calendar import WEEKDAY_INDEX, Calendar
from sim.core.events import NO_PATIENT, ROW_PACK, EventKind, EventLog

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


class _LateTimeout(simpy.Event):
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
    ) -> simpy.Event: ...

    def flush(self, horizon: float) -> None: ...


class _Case:
    __slots__ = (
        "case_class",
        "deadline",
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
    ):
        self.seq = seq
        self.patient = patient
        self.case_class = case_class
        self.list_time = list_time
        self.deadline = deadline
        self.leave_time = leave_time
        self.event = event
        self.u = u
        self.done = False


def _static_key(priority: str, class_order: list[int]) -> Callable[[_Case], tuple[float, ...]]:
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


class _Queue:
    """Waiting cases in priority order: a heap of static keys with lazy removal.

    A case whose patient has died is dropped when it reaches the front (recorded as LEFT_QUEUE
    at the time of death, so queue lengths rebuilt from the log are right at every moment) or
    when the run ends (:meth:`flush`). Every operation is O(log n), so an overloaded resource
    with thousands waiting costs no more per session than a quiet one.
    """

    __slots__ = ("_heap", "_key")

    def __init__(self, key: Callable[[_Case], tuple[float, ...]]):
        self._key = key
        self._heap: list[tuple[tuple[float, ...], _Case]] = []

    def push(self, case: _Case) -> None:
        heapq.heappush(self._heap, (self._key(case), case))

    def pop(self) -> _Case | None:
        """The first waiting case (skipping those already taken elsewhere), or None."""
        heap = self._heap
        while heap:
            case = heapq.heappop(heap)[1]
            if not case.done:
                return case
        return None

    def cases(self) -> list[_Case]:
        return [c for _, c in self._heap if not c.done]


def _drop(case: _Case, log: EventLog, rid: int) -> None:
    """The patient died while waiting: record it at the time of death and release them."""
    case.done = True
    log.write(ROW_PACK(case.leave_time, case.patient, EV_LEFT_QUEUE, rid, case.case_class))
    case.event.succeed(False)


class SlottedService:
    """Weekly sessions with a fixed number of case slots (``slots=None``: unlimited).

    Parameters
    ----------
    env, log:
        The simulation environment and event log.
    rid, name:
        Resource id (as written to the log) and name (e.g. ``specialist_mdt.north_west``).
    calendar:
        Weekday and bank-holiday arithmetic.
    sessions:
        ``(weekday, hour)`` of each weekly session, e.g. ``[("tue", 13.0)]``.
    slots:
        Cases per session, or ``None`` for unlimited. May be fractional (a run at a reduced
        population scale): session *k* then offers ``floor((k+1) x) - floor(k x)`` slots, so
        the long-run capacity is exact.
    rng:
        Stream for random cancellations (one draw per session, cancelled or not).
    cancel_probability:
        Chance a session is cancelled.
    results_cutoff_days:
        A case must be listed at least this long before a session to be taken.
    skip_bank_holidays:
        Whether sessions on England bank holidays are skipped.
    priority, class_order, escalation_days:
        The priority rule (see module docstring); ``class_order`` as case-class codes.
    """

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        calendar: Calendar,
        sessions: list[tuple[str, float]],
        slots: float | None,
        rng: np.random.Generator,
        cancel_probability: float = 0.0,
        results_cutoff_days: float = 0.0,
        skip_bank_holidays: bool = True,
        priority: str = "fifo",
        class_order: list[int] | None = None,
        escalation_days: float | None = None,
    ):
        self.env = env
        self._log = log
        self.rid = rid
        self.name = name
        self._calendar = calendar
        self._offsets = Calendar.week_offsets(sessions)
        self.slots = slots
        self._rng = rng
        self.cancel_probability = cancel_probability
        self.cutoff = results_cutoff_days
        self.skip_bank_holidays = skip_bank_holidays
        self._pending: deque[_Case] = deque()
        """Listed, results not yet back (in listing order, so in eligibility order)."""
        self._ready = _Queue(_static_key(priority, class_order or [0, 1, 2]))
        self._escalation = escalation_days if priority == "class" else None
        self._by_deadline = _Queue(lambda c: (c.deadline, c.seq))
        self._urgent = _Queue(lambda c: (c.list_time, c.seq))
        self._seq = 0
        self._generation = 0
        """Bumped when the calendar changes at a policy start: the old session loop ends."""
        env.process(self._run())

    def reconfigure(
        self,
        sessions: list[tuple[str, float]],
        slots: float | None,
        cancel_probability: float,
        results_cutoff_days: float,
        skip_bank_holidays: bool,
        priority: str,
        class_order: list[int],
        escalation_days: float | None,
    ) -> None:
        """Take a policy's settings from now on (see :func:`sim.model.simulation.switch_policy`).

        Listed cases keep their place: they are re-ordered by the new priority rule, and the
        next session of the new calendar takes them. A changed calendar (sessions, cancellation
        or bank-holiday rule) starts a new session loop from now; the old one ends at its next
        wake-up without holding its session.
        """
        self.slots = slots
        self.cutoff = results_cutoff_days
        offsets = Calendar.week_offsets(sessions)
        if (
            offsets != self._offsets
            or cancel_probability != self.cancel_probability
            or skip_bank_holidays != self.skip_bank_holidays
        ):
            self._offsets = offsets
            self.cancel_probability = cancel_probability
            self.skip_bank_holidays = skip_bank_holidays
            self._generation += 1
            self.env.process(self._run())
        waiting = self._ready.cases()
        self._ready = _Queue(_static_key(priority, class_order))
        for case in waiting:
            self._ready.push(case)
        self._escalation = escalation_days if priority == "class" else None
        self._by_deadline = _Queue(lambda c: (c.deadline, c.seq))
        self._urgent = _Queue(lambda c: (c.list_time, c.seq))
        if self._escalation is not None:
            for case in waiting:
                self._by_deadline.push(case)

    @property
    def waiting(self) -> int:
        """Cases listed and not yet served or dropped."""
        return len(self._pending) + sum(1 for c in self._ready.cases())

    def slots_at(self, k: int) -> int | None:
        """Slots offered by calendar session ``k`` (None: unlimited)."""
        if self.slots is None:
            return None
        x = self.slots
        return math.floor((k + 1) * x + 1e-9) - math.floor(k * x + 1e-9)

    def request(
        self,
        patient: int,
        case_class: int = 0,
        *,
        deadline: float = INF,
        leave_time: float = INF,
        u: float | None = None,
    ) -> simpy.Event:
        """List a case; the returned event succeeds at the session that takes it."""
        now = self.env.now
        event = simpy.Event(self.env)
        self._seq += 1
        self._pending.append(
            _Case(self._seq, patient, case_class, now, deadline, leave_time, event, None)
        )
        self._log.write(ROW_PACK(now, patient, EV_QUEUE_JOIN, self.rid, case_class))
        return event

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, log, rid = self.env, self._log, self.rid
        generation, offsets = self._generation, self._offsets
        k = Calendar.first_session_index(env.now, offsets)
        while True:
            t = Calendar.session_time(k, offsets)
            k += 1
            # One cancellation draw per calendar session, held or not, so the stream stays
            # aligned with the calendar whatever the load.
            cancelled = self._rng.random() < self.cancel_probability
            yield _LateTimeout(env, max(t - env.now, 0.0))
            if generation != self._generation:
                return  # a policy start replaced this calendar
            holiday = self.skip_bank_holidays and self._calendar.is_bank_holiday(t)
            if holiday or cancelled:
                log.record(t, NO_PATIENT, EventKind.SESSION_CANCELLED, rid, int(holiday))
                continue
            self._hold_session(t, self.slots_at(k - 1), log, rid)

    def _hold_session(self, t: float, slots: int | None, log: EventLog, rid: int) -> None:
        log.write(ROW_PACK(t, NO_PATIENT, EV_SESSION_START, rid, -1 if slots is None else slots))
        # Cases whose results are back join the priority queue(s).
        limit = t - self.cutoff
        pending, ready = self._pending, self._ready
        while pending and pending[0].list_time <= limit:
            listed = pending.popleft()
            ready.push(listed)
            if self._escalation is not None:
                self._by_deadline.push(listed)
        # Cases within escalation_days of their breach date jump the queue (in listing order).
        if self._escalation is not None:
            by_deadline = self._by_deadline
            while (near := by_deadline.pop()) is not None:
                if near.deadline - t > self._escalation:
                    by_deadline.push(near)  # not yet urgent: put it back
                    break
                self._urgent.push(near)
        served = 0
        queues = (self._urgent, ready) if self._escalation is not None else (ready,)
        for queue in queues:
            while slots is None or served < slots:
                case = queue.pop()
                if case is None:
                    break
                if case.leave_time <= t:
                    _drop(case, log, rid)
                    continue
                case.done = True
                log.write(ROW_PACK(t, case.patient, EV_SERVICE_START, rid, case.case_class))
                case.event.succeed(True)
                served += 1
        log.write(ROW_PACK(t, NO_PATIENT, EV_SESSION_END, rid, served))

    def flush(self, horizon: float) -> None:
        """At the end of the run: record the departure of patients who died while waiting."""
        for case in [*self._pending, *self._ready.cases()]:
            if not case.done and case.leave_time <= horizon:
                _drop(case, self._log, self.rid)


class ServerPool:
    """``servers`` parallel servers; a case holds one for its service time.

    Service times are ``service_ppf(u)`` where ``u`` is the case's own uniform (passed with the
    request, so a patient's service time is the same in every scenario) or, if none is given,
    drawn from ``rng``. With a weekly ``schedule`` of ``(weekday, hour, servers working)`` the
    capacity follows it; a server going off duty finishes its case (no pre-emption). Each change
    is logged as CAPACITY_CHANGE (code = servers working), so utilisation against the servers
    on duty can be rebuilt from the log.
    """

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        servers: int,
        service_ppf: Callable[[float], float],
        rng: np.random.Generator,
        priority: str = "fifo",
        class_order: list[int] | None = None,
        schedule: list[tuple[str, float, int]] | None = None,
    ):
        if servers < 1:
            raise ValueError("a server pool needs at least one server")
        self.env = env
        self._log = log
        self.rid = rid
        self.name = name
        self.servers = servers
        """Servers on duty now."""
        self._ppf = service_ppf
        self._rng = rng
        self._busy = 0
        self._queue = _Queue(_static_key(priority, class_order or [0, 1, 2]))
        self._seq = 0
        self._generation = 0
        self._schedule = schedule or None
        if schedule:
            self._start_schedule(schedule)

    def _start_schedule(self, schedule: list[tuple[str, float, int]]) -> None:
        env = self.env
        shifts = sorted((WEEKDAY_INDEX[w] + h / 24.0, n) for w, h, n in schedule)
        self._offsets = [t for t, _ in shifts]
        self._on_duty = [n for _, n in shifts]
        # On duty now: the shift that started most recently (last week's last one if none
        # has started yet this week).
        k = Calendar.first_session_index(env.now, self._offsets)
        if Calendar.session_time(k, self._offsets) > env.now:
            k -= 1
        self.servers = self._on_duty[k % len(shifts)]
        self._log.record(env.now, NO_PATIENT, EventKind.CAPACITY_CHANGE, self.rid, self.servers)
        env.process(self._follow_schedule(k + 1))

    def reconfigure(
        self,
        servers: int,
        service_ppf: Callable[[float], float],
        priority: str,
        class_order: list[int],
        schedule: list[tuple[str, float, int]] | None,
    ) -> None:
        """Take a policy's settings from now on (see :func:`sim.model.simulation.switch_policy`).

        Cases in service finish as they started; waiting cases are re-ordered by the new rule
        and start on the new servers (their service time is drawn when they start). A change
        of servers is logged as CAPACITY_CHANGE, so server-days on duty are right afterwards.
        """
        if servers < 1:
            raise ValueError("a server pool needs at least one server")
        self._ppf = service_ppf
        waiting = self._queue.cases()
        self._queue = _Queue(_static_key(priority, class_order))
        for case in waiting:
            self._queue.push(case)
        schedule = schedule or None
        if schedule != self._schedule:
            self._generation += 1  # the old schedule's loop ends at its next shift
            self._schedule = schedule
            if schedule:
                self._start_schedule(schedule)
        if not schedule and servers != self.servers:
            self.servers = servers
            self._log.record(self.env.now, NO_PATIENT, EventKind.CAPACITY_CHANGE, self.rid, servers)
        self._start_waiting(self.env.now)

    @property
    def waiting(self) -> int:
        return len(self._queue.cases())

    @property
    def busy(self) -> int:
        return self._busy

    def request(
        self,
        patient: int,
        case_class: int = 0,
        *,
        deadline: float = INF,
        leave_time: float = INF,
        u: float | None = None,
    ) -> simpy.Event:
        """Queue a case; the event succeeds when its service ends."""
        now = self.env.now
        self._seq += 1
        case = _Case(
            self._seq, patient, case_class, now, deadline, leave_time, simpy.Event(self.env), u
        )
        self._log.write(ROW_PACK(now, patient, EV_QUEUE_JOIN, self.rid, case_class))
        if self._busy < self.servers:
            self._start(case)
        else:
            self._queue.push(case)
        return case.event

    def _follow_schedule(self, k: int) -> Generator[simpy.Event, Any, None]:
        """Change the servers on duty at each shift from shift number ``k`` on."""
        env, n, generation = self.env, len(self._offsets), self._generation
        offsets, on_duty_by_shift = self._offsets, self._on_duty
        while True:
            t = Calendar.session_time(k, offsets)
            if t > env.now:
                yield env.timeout(t - env.now)
            if generation != self._generation:
                return  # a policy start replaced this schedule
            on_duty = on_duty_by_shift[k % n]
            k += 1
            if on_duty != self.servers:
                self.servers = on_duty
                self._log.record(t, NO_PATIENT, EventKind.CAPACITY_CHANGE, self.rid, on_duty)
                self._start_waiting(t)

    def _start(self, case: _Case) -> None:
        now = self.env.now
        self._busy += 1
        self._log.write(ROW_PACK(now, case.patient, EV_SERVICE_START, self.rid, case.case_class))
        u = case.u if case.u is not None else self._rng.random()
        done = self.env.timeout(self._ppf(u), case)
        done.callbacks.append(self._finish)

    def _finish(self, event: simpy.Event) -> None:
        case = event.value
        assert isinstance(case, _Case)
        now = self.env.now
        self._busy -= 1
        self._log.write(ROW_PACK(now, case.patient, EV_SERVICE_END, self.rid, case.case_class))
        case.event.succeed(True)
        self._start_waiting(now)

    def _start_waiting(self, now: float) -> None:
        """Free servers on duty take the next waiting cases."""
        while self._busy < self.servers:
            nxt = self._queue.pop()
            if nxt is None:
                break
            if nxt.leave_time <= now:
                _drop(nxt, self._log, self.rid)
                continue
            nxt.done = True
            self._start(nxt)

    def flush(self, horizon: float) -> None:
        """At the end of the run: record the departure of patients who died while waiting."""
        for case in self._queue.cases():
            if case.leave_time <= horizon:
                _drop(case, self._log, self.rid)


class DelayService:
    """No capacity: each case waits an exogenous time ``wait_ppf(u)`` and is served."""

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        wait_ppf: Callable[[float], float],
        rng: np.random.Generator,
    ):
        self.env = env
        self._log = log
        self.rid = rid
        self.name = name
        self._ppf = wait_ppf
        self._rng = rng

    def reconfigure(self, wait_ppf: Callable[[float], float]) -> None:
        """Waits of cases joining from now on follow ``wait_ppf`` (a policy start)."""
        self._ppf = wait_ppf

    def request(
        self,
        patient: int,
        case_class: int = 0,
        *,
        deadline: float = INF,
        leave_time: float = INF,
        u: float | None = None,
    ) -> simpy.Event:
        now = self.env.now
        wait = self._ppf(u if u is not None else self._rng.random())
        self._log.write(ROW_PACK(now, patient, EV_QUEUE_JOIN, self.rid, case_class))
        if now + wait < leave_time:
            self._log.write(ROW_PACK(now + wait, patient, EV_SERVICE_START, self.rid, case_class))
            return self.env.timeout(wait, True)
        self._log.write(ROW_PACK(leave_time, patient, EV_LEFT_QUEUE, self.rid, case_class))
        return self.env.timeout(max(leave_time - now, 0.0), False)

    def flush(self, horizon: float) -> None:
        """Nothing waits in a delay: departures were recorded at request time."""
