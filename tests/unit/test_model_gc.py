"""The cyclic garbage collector: paused while a replication's event loop runs, and a full
collection first, so the garbage of earlier replications in the same process is not carried
through the run (before that collection, a process simulating replication after replication
grew by about 55 MB a replication at half of England)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from sim.model.simulation import simulate
from tests.helpers import make_scenario


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Objects found unreachable by each full (generation 2) collection while the test runs."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def test_earlier_replications_garbage_is_collected_before_the_run(
    full_collections: list[int],
) -> None:
    scenario, controls = make_scenario(scale=0.02, years=1, warmup_years=0.5)
    simulate(scenario, 0, controls)  # dropped at once: leaves its cycles behind
    before = len(full_collections)
    assert gc.isenabled()
    simulate(scenario, 0, controls)
    assert gc.isenabled()
    found = full_collections[before:]
    assert found, "no full collection during the replication"
    assert found[0] > 100  # the first replication's environment, processes and resources


def test_a_disabled_collector_stays_disabled(full_collections: list[int]) -> None:
    scenario, controls = make_scenario(scale=0.02, years=1, warmup_years=0.5)
    gc.disable()
    try:
        simulate(scenario, 0, controls)
        assert not gc.isenabled()
        assert full_collections == []
    finally:
        gc.enable()
