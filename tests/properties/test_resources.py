"""Properties of the capacity resources that must hold for any arrivals and parameters.

Random listing times, case classes, breach deadlines, departures (deaths) and resource
parameters (sessions, slots, cut-off, priority rule, escalation, cancellations, bank holidays;
servers and service times) are drawn by hypothesis; each run is rebuilt from the event log and
checked for:

* utilisation never above 1 (slots used <= slots offered; busy servers <= servers);
* no case served before it was listed plus the results cut-off, and only at a session held;
* conservation: every listed case is served once, or has left the queue, or is still waiting
  at the end (as the resource itself reports), and its request event says which;
* no idle capacity while an eligible case waits (a session with a free slot leaves no eligible
  case behind; a server is never free while a case queues).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.calendar import WEEKDAY_INDEX, Calendar
from sim.core.events import EventKind, EventLog
from sim.core.streams import Streams
from sim.model.resources import ServerPool, SlottedService

START = dt.date(2024, 1, 1)  # a Monday and a bank holiday; Good Friday is day 88
HORIZON = 100.0
EPS = 1e-9
INF = math.inf
SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Case:
    time: float
    case_class: int
    deadline: float
    leave_time: float


cases_strategy = st.lists(
    st.builds(
        lambda t, c, d, leave: Case(t, c, d, t + leave),
        st.floats(0.0, 90.0, allow_nan=False),
        st.integers(0, 2),
        st.one_of(st.just(INF), st.floats(0.0, 150.0, allow_nan=False)),
        st.one_of(st.just(INF), st.floats(0.01, 60.0, allow_nan=False)),
    ),
    max_size=60,
)


def _list(env: simpy.Environment, resource: object, cases: list[Case], values: dict[int, bool]):
    def lister() -> Generator[simpy.Event, None, None]:
        for i, c in sorted(enumerate(cases), key=lambda ic: ic[1].time):
            if c.time > env.now:
                yield env.timeout(c.time - env.now)
            ev = resource.request(  # type: ignore[attr-defined]
                i, c.case_class, deadline=c.deadline, leave_time=c.leave_time, u=None
            )
            ev.callbacks.append(lambda e, i=i: values.__setitem__(i, e.value))

    env.process(lister())


def _by_patient(ev: dict[str, np.ndarray], kind: EventKind) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for t, p in zip(ev["time"][ev["kind"] == kind], ev["patient"][ev["kind"] == kind], strict=True):
        out.setdefault(int(p), []).append(float(t))
    return out


def _check_conservation(
    cases: list[Case],
    ev: dict[str, np.ndarray],
    values: dict[int, bool],
    still_waiting: int,
    done: EventKind = EventKind.SERVICE_START,
) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
    """Every listed case served once, gone, or still waiting (``still_waiting`` cases, as the
    resource reports); ``done`` is the event at which the request succeeds."""
    joins = _by_patient(ev, EventKind.QUEUE_JOIN)
    starts = _by_patient(ev, EventKind.SERVICE_START)
    lefts = _by_patient(ev, EventKind.LEFT_QUEUE)
    listed = [i for i, c in enumerate(cases) if c.time <= HORIZON]
    assert sorted(joins) == listed and all(len(v) == 1 for v in joins.values())
    assert all(len(v) == 1 for v in starts.values()), "a case served twice"
    assert all(len(v) == 1 for v in lefts.values()), "a case left twice"
    assert not set(starts) & set(lefts), "a case both served and gone"
    assert len(starts) + len(lefts) + still_waiting == len(listed)
    assert set(starts) | set(lefts) <= set(joins)
    # The request event tells the patient which: True served, False left.
    assert {i for i, v in values.items() if v} == set(_by_patient(ev, done))
    assert {i for i, v in values.items() if not v} == set(lefts)
    for i, (t,) in lefts.items():
        assert t == cases[i].leave_time
    return (
        {i: v[0] for i, v in joins.items()},
        {i: v[0] for i, v in starts.items()},
        {i: v[0] for i, v in lefts.items()},
    )


# ---------------------------------------------------------------------------------------------
# Slotted sessions
# ---------------------------------------------------------------------------------------------

slotted_params = st.fixed_dictionaries(
    {
        "sessions": st.lists(
            st.tuples(st.sampled_from(sorted(WEEKDAY_INDEX)), st.floats(0.0, 23.9)),
            min_size=1,
            max_size=3,
        ),
        "slots": st.one_of(st.none(), st.integers(0, 4)),
        "cancel_probability": st.sampled_from([0.0, 0.2, 0.5]),
        "results_cutoff_days": st.one_of(st.just(0.0), st.floats(0.0, 6.0, allow_nan=False)),
        "skip_bank_holidays": st.booleans(),
        "priority": st.sampled_from(["fifo", "class", "deadline"]),
        "class_order": st.permutations([0, 1, 2]),
        "escalation_days": st.one_of(st.none(), st.floats(0.0, 20.0, allow_nan=False)),
        "seed": st.integers(0, 2**16),
    }
)


@SETTINGS
@given(cases=cases_strategy, params=slotted_params)
def test_slotted_service_properties(cases: list[Case], params: dict) -> None:
    params = dict(params)
    seed = params.pop("seed")
    sessions, slots = params.pop("sessions"), params.pop("slots")
    cutoff = params["results_cutoff_days"]
    env = simpy.Environment()
    log = EventLog()
    svc = SlottedService(
        env,
        log,
        3,
        "mdt",
        Calendar(START),
        sessions,
        slots,
        Streams(seed, 0).get("cancellations"),
        **params,
    )
    values: dict[int, bool] = {}
    _list(env, svc, cases, values)
    env.run(until=HORIZON)
    ev = log.arrays()
    assert (ev["resource"] == 3).all()
    joins, starts, _ = _check_conservation(cases, ev, values, svc.waiting)

    held = ev["time"][ev["kind"] == EventKind.SESSION_START]
    offered = ev["code"][ev["kind"] == EventKind.SESSION_START]
    used = ev["code"][ev["kind"] == EventKind.SESSION_END]
    assert len(held) == len(used)
    # Utilisation never exceeds 1, session by session.
    if slots is None:
        assert (offered == -1).all()
    else:
        assert (offered == slots).all() and (used <= offered).all()
    assert sum(used) == len(starts)
    # Served only at a session held, and only if listed at least the cut-off before it.
    held_set = set(held.tolist())
    for i, t in starts.items():
        assert t in held_set
        assert t - joins[i] >= cutoff - EPS
    # Held sessions fall on the calendar and never on a skipped bank holiday.
    cal = Calendar(START)
    offsets = Calendar.week_offsets(sessions)
    for t in held:
        assert Calendar.next_session(float(t), offsets) == t
        if params["skip_bank_holidays"]:
            assert not cal.is_bank_holiday(float(t))
    # No free slot while an eligible case waits.
    for t, off, u in zip(held, offered, used, strict=True):
        if off != -1 and u >= off:
            continue
        waiting = [
            i
            for i in joins
            if joins[i] <= t - cutoff and starts.get(i, INF) > t and cases[i].leave_time > t
        ]
        assert not waiting, f"session at {t} left slots free while {waiting} waited"


# ---------------------------------------------------------------------------------------------
# Server pools
# ---------------------------------------------------------------------------------------------

pool_params = st.fixed_dictionaries(
    {
        "servers": st.integers(1, 4),
        "mean_service": st.floats(0.1, 10.0),
        "priority": st.sampled_from(["fifo", "class"]),
        "seed": st.integers(0, 2**16),
    }
)


@SETTINGS
@given(cases=cases_strategy, params=pool_params)
def test_server_pool_properties(cases: list[Case], params: dict) -> None:
    c, mean = params["servers"], params["mean_service"]
    env = simpy.Environment()
    log = EventLog()
    pool = ServerPool(
        env,
        log,
        5,
        "pool",
        c,
        lambda u: -mean * math.log1p(-u),
        Streams(params["seed"], 0).get("service"),
        priority=params["priority"],
    )
    values: dict[int, bool] = {}
    _list(env, pool, cases, values)
    env.run(until=HORIZON)
    ev = log.arrays()
    joins, starts, _ = _check_conservation(
        cases, ev, values, pool.waiting, done=EventKind.SERVICE_END
    )
    ends = _by_patient(ev, EventKind.SERVICE_END)
    # A request succeeds when its service ends; the rest of those started are in service.
    assert set(ends) <= set(starts)
    assert len(starts) - len(ends) == pool.busy
    for i, t in starts.items():
        assert t >= joins[i]
        if i in ends:
            assert ends[i][0] > t
    # Replay the log: busy servers never exceed c; a case never queues while a server is free.
    kind, time = ev["kind"].tolist(), ev["time"].tolist()
    step_busy = {EventKind.SERVICE_START: 1, EventKind.SERVICE_END: -1}
    step_queue = {EventKind.QUEUE_JOIN: 1, EventKind.SERVICE_START: -1, EventKind.LEFT_QUEUE: -1}
    busy = queue = 0
    for j in range(len(time)):
        busy += step_busy.get(kind[j], 0)
        queue += step_queue.get(kind[j], 0)
        assert 0 <= busy <= c
        last_at_this_time = j + 1 == len(time) or time[j + 1] > time[j]
        if last_at_this_time:
            assert queue == 0 or busy == c, f"idle server while {queue} queued at {time[j]}"
    # FIFO serves live cases in listing order.
    if params["priority"] == "fifo":
        order = sorted(starts, key=lambda i: (starts[i], joins[i], i))
        assert order == sorted(starts, key=lambda i: (joins[i], i))
