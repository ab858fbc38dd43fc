"""Regression: a small scenario's per-replication KPI table, pinned.

Any change to the model's numbers fails this test. If the change is intended, regenerate the
table deliberately with ``tests/regression/regenerate.py`` and commit it with the change, saying
why the numbers moved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiment.runner import run_experiment
from tests.helpers import make_scenario

EXPECTED = Path(__file__).resolve().parent / "expected_kpis.csv"


def run_small() -> pd.DataFrame:
    scenario, controls = make_scenario(
        scale=0.02, years=2, warmup_years=1, replications=2, seed=424242, workers=1
    )
    return run_experiment([scenario], controls, None, progress=False).replications


def test_kpis_match_pinned_table() -> None:
    expected = pd.read_csv(EXPECTED)
    actual = run_small()
    # Only the pinned columns are compared: KPIs added since (the economic measures of
    # sim/economics.py, computed from the same log) leave the model's numbers unchanged.
    missing = [c for c in expected.columns if c not in actual.columns]
    assert not missing, f"pinned KPIs no longer produced: {missing[:10]}"
    actual = actual[list(expected.columns)]
    assert list(actual["replication"]) == list(expected["replication"])
    a = actual.drop(columns=["scenario", "replication"]).to_numpy(dtype=float)
    e = expected.drop(columns=["scenario", "replication"]).to_numpy(dtype=float)
    diff = ~np.isclose(a, e, rtol=1e-9, atol=1e-12, equal_nan=True)
    cols = np.array(actual.columns[2:])[diff.any(axis=0)]
    assert not diff.any(), f"KPIs changed: {list(cols)[:10]} (regenerate only if intended)"
