"""Weekly slotted sessions: MDT meetings, PET lists, PRRT treatment days."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.core.calendar import Calendar
from sim.core.events import NO_PATIENT, ROW_PACK, EventKind, EventLog
from sim.model.resources.base import (
    CLASS_RANK,
    EV_QUEUE_JOIN,
    EV_SERVICE_START,
    EV_SESSION_END,
    EV_SESSION_START,
    INF,
    Case,
    LateTimeout,
    ResourceKind,
    WaitingQueue,
    drop_dead,
    waiting_queue,
)
from sim.scenario.schema import Sessions


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
        self._pending: deque[Case] = deque()
        """Listed, results not yet back (in listing order, so in eligibility order)."""
        self._ready = waiting_queue(priority, class_order or [0, 1, 2])
        self._escalation = escalation_days if priority == "class" else None
        self._by_deadline = WaitingQueue(lambda c: (c.deadline, c.seq))
        self._urgent = WaitingQueue(lambda c: (c.list_time, c.seq))
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
        self._ready = waiting_queue(priority, class_order, waiting)
        self._escalation = escalation_days if priority == "class" else None
        self._by_deadline = WaitingQueue(lambda c: (c.deadline, c.seq))
        self._urgent = WaitingQueue(lambda c: (c.list_time, c.seq))
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
        died: type[Exception] | None = None,
    ) -> simpy.Event:
        """List a case; the returned event succeeds at the session that takes it."""
        now = self.env.now
        event = simpy.Event(self.env)
        self._seq += 1
        self._pending.append(
            Case(self._seq, patient, case_class, now, deadline, leave_time, event, None, died)
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
            yield LateTimeout(env, max(t - env.now, 0.0))
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
                    drop_dead(case, log, rid)
                    continue
                case.done = True
                log.write(ROW_PACK(t, case.patient, EV_SERVICE_START, rid, case.case_class))
                case.event.succeed(True if case.died is None else None)
                served += 1
        log.write(ROW_PACK(t, NO_PATIENT, EV_SESSION_END, rid, served))

    def flush(self, horizon: float) -> None:
        """At the end of the run: record the departure of patients who died while waiting."""
        for case in [*self._pending, *self._ready.cases()]:
            if not case.done and case.leave_time <= horizon:
                drop_dead(case, self._log, self.rid)


class SessionsKind(ResourceKind):
    """``kind = "sessions"``: weekly sessions with a number of case slots."""

    name = "sessions"
    spec_class = Sessions
    capacity_key = "slots_per_session"
    unit = "slots per session"
    weekly_unit = "slots per week"
    minimum = 0
    max_utilisation = 1.0  # a session cannot fill more slots than it offers

    def capacity(self, spec: Sessions, region: str | None) -> int | None:
        return spec.slots_for(region)

    def per_week(self, spec: Sessions) -> int:
        return len(spec.sessions)

    def run_capacity(self, capacity: int | None, scale: float) -> float | None:
        """Exactly ``capacity x scale`` slots per session: a fractional number is spread over
        sessions (see :class:`SlottedService`), so the long-run capacity scales exactly."""
        return None if capacity is None else capacity * scale

    @staticmethod
    def step(scale: float) -> int:
        """Resolution of a slot search at ``scale``: one England slot at full scale, about
        1/scale below it (finer steps change the run by a fraction of a slot a session, which
        the few patients of a small run cannot resolve)."""
        return 1 if scale >= 1.0 else max(1, round(1.0 / scale))

    def search_units(self, capacity: int, scale: float, bound: str = "") -> int:
        step = self.step(scale)
        if bound == "hi":
            return max(capacity // step, 1 if capacity else 0)
        if bound == "lo":
            return -(-capacity // step)
        return max(1, round(capacity / step)) if capacity else 0

    def england_units(self, k: int, scale: float) -> int:
        return k * self.step(scale)

    def capacity_text(self, capacity: int, per_week: int) -> str:
        if per_week == 1:
            return f"{capacity} slots a week"
        return f"{capacity} slots per session ({capacity * per_week} a week)"

    def settings(self, spec: Sessions, region: str | None, scale: float) -> dict[str, Any]:
        """What a :class:`SlottedService` is configured with (at its start or a policy start)."""
        return {
            "sessions": [(s.weekday, s.hour) for s in spec.sessions],
            "slots": self.run_capacity(spec.slots_for(region), scale),
            "cancel_probability": spec.cancel_probability,
            "results_cutoff_days": spec.results_cutoff_days,
            "skip_bank_holidays": spec.skip_bank_holidays,
            "priority": spec.priority,
            "class_order": [CLASS_RANK[c] for c in spec.class_order],
            "escalation_days": spec.escalation_days,
        }

    def build(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        calendar: Calendar,
        rng: np.random.Generator,
        spec: Sessions,
        region: str | None,
        scale: float,
    ) -> SlottedService:
        return SlottedService(
            env, log, rid, name, calendar, rng=rng, **self.settings(spec, region, scale)
        )

    def reconfigure(
        self, res: SlottedService, spec: Sessions, region: str | None, scale: float
    ) -> None:
        res.reconfigure(**self.settings(spec, region, scale))

    def usage(
        self,
        time: NDArray[np.float64],
        kind: NDArray[np.integer[Any]],
        code: NDArray[np.integer[Any]],
        patient: NDArray[np.integer[Any]],
        capacity: float | None,
        w0: float,
        h: float,
    ) -> tuple[float, float]:
        """Slots of the sessions held in the window (SESSION_START's code; NaN where slots are
        unlimited) and slots filled (SESSION_END's code), as ``specialist_mdt_utilisation``
        counts them."""
        in_window = (time >= w0) & (time <= h)
        offered_codes = code[in_window & (kind == EV_SESSION_START)]
        used = float(code[in_window & (kind == EV_SESSION_END)].sum())
        offered = (
            float(offered_codes.sum())
            if len(offered_codes) and (offered_codes >= 0).all()
            else float("nan")
        )
        return offered, used

    def describe(self, spec: Mapping[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
        days = ", ".join(f"{s['weekday']} {s['hour']:g}h" for s in spec.get("sessions", []))
        return f"{spec.get('scope')} weekly sessions ({days})", [
            ("slots per session", _or_unlimited(spec.get("slots_per_session"))),
            ("priority", spec.get("priority")),
            ("cancellation probability", spec.get("cancel_probability")),
            ("results cut-off (days)", spec.get("results_cutoff_days")),
        ]


def _or_unlimited(slots: Any) -> Any:
    return "unlimited" if slots is None else slots


SESSIONS = SessionsKind()
