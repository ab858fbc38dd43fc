"""The resource-kind registry (sim.model.resources): one declaration per kind of capacity,
read by the simulation, the capacity KPIs, sizing and the report."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from sim.core.events import EventKind as K
from sim.model.resources import KINDS, has_capacity, kind_of
from sim.model.resources.servers import SERVERS, _busy_days
from sim.model.resources.sessions import SESSIONS
from sim.scenario.schema import RESOURCE_KINDS, ResourceSpec
from tests.helpers import make_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_every_schema_kind_has_one_declaration() -> None:
    classes = get_args(get_args(ResourceSpec)[0])
    assert set(KINDS) == set(RESOURCE_KINDS) == {"sessions", "servers", "delay"}
    for cls in classes:
        name = get_args(cls.model_fields["kind"].annotation)[0]
        assert KINDS[name].spec_class is cls
        key = KINDS[name].capacity_key
        assert key is None or key in cls.model_fields, name


def test_no_module_outside_the_kinds_branches_on_a_kind_name() -> None:
    """A kind's behaviour lives in its module: no string compare on 'sessions'/'servers'/'delay'
    in the simulation, the measures, sizing, the report or the app (so a new kind is one
    module, not a hunt for branches)."""
    offenders = []
    for path in sorted((ROOT / "sim").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("sim/model/resources/", "sim/scenario/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    if isinstance(side, ast.Constant) and side.value in RESOURCE_KINDS:
                        offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_capacity_scales_as_declared() -> None:
    # Sessions: exactly (fractional slots spread over sessions); unlimited stays unlimited.
    assert SESSIONS.run_capacity(6, 0.25) == 1.5
    assert SESSIONS.run_capacity(None, 0.25) is None
    # Servers: nearest whole server, never below one where there was any; none stays none.
    assert [SERVERS.run_capacity(c, 0.1) for c in (0, 3, 14, 16)] == [0, 1, 1, 2]
    assert SERVERS.run_capacity(7, 1.0) == 7


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.2, 0.1, 0.05])
def test_a_sizing_search_variable_maps_to_one_england_capacity(scale: float) -> None:
    for kind in (SESSIONS, SERVERS):
        for k in range(kind.minimum, 30):
            e = kind.england_units(k, scale)
            assert kind.search_units(e, scale) == k, (kind.name, scale, k, e)
    # At scale 0.1 a slot search moves in steps of 10 England slots, bounds rounded inwards.
    assert (SESSIONS.england_units(3, 0.1), SESSIONS.search_units(25, 0.1, "lo")) == (30, 3)
    assert SESSIONS.search_units(25, 0.1, "hi") == 2


def test_busy_server_days_by_hand() -> None:
    """Patient 1: served 1-3, then from 5 to past the horizon; patient 2: 2-4. Window [2, 6]:
    (3-2) + (6-5) + (4-2) = 4 busy server-days."""
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    kind = np.array(
        [K.SERVICE_START, K.SERVICE_START, K.SERVICE_END, K.SERVICE_END, K.SERVICE_START]
    )
    patient = np.array([1, 2, 1, 2, 1])
    assert _busy_days(time, kind, patient, 2.0, 6.0) == pytest.approx(4.0)
    offered, used = SERVERS.usage(time, kind, np.zeros(5, int), patient, 2.0, 2.0, 6.0)
    assert (offered, used) == (pytest.approx(8.0), pytest.approx(4.0))  # 2 servers x 4 days


def _busy_days_by_loop(time, kind, patient, w0, h):  # type: ignore[no-untyped-def]
    """The pairing rule read literally: each patient's k-th start ends at their k-th end."""
    ends: dict[int, list[float]] = {}
    for t, k, p in sorted(zip(time, kind, patient, strict=True), key=lambda e: e[0]):
        if k == K.SERVICE_END:
            ends.setdefault(p, []).append(t)
    seen: dict[int, int] = {}
    total = 0.0
    for t, k, p in sorted(zip(time, kind, patient, strict=True), key=lambda e: e[0]):
        if k == K.SERVICE_START:
            n = seen.get(p, 0)
            seen[p] = n + 1
            end = ends[p][n] if n < len(ends.get(p, [])) else h
            total += max(0.0, min(end, h) - max(t, w0))
    return total


