"""nen-pathway: discrete-event simulation of the NEN care pathway in England.

Public API::

    from sim import load_scenario, simulate, run_experiment

    scenario, controls = load_scenario_file("scenarios/current_practice.toml")
    result = simulate(scenario, replication=0, controls=controls)     # one replication
    experiment = run_experiment([scenario], controls)                  # replications + CIs
"""

from __future__ import annotations

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

__all__ = [
    "ExperimentResult",
    "NenPathError",
    "OutputExistsError",
    "ReplicationError",
    "RunControlError",
    "RunControls",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "load_scenario_file",
    "run_experiment",
    "scenario_hash",
    "simulate",
]
