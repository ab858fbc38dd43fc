"""What a calibration found: the candidate points evaluated and the result of a search.

Plain data, kept apart from the search (:mod:`sim.calibration.search`) so that the report
(:mod:`sim.calibration.report`) can read a result without importing the search that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sim.calibration.inputs import Parameter
from sim.calibration.targets import Target, TargetFit
from sim.scenario.schema import RunControls


@dataclass(frozen=True)
class Evaluation:
    """One candidate point and its distance from the fit targets."""

    index: int
    stage: str
    """``baseline``, ``lhs`` or ``nelder-mead``."""
    unit: tuple[float, ...]
    values: dict[str, float]
    distance: float
    terms: dict[str, float]
    """Target name -> contribution to the distance."""


@dataclass
class CalibrationResult:
    """What ``calibrate`` found and wrote."""

    params: list[Parameter]
    targets: list[Target]
    history: list[Evaluation]
    best: Evaluation
    changes: dict[str, float]
    """Dotted scenario key -> calibrated value (as written to the overlay)."""
    before: list[TargetFit]
    after: list[TargetFit]
    score_before: float
    score_after: float
    """Distance over the fit targets in the check run (the overlay as written)."""
    controls: RunControls
    check_controls: RunControls
    noise: dict[str, float]
    """Pooled variance of one replication's value per fit target (comparison scale)."""
    population_scale: float
    date: str
    overlay: Path
    report: Path
    record: Path
    wall_seconds: float
    files: dict[str, str] = field(default_factory=dict)
