"""Cost per simulated England-year at population_scale 0.5, 1, 2 and 4: should stay flat.

python benchmarks/scaling.py [--runs 2] [--years 5]
"""

from __future__ import annotations

import argparse

from _common import BASELINE, median, table, timed, write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--scales", default="0.5,1,2,4")
    args = parser.parse_args()
    from sim.model.simulation import simulate
    from sim.scenario.loader import load_scenario_file, with_population_scale

    base, controls = load_scenario_file(BASELINE)
    controls = controls.model_validate(
        {**controls.model_dump(), "years": args.years, "warmup_years": args.years}
    )
    rows = []
    for scale in [float(x) for x in args.scales.split(",")]:
        scenario = with_population_scale(base, scale)
        walls, patients = [], []
        for i in range(args.runs):
            wall, result = timed(simulate, scenario, i, controls)
            walls.append(wall)
            patients.append(len(result.patients["patient"]))
        years = controls.horizon_days / 365.25
        w = median(walls)
        rows.append(
            {
                "scale": scale,
                "seconds": w,
                "patients": int(median(patients)),
                "sec_per_england_year": w / (scale * years),
                "ms_per_patient": 1000 * w / median(patients),
            }
        )
    ref = (
        rows[[r["scale"] for r in rows].index(1.0)]["sec_per_england_year"]
        if any(r["scale"] == 1.0 for r in rows)
        else rows[0]["sec_per_england_year"]
    )
    for r in rows:
        r["relative"] = r["sec_per_england_year"] / ref
    print(table(rows))
    spread = max(r["relative"] for r in rows) / min(r["relative"] for r in rows) - 1
    print(f"\nspread of time per England-year: {spread:.0%} (target: within 20%)")
    print("written:", write("scaling", {"rows": rows, "spread": spread}))


if __name__ == "__main__":
    main()
