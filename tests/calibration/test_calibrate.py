"""Calibration end to end on a toy problem with a known answer, and the overlay it writes.

The toy: sex is drawn independently of everything else in the model, so the share of women
among diagnosed patients estimates ``population.female_share``; fitted to a target of 0.6 the
input must come back near 0.6 (within the sampling error of a share over a few hundred
patients: common random numbers fix the sample, so the fit finds where *this* sample's share is
0.6).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from sim.calibration.inputs import apply_values, flatten, load_parameters, overlay_text
from sim.calibration.search import CalibrationResult, calibrate
from sim.scenario.loader import load_scenario, scenario_dict
from tests.helpers import BASELINE, make_scenario

TOY_TARGETS = """
[targets.women]
kpi = "female_share"
value = 0.6
interval = [0.59, 0.61]
interval_kind = "assumed"
use = "fit"
source = "[S1] toy"

[targets.age]
kpi = "age_at_diagnosis_median"
value = 65
interval = [60, 70]
interval_kind = "assumed"
use = "validate"
source = "[S2]"

[targets.later]
kpi = "not_yet_a_kpi_share"
value = 0.24
interval = [0.2, 0.28]
interval_kind = "assumed"
use = "validate"
pending = true
source = "[S2]"
"""

TOY_PARAMETERS = """
[parameters.female]
keys = ["population.female_share"]
transform = "set"
low = 0.3
high = 0.8
use = "fit"
targets = ["women"]
why = "toy"
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[CalibrationResult, Path]:
    folder = tmp_path_factory.mktemp("toy")
    (folder / "targets.toml").write_text(TOY_TARGETS)
    (folder / "parameters.toml").write_text(TOY_PARAMETERS)
    scenario, controls = make_scenario(
        scale=0.03, years=1.5, warmup_years=0.0, replications=2, workers=1
    )
    result = calibrate(
        scenario,
        BASELINE,
        controls,
        targets_file=folder / "targets.toml",
        parameters_file=folder / "parameters.toml",
        budget=8,
        overlay=folder / "calibrated.toml",
        report=folder / "report" / "report.html",
        check_replications=2,
    )
    return result, folder


def test_recovers_the_known_answer(toy: tuple[CalibrationResult, Path]) -> None:
    result, _ = toy
    assert len(result.history) == 8  # the budget is spent, not exceeded
    assert result.history[0].stage == "baseline"
    # about 340 diagnosed patients over the two replications: binomial sd of a share near 0.6
    # is sqrt(0.24 / 340) = 0.027; allow 2.6 sd for the common-random-number sample
    assert result.best.values["female"] == pytest.approx(0.6, abs=0.07)
    assert result.score_after < result.score_before


def test_overlay_is_a_valid_scenario_changing_only_the_fitted_key(
    toy: tuple[CalibrationResult, Path],
) -> None:
    result, folder = toy
    text = (folder / "calibrated.toml").read_text()
    assert "calibrated " in text and "score" in text and "target(s) women" in text
    assert re.search(r"^\s*population_scale\s*=", text, re.MULTILINE) is None
    base = flatten(scenario_dict(load_scenario(BASELINE)))
    new = flatten(scenario_dict(load_scenario(folder / "calibrated.toml")))
    changed = {k for k in base.keys() | new.keys() if base.get(k) != new.get(k)}
    assert changed == {"name", "title", "description", "population.female_share"}
    assert new["title"].startswith("Current practice, calibrated ")
    assert new["population.female_share"] == pytest.approx(result.best.values["female"], rel=1e-3)


def test_report_and_record_keep_fit_and_validate_apart(
    toy: tuple[CalibrationResult, Path],
) -> None:
    _, folder = toy
    html = (folder / "report" / "report.html").read_text()
    fit_at, val_at = html.index("Fit targets"), html.index("Validation targets")
    fit_part, validate_part = html[fit_at:val_at], html[val_at:]
    assert "<td>women</td>" in fit_part and "<td>age</td>" not in fit_part
    assert "<td>age</td>" in validate_part and "<td>women</td>" not in validate_part
    assert "not_yet_a_kpi_share" in html and "Reduced scale" in html
    record = json.loads((folder / "report" / "fit.json").read_text())
    assert record["evaluations"] == 8 and record["population_scale"] == 0.03
    by_name = {t["name"]: t for t in record["targets"]}
    assert by_name["later"]["after"] is None and by_name["age"]["after"]["n"] == 2
    assert (folder / "report" / "history.csv").is_file()


def test_shares_stay_summing_to_one_in_a_written_overlay(tmp_path: Path) -> None:
    scenario = load_scenario(BASELINE)
    (tmp_path / "p.toml").write_text(
        '[parameters.urgent]\nkeys = ["presentation.gp.first_consultation.urgent_referral"]\n'
        'transform = "set"\nlow = 0.1\nhigh = 0.6\nconstraint = "shares"\nuse = "fit"\n'
        'why = "t"\n\n[parameters.wait]\nkeys = ["presentation.patient_interval_days.mean",'
        ' "presentation.patient_interval_days.sd"]\ntransform = "multiply"\nlow = 0.5\n'
        'high = 2\nuse = "fit"\nwhy = "t"\n'
    )
    params = load_parameters(tmp_path / "p.toml", scenario)
    _, changes = apply_values(scenario, params, {"urgent": 0.5, "wait": 1.5})
    path = tmp_path / "sub" / "overlay.toml"
    path.parent.mkdir()
    text = overlay_text(
        changes,
        extends=os.path.relpath(BASELINE, path.parent),
        description="test",
        header=["test overlay"],
        comments={},
    )
    path.write_text(text)
    base = load_scenario(BASELINE)
    new = load_scenario(path)
    b, n = base.presentation.gp.first_consultation, new.presentation.gp.first_consultation
    assert n["urgent_referral"] == 0.5
    factor = (1 - 0.5) / (1 - b["urgent_referral"])  # hand computation of the rescaling
    for k in ("misattributed", "primary_care_tests", "routine_referral"):
        assert n[k] == pytest.approx(b[k] * factor, abs=1e-9)
    assert sum(n.values()) == pytest.approx(1.0, abs=1e-9)
    assert new.presentation.patient_interval_days.mean() == pytest.approx(
        1.5 * base.presentation.patient_interval_days.mean()
    )
    changed = {
        k
        for k, v in flatten(scenario_dict(new)).items()
        if flatten(scenario_dict(base)).get(k) != v
    }
    assert changed == {"name", "description"} | set(changes)
