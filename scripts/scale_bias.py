"""How far a capacity KPI computed at a small --scale is from the same KPI at full scale.

    python scripts/scale_bias.py [--scales 0.1,0.25,0.5,1] [--replications 5] [--years 5]

At a population scale below 1 every queue holds fewer patients and has proportionally fewer
slots or servers; at the same utilisation a smaller queue waits longer (and slots per session
are rounded), so KPIs set by queues at finite capacity (the registry's "capacity" view) are
biased, not just noisier. This runs current practice at each scale with the same seed and
prints, per capacity KPI, the mean at each scale, its difference from full scale, and the
half-width of the full-scale 95% CI. A scale is "safe" for a KPI when the difference is within
that half-width. Writes outputs/scale_bias/scale_bias.csv and prints a Markdown table (the
README's "Scale" section carries the one measured on 2026-12-02).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from sim.experiment.analysis import t_interval  # noqa: E402
from sim.experiment.runner import run_experiment  # noqa: E402
from sim.measures.kpis import REGISTRY  # noqa: E402
from sim.measures.registry import view  # noqa: E402
from sim.scenario.loader import load_scenario_file, with_population_scale  # noqa: E402

SHOWN = (
    "rtt_62d_share",
    "fds_28d_share",
    "specialist_mdt_within_14d_share",
    "diagnosis_to_specialist_mdt_days_median",
    "specialist_mdt_utilisation",
    "pet_wait_days_median",
    "prrt_wait_days_median",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default="0.1,0.25,0.5,1")
    p.add_argument("--replications", type=int, default=5)
    p.add_argument("--years", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    base, controls = load_scenario_file(ROOT / "scenarios" / "current_practice.toml")
    controls = controls.model_copy(
        update={"replications": a.replications, "years": a.years, "workers": a.workers}
    )
    kpis = view(REGISTRY, "capacity")
    frames = []
    for scale in [float(x) for x in a.scales.split(",")]:
        scen = with_population_scale(base, scale)
        res = run_experiment([scen], controls, progress=False)
        reps = res.replications[list(kpis)].copy()
        reps.insert(0, "scale", scale)
        frames.append(reps)
        print(f"scale {scale:g}: done", file=sys.stderr, flush=True)
    reps = pd.concat(frames, ignore_index=True)
    full = reps[reps["scale"] == 1.0]
    rows = []
    for kpi in kpis:
        m1, lo1, hi1, _ = t_interval(full[kpi].to_numpy(float))
        half = (hi1 - lo1) / 2
        for scale, g in reps.groupby("scale"):
            m = float(g[kpi].mean())
            rows.append(
                {"kpi": kpi, "scale": scale, "mean": m, "bias": m - m1, "full_ci_half_width": half,
                 "within_ci": abs(m - m1) <= half}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    out = ROOT / "outputs" / "scale_bias"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "scale_bias.csv", index=False)
    scales = sorted(reps["scale"].unique())
    print("| KPI | " + " | ".join(f"scale {s:g}" for s in scales) + " |")
    print("|---|" + "---:|" * len(scales))
    for kpi in SHOWN:
        t = table[table["kpi"] == kpi].set_index("scale")
        pct = kpi.endswith("_share") or kpi.endswith("_utilisation")
        cells = []
        for s in scales:
            m, b = t.loc[s, "mean"], t.loc[s, "bias"]
            if pct:
                text = f"{100 * m:.1f}%" + ("" if s == 1 else f" ({100 * b:+.1f})")
            else:
                text = f"{m:.1f} d" + ("" if s == 1 else f" ({b:+.1f})")
            cells.append(text + ("" if s == 1 or t.loc[s, "within_ci"] else " *"))
        print(f"| {kpi} | " + " | ".join(cells) + " |")
    safe = [s for s in scales if table[(table["scale"] == s)]["within_ci"].all()]
    print(f"\nsmallest scale with every capacity KPI within the full-scale CI: {min(safe):g}")


if __name__ == "__main__":
    main()
