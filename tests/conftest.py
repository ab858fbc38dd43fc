"""Shared fixtures (helpers live in tests/helpers.py)."""

from __future__ import annotations

import pytest

from sim.scenario.schema import RunControls, Scenario

from .helpers import make_scenario


@pytest.fixture(scope="session")
def small() -> tuple[Scenario, RunControls]:
    """Baseline at 2% of England, 1 warm-up year and 2 measured years, 2 replications."""
    return make_scenario(scale=0.02, years=2, warmup_years=1, replications=2, workers=1)
