"""The model's events per second against a bare SimPy loop with the same number of events and
of pending processes, in the same process.

The bare loop runs P processes, each yielding timeouts with exponential delays, until E events
have been processed; P and E come from a national replication (P = events still scheduled at
its horizon, a proxy for the processes waiting; E = its SimPy events).

    python benchmarks/engine_overhead.py [--runs 3]
"""

from __future__ import annotations

import argparse
import random

import simpy
from _common import BASELINE, median, table, timed, write


def bare_loop(n_events: int, n_processes: int) -> float:
    """Seconds for a bare SimPy loop processing ``n_events`` events with ``n_processes``
    processes always pending."""
    env = simpy.Environment()
    rng = random.Random(1)
    per = max(1, n_events // max(n_processes, 1))

    def proc():  # type: ignore[no-untyped-def]
        for _ in range(per):
            yield env.timeout(rng.expovariate(1.0))

    for _ in range(n_processes):
        env.process(proc())
    wall, _ = timed(env.run)
    return wall, per * n_processes + 2 * n_processes  # timeouts + init + process end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from sim.model.simulation import simulate
    from sim.scenario.loader import load_scenario_file

    scenario, controls = load_scenario_file(BASELINE)
    rows = []
    for i in range(args.runs):
        wall, result = timed(simulate, scenario, i, controls)
        model_rate = result.sim_events / wall
        pending = max(result.pending_events, 1)
        bare_wall, bare_events = bare_loop(result.sim_events, pending)
        bare_rate = bare_events / bare_wall
        rows.append(
            {
                "run": i + 1,
                "model_events": result.sim_events,
                "model_seconds": wall,
                "model_events_per_s": model_rate,
                "pending": pending,
                "bare_events_per_s": bare_rate,
                "ratio": model_rate / bare_rate,
            }
        )
    print(table(rows))
    ratio = median([r["ratio"] for r in rows])
    print(f"\nmedian ratio model/bare SimPy: {ratio:.2f} (issue 17 asks at least 0.35)")
    print("written:", write("engine_overhead", {"runs": rows, "median_ratio": ratio}))


if __name__ == "__main__":
    main()
