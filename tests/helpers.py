"""Test helpers: the baseline scenario as data, small and deterministic variants of it."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from sim.scenario.loader import load_scenario_dict, merge_overlay
from sim.scenario.schema import RunControls, Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "current_practice.toml"


def quick_run_options(replications: int = 2) -> list[str]:
    """Run-control options of ``nenpath`` for a quick run: 2% of England, half a year of
    warm-up, one measured year."""
    return [
        "--replications",
        str(replications),
        "--years",
        "1",
        "--warmup-years",
        "0.5",
        "--scale",
        "0.02",
    ]


def baseline_dict() -> dict[str, Any]:
    """The baseline scenario file as a plain dict (no validation)."""
    with BASELINE.open("rb") as fh:
        return tomllib.load(fh)


def make_scenario(
    overlay: dict[str, Any] | None = None, scale: float = 0.02, **run: Any
) -> tuple[Scenario, RunControls]:
    """Baseline + overlay, at ``scale`` of England, validated; ``run`` overrides run controls."""
    data = merge_overlay(baseline_dict(), copy.deepcopy(overlay or {}))
    data["population"]["population_scale"] = scale
    data["run"] = {**data.get("run", {}), **run}
    return load_scenario_dict(data)


def fixed(value: float) -> dict[str, Any]:
    return {"dist": "fixed", "value": value}
