"""``--precision``: replications are added until the 95% CI half-width of the chosen KPI is at
most the requested share of its mean (the confidence-interval method, Robinson s. 9.6).

A stand-in replication (the ``replicate`` seam) returns a KPI that cycles 9, 11, 10, so the
number of replications needed can be worked out by hand from t tables.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.core.errors import RunControlError
from sim.experiment.runner import MAIN_KPI, ReplicationOutput, run_experiment
from sim.scenario.schema import RunControls, Scenario
from tests.helpers import make_scenario

CYCLE = (9.0, 11.0, 10.0)


def cycling(scenario: Scenario, replication: int, controls: RunControls) -> ReplicationOutput:
    return ReplicationOutput(
        scenario=scenario.name,
        replication=replication,
        seed=controls.seed,
        kpis={MAIN_KPI: CYCLE[replication % 3]},
        journeys=pd.DataFrame(),
        series=pd.DataFrame(),
        wall_seconds=0.0,
        sim_events=0,
        logged_events=0,
    )


@pytest.fixture(scope="module")
def three() -> tuple[Scenario, RunControls]:
    return make_scenario(replications=3, workers=1)


def test_adds_replications_until_precise(three: tuple[Scenario, RunControls]) -> None:
    # After 3: mean 10, sd 1; +/-5% = 0.5 needs t(0.975, n-1)/sqrt(n) <= 0.5: n = 18.
    # After 18 (the cycle six times): sd sqrt(12/17) = 0.840 needs n = 14 <= 18: stop at 18.
    scenario, controls = three
    result = run_experiment([scenario], controls, progress=False, precision=0.05, replicate=cycling)
    assert list(result.replications["replication"]) == list(range(18))
    row = result.summary.set_index("kpi").loc[MAIN_KPI]
    assert (row["ci_high"] - row["mean"]) / row["mean"] <= 0.05


def test_stops_at_max_replications(three: tuple[Scenario, RunControls]) -> None:
    scenario, controls = three
    result = run_experiment(
        [scenario],
        controls,
        progress=False,
        precision=0.05,
        max_replications=10,
        replicate=cycling,
    )
    assert len(result.replications) == 10


def test_one_more_then_enough(three: tuple[Scenario, RunControls]) -> None:
    # +/-20% = 2 with sd 1: t(0.975, 2)/sqrt(3) = 2.48 > 2, t(0.975, 3)/sqrt(4) = 1.59 <= 2: 4.
    # Then 9, 11, 10, 9: mean 9.75, sd 0.957, target 1.95: n = 4 gives 1.52, enough.
    scenario, controls = three
    result = run_experiment([scenario], controls, progress=False, precision=0.20, replicate=cycling)
    assert len(result.replications) == 4
    # +/-50% = 5: the three already there suffice (2.48 <= 5), nothing is added
    result = run_experiment([scenario], controls, progress=False, precision=0.5, replicate=cycling)
    assert len(result.replications) == 3


def test_unknown_precision_kpi_is_refused(three: tuple[Scenario, RunControls]) -> None:
    scenario, controls = three
    with pytest.raises(RunControlError, match="--precision-kpi diagnostic_interval_days_mean: "):
        run_experiment(
            [scenario],
            controls,
            progress=False,
            precision=0.05,
            precision_kpis=["diagnostic_interval_days_mean"],
            replicate=cycling,
        )
