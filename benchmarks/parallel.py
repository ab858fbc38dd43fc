"""8 replications with 1 and with 2 local worker processes: speed-up.

python benchmarks/parallel.py [--replications 8] [--scale 0.5] [--years 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import BASELINE, table, timed, write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--years", type=float, default=5.0)
    args = parser.parse_args()
    from sim.loader import load_scenario_file, with_population_scale
    from sim.runner import run_experiment

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
    print(table(rows))
    print(
        f"\nspeed-up with 2 workers: {speedup:.2f}x (target: at least 1.8x); "
        f"replications.csv identical: {identical}"
    )
    print(
        "written:",
        write(
            "parallel",
            {
                "rows": rows,
                "speedup": speedup,
                "identical": identical,
                "scale": args.scale,
                "years": args.years,
            },
        ),
    )


if __name__ == "__main__":
    main()
