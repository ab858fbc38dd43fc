"""The calibration files: every target names a real KPI (or is marked pending), every parameter
key exists in the baseline scenario, and bad files are refused naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.calibration.inputs import load_parameters
from sim.calibration.targets import CalibrationFileError, load_targets
from sim.measures.kpis import KPI_DESCRIPTIONS
from sim.scenario.loader import load_scenario
from sim.scenario.schema import REGIONS
from tests.helpers import BASELINE, ROOT

TARGETS = ROOT / "calibration" / "targets.toml"
PARAMETERS = ROOT / "calibration" / "parameters.toml"


def _walk(data: dict, dotted: str) -> object:
    node: object = data
    for seg in dotted.split("."):
        assert isinstance(node, dict) and seg in node, f"{dotted}: no {seg!r}"
        node = node[seg]
    return node


def test_every_target_names_a_kpi_or_is_pending() -> None:
    targets = load_targets(TARGETS)
    for t in targets:
        base, _, region = t.kpi.partition("__")
        exists = base in KPI_DESCRIPTIONS and (region == "" or region in REGIONS)
        assert exists or t.pending, f"{t.name}: KPI {t.kpi} does not exist and is not pending"
        assert not (exists and t.pending), f"{t.name}: {t.kpi} exists; drop pending = true"
        assert "[S" in t.source, f"{t.name}: no [Sx] source"
        assert t.low < t.high


def test_fit_and_validate_kept_apart() -> None:
    targets = [t for t in load_targets(TARGETS) if not t.pending]
    fit = [t for t in targets if t.use == "fit"]
    validate = [t for t in targets if t.use == "validate"]
    assert len(fit) >= 4 and len(validate) >= 3
    assert not {t.name for t in fit} & {t.name for t in validate}


def test_every_parameter_key_exists_in_the_scenario() -> None:
    scenario = load_scenario(BASELINE)
    data = scenario.model_dump(by_alias=True)
    targets = load_targets(TARGETS)
    params = load_parameters(PARAMETERS, scenario, [t.name for t in targets])
    fit_targets = {t.name for t in targets if t.use == "fit"}
    for p in params:
        for key in p.keys:
            value = _walk(data, key)
            assert isinstance(value, int | float), f"{p.name}: {key} is not a number"
        if p.use == "fit":
            assert p.targets and set(p.targets) <= fit_targets, p.name
    assert sum(p.use == "fit" for p in params) >= 3


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.toml"
    path.write_text(text)
    return path


def test_unknown_kpi_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[targets.x]\nkpi = "no_such_kpi"\nvalue = 1\ninterval = [0, 2]\n'
        'interval_kind = "assumed"\nuse = "fit"\nsource = "[S1]"\n',
    )
    with pytest.raises(CalibrationFileError) as exc:
        load_targets(path)
    (problem,) = exc.value.problems
    assert problem.file == str(path) and problem.key == "targets.x.kpi"
    assert "no_such_kpi" in problem.message and "pending" in problem.message


def test_value_outside_its_interval_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[targets.x]\nkpi = "female_share"\nvalue = 0.9\ninterval = [0.4, 0.6]\n'
        'interval_kind = "ci95"\nuse = "validate"\nsource = "[S1]"\n',
    )
    with pytest.raises(CalibrationFileError) as exc:
        load_targets(path)
    assert exc.value.problems[0].key == "targets.x.value"


def test_missing_scenario_key_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[parameters.p]\nkeys = ["presentation.gp.first_consultation.urgent_referal"]\n'
        'transform = "set"\nlow = 0.1\nhigh = 0.5\nuse = "fit"\nwhy = "test"\n',
    )
    with pytest.raises(CalibrationFileError) as exc:
        load_parameters(path, load_scenario(BASELINE))
    (problem,) = exc.value.problems
    assert problem.key == "parameters.p.keys"
    assert "urgent_referal" in problem.message and "urgent_referral" in problem.message


def test_share_bounds_that_could_exceed_one_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "\n".join(
            f'[parameters.{leaf}]\nkeys = ["presentation.gp.first_consultation.{leaf}"]\n'
            'transform = "set"\nlow = 0.1\nhigh = 0.6\nuse = "fit"\nconstraint = "shares"\n'
            'why = "test"\n'
            for leaf in ("urgent_referral", "misattributed")
        ),
    )
    with pytest.raises(CalibrationFileError) as exc:
        load_parameters(path, load_scenario(BASELINE))
    assert "sum to 1.2" in exc.value.problems[0].message


def test_a_probability_pushed_above_one_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[parameters.p]\nkeys = ["population.female_share"]\ntransform = "multiply"\n'
        'low = 0.5\nhigh = 3.0\nuse = "psa"\nwhy = "test"\n',
    )
    with pytest.raises(CalibrationFileError) as exc:
        load_parameters(path, load_scenario(BASELINE))
    assert exc.value.problems[0].key == "parameters.p"
    assert "at 3" in exc.value.problems[0].message
