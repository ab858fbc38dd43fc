"""Server pools with a weekly duty schedule: hand-computed waits; a full-time schedule changes
nothing; off-duty servers finish the case in hand."""

from __future__ import annotations

import numpy as np
import simpy

from sim.core.events import EventKind as K
from sim.core.events import EventLog
from sim.core.streams import Streams
from sim.model.resources import ServerPool

HOUR = 1 / 24


def _run(arrivals: list[float], service_days: float, schedule, servers: int = 1):  # type: ignore[no-untyped-def]
    env = simpy.Environment()
    log = EventLog()
    pool = ServerPool(
        env, log, 0, "pathology", servers, lambda u: service_days, Streams(1, 0).get("x"),
        schedule=schedule,
    )  # fmt: skip

    def arrive(pid: int, t: float):  # type: ignore[no-untyped-def]
        yield env.timeout(t)
        yield pool.request(pid)

    for i, t in enumerate(arrivals):
        env.process(arrive(i, t))
    env.run(until=30)
    ev = log.arrays()
    starts = {
        int(p): float(t)
        for t, p, k in zip(ev["time"], ev["patient"], ev["kind"], strict=True)
        if k == K.SERVICE_START
    }
    ends = {
        int(p): float(t)
        for t, p, k in zip(ev["time"], ev["patient"], ev["kind"], strict=True)
        if k == K.SERVICE_END
    }
    changes = [
        (float(t), int(c))
        for t, k, c in zip(ev["time"], ev["kind"], ev["code"], strict=True)
        if k == K.CAPACITY_CHANGE
    ]
    return starts, ends, changes


def test_monday_only_server_hand_computed() -> None:
    # One pathologist on duty Mondays 09:00-17:00 only; each report takes 2 hours.
    schedule = [("mon", 9.0, 1), ("mon", 17.0, 0)]
    a, b, c = 8 * HOUR, 16 * HOUR, 16.5 * HOUR
    starts, ends, changes = _run([a, b, c], 2 * HOUR, schedule)
    assert np.isclose(starts[0], 9 * HOUR)  # waits for the shift to start
    assert np.isclose(starts[1], 16 * HOUR)  # served at once ...
    assert np.isclose(ends[1], 18 * HOUR)  # ... and finished after 17:00 (no pre-emption)
    assert np.isclose(starts[2], 7 + 9 * HOUR)  # next Monday's shift
    assert [c for _, c in changes[:3]] == [0, 1, 0]
    assert np.allclose([t for t, _ in changes[:3]], [0.0, 9 * HOUR, 17 * HOUR])


def test_shift_starting_at_time_zero_applies_at_once() -> None:
    starts, _, changes = _run([0.0], HOUR, [("mon", 0.0, 2), ("sat", 0.0, 0)], servers=2)
    assert starts[0] == 0.0 and changes[0] == (0.0, 2)


def test_full_time_schedule_changes_nothing() -> None:
    rng = np.random.default_rng(5)
    arrivals = np.sort(rng.uniform(0, 20, 60)).tolist()
    plain = _run(arrivals, 0.7, None, servers=2)[:2]
    scheduled = _run(arrivals, 0.7, [("mon", 8.0, 2), ("fri", 18.0, 2)], servers=2)[:2]
    assert plain == scheduled
