"""Serial, local processes and a Dask LocalCluster give identical results, byte for byte.

The replication is the unit of work and its random streams depend on (base seed, replication)
only, so neither the backend, nor the number of workers, nor the order in which replications
finish may change a single number.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from sim.experiment.runner import run_experiment, run_replication
from sim.scenario.schema import RunControls, Scenario
from tests.helpers import make_scenario

BACKENDS = ("serial", "processes", "dask")
FILES = ("replications.csv", "summary.csv", "patients.parquet", "series.parquet")


def _with_workers(controls: RunControls, workers: int) -> RunControls:
    return RunControls.model_validate({**controls.model_dump(), "workers": workers})


@pytest.fixture(scope="module")
def tiny() -> tuple[Scenario, RunControls]:
    return make_scenario(scale=0.02, years=1, warmup_years=1, replications=4, workers=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny: tuple[Scenario, RunControls]) -> Path:
    scenario, controls = tiny
    base = tmp_path_factory.mktemp("backends")
    two = _with_workers(controls, 2)
    run_experiment([scenario], controls, base / "serial", progress=False)
    run_experiment([scenario], two, base / "processes", progress=False)
    run_experiment([scenario], two, base / "dask", dask="local", progress=False)
    return base


@pytest.mark.parametrize("name", FILES)
def test_every_backend_writes_identical_files(runs: Path, name: str) -> None:
    serial = (runs / "serial" / name).read_bytes()
    for backend in BACKENDS[1:]:
        assert (runs / backend / name).read_bytes() == serial, f"{backend}/{name} differs"


def test_the_backends_really_ran(runs: Path) -> None:
    seen = {json.loads((runs / b / "manifest.json").read_text())["backend"] for b in BACKENDS}
    assert seen == {"serial", "processes:2", "dask:local"}
    reps = pd.read_csv(runs / "serial" / "replications.csv")
    assert list(reps["replication"]) == [0, 1, 2, 3]
    kpis = reps.drop(columns=["scenario", "replication"])
    assert len(kpis.drop_duplicates()) == 4  # four different replications, not copies


def test_a_replication_depends_only_on_its_number(
    runs: Path, tiny: tuple[Scenario, RunControls]
) -> None:
    """Replication 2 run on its own (no other replications, another replication count) gives
    the row it has in the experiment."""
    scenario, controls = tiny
    alone = run_replication(scenario, 2, _with_workers(controls, 1))
    row = pd.read_csv(runs / "serial" / "replications.csv").set_index("replication").loc[2]
    assert alone.kpis, "no KPIs"
    for kpi, value in alone.kpis.items():
        got = float(row[kpi])
        assert (math.isnan(value) and math.isnan(got)) or value == got, kpi
