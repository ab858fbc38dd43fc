"""A pool of parallel servers with a service time: pathologists reporting biopsies."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from sim.core.calendar import WEEKDAY_INDEX, Calendar
from sim.core.events import NO_PATIENT, ROW_PACK, EventKind, EventLog
from sim.model.resources.base import (
    CLASS_RANK,
    EV_CAPACITY_CHANGE,
    EV_QUEUE_JOIN,
    EV_SERVICE_END,
    EV_SERVICE_START,
    INF,
    Case,
    ResourceKind,
    drop_dead,
    waiting_queue,
)
from sim.scenario.schema import Servers


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
        self._queue = waiting_queue(priority, class_order or [0, 1, 2])
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
        self._queue = waiting_queue(priority, class_order, self._queue.cases())
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
        died: type[Exception] | None = None,
    ) -> simpy.Event:
        """Queue a case; the event succeeds when its service ends."""
        now = self.env.now
        self._seq += 1
        case = Case(
            self._seq, patient, case_class, now, deadline, leave_time, simpy.Event(self.env), u,
            died,
        )  # fmt: skip
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

    def _start(self, case: Case) -> None:
        now = self.env.now
        self._busy += 1
        self._log.write(ROW_PACK(now, case.patient, EV_SERVICE_START, self.rid, case.case_class))
        u = case.u if case.u is not None else self._rng.random()
        done = self.env.timeout(self._ppf(u), case)
        done.callbacks.append(self._finish)

    def _finish(self, event: simpy.Event) -> None:
        case = event.value
        assert isinstance(case, Case)
        now = self.env.now
        self._busy -= 1
        self._log.write(ROW_PACK(now, case.patient, EV_SERVICE_END, self.rid, case.case_class))
        if case.died is None:
            case.event.succeed(True)
        elif now < case.leave_time:
            case.event.succeed(None)
        else:
            case.event.fail(case.died())
        self._start_waiting(now)

    def _start_waiting(self, now: float) -> None:
        """Free servers on duty take the next waiting cases."""
        while self._busy < self.servers:
            nxt = self._queue.pop()
            if nxt is None:
                break
            if nxt.leave_time <= now:
                drop_dead(nxt, self._log, self.rid)
                continue
            nxt.done = True
            self._start(nxt)

    def flush(self, horizon: float) -> None:
        """At the end of the run: record the departure of patients who died while waiting."""
        for case in self._queue.cases():
            if case.leave_time <= horizon:
                drop_dead(case, self._log, self.rid)


class ServersKind(ResourceKind):
    """``kind = "servers"``: a pool of parallel servers with a service time."""

    name = "servers"
    spec_class = Servers
    capacity_key = "servers"
    unit = "servers"
    weekly_unit = "servers"
    minimum = 1
    max_utilisation = math.inf  # a case in hand outlasts its server's shift

    def capacity(self, spec: Servers, region: str | None) -> int:
        return spec.servers_for(region)

    def run_capacity(self, capacity: int | None, scale: float) -> int | None:
        """Rounded to the nearest whole server, and never below one where there was any, so
        a small test run keeps every resource (its queueing is coarser than England's)."""
        if capacity is None or scale == 1.0:
            return capacity
        if capacity == 0:
            return 0
        return max(1, round(capacity * scale))

    def search_units(self, capacity: int, scale: float, bound: str = "") -> int:
        """Whole servers of the run (the rounding of :meth:`run_capacity`)."""
        return self.run_capacity(capacity, scale) or 0

    def england_units(self, k: int, scale: float) -> int:
        if scale == 1.0 or k == 0:
            return k
        guess = round(k / scale)
        near = sorted(range(max(1, guess - 2), guess + 3), key=lambda e: abs(e - k / scale))
        for e in near:
            if self.run_capacity(e, scale) == k:
                return e
        return guess  # pragma: no cover - run_capacity is rounding, so a neighbour matches

    def settings(self, spec: Servers, region: str | None, scale: float) -> dict[str, Any]:
        """What a :class:`ServerPool` is configured with (at its start or a policy start)."""
        # Validation refuses a pool without servers (sim.scenario.schema.ServerCount), and
        # scaling keeps at least one: nothing is silently replaced here.
        c = self.run_capacity(spec.servers_for(region), scale)
        assert c is not None and c >= 1
        return {
            "servers": c,
            "service_ppf": spec.service_days.sample1,
            "priority": spec.priority,
            "class_order": [CLASS_RANK[k] for k in spec.class_order],
            "schedule": None
            if spec.schedule is None
            else [(s.weekday, s.hour, round(s.share * c)) for s in spec.schedule],
        }

    def build(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        calendar: Calendar,
        rng: np.random.Generator,
        spec: Servers,
        region: str | None,
        scale: float,
    ) -> ServerPool:
        return ServerPool(env, log, rid, name, rng=rng, **self.settings(spec, region, scale))

    def reconfigure(self, res: ServerPool, spec: Servers, region: str | None, scale: float) -> None:
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
        """Server-days on duty in the window (the servers, or the schedule's shifts logged as
        CAPACITY_CHANGE) and busy server-days (each SERVICE_START to the same case's
        SERVICE_END, clipped to the window; a service still running at the horizon counts up
        to it). A service that runs past the end of its shift keeps its server busy, so a
        scheduled pool can show utilisation above 1."""
        shifts = kind == EV_CAPACITY_CHANGE
        offered = _on_duty_days(time[shifts], code[shifts], float(capacity or 0), w0, h)
        service = (kind == EV_SERVICE_START) | (kind == EV_SERVICE_END)
        return offered, _busy_days(time[service], kind[service], patient[service], w0, h)

    def describe(self, spec: Mapping[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
        return f"{spec.get('scope')} pool of servers", [
            ("servers", spec.get("servers")),
            ("service (days)", spec.get("service_days")),
        ]


def _on_duty_days(
    times: NDArray[np.float64], servers: NDArray[Any], fixed: float, w0: float, h: float
) -> float:
    """Integral over ``[w0, h]`` of the servers on duty: a step function changing at ``times``
    to ``servers`` (the first change at or before the run start), or ``fixed`` throughout."""
    if not len(times):
        return fixed * (h - w0)
    order = np.argsort(times, kind="stable")
    t, n = np.asarray(times, dtype=float)[order], np.asarray(servers, dtype=float)[order]
    ends = np.append(t[1:], np.inf)
    overlap = np.clip(np.minimum(ends, h) - np.maximum(t, w0), 0.0, None)
    return float((overlap * n).sum())


def _busy_days(
    time: NDArray[np.float64],
    kind: NDArray[np.integer[Any]],
    patient: NDArray[np.integer[Any]],
    w0: float,
    h: float,
) -> float:
    """Busy server-days in ``[w0, h]``: the k-th SERVICE_START of a patient at the resource
    paired with that patient's k-th SERVICE_END there (a patient is served one case at a time);
    a start without its end is busy up to ``h``."""
    if not len(time):
        return 0.0
    order = np.argsort(time, kind="stable")
    t, k, p = time[order], kind[order], patient[order]
    is_start = k == EV_SERVICE_START
    # Key each start and each end by (patient, how many of that patient's came before it).
    ps, pe = p[is_start].astype(np.int64), p[~is_start].astype(np.int64)
    low, width = min(ps.min(initial=0), pe.min(initial=0)), len(t) + 1
    start_key = (ps - low) * width + _occurrence(ps)
    end_key = (pe - low) * width + _occurrence(pe)
    end = np.full(len(ps), float(h))
    if len(pe):
        by_key = np.argsort(end_key)
        keys = end_key[by_key]
        at = np.minimum(np.searchsorted(keys, start_key), len(keys) - 1)
        found = keys[at] == start_key
        end[found] = t[~is_start][by_key][at][found]
    start = t[is_start].astype(float)
    return float(np.clip(np.minimum(end, h) - np.maximum(start, w0), 0.0, None).sum())


def _occurrence(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each element, how many equal elements come before it."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    first = np.ones(len(v), dtype=bool)
    first[1:] = v[1:] != v[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(v)), 0))
    out = np.empty(len(v), dtype=np.int64)
    out[order] = np.arange(len(v)) - group_start
    return out


SERVERS = ServersKind()
