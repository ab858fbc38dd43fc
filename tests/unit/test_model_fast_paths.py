"""The event loop's fast paths give exactly what the plain definitions give.

Each shortcut taken for speed (a memo of treatment decisions, wait events instead of
generators, uniforms looked up by row) is checked here against the slow, obvious version it
replaces, on many cases; the pinned regression table checks the whole model on top.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import simpy

from sim.core.streams import PatientDraws, Streams
from sim.model.context import INF, Died, SimContext, hold, pick
from sim.model.derived import derived
from sim.model.treatment import (
    allowed,
    choose_treatment,
    first_line_done,
    matches,
)
from sim.scenario.loader import load_scenario
from sim.scenario.schema import GRADES, SITES, STAGES, TREATMENTS, TreatmentParams

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _reference_choice(
    params: TreatmentParams, p: Any, line: int, u: float, first: bool, age: float
) -> str:
    """The rule tables read top to bottom for every decision (the code before the memo)."""
    rules = params.first_line if first else params.later_lines
    for rule in rules:
        if matches(rule.when, p, line, age):
            names = [n for n in rule.choose if allowed(params, n, p)]
            total = sum(rule.choose[n] for n in names)
            if total <= 0.0:
                return params.fallback
            return names[pick([rule.choose[n] / total for n in names], u)]
    raise AssertionError("no catch-all rule")


def _reference_first_line_done(params: TreatmentParams, p: Any) -> bool:
    for i, name in enumerate(TREATMENTS):
        if p.given >> i & 1:
            opt = params.options[name]
            if not (opt.curative or opt.surveillance):
                return True
    return False


@pytest.mark.parametrize("name", ["current_practice", "ideal_pathway", "national_commissioning"])
def test_memoised_treatment_choice_is_the_rule_tables(name: str) -> None:
    """Random patients, and for each the patients who differ from them in one thing the rules
    or the options read (so a memo that ignored it would hand one the other's options)."""
    params = load_scenario(SCENARIOS / f"{name}.toml").treatment
    rng = np.random.default_rng(11)
    offered = [TREATMENTS.index(n) for n in params.options]
    rules = (*params.first_line, *params.later_lines)
    ages = [r.when.min_age for r in rules if r.when.min_age is not None]
    checked = 0
    for _ in range(600):
        given = 0
        for code in rng.choice(offered, size=rng.integers(0, 3), replace=False):
            given |= 1 << int(code)
        base = {
            "site": int(rng.integers(len(SITES))),
            "grade": int(rng.integers(len(GRADES))),
            "stage": int(rng.integers(len(STAGES))),
            "functional": bool(rng.random() < 0.3),
            "sstr": bool(rng.random() < 0.7),
            "specialist": bool(rng.random() < 0.5),
            "sstr_known": bool(rng.random() < 0.5),
            "given": given,
        }
        line = int(rng.integers(1, params.max_lines + 1))
        age = float(rng.choice([*ages, 40.0, 90.0])) - 1e-9
        first = bool(rng.random() < 0.5)
        variants = [
            ({}, line, age, first),
            ({}, line, age + 2e-9, first),
            ({}, line, age, not first),
        ]
        variants.append(({}, line % params.max_lines + 1, age, first))
        for key in ("functional", "sstr", "specialist", "sstr_known"):
            variants.append(({key: not base[key]}, line, age, first))
        for key, n in (("site", len(SITES)), ("grade", len(GRADES)), ("stage", len(STAGES))):
            variants.append(({key: (base[key] + 1) % n}, line, age, first))
        variants.append(({"given": given ^ 1 << int(rng.choice(offered))}, line, age, first))
        for change, ln, ag, fi in variants:
            p = SimpleNamespace(**{**base, **change})
            for u in (0.02, 0.3, 0.6, 0.97):
                got = choose_treatment(params, p, ln, u, fi, ag)  # type: ignore[arg-type]
                assert got == _reference_choice(params, p, ln, u, fi, ag), (change, ln, ag, fi)
                checked += 1
            assert first_line_done(params, p) == _reference_first_line_done(params, p)  # type: ignore[arg-type]
    assert checked > 20_000


def _waiter(env: simpy.Environment, death: float, until: float, out: list[Any]) -> Any:
    ctx = SimpleNamespace(env=env)
    p = SimpleNamespace(death=death)
    try:
        yield from hold(ctx, p, until)  # type: ignore[arg-type]
        out.append(("held", env.now))
    except Died:
        out.append(("died", env.now))


@pytest.mark.parametrize(
    "start, death, until, expected, events",
    [
        (0.0, 5.0, 10.0, ("died", 5.0), 1),  # dies while waiting: at the death
        (0.0, 10.0, 10.0, ("died", 10.0), 1),  # dies at the very time: dead first
        (0.0, 15.0, 10.0, ("held", 10.0), 1),
        (2.0, 15.0, 1.0, ("held", 2.0), 0),  # the time has come: no wait, no event
        (2.0, 15.0, 2.0, ("held", 2.0), 0),
        (3.0, 3.0, 10.0, ("died", 3.0), 0),  # already dead: at once
    ],
)
def test_hold_waits_or_dies_like_a_process_would(
    start: float, death: float, until: float, expected: tuple[str, float], events: int
) -> None:
    env = simpy.Environment(initial_time=start)
    out: list[Any] = []
    env.process(_waiter(env, death, until, out))
    env.run()
    assert out == [expected]
    # SimPy events: the process's start and end, and the wait if there is one.
    assert next(env._eid) == 2 + events  # type: ignore[attr-defined]


def test_uniforms_by_row_are_the_patients_own() -> None:
    """Kept in arrival order and found by row, every uniform is still the patient's own."""
    streams = Streams(5, 1)
    full = PatientDraws(streams, [30, 50, 20])
    kept = PatientDraws(streams, [30, 50, 20])
    ids = np.array([71, 4, 33, 99, 12, 50])  # arrival order, not sorted
    kept.keep_only(ids)
    ctx = SimContext(None, None, None, streams, kept, None, {})  # type: ignore[arg-type]
    for pid in ids.tolist():
        p = SimpleNamespace(id=pid, row=-1)
        for purpose, j in (("gp_outcome", 0), ("gp_outcome", 4), ("biopsy_wait", 1)):
            assert ctx.u(purpose, p, j) == full.u(purpose, pid, j) == kept.u(purpose, pid, j)  # type: ignore[arg-type]
        assert p.row == kept.row(pid)
    with pytest.raises(KeyError, match="no uniforms kept"):
        kept.u("gp_outcome", 5)


def test_derived_tables_follow_the_parameter_object() -> None:
    a, b = SimpleNamespace(x=1), SimpleNamespace(x=2)
    calls: list[int] = []

    def build(o: Any) -> int:
        calls.append(o.x)
        return int(o.x) * 10

    assert derived(a, "t", build) == 10
    assert derived(a, "t", build) == 10
    assert derived(b, "t", build) == 20
    assert calls == [1, 2]  # built once per object


@pytest.mark.parametrize("priority", ["fifo", "class"])
def test_class_queue_pops_in_the_heap_order(priority: str) -> None:
    """ClassQueue (one FIFO lane per class) against the heap of static keys it replaces, with
    cases listed in time order, some taken elsewhere, pops between pushes, and a re-ordering
    at a policy start (waiting_queue re-pushes the cases)."""
    from sim.model.resources.base import Case, ClassQueue, WaitingQueue, static_key, waiting_queue

    rng = np.random.default_rng(7)
    for order in ([0, 1, 2], [2, 0, 1], [1]):
        fast, slow = ClassQueue(priority, order), WaitingQueue(static_key(priority, order))
        t, got, want = 0.0, [], []
        for seq in range(400):
            t += float(rng.choice([0.0, rng.exponential()]))  # ties in listing time too
            case = Case(seq, seq, int(rng.integers(0, 4)), t, INF, INF, None, None)  # type: ignore[arg-type]
            fast.push(case)
            slow.push(case)
            if rng.random() < 0.1:
                case.done = True  # taken by another queue (escalation)
            if rng.random() < 0.4:
                a, b = fast.pop(), slow.pop()
                got.append(a and a.seq)
                want.append(b and b.seq)
                if a is not None:
                    a.done = True
        assert sorted(c.seq for c in fast.cases()) == sorted(c.seq for c in slow.cases())
        refast = waiting_queue(priority, order[::-1], fast.cases())
        reslow = WaitingQueue(static_key(priority, order[::-1]))
        for c in slow.cases():
            reslow.push(c)
        while (a := refast.pop()) is not None:
            b = reslow.pop()
            assert b is a
            a.done = True
        assert reslow.pop() is None
        assert got == want


def _use_reference(env: simpy.Environment, res: Any, death: float, out: list[Any]) -> Any:
    """The generator use() was: wait for the outcome, then check it."""
    try:
        served = yield res.request(0, 0, leave_time=death)
        if not served or env.now >= death:
            raise Died
        out.append(("served", env.now))
    except Died:
        out.append(("died", env.now))


def _use_fast(env: simpy.Environment, res: Any, death: float, out: list[Any]) -> Any:
    try:
        yield from (res.request(0, 0, leave_time=death, died=Died),)
        out.append(("served", env.now))
    except Died:
        out.append(("died", env.now))


@pytest.mark.parametrize("kind", ["sessions", "servers", "delay"])
@pytest.mark.parametrize("death", [0.5, 3.0, 7.0, 9.25, 30.0, INF])
def test_requests_that_raise_died_are_the_checked_outcome(kind: str, death: float) -> None:
    """A request with ``died=Died`` ends as the old use() generator did (served, or Died at
    the same time) and with the same SimPy events, for each resource kind."""
    import datetime as dt

    from sim.core.calendar import Calendar
    from sim.core.events import EventLog
    from sim.model.resources import DelayService, ServerPool, SlottedService

    def run(waiter: Any) -> tuple[list[Any], int, bytes]:
        env, log = simpy.Environment(), EventLog()
        if kind == "sessions":
            res: Any = SlottedService(
                env, log, 0, "mdt", Calendar(dt.date(2025, 1, 6)), [("tue", 13.0)], 1,
                np.random.default_rng(1),
            )  # fmt: skip
        elif kind == "servers":
            res = ServerPool(env, log, 0, "path", 1, lambda u: 9.25, np.random.default_rng(1))
        else:
            res = DelayService(env, log, 0, "ct", lambda u: 7.0, np.random.default_rng(1))
        out: list[Any] = []
        env.process(waiter(env, res, death, out))
        env.run(until=60)
        return out, next(env._eid), bytes(log._buf)  # type: ignore[attr-defined]

    assert run(_use_fast) == run(_use_reference)
