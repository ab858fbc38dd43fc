"""Workflows that run an experiment and then write what it means.

A workflow is the one place where simulating and presenting meet: it calls the experiment layer
(:func:`sim.experiment.runner.run_experiment`), which writes the replications, and then the
reporting layer (:func:`sim.reporting.report.build_report`), which reads them back from disk.
Neither layer knows about the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.io import holds_folder, write_json
from sim.experiment.runner import run_experiment
from sim.reporting.compare import SOURCES_FILE, Effect
from sim.reporting.report import build_report, scenario_sources
from sim.scenario.schema import RunControls, Scenario


@dataclass
class ComparisonResult:
    """What :func:`run_comparison` returns."""

    comparison: pd.DataFrame
    headlines: list[str]
    report: Path
    out: Path
    failures: list[Any] = field(default_factory=list)
    unexpected: list[Effect] = field(default_factory=list)


@holds_folder("out")
def run_comparison(
    scenarios: list[Scenario],
    controls: RunControls,
    out: Path,
    *,
    dask: str | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | None = None,
    files: dict[str, str] | None = None,
    precision: float | None = None,
    precision_kpis: Iterable[str] = ("diagnostic_interval_days_median",),
    max_replications: int = 200,
    branching: str | None = None,
) -> ComparisonResult:
    """Run every scenario with common random numbers and write the comparison and its report.

    The first scenario is the base: every scenario *is* the base until the policy start
    (``controls.policy_start_days``, by default the end of the warm-up) and follows its own
    rules from then on, each replication's shared history simulated once (``branching``, see
    :func:`sim.experiment.runner.run_experiment`). Writes, in ``out``: what
    :func:`sim.experiment.runner.run_experiment`
    writes (manifest, replications.csv, summary.csv, patients.parquet, series.parquet, parts/),
    then ``scenario_sources.json`` (each scenario file's comments, for the methods section),
    ``comparison.csv`` and ``report.html`` (:func:`sim.reporting.report.build_report`).
    ``precision``,
    ``precision_kpis`` and ``max_replications`` are passed to the runner: replications are added
    until every scenario's CI half-width is within ``precision`` of its mean.
    """
    experiment = run_experiment(
        scenarios,
        controls,
        out,
        dask=dask,
        resume=resume,
        force=force,
        progress=progress,
        files=files,
        precision=precision,
        precision_kpis=precision_kpis,
        max_replications=max_replications,
        base=scenarios[0],
        branching=branching,
    )
    sources = {name: scenario_sources(Path(path)) for name, path in (files or {}).items()}
    write_json(out / SOURCES_FILE, sources)
    built = build_report(out)
    return ComparisonResult(
        comparison=built.comparison,
        headlines=built.headlines,
        report=built.path,
        out=out,
        failures=experiment.failures,
        unexpected=built.unexpected,
    )
