"""nen-pathway: discrete-event simulation of the NEN care pathway in England.

Public API::

    from sim import load_scenario, simulate, run_experiment

    scenario, controls = load_scenario_file("scenarios/current_practice.toml")
    result = simulate(scenario, replication=0, controls=controls)     # one replication
    experiment = run_experiment([scenario], controls)                  # replications + CIs
    comparison = run_comparison([base, ideal], controls, Path("outputs/cmp"))  # + report
    sizing = size_resource(scenario, controls, "specialist_mdt.north_west", kpi, target, out)

(``warmup_analysis`` is in :mod:`sim.experiment.warmup`, ``calibrate`` in
:mod:`sim.calibration.search`.)
"""

from __future__ import annotations

from sim.app.workflows import ComparisonResult, run_comparison
from sim.core.errors import (
    NenPathError,
    OutputExistsError,
    ReplicationError,
    RunControlError,
    ScenarioError,
)
from sim.experiment.runner import ExperimentResult, run_experiment
from sim.experiment.sizing import SizingResult, size_resource
from sim.model.simulation import RunResult, simulate
from sim.scenario.loader import load_scenario, load_scenario_file, scenario_hash
from sim.scenario.schema import RunControls, Scenario

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
