"""One replication of current practice for all of England: 10 measured years after the default
warm-up. Prints wall time, SimPy events, events per second, peak memory and patients, as the
median of several runs (each in a fresh process, so peak memory is per run).

    python benchmarks/national.py [--runs 3] [--years 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import BASELINE, ROOT, median, peak_rss_mb, table, timed, write


def one_run(years: float) -> dict[str, float]:
    from sim.measures.kpis import patient_journeys, replication_kpis
    from sim.model.simulation import simulate
    from sim.scenario.loader import load_scenario_file

    scenario, controls = load_scenario_file(BASELINE)
    controls = controls.model_validate({**controls.model_dump(), "years": years})
    wall, result = timed(simulate, scenario, 0, controls)
    kpi_wall, _ = timed(lambda r: replication_kpis(r, patient_journeys(r)), result)
    return {
        "simulate_seconds": wall,
        "kpi_seconds": kpi_wall,
        "total_seconds": wall + kpi_wall,
        "simulated_years": controls.horizon_days / 365.25,
        "warmup_years": controls.warmup_days / 365.25,
        "sim_events": result.sim_events,
        "events_per_second": result.sim_events / wall,
        "logged_events": len(result.events["time"]),
        "patients": len(result.patients["patient"]),
        "pending_events_at_end": result.pending_events,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.years)))
        return
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--years", str(args.years)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {k: median([r[k] for r in runs]) for k in runs[0]}
    print(table([{"run": i + 1, **r} for i, r in enumerate(runs)]))
    print(
        f"\nmedian of {len(runs)}: {summary['total_seconds']:.1f} s per national replication "
        f"({summary['simulated_years']:.0f} simulated years incl. "
        f"{summary['warmup_years']:.0f} warm-up), {summary['events_per_second']:,.0f} events/s, "
        f"peak {summary['peak_rss_mb']:.0f} MB"
    )
    print("targets: under 15 s, under 1 GB")
    print("written:", write("national", {"runs": runs, "median": summary}))


if __name__ == "__main__":
    main()