@pytest.mark.parametrize("seed", range(20))
def test_busy_server_days_match_the_pairing_rule(seed: int) -> None:
    """Random services (some patients several times, some still running, some ends without a
    logged start before the log begins): the vectorised pairing gives the loop's answer."""
    rng = np.random.default_rng(seed)
    time, kind, patient = [], [], []
    for p in rng.integers(-1, 15, size=rng.integers(0, 40)):
        t = float(rng.uniform(0, 20))
        if rng.random() > 0.1:
            time.append(t)
            kind.append(K.SERVICE_START)
            patient.append(int(p))
        if rng.random() > 0.2:
            time.append(t + float(rng.exponential(2)))
            kind.append(K.SERVICE_END)
            patient.append(int(p))
    args = (np.array(time, float), np.array(kind, int), np.array(patient, int), 5.0, 15.0)
    assert _busy_days(*args) == pytest.approx(_busy_days_by_loop(*args), abs=1e-9)


def test_sessions_usage_by_hand() -> None:
    """Two sessions in the window offering 3 slots each, 2 and 3 used; one before it."""
    time = np.array([0.5, 0.6, 1.0, 1.1, 8.0, 8.1])
    kind = np.array([K.SESSION_START, K.SESSION_END] * 3)
    code = np.array([3, 3, 3, 2, 3, 3])
    assert SESSIONS.usage(time, kind, code, np.zeros(6, int), 3.0, 1.0, 10.0) == (6.0, 5.0)
    unlimited = np.array([-1, 1, -1, 2, -1, 3])
    offered, used = SESSIONS.usage(time, kind, unlimited, np.zeros(6, int), None, 1.0, 10.0)
    assert np.isnan(offered) and used == 5.0


def test_a_delay_has_no_capacity() -> None:
    scenario, _ = make_scenario()
    for _, spec in scenario.resources:
        assert has_capacity(spec) == (kind_of(spec).capacity_key is not None)
    empty = np.zeros(0, dtype=int)
    assert KINDS["delay"].capacity_key is None
    assert KINDS["delay"].usage(empty.astype(float), empty, empty, empty, None, 0.0, 1.0) is None
    with pytest.raises(TypeError, match="no capacity to size"):
        KINDS["delay"].search_units(3, 1.0)


def test_a_new_kind_needs_no_change_to_sizing(tmp_path: Path) -> None:
    """A made-up kind (clinic lists counted in patients a list, two lists a week, capacity
    scaled in steps of 5) goes through sizing's table, words and search mapping as declared,
    with no line of sizing changed."""
    import pandas as pd

    from sim.experiment import sizing
    from sim.model.resources.base import ResourceKind

    class Clinics(ResourceKind):
        name = "clinics"
        capacity_key = "patients_per_list"
        unit = "patients per list"
        weekly_unit = "patients per week"
        minimum = 2

        def per_week(self, spec: object) -> int:
            return 2

        def run_capacity(self, capacity: int | None, scale: float) -> float | None:
            return None if capacity is None else capacity * scale

        def search_units(self, capacity: int, scale: float, bound: str = "") -> int:
            return capacity // 5

        def england_units(self, k: int, scale: float) -> int:
            return 5 * k

    res = sizing.SizedResource("clinic.london", "clinic", "london", Clinics(), None, 10)
    assert (res.key, res.per_week, res.minimum, res.weekly) == ("patients_per_list", 2, 2, True)
    assert res.text(10) == "10 patients per list"
    assert sizing._england_units(res, sizing._run_units(res, 15, 0.5), 0.5) == 15
    values = pd.Series([0.8, 0.9])
    cand = sizing.Candidate(3, 15, values, 0.85, 0.8, 0.9, 2, True, tmp_path)
    table = sizing._table(res, [cand], 0.5)
    assert table.loc[
        0, ["patients_per_list", "patients_per_week", "run_patients_per_list"]
    ].tolist() == [15, 30, 7.5]
