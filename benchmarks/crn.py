"""Common random numbers at work: paired vs unpaired 95% CI half-widths of scenario differences.

Runs current practice and two single-lever interventions with the same replications (so
replication k of each sees the same synthetic patients), then sets the paired-t CI of each
difference beside the Welch CI that ignores the pairing, on the same runs.

python benchmarks/crn.py [--replications 10] [--scale 0.1] [--years 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from _common import BASELINE, ROOT, table, write

INTERVENTIONS = ROOT / "scenarios" / "interventions"
OTHERS = {
    name: INTERVENTIONS / f"{name}.toml"
    for name in ("nens_in_referral_guidance", "extra_specialist_mdt_session")
}
KPIS = {
    "nens_in_referral_guidance": [
        "symptom_to_diagnosis_days_median",
        "diagnostic_interval_days_median",
        "emergency_presentation_share",
        "stage_distant_at_diagnosis_share",
    ],
    "extra_specialist_mdt_session": [
        "diagnosis_to_specialist_mdt_days_median",
        "specialist_mdt_within_14d_share",
        "rtt_62d_share",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from sim.experiment.analysis import paired_difference, unpaired_difference
    from sim.experiment.runner import run_experiment
    from sim.scenario.loader import load_scenario_file, with_population_scale

    base, controls = load_scenario_file(BASELINE)
    scenarios = [with_population_scale(base, args.scale)]
    scenarios += [
        with_population_scale(load_scenario_file(path)[0], args.scale) for path in OTHERS.values()
    ]
    c = controls.model_validate(
        {
            **controls.model_dump(),
            "years": args.years,
            "workers": args.workers,
            "replications": args.replications,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        run_experiment(scenarios, c, out, progress=False)
        reps = pd.read_csv(out / "replications.csv")
    rows = []
    for other, kpis in KPIS.items():
        for kpi in kpis:
            d, lo, hi, _ = paired_difference(reps, base.name, other, kpi)
            _d, ulo, uhi = unpaired_difference(reps, base.name, other, kpi)
            rows.append(
                {
                    "scenario": other,
                    "kpi": kpi,
                    "difference": d,
                    "paired_half_width": (hi - lo) / 2,
                    "unpaired_half_width": (uhi - ulo) / 2,
                    "ratio": (hi - lo) / (uhi - ulo),
                }
            )
    print(table(rows))
    print(
        f"\n{args.replications} replications per scenario, scale {args.scale}, "
        f"{args.years:g} measured years after the scenario's warm-up; ratio < 1: common random "
        "numbers narrow the CI"
    )
    print("written:", write("crn", {"rows": rows, **vars(args)}))


if __name__ == "__main__":
    main()
