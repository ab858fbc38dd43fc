"""ServerPool reduced to M/M/c, checked against Erlang C and Little's law.

Truth is queueing theory, computed here independently of the package:

* Erlang C (Erlang 1917; e.g. Gross et al., *Fundamentals of Queueing Theory*, 4th ed., s. 2.3):
  with offered load ``a = lambda / mu`` on ``c`` servers and ``rho = a / c < 1``, the
  probability that an arrival waits is ``C(c, a) = B / (1 - rho (1 - B))`` where
  ``B = P(c; a) / F(c; a)`` is Erlang B written with the Poisson pmf and cdf, and the mean wait
  in queue is ``Wq = C / (c mu - lambda)``.
* Little's law ``Lq = lambda Wq`` (Little 1961), here on the sample path: the time-average
  queue length rebuilt from QUEUE_JOIN / SERVICE_START events against the waits of the
  arrivals over the same window.

Each replication starts in steady state: the initial number in the system is drawn from the
M/M/c stationary distribution and those customers are put in the pool at t = 0 with fresh
exponential service times, which is exact because the exponential is memoryless. There is then
no initial bias and no warm-up to choose; by PASTA every Poisson arrival after t = 0 sees the
stationary queue, so the mean wait of the arrivals in a replication is an unbiased estimate of
``Wq`` and the replication means are independent.

Tolerance: the analytic value must lie inside the 99% t-interval of the mean over
replications, and the interval must be narrow enough to mean something (its half-width at most
``max_rel_hw`` of the value). At utilisation 0.95 a 20% half-width on ``Wq`` still detects a 1%
error in service capacity: ``Wq`` is proportional to ``1 / (1 - rho)``, so a 1% slower server
(rho 0.9596) raises it by 24%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import pytest
import simpy
from numpy.typing import NDArray
from scipy import stats

from sim.core.events import EventKind, EventLog
from sim.core.streams import Streams
from sim.model.resources import ServerPool

MU = 1.0
"""Service rate per server (per day); service times are exponential with mean 1 day."""
SEED = 20240401
INITIAL = 10**8
"""Patient ids of the customers already in the system at t = 0 (not Poisson arrivals)."""


# ---------------------------------------------------------------------------------------------
# Queueing theory (independent of the package)
# ---------------------------------------------------------------------------------------------


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a`` (Erlang C via Erlang B)."""
    b = stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)
    rho = a / c
    return float(b / (1.0 - rho * (1.0 - b)))


