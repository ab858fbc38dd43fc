"""PSA: reproducible Latin-hypercube draws and partial rank correlation against known truths
(the command end to end is in tests/e2e/test_commands.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.app.cli import main
from sim.calibration.inputs import load_parameters
from sim.calibration.psa import prcc, prcc_p_value, sample_inputs
from sim.scenario.loader import load_scenario
from tests.helpers import BASELINE, ROOT

PARAMETERS = ROOT / "calibration" / "parameters.toml"


@pytest.fixture(scope="module")
def params() -> list:
    return load_parameters(PARAMETERS, load_scenario(BASELINE))


def test_same_seed_same_draws_other_seed_other_draws(params: list) -> None:
    a = sample_inputs(params, 20, seed=7)
    b = sample_inputs(params, 20, seed=7)
    c = sample_inputs(params, 20, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_draws_are_a_latin_hypercube_within_the_ranges(params: list) -> None:
    n = 25
    draws = sample_inputs(params, n, seed=3)
    for p in params:
        x = draws[p.name].to_numpy()
        assert (x >= p.low - 1e-12).all() and (x <= p.high + 1e-12).all()
        strata = sorted(int(p.unit(v) * n) for v in x)
        assert strata == list(range(n)), p.name  # one draw in each of the n strata


def test_prcc_against_known_relations() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((300, 3))
    # y a strictly increasing function of x0 alone: ranks of y are the ranks of x0
    assert prcc(x, np.exp(3 * x[:, 0]))[0] == pytest.approx(1.0)
    # up in x0 (range of effect 19), down in x1 (range 2), free of x2
    r = prcc(x, np.exp(3 * x[:, 0]) - 2 * x[:, 1])
    assert r[0] > 0.9 and r[1] < -0.5 and abs(r[2]) < 0.15 and abs(r[0]) > abs(r[1])
    assert np.isnan(prcc(x[:4], x[:4, 0])).all()  # fewer draws than inputs + 3: undefined


def test_prcc_p_value_matches_the_t_distribution() -> None:
    # r = 0.5 with df = 20 - 2 - 1 = 17: t = 0.5 sqrt(17 / 0.75) = 2.3805, two-sided p = 0.0291
    assert prcc_p_value(0.5, 20, 2) == pytest.approx(0.0291, abs=2e-4)


def test_psa_refuses_an_unknown_kpi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["psa", str(BASELINE), "--draws", "3", "--kpi", "no_such", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such" in err[0] and "--kpi" in err[0]


def test_calibrate_refuses_a_bad_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[targets.x]\nkpi = "nope"\n')
    code = main(["calibrate", str(BASELINE), "--targets", str(bad), "--budget", "1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith(f"{bad}: targets.x.") for line in err)


def test_a_comparison_psa_keeps_each_scenarios_set_levers(params: list) -> None:
    from sim.calibration.psa import strategy_parameters

    base = load_scenario(BASELINE)
    hub = load_scenario(ROOT / "scenarios" / "interventions" / "virtual_hub_and_spoke_mdt.toml")
    applied, held = strategy_parameters(params, base, hub)
    # the hub sets local_mdt_first_probability = 0.2: a drawn value must not undo the policy
    assert held == ["mdt.local_mdt_first_probability"]
    assert "local_mdt_first" not in {p.name for p in applied}
    assert len(applied) == len(params) - 1
    # a scenario that changes no drawn key keeps every input whole
    campaign = load_scenario(ROOT / "scenarios" / "interventions" / "gp_awareness_campaign.toml")
    same, none = strategy_parameters(params, base, campaign)
    assert none == [] and same == params


def test_every_economic_prior_gives_its_source_or_says_it_is_an_assumption(params: list) -> None:
    econ = [p for p in params if any(k.startswith("economics.") for k in p.keys)]
    assert len(econ) >= 20  # utilities of every health state and the costs that drive totals
    for p in econ:
        assert "[S" in p.why or "assumption" in p.why, p.name
        assert p.use == "psa", p.name  # no target identifies a cost or a utility
