"""Capacity as the NHS runs it: weekly slotted sessions, server pools and plain delays.

Every resource offers one call, ``request(patient, case_class, ...) -> simpy.Event``; the event
succeeds with ``True`` when the case has been served (discussed at the meeting, scanned,
reported) or ``False`` if the patient left the queue unserved (died while waiting).

* :class:`SlottedService` - an MDT meeting, a PET list, a PRRT treatment day. A weekly calendar
  of sessions, each with a number of case slots. A case is *listed* when requested; it is
  eligible for a session only if listed at least ``results_cutoff_days`` before it (results
  must be back). At each session the eligible cases are ordered by the priority rule and the
  first ``slots`` are served; the rest roll to the next session. Sessions on bank holidays and
  randomly cancelled sessions are skipped. (Ciw's ``Slotted`` schedules, one process per
  resource rather than per case.)
* :class:`ServerPool` - ``c`` parallel servers with a service time (pathologists reporting
  biopsies with Ki-67); the M/M/c queue of Erlang C when arrivals are Poisson and service
  exponential.
* :class:`DelayService` - no capacity modelled: an exogenous wait (general CT/MRI and
  endoscopy, where NEN patients are a tiny share of demand).

Monitoring goes through the event log only (``_log``): queue joins, service starts and ends,
session starts, ends and cancellations. Queue length, backlog and utilisation over time are
rebuilt from the log (:mod:`sim.kpis`); nothing is tallied here.

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

import math
from collections.abc import Callable, Generator
from typing import Any, Protocol

import numpy as np
import simpy

from .calendar import Calendar
from .events import NO_PATIENT, EventKind, EventLog

INF = math.inf


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


class _Case:
    __slots__ = (
        "case_class",
        "deadline",
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


def _order_key(
    priority: str, class_order: list[int], escalation_days: float | None
) -> Callable[[_Case, float], tuple[float, ...]]:
    rank = {c: i for i, c in enumerate(class_order)}
    if priority == "fifo":
        return lambda c, now: (c.list_time, c.seq)
    if priority == "deadline":
        return lambda c, now: (c.deadline, c.list_time, c.seq)
    if priority == "class":
        if escalation_days is None:
            return lambda c, now: (rank.get(c.case_class, len(rank)), c.list_time, c.seq)
        esc = escalation_days

        def key(c: _Case, now: float) -> tuple[float, ...]:
            urgent = c.deadline - now <= esc
            return (-1 if urgent else rank.get(c.case_class, len(rank)), c.list_time, c.seq)

        return key
    raise ValueError(f"unknown priority rule {priority!r}")


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
        Cases per session, or ``None`` for unlimited.
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
        slots: int | None,
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
        self._key = _order_key(priority, class_order or [0, 1, 2], escalation_days)
        self._waiting: list[_Case] = []
        self._seq = 0
        env.process(self._run())

    @property
    def waiting(self) -> int:
        """Cases listed and not yet served."""
        return len(self._waiting)

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
        event = self.env.event()
        self._seq += 1
        self._waiting.append(
            _Case(self._seq, patient, case_class, now, deadline, leave_time, event, None)
        )
        self._log.record(now, patient, EventKind.QUEUE_JOIN, self.rid, case_class)
        return event

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, log, rid = self.env, self._log, self.rid
        k = Calendar.first_session_index(env.now, self._offsets)
        while True:
            t = Calendar.session_time(k, self._offsets)
            k += 1
            # One cancellation draw per calendar session, held or not, so the stream stays
            # aligned with the calendar whatever the load.
            cancelled = self._rng.random() < self.cancel_probability
            if t > env.now:
                yield env.timeout(t - env.now)
            holiday = self.skip_bank_holidays and self._calendar.is_bank_holiday(t)
            if holiday or cancelled:
                log.record(t, NO_PATIENT, EventKind.SESSION_CANCELLED, rid, int(holiday))
                continue
            self._hold_session(t, log, rid)

    def _hold_session(self, t: float, log: EventLog, rid: int) -> None:
        log.record(
            t, NO_PATIENT, EventKind.SESSION_START, rid, -1 if self.slots is None else self.slots
        )
        eligible: list[_Case] = []
        later: list[_Case] = []
        limit = t - self.cutoff
        for c in self._waiting:
            if c.leave_time <= t:
                log.record(c.leave_time, c.patient, EventKind.LEFT_QUEUE, rid, c.case_class)
                c.event.succeed(False)
            elif c.list_time <= limit:
                eligible.append(c)
            else:
                later.append(c)
        n = len(eligible) if self.slots is None else min(self.slots, len(eligible))
        if n < len(eligible):
            key = self._key
            eligible.sort(key=lambda c: key(c, t))
        for c in eligible[:n]:
            log.record(t, c.patient, EventKind.SERVICE_START, rid, c.case_class)
            c.event.succeed(True)
        self._waiting = eligible[n:] + later
        log.record(t, NO_PATIENT, EventKind.SESSION_END, rid, n)


class ServerPool:
    """``servers`` parallel servers; a case holds one for its service time.

    Service times are ``service_ppf(u)`` where ``u`` is the case's own uniform (passed with the
    request, so a patient's service time is the same in every scenario) or, if none is given,
    drawn from ``rng``.
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
    ):
        if servers < 1:
            raise ValueError("a server pool needs at least one server")
        self.env = env
        self._log = log
        self.rid = rid
        self.name = name
        self.servers = servers
        self._ppf = service_ppf
        self._rng = rng
        self._key = _order_key(priority, class_order or [0, 1, 2], None)
        self._busy = 0
        self._queue: list[_Case] = []
        self._seq = 0

    @property
    def waiting(self) -> int:
        return len(self._queue)

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
        case = _Case(self._seq, patient, case_class, now, deadline, leave_time, self.env.event(), u)
        self._log.record(now, patient, EventKind.QUEUE_JOIN, self.rid, case_class)
        if self._busy < self.servers:
            self._start(case)
        else:
            self._queue.append(case)
        return case.event

    def _start(self, case: _Case) -> None:
        now = self.env.now
        self._busy += 1
        self._log.record(now, case.patient, EventKind.SERVICE_START, self.rid, case.case_class)
        u = case.u if case.u is not None else self._rng.random()
        done = self.env.timeout(float(self._ppf(u)), case)
        done.callbacks.append(self._finish)

    def _finish(self, event: simpy.Event) -> None:
        case = event.value
        assert isinstance(case, _Case)
        now = self.env.now
        self._busy -= 1
        self._log.record(now, case.patient, EventKind.SERVICE_END, self.rid, case.case_class)
        case.event.succeed(True)
        while self._queue and self._busy < self.servers:
            if len(self._queue) > 1 and self._key is not None:
                best = min(range(len(self._queue)), key=lambda i: self._key(self._queue[i], now))
                nxt = self._queue.pop(best)
            else:
                nxt = self._queue.pop(0)
            if nxt.leave_time <= now:
                self._log.record(
                    nxt.leave_time, nxt.patient, EventKind.LEFT_QUEUE, self.rid, nxt.case_class
                )
                nxt.event.succeed(False)
                continue
            self._start(nxt)


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
        wait = float(self._ppf(u if u is not None else self._rng.random()))
        self._log.record(now, patient, EventKind.QUEUE_JOIN, self.rid, case_class)
        self._log.record(now + wait, patient, EventKind.SERVICE_START, self.rid, case_class)
        return self.env.timeout(wait, True)
