"""Hashes of every scenario's full event log and result arrays, to check that a change meant to
preserve behaviour (a speed-up) changes no number:

    python scripts/event_hashes.py > before.txt   # ... change ...
    python scripts/event_hashes.py | diff before.txt -

Each scenario in scenarios/ (recursively) at --scale 0.1, replications 0 and 1, from t = 0, and
each intervention branched from current practice at a policy start (the recompute path).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.model.simulation import RunResult, simulate, simulate_branches  # noqa: E402
from sim.scenario.loader import load_scenario_file, with_population_scale  # noqa: E402

SCALE = 0.1
REPLICATIONS = (0, 1)


def digest(result: RunResult) -> str:
    h = hashlib.sha256()
    for group in (result.events, result.patients, result.extra):
        for name in sorted(group):
            arr = np.ascontiguousarray(group[name])
            h.update(name.encode())
            h.update(str(arr.dtype).encode())
            h.update(arr.tobytes())
    h.update(repr(result.resources).encode())
    return h.hexdigest()[:16]


def main() -> None:
    files = sorted((ROOT / "scenarios").rglob("*.toml"))
    base, _ = load_scenario_file(ROOT / "scenarios" / "current_practice.toml")
    base = with_population_scale(base, SCALE)
    for f in files:
        scenario, controls = load_scenario_file(f)
        scenario = with_population_scale(scenario, SCALE)
        for rep in REPLICATIONS:
            r = simulate(scenario, rep, controls)
            print(
                f"{f.relative_to(ROOT)} rep {rep}: {digest(r)} events {len(r.events['time'])}"
                f" sim_events {r.sim_events}"
            )
        if f.parent.name == "interventions":
            out = simulate_branches(base, [scenario], 0, controls, fork=False)[0]
            print(f"{f.relative_to(ROOT)} branched rep 0: {digest(out)}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
