"""One shared warm-up per replication, branched into every scenario: how much faster?

Times, in one run, with the shared prefix (``--branching fork``: each replication simulates
the history up to the policy start once and forks a branch per scenario) and without it
(``recompute``: every branch simulates that history again, as every scenario did before),
the same code otherwise:

* a 3-scenario comparison (current practice, the Ideal Pathway, national commissioning);
* a 5-candidate sizing (``nenpath size --candidates``: five specialist MDT capacities for
  the North West, all branched from current practice).

Prints the wall times and the ratios, checks the two modes gave identical KPIs, and writes
``outputs/benchmarks/branching.json``.

    python benchmarks/branching.py [--scale 1] [--years 5] [--replications 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import BASELINE, ROOT, table, timed, write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--warmup-years", type=float, default=None)
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import pandas as pd

    from sim.experiment.runner import run_experiment
    from sim.experiment.sizing import size_resource
    from sim.scenario.loader import load_scenario_file, with_population_scale
    from sim.scenario.schema import RunControls

    cp, controls = load_scenario_file(BASELINE)
    others = [
        load_scenario_file(ROOT / "scenarios" / f)[0]
        for f in ("ideal_pathway.toml", "national_commissioning.toml")
    ]
    scenarios = [with_population_scale(s, args.scale) for s in (cp, *others)]
    run = {
        **controls.model_dump(),
        "years": args.years,
        "replications": args.replications,
        "workers": args.workers,
    }
    if args.warmup_years is not None:
        run["warmup_years"] = args.warmup_years
    controls = RunControls.model_validate(run)
    base = scenarios[0]
    candidates = [14, 16, 18, 20, 22]  # North West specialist MDT slots a week (19 today)

    rows, kpis = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for job in ("compare", "size"):
            for mode in ("recompute", "fork"):
                if job == "compare":
                    wall, res = timed(
                        run_experiment, scenarios, controls, None, progress=False, base=base,
                        branching=mode,
                    )  # fmt: skip
                    reps = res.replications
                else:
                    wall, res = timed(
                        size_resource, base, controls, "specialist_mdt.north_west",
                        "diagnosis_to_specialist_mdt_days_p90__north_west", 28.0,
                        Path(tmp) / f"size_{mode}", candidates=candidates, branching=mode,
                        progress=False,
                    )  # fmt: skip
                    folder = Path(tmp) / f"size_{mode}" / "candidates"
                    reps = pd.read_csv(folder / "replications.csv")
                kpis[(job, mode)] = reps
                rows.append({"job": job, "branching": mode, "wall_seconds": round(wall, 1)})
                print(f"{job} {mode}: {wall:.1f} s", flush=True)
    for job in ("compare", "size"):
        pd.testing.assert_frame_equal(kpis[(job, "fork")], kpis[(job, "recompute")])
    walls = {(r["job"], r["branching"]): r["wall_seconds"] for r in rows}
    ratios = {job: walls[(job, "recompute")] / walls[(job, "fork")] for job in ("compare", "size")}
    print(table(rows))
    print(
        f"speed-up with the shared prefix: compare {ratios['compare']:.2f} x (3 scenarios), "
        f"size {ratios['size']:.2f} x (5 candidates); identical KPIs in both modes"
    )
    path = write(
        "branching",
        {
            "scale": args.scale,
            "years": args.years,
            "warmup_years": controls.warmup_days / 365.25,
            "replications": args.replications,
            "workers": args.workers,
            "runs": rows,
            "ratios": ratios,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
