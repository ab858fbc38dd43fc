"""SlottedService (weekly meetings with case slots) against hand computation and simple theory.

Truth used here:

* A Poisson arrival is uniformly distributed over the week, so with ample slots and no cut-off
  its wait for the next weekly meeting is uniform on (0, 7] days, mean 3.5 days; with a results
  cut-off of ``k`` days it is uniform on (k, k + 7], mean k + 3.5.
* With arrivals above slot capacity every meeting is full once a queue has formed, so the
  backlog after each meeting grows linearly at (arrival rate - slots) per week.
* Deterministic arrivals and slots give waits computed by hand (below, in days).
* England's 2024 and 2025 bank holidays as published on gov.uk/bank-holidays.

Time 0 is Monday 1 January 2024, 00:00. A Tuesday 13:00 meeting is at ``1 + 13/24`` days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
import simpy
from scipy import stats

from sim.core.calendar import Calendar
from sim.core.events import EventKind, EventLog
from sim.core.streams import Streams
from sim.model.resources import SlottedService

START = dt.date(2024, 1, 1)  # a Monday, and New Year's Day
TUE_1300 = 1 + 13 / 24
NEW, PROGRESSION, REVIEW = 0, 1, 2
INF = math.inf


@dataclass(frozen=True)
class Case:
    time: float
    """Listing time (days)."""
    case_class: int = NEW
    deadline: float = INF
    leave_time: float = INF


@dataclass
class Outcome:
    served: dict[int, float] = field(default_factory=dict)
    """Patient -> time served (SERVICE_START)."""
    left: dict[int, float] = field(default_factory=dict)
    """Patient -> LEFT_QUEUE time."""
    values: dict[int, bool] = field(default_factory=dict)
    """Patient -> value of the request event (True served, False left)."""
    sessions: list[tuple[float, int, int]] = field(default_factory=list)
    """(time, slots offered, slots used) of each session held."""
    cancelled: list[tuple[float, int]] = field(default_factory=list)
    """(time, code) of each cancelled session."""
    joins: dict[int, float] = field(default_factory=dict)


def run_slotted(
    cases: Sequence[Case],
    horizon: float,
    *,
    sessions: Sequence[tuple[str, float]] = (("tue", 13.0),),
    slots: int | None = None,
    replication: int = 0,
    **options: object,
) -> Outcome:
    """List ``cases`` (patient i = cases[i]) at their times; run to ``horizon``; read the log."""
    env = simpy.Environment()
    log = EventLog()
    streams = Streams(7, replication)
    options.setdefault("skip_bank_holidays", False)
    svc = SlottedService(
        env,
        log,
        0,
        "mdt",
        Calendar(START),
        list(sessions),
        slots,
        streams.get("cancellations"),
        **options,  # type: ignore[arg-type]
    )
    out = Outcome()

    def lister() -> Generator[simpy.Event, None, None]:
        for i, c in sorted(enumerate(cases), key=lambda ic: ic[1].time):
            if c.time > env.now:
                yield env.timeout(c.time - env.now)
            ev = svc.request(i, c.case_class, deadline=c.deadline, leave_time=c.leave_time)
            ev.callbacks.append(lambda e, i=i: out.values.__setitem__(i, e.value))

    env.process(lister())
    env.run(until=horizon)
    ev = log.arrays()
    for t, p, k, code in zip(ev["time"], ev["patient"], ev["kind"], ev["code"], strict=True):
        t, p, k, code = float(t), int(p), int(k), int(code)
        if k == EventKind.QUEUE_JOIN:
            out.joins[p] = t
        elif k == EventKind.SERVICE_START:
            out.served[p] = t
        elif k == EventKind.LEFT_QUEUE:
            out.left[p] = t
        elif k == EventKind.SESSION_START:
            out.sessions.append((t, code, -1))
        elif k == EventKind.SESSION_END:
            j = len(out.sessions) - 1
            out.sessions[j] = (out.sessions[j][0], out.sessions[j][1], code)
        elif k == EventKind.SESSION_CANCELLED:
            out.cancelled.append((t, code))
    return out


def waits(out: Outcome) -> dict[int, float]:
    return {p: out.served[p] - out.joins[p] for p in out.served}


def poisson_times(rate_per_day: float, horizon: float, replication: int) -> list[float]:
    rng = Streams(11, replication).get("arrivals")
    n = rng.poisson(rate_per_day * horizon)
    return sorted(rng.uniform(0.0, horizon, n).tolist())


# ---------------------------------------------------------------------------------------------
# Poisson arrivals, ample slots: uniform wait for the next meeting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cutoff", [0.0, 2.0])
def test_mean_wait_for_weekly_meeting_is_cutoff_plus_half_a_week(cutoff: float) -> None:
    horizon = 3000.0
    times = poisson_times(8.0, horizon - 14, 0)  # ~24,000 cases, all served before the end
    out = run_slotted([Case(t) for t in times], horizon, results_cutoff_days=cutoff)
    w = np.array(list(waits(out).values()))
    assert len(w) == len(times)
    assert w.min() >= cutoff and w.max() <= cutoff + 7.0
    half = stats.norm.ppf(0.995) * w.std(ddof=1) / math.sqrt(len(w))
    assert half < 0.05
    assert abs(w.mean() - (cutoff + 3.5)) <= half, f"mean wait {w.mean():.3f} days"
    # Uniform over the week: Kolmogorov-Smirnov against U(cutoff, cutoff + 7).
    assert stats.kstest(w, "uniform", args=(cutoff, 7.0)).pvalue > 0.01


# ---------------------------------------------------------------------------------------------
# Overload: linear backlog growth
# ---------------------------------------------------------------------------------------------


def backlog_after_sessions(out: Outcome) -> tuple[np.ndarray, np.ndarray]:
    """Cases still listed after each session: joins - served - left up to its time."""
    joins = np.sort(np.array(list(out.joins.values())))
    gone = np.sort(np.array(list(out.served.values()) + list(out.left.values())))
    t = np.array([s[0] for s in out.sessions])
    return t, np.searchsorted(joins, t, side="right") - np.searchsorted(gone, t, side="right")


def test_backlog_grows_at_arrival_rate_minus_capacity() -> None:
    rate, slots, weeks = 12.0, 10, 100  # arrivals and slots per week: +2 cases a week
    slopes = []
    for k in range(20):
        times = poisson_times(rate / 7.0, 7.0 * weeks, k)
        out = run_slotted([Case(t) for t in times], 7.0 * weeks, slots=slots)
        t, backlog = backlog_after_sessions(out)
        late = t > 7.0 * 20  # once a queue has formed, every meeting is full ...
        assert all(used == slots for (ts, _, used) in out.sessions if ts > 7.0 * 20)
        slopes.append(np.polyfit(t[late] / 7.0, backlog[late], 1)[0])
    s = np.asarray(slopes)
    half = stats.t.ppf(0.995, len(s) - 1) * s.std(ddof=1) / math.sqrt(len(s))
    assert half < 0.3
    assert abs(s.mean() - (rate - slots)) <= half, f"backlog slope {s.mean():.2f} per week"


def test_utilisation_is_arrivals_over_capacity_when_underloaded() -> None:
    # 6 arrivals a week for 1000 weeks, 10 slots at each of the 1000 meetings: every case is
    # served by the last meeting and utilisation (used / offered) is about 0.6.
    weeks, slots = 1000, 10
    times = poisson_times(6.0 / 7.0, 7.0 * weeks - 6.0, 3)  # the last case before the last meeting
    out = run_slotted([Case(t) for t in times], 7.0 * weeks, slots=slots)
    offered = sum(s[1] for s in out.sessions)
    used = sum(s[2] for s in out.sessions)
    assert len(out.sessions) == weeks and offered == slots * weeks
    assert used == len(times)  # none left waiting
    # Poisson count of mean 6 x 1000 (less the last 6 days): within 3 sd of 0.6.
    assert abs(used / offered - 0.6) < 3 * math.sqrt(6000) / offered + 6 / 7 * 6 / offered


# ---------------------------------------------------------------------------------------------
# Deterministic cases: exact waits by hand
# ---------------------------------------------------------------------------------------------


def test_deterministic_table_with_two_slots() -> None:
    # Meetings Tue 13:00 (1 13/24, 8 13/24, 15 13/24 days), 2 slots, FIFO, no cut-off.
    # Meeting 1 takes A, B (C rolls over); meeting 2 takes C, D (E rolls over); meeting 3 E.
    cases = [Case(0.0), Case(0.5), Case(1.0), Case(2.0), Case(8.0)]
    out = run_slotted(cases, 30.0, slots=2)
    expected = {0: 37 / 24, 1: 25 / 24, 2: 181 / 24, 3: 157 / 24, 4: 181 / 24}
    assert waits(out) == pytest.approx(expected, abs=1e-12)
    assert [s[2] for s in out.sessions[:4]] == [2, 2, 1, 0]


def test_daily_arrivals_at_weekly_meeting_exact_waits() -> None:
    # One case a day at noon; weekly Tuesday 13:00 meeting with 7 slots: nobody rolls over, so
    # the wait is the time to the next Tuesday 13:00: Mon 1 d 1 h, Tue 1 h, Wed 6 d 1 h, ...
    days = 70
    out = run_slotted([Case(d + 0.5) for d in range(days)], days + 7.0, slots=7)
    by_weekday = [1, 0, 6, 5, 4, 3, 2]
    expected = {d: by_weekday[d % 7] + 1 / 24 for d in range(days)}
    assert waits(out) == pytest.approx(expected, abs=1e-12)


def test_daily_arrivals_six_slots_backlog_exact_waits() -> None:
    # Same arrivals (case k at k + 1/2) but 6 slots: by meeting j (at 7j + 1 13/24) cases
    # 0..7j+1 are listed, and served so far S_j = min(S_{j-1} + 6, 7j + 2) = 6j + 2. So case k
    # is served at meeting j = 0 if k < 2, else floor((k - 2) / 6) + 1.
    n = 60
    out = run_slotted([Case(k + 0.5) for k in range(n)], 200.0, slots=6)
    meeting = [0 if k < 2 else (k - 2) // 6 + 1 for k in range(n)]
    expected = {k: 7 * meeting[k] + TUE_1300 - (k + 0.5) for k in range(n)}
    assert waits(out) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Results cut-off, bank holidays, cancellations
# ---------------------------------------------------------------------------------------------


def test_results_cutoff_moves_late_cases_to_the_next_meeting() -> None:
    # Cut-off 2 days before Tuesday 13:00, i.e. Sunday 13:00.
    cases = [Case(0.0), Case(6.5), Case(6.6), Case(7.0)]
    out = run_slotted(cases, 40.0, results_cutoff_days=2.0)
    assert out.served[0] == pytest.approx(7 + TUE_1300)  # 1.54 days before meeting 1: next
    assert out.served[1] == pytest.approx(7 + TUE_1300)  # Sunday 12:00: 2 d 1 h before: in
    assert out.served[2] == pytest.approx(14 + TUE_1300)  # Sunday 14:24: 1.94 d before: next
    assert out.served[3] == pytest.approx(14 + TUE_1300)  # Monday 00:00: next week's


def test_case_listed_at_the_meeting_instant_is_taken_without_cutoff() -> None:
    # Listed at Tuesday 13:00 exactly, no cut-off: discussed at that meeting (wait 0),
    # although SimPy processes the listing after the meeting's own wake-up was scheduled.
    out = run_slotted([Case(TUE_1300), Case(TUE_1300, PROGRESSION)], 20.0)
    assert out.served == {0: TUE_1300, 1: TUE_1300}
    out = run_slotted([Case(TUE_1300)], 20.0, results_cutoff_days=0.5)
    assert out.served == {0: 7 + TUE_1300}


# gov.uk/bank-holidays, England and Wales.
BANK_HOLIDAYS = [
    dt.date(2024, 1, 1),
    dt.date(2024, 3, 29),
    dt.date(2024, 4, 1),
    dt.date(2024, 5, 6),
    dt.date(2024, 5, 27),
    dt.date(2024, 8, 26),
    dt.date(2024, 12, 25),
    dt.date(2024, 12, 26),
    dt.date(2025, 1, 1),
    dt.date(2025, 4, 18),
    dt.date(2025, 4, 21),
    dt.date(2025, 5, 5),
    dt.date(2025, 5, 26),
    dt.date(2025, 8, 25),
    dt.date(2025, 12, 25),
    dt.date(2025, 12, 26),
]


def test_bank_holiday_sessions_are_skipped() -> None:
    sessions = [("mon", 9.0), ("wed", 9.0), ("fri", 9.0)]
    horizon = float((dt.date(2026, 1, 1) - START).days)
    out = run_slotted([Case(0.0)], horizon, sessions=sessions, skip_bank_holidays=True)
    # Monday 1 January 2024 is a bank holiday: the case waits for Wednesday 3 January 09:00.
    assert out.served[0] == pytest.approx(2 + 9 / 24)
    cancelled = [START + dt.timedelta(days=math.floor(t)) for t, _ in out.cancelled]
    expected = [d for d in BANK_HOLIDAYS if d.weekday() in (0, 2, 4)]
    assert cancelled == expected
    assert all(code == 1 for _, code in out.cancelled)
    held = [START + dt.timedelta(days=math.floor(s[0])) for s in out.sessions]
    assert not set(held) & set(BANK_HOLIDAYS)
    assert len(held) + len(cancelled) == 3 * 104 + 2  # every Mon/Wed/Fri of 2024-25


def test_bank_holidays_kept_when_not_skipped() -> None:
    out = run_slotted([Case(0.0)], 10.0, sessions=[("mon", 9.0)], skip_bank_holidays=False)
    assert out.served[0] == pytest.approx(9 / 24)
    assert out.cancelled == []


def test_random_cancellations_at_the_stated_rate() -> None:
    p, weeks = 0.1, 3000
    out = run_slotted([], 7.0 * weeks, cancel_probability=p)
    n = len(out.sessions) + len(out.cancelled)
    assert n == weeks
    k = len(out.cancelled)
    lo, hi = stats.binom.interval(0.99, n, p)
    assert lo <= k <= hi
    assert all(code == 0 for _, code in out.cancelled)


def test_cancelled_meeting_rolls_cases_to_the_next_one() -> None:
    # With every meeting cancelled, nobody is ever served; the case stays listed.
    out = run_slotted([Case(0.0)], 30.0, cancel_probability=1.0)
    assert out.served == {} and len(out.cancelled) == 5


# ---------------------------------------------------------------------------------------------
# Priority rules and escalation
# ---------------------------------------------------------------------------------------------


def test_fifo_serves_in_listing_order() -> None:
    cases = [Case(0.0, PROGRESSION), Case(0.5, NEW)]
    out = run_slotted(cases, 20.0, slots=1, priority="fifo")
    assert out.served == pytest.approx({0: TUE_1300, 1: 7 + TUE_1300})


def test_class_priority_serves_new_before_progression_before_review() -> None:
    cases = [Case(0.0, REVIEW), Case(0.1, PROGRESSION), Case(0.2, NEW), Case(0.3, NEW)]
    out = run_slotted(cases, 40.0, slots=1, priority="class")
    assert out.served == pytest.approx(
        {2: TUE_1300, 3: 7 + TUE_1300, 1: 14 + TUE_1300, 0: 21 + TUE_1300}
    )


def test_class_order_is_a_parameter() -> None:
    cases = [Case(0.0, NEW), Case(0.1, PROGRESSION)]
    out = run_slotted(cases, 20.0, slots=1, priority="class", class_order=[1, 0, 2])
    assert out.served == pytest.approx({1: TUE_1300, 0: 7 + TUE_1300})


def test_escalation_puts_a_case_near_its_breach_first() -> None:
    # A review whose 62-day breach is 3.5 days after the meeting (within escalation_days = 7)
    # goes before a new patient; one whose breach is 30 days away does not.
    urgent = [Case(0.0, NEW), Case(0.2, REVIEW, deadline=5.0)]
    out = run_slotted(urgent, 20.0, slots=1, priority="class", escalation_days=7.0)
    assert out.served == pytest.approx({1: TUE_1300, 0: 7 + TUE_1300})
    calm = [Case(0.0, NEW), Case(0.2, REVIEW, deadline=30.0)]
    out = run_slotted(calm, 20.0, slots=1, priority="class", escalation_days=7.0)
    assert out.served == pytest.approx({0: TUE_1300, 1: 7 + TUE_1300})
    # Without escalation the near-breach review waits its turn behind the new patient.
    out = run_slotted(urgent, 20.0, slots=1, priority="class")
    assert out.served == pytest.approx({0: TUE_1300, 1: 7 + TUE_1300})


def test_deadline_priority_serves_earliest_breach_first() -> None:
    cases = [Case(0.0), Case(0.1, deadline=40.0), Case(0.2, deadline=20.0)]
    out = run_slotted(cases, 40.0, slots=1, priority="deadline")
    assert out.served == pytest.approx({2: TUE_1300, 1: 7 + TUE_1300, 0: 14 + TUE_1300})


def test_a_case_that_leaves_is_not_served() -> None:
    # Two cases, one slot: the second dies (leave_time 3) before its turn at meeting 2.
    cases = [Case(0.0), Case(0.5, leave_time=3.0)]
    out = run_slotted(cases, 20.0, slots=1)
    assert out.served == pytest.approx({0: TUE_1300})
    assert out.left == pytest.approx({1: 3.0})
    assert out.values == {0: True, 1: False}
