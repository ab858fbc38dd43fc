"""nen-pathway: discrete-event simulation of the NEN care pathway in England.

Public API::

    from sim import load_scenario, simulate, run_experiment

    scenario, controls = load_scenario_file("scenarios/current_practice.toml")
    result = simulate(scenario, replication=0, controls=controls)     # one replication
    experiment = run_experiment([scenario], controls)                  # replications + CIs
    comparison = run_comparison([base, ideal], controls, Path("outputs/cmp"))  # + report
    sizing = size_resource(scenario, controls, "specialist_mdt.north_west", kpi, target, out)

(``warmup_analysis`` is in :mod:`sim.warmup`, ``calibrate`` in :mod:`sim.calibration`.)
"""

from __future__ import annotations

from .compare import ComparisonResult, run_comparison
from .config import RunControls, Scenario
from .errors import (
    NenPathError,
    OutputExistsError,
    ReplicationError,
    RunControlError,
    ScenarioError,
)
from .loader import load_scenario, load_scenario_file, scenario_hash
from .model import RunResult, simulate
from .runner import ExperimentResult, run_experiment
from .sizing import SizingResult, size_resource

__all__ = [
    "ComparisonResult",
    "ExperimentResult",
    "NenPathError",
    "OutputExistsError",
    "ReplicationError",
    "RunControlError",
    "RunControls",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SizingResult",
    "load_scenario",
    "load_scenario_file",
    "run_comparison",
    "run_experiment",
    "scenario_hash",
    "simulate",
    "size_resource",
]
