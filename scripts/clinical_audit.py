"""Clinical audit of a scenario's course after diagnosis (sim/measures/clinical_audit.py):
survival from diagnosis and from the start of PRRT, what comes before PRRT, stage at diagnosis
at indolent sites, against published series; then the calibration targets the run misses.

    python scripts/clinical_audit.py [SCENARIO] [--scale 0.3] [--years 10] [--warmup 12]
        [--set survival.progression_survival_correlation=0.6 ...]

One replication; at --scale 0.3 it takes about ten seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.calibration.targets import load_targets  # noqa: E402
from sim.measures.clinical_audit import clinical_audit  # noqa: E402
from sim.measures.kpis import replication_kpis  # noqa: E402
from sim.model.simulation import simulate  # noqa: E402
from sim.scenario.loader import load_scenario_file, with_changes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios/current_practice.toml"))
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a scenario value (dotted key, JSON value)",
    )
    a = ap.parse_args()
    changes = {k: json.loads(v) for k, v in (item.split("=", 1) for item in a.set)}
    scenario, controls = load_scenario_file(a.scenario)
    scenario = with_changes(scenario, {"population.population_scale": a.scale, **changes})
    controls = controls.model_copy(
        update={
            "years": a.years,
            "warmup_years": a.warmup,
            "seed": a.seed,
            "policy_start_years": None,
        }
    )
    result = simulate(scenario, 0, controls)
    rows = clinical_audit(result)
    w = max(len(r.label) for r in rows)
    print(f"{'measure':<{w}}  {'n':>6}  {'model':>7}  {'range':>11}  published")
    for r in rows:
        rng = "" if math.isnan(r.low) else f"{r.low:g}-{r.high:g}"
        flag = "" if math.isnan(r.low) or r.within else "  MISSED"
        flag += " (known: docs/evidence.md)" if flag and r.known_miss else ""
        print(f"{r.label:<{w}}  {r.n:>6}  {r.value:>7.1f}  {rng:>11}  {r.published}{flag}")
    kpis = replication_kpis(result)
    print("\nCalibration targets (calibration/targets.toml) outside their interval:")
    for t in load_targets(ROOT / "calibration" / "targets.toml"):
        value = kpis.get(t.kpi, float("nan"))
        if not t.pending and not t.low <= value <= t.high:
            print(f"  {t.name}: {value:.4g} not in [{t.low:.4g}, {t.high:.4g}]")


if __name__ == "__main__":
    main()
