"""8 replications with 1 and with 2 local worker processes: speed-up.

Then, to tell the runner's own overhead from the machine's: the wall time of one replication
simulated alone in a fresh process, and of the same replication in two processes at once. If
the two cores slow each other down (shared caches, memory bandwidth, a virtual machine's
neighbours), no scheduling of replications can reach 2x: the ceiling is 2 x solo / together.

python benchmarks/parallel.py [--replications 8] [--scale 0.5] [--years 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import BASELINE, ROOT, table, timed, write

ONE_REPLICATION = """
import sys, time
from sim.scenario.loader import load_scenario_file, with_population_scale
from sim.model.simulation import simulate
base, controls = load_scenario_file(sys.argv[1])
controls = controls.model_validate(
    {**controls.model_dump(), "years": float(sys.argv[3]), "warmup_years": float(sys.argv[3])}
)
scenario = with_population_scale(base, float(sys.argv[2]))
t = time.perf_counter()
simulate(scenario, 0, controls)
print(time.perf_counter() - t)
"""


def replication_seconds(copies: int, scale: float, years: float) -> list[float]:
    """Wall seconds of replication 0, simulated in ``copies`` fresh processes at once (the
    timing excludes start-up and imports)."""
    cmd = [sys.executable, "-c", ONE_REPLICATION, str(BASELINE), str(scale), str(years)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(copies)
    ]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--years", type=float, default=5.0)
    args = parser.parse_args()
    from sim.experiment.runner import run_experiment
    from sim.scenario.loader import load_scenario_file, with_population_scale

    base, controls = load_scenario_file(BASELINE)
    scenario = with_population_scale(base, args.scale)
    rows, outputs = [], {}
    for workers in (1, 2):
        c = controls.model_validate(
            {
                **controls.model_dump(),
                "years": args.years,
                "warmup_years": args.years,
                "workers": workers,
                "replications": args.replications,
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            wall, _ = timed(run_experiment, [scenario], c, out, progress=False)
            outputs[workers] = (out / "replications.csv").read_bytes()
        rows.append({"workers": workers, "replications": args.replications, "seconds": wall})
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    identical = outputs[1] == outputs[2]
    solo = replication_seconds(1, args.scale, args.years)[0]
    together = max(replication_seconds(2, args.scale, args.years))
    ceiling = 2 * solo / together
    print(table(rows))
    print(
        f"\nspeed-up with 2 workers: {speedup:.2f}x (target: at least 1.8x); "
        f"replications.csv identical: {identical}"
    )
    print(
        f"one replication alone: {solo:.2f} s; two at once in separate processes: "
        f"{together:.2f} s each (the slower): the machine's ceiling is {ceiling:.2f}x, and the "
        f"runner reaches {speedup / ceiling:.0%} of it"
    )
    print(
        "written:",
        write(
            "parallel",
            {
                "rows": rows,
                "speedup": speedup,
                "identical": identical,
                "replication_alone_seconds": solo,
                "replication_two_at_once_seconds": together,
                "machine_ceiling": ceiling,
                "scale": args.scale,
                "years": args.years,
            },
        ),
    )


if __name__ == "__main__":
    main()