def mmc_wq(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/c (days)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_stationary(c: int, rho: float, n_max: int = 3000) -> NDArray[np.float64]:
    """Stationary probabilities of the number in an M/M/c system, ``n = 0 .. n_max``."""
    a = c * rho
    n = np.arange(n_max + 1)
    log_fact = np.array([math.lgamma(k + 1) for k in n])
    logp = np.where(
        n <= c,
        n * math.log(a) - log_fact,
        c * math.log(a) - math.lgamma(c + 1) + (n - c) * math.log(rho),
    )
    p = np.exp(logp - logp.max())
    return p / p.sum()


def test_erlang_c_matches_known_values() -> None:
    # M/M/1: an arrival waits with probability rho; M/M/2 with a = 1: C = 1/3 (a^2/(2!(2-a))
    # over 1 + a + that = 1/(2+1)); both by hand.
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert mmc_wq(1, 0.5, 1.0) == pytest.approx(1.0)  # rho / (mu - lambda)
    # Stationary M/M/1 is geometric: P(N = n) = (1 - rho) rho^n.
    p = mmc_stationary(1, 0.5, n_max=60)
    assert p[:4] == pytest.approx([0.5, 0.25, 0.125, 0.0625])


# ---------------------------------------------------------------------------------------------
# The simulation: Poisson arrivals to a ServerPool, from named streams
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replication:
    wq: float
    """Mean wait in queue of the Poisson arrivals in [0, T] (days)."""
    p_wait: float
    """Share of those arrivals that waited."""
    lq: float
    """Time-average number waiting over [0, T], rebuilt from the event log."""
    little_gap: float
    """``lq - (sum of the arrivals' waits) / T``: zero in expectation by Little's law."""


def _exponential_ppf(mu: float) -> Callable[[float], float]:
    """Inverse cdf of the exponential distribution with rate ``mu``."""
    return lambda u: -math.log1p(-u) / mu


def simulate_mmc(c: int, rho: float, horizon: float, replication: int) -> Replication:
    """One replication of M/M/c started in steady state, observed over ``[0, horizon]`` days."""
    streams = Streams(SEED, replication)
    lam = rho * c * MU
    env = simpy.Environment()
    log = EventLog()
    pool = ServerPool(env, log, 0, "mmc", c, _exponential_ppf(MU), streams.get("service"))
    p0 = mmc_stationary(c, rho)
    initial = int(streams.get("initial_state").choice(len(p0), p=p0))
    for i in range(initial):
        pool.request(INITIAL + i)
    arrivals = streams.get("arrivals")

    def arrive() -> Generator[simpy.Event, None, None]:
        i = 0
        while True:
            yield env.timeout(arrivals.exponential(1.0 / lam))
            if env.now > horizon:
                return
            pool.request(i)
            i += 1

    env.process(arrive())
    env.run()  # until every arrival has been served
    return _measure(log, horizon)


def _measure(log: EventLog, horizon: float) -> Replication:
    ev = log.arrays()
    t, patient, kind = ev["time"], ev["patient"], ev["kind"]
    join = kind == EventKind.QUEUE_JOIN
    start = kind == EventKind.SERVICE_START
    arrived = patient < INITIAL
    ids = patient[arrived & join]
    join_t = np.full(ids.max() + 1, np.nan)
    join_t[ids] = t[arrived & join]
    start_t = np.full(ids.max() + 1, np.nan)
    start_t[patient[arrived & start]] = t[arrived & start]
    waits = start_t - join_t
    assert not np.isnan(waits).any(), "every arrival must have been served"

    # Queue length: +1 at each join, -1 at each service start (the log is time-sorted and a
    # join precedes its own immediate start); area over [0, horizon].
    step = np.where(join, 1, np.where(start, -1, 0))
    keep = step != 0
    times, level = t[keep], np.cumsum(step[keep])
    ends = np.minimum(np.append(times[1:], horizon), horizon)
    area = float(np.sum(level * np.clip(ends - np.minimum(times, horizon), 0, None)))
    lq = area / horizon
    return Replication(
        wq=float(waits.mean()),
        p_wait=float((waits > 1e-12).mean()),
        lq=lq,
        little_gap=lq - float(waits.sum()) / horizon,
    )


def ci99(x: list[float]) -> tuple[float, float, float]:
    """Mean and 99% t-interval over replications."""
    a = np.asarray(x, dtype=float)
    half = float(stats.t.ppf(0.995, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return float(a.mean()), float(a.mean() - half), float(a.mean() + half)


# (servers, utilisation, horizon in days per replication, replications, max relative half-width
# of the 99% CI of Wq and Lq). Sized so the module takes about 10 s: the variance of a mean wait
# grows like 1 / (1 - rho)^2, so the heavy-traffic case needs the most customers (~285,000).
CASES = [
    (1, 0.5, 3000.0, 20, 0.10),
    (3, 0.8, 3000.0, 20, 0.15),
    (2, 0.95, 5000.0, 30, 0.25),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"c{c[0]}_rho{c[1]}")
def mmc(request: pytest.FixtureRequest) -> tuple[int, float, float, list[Replication]]:
    c, rho, horizon, reps, max_hw = request.param
    runs = [simulate_mmc(c, rho, horizon, k) for k in range(reps)]
    return c, rho, max_hw, runs


def test_mean_wait_matches_erlang_c(mmc: tuple[int, float, float, list[Replication]]) -> None:
    c, rho, max_hw, runs = mmc
    truth = mmc_wq(c, rho * c * MU, MU)
    _, lo, hi = ci99([r.wq for r in runs])
    assert (hi - lo) / 2 <= max_hw * truth, f"CI too wide to be a test: [{lo:.3f}, {hi:.3f}]"
    assert lo <= truth <= hi, f"Erlang C Wq={truth:.4f} outside 99% CI [{lo:.4f}, {hi:.4f}]"


def test_probability_of_waiting_matches_erlang_c(
    mmc: tuple[int, float, float, list[Replication]],
) -> None:
    c, rho, _, runs = mmc
    truth = erlang_c(c, rho * c)
    _, lo, hi = ci99([r.p_wait for r in runs])
    assert (hi - lo) / 2 <= 0.05 * truth
    assert lo <= truth <= hi, f"Erlang C P(wait)={truth:.4f} outside 99% CI [{lo:.4f}, {hi:.4f}]"


def test_littles_law_from_the_log(mmc: tuple[int, float, float, list[Replication]]) -> None:
    c, rho, max_hw, runs = mmc
    lam = rho * c * MU
    truth_lq = lam * mmc_wq(c, lam, MU)
    # The time-average queue length rebuilt from the log agrees with Lq = lambda Wq ...
    _, lo, hi = ci99([r.lq for r in runs])
    assert (hi - lo) / 2 <= max_hw * truth_lq
    assert lo <= truth_lq <= hi, f"Lq={truth_lq:.4f} outside 99% CI [{lo:.4f}, {hi:.4f}]"
    # ... and, on the sample path, with the arrivals' own waits (zero gap in expectation).
    gap, glo, ghi = ci99([r.little_gap for r in runs])
    assert glo <= 0.0 <= ghi, f"Little's law gap {gap:.4f}, 99% CI [{glo:.4f}, {ghi:.4f}]"
    assert abs(gap) <= 0.02 * truth_lq


if __name__ == "__main__":  # python -m tests.verification.test_queueing: the figures, printed
    for c, rho, horizon, reps, _ in CASES:
        runs = [simulate_mmc(c, rho, horizon, k) for k in range(reps)]
        lam = rho * c * MU
        wq = mmc_wq(c, lam, MU)
        for name, values, truth in (
            ("Wq", [r.wq for r in runs], wq),
            ("P(wait)", [r.p_wait for r in runs], erlang_c(c, rho * c)),
            ("Lq", [r.lq for r in runs], lam * wq),
        ):
            m, lo, hi = ci99(values)
            print(f"c={c} rho={rho} {name}: {m:.3f} [{lo:.3f}, {hi:.3f}] (99% CI) vs {truth:.3f}")
