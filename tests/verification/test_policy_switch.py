"""Resources reconfigured at a policy start, against hand computation.

Time 0 is Monday 1 January 2024, 00:00 (a bank holiday, not used here: bank holidays are not
skipped). A Tuesday 13:00 meeting is at ``1 + 13/24`` days, a Friday 13:00 one at ``4 + 13/24``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from sim.core.calendar import Calendar
from sim.core.events import EventKind, EventLog
from sim.model.resources import ServerPool, SlottedService

START = dt.date(2024, 1, 1)
TUE, FRI = 1 + 13 / 24, 4 + 13 / 24


def _served(log: EventLog) -> dict[int, float]:
    a = log.arrays()
    mask = a["kind"] == EventKind.SERVICE_START
    return dict(zip(a["patient"][mask].tolist(), a["time"][mask].tolist(), strict=True))


def _sessions(log: EventLog) -> list[tuple[float, int]]:
    a = log.arrays()
    mask = a["kind"] == EventKind.SESSION_END
    return list(zip(a["time"][mask].tolist(), a["code"][mask].tolist(), strict=True))


def test_a_weekly_meeting_becomes_twice_weekly_with_more_slots_at_the_switch() -> None:
    """Six cases listed on day 0 at a Tuesday meeting with 1 slot: one a week (days 1.54 and
    8.54) until the switch on day 10 (Wednesday of week 2); from then Tuesday and Friday with 2
    slots: Friday day 11.54 takes two, Tuesday day 15.54 the last two. The old Tuesday loop
    holds no meeting after the switch (no session twice)."""
    env = simpy.Environment()
    log = EventLog()
    rng = np.random.default_rng(0)
    mdt = SlottedService(env, log, 0, "mdt", Calendar(START), [("tue", 13.0)], 1, rng,
                         skip_bank_holidays=False)  # fmt: skip
    for p in range(6):
        mdt.request(p, 0)
    env.run(until=10.0)
    mdt.reconfigure(
        sessions=[("tue", 13.0), ("fri", 13.0)],
        slots=2,
        cancel_probability=0.0,
        results_cutoff_days=0.0,
        skip_bank_holidays=False,
        priority="fifo",
        class_order=[0, 1, 2],
        escalation_days=None,
    )
    env.run(until=30.0)
    assert _served(log) == pytest.approx(
        {0: TUE, 1: 7 + TUE, 2: 7 + FRI, 3: 7 + FRI, 4: 14 + TUE, 5: 14 + TUE}
    )
    times = [t for t, _ in _sessions(log)]
    assert times == pytest.approx([TUE, 7 + TUE, 7 + FRI, 14 + TUE, 14 + FRI, 21 + TUE, 21 + FRI,
                                   28 + TUE])  # fmt: skip


def test_the_waiting_list_is_reordered_by_the_new_priority_rule() -> None:
    """Four cases (review, progression, new, new) listed on day 0, one slot a week, first in
    first out: day 1.54 takes the review. At day 2 the rule becomes new before progression
    before review: days 8.54 and 15.54 take the two new cases (listed last), day 22.54 the
    progression."""
    env = simpy.Environment()
    log = EventLog()
    mdt = SlottedService(env, log, 0, "mdt", Calendar(START), [("tue", 13.0)], 1,
                         np.random.default_rng(0), skip_bank_holidays=False)  # fmt: skip
    for p, cls in ((10, 2), (11, 1), (12, 0), (13, 0)):
        mdt.request(p, cls)
    env.run(until=2.0)  # case 10 (review, first listed) taken on day 1.54 under FIFO
    mdt.reconfigure([("tue", 13.0)], 1, 0.0, 0.0, False, "class", [0, 1, 2], None)
    env.run(until=30.0)
    assert _served(log) == pytest.approx({10: TUE, 12: 7 + TUE, 13: 14 + TUE, 11: 21 + TUE})


def test_a_server_pool_gains_a_server_and_a_new_service_time() -> None:
    """One server, service 4 days; cases listed on day 0. Case 0 runs 0-4, case 1 starts at 4.
    At day 5 a second server joins and services take 2 days: case 2 starts at once (5-7), case 1
    finishes its 4 days (4-8), case 3 starts at 7 (7-9), case 4 at 8 (8-10)."""
    env = simpy.Environment()
    log = EventLog()
    pool = ServerPool(env, log, 0, "path", 1, lambda u: 4.0, np.random.default_rng(0))
    ends: dict[int, float] = {}

    def patient(p: int) -> Generator[simpy.Event, Any, None]:
        yield pool.request(p, 0)
        ends[p] = env.now

    for p in range(5):
        env.process(patient(p))
    env.run(until=5.0)
    pool.reconfigure(2, lambda u: 2.0, "fifo", [0, 1, 2], None)
    env.run(until=30.0)
    assert _served(log) == pytest.approx({0: 0.0, 1: 4.0, 2: 5.0, 3: 7.0, 4: 8.0})
    assert ends == pytest.approx({0: 4.0, 1: 8.0, 2: 7.0, 3: 9.0, 4: 10.0})
    a = log.arrays()
    change = a["kind"] == EventKind.CAPACITY_CHANGE
    assert a["time"][change].tolist() == [5.0] and a["code"][change].tolist() == [2]
