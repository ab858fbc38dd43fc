"""Scenario loading: valid files load; each kind of bad input gives one clear line naming the
file, the key and what is allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.app.cli import main
from sim.core.errors import ScenarioError
from sim.scenario.loader import load_scenario, load_scenario_file, scenario_hash
from tests.helpers import BASELINE, SCENARIOS


def _overlay(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    shutil.copy(BASELINE, tmp_path / "base.toml")
    path = tmp_path / name
    path.write_text('extends = "base.toml"\n' + text)
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    return [str(p) for p in info.value.problems]


def test_every_shipped_scenario_is_valid() -> None:
    files = sorted(SCENARIOS.rglob("*.toml"))
    assert files
    for f in files:
        load_scenario(f)


def test_scenario_is_frozen() -> None:
    s = load_scenario(BASELINE)
    with pytest.raises(ValidationError):
        s.name = "x"  # type: ignore[misc]


def test_extends_overlay_changes_only_what_it_says(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[population]\nfemale_share = 0.6\n", "variant.toml")
    base, variant = load_scenario(BASELINE), load_scenario(path)
    assert variant.population.female_share == 0.6
    assert variant.name == "variant"  # a variant's name is its own file's stem
    assert variant.population.site_shares == base.population.site_shares
    assert variant.resources == base.resources
    assert scenario_hash(variant) != scenario_hash(base)


def test_titles_name_one_file_and_are_not_inherited(tmp_path: Path) -> None:
    base = load_scenario(BASELINE)
    assert base.title == "Current practice" and base.short_title is None
    plain = load_scenario(_overlay(tmp_path, "", "plain.toml"))
    assert plain.title is None and plain.short_title is None  # not "Current practice"
    titled = load_scenario(
        _overlay(tmp_path, 'title = "A test plan"\nshort_title = "Test"\n', "titled.toml")
    )
    assert (titled.title, titled.short_title) == ("A test plan", "Test")
    # a title is not a parameter: the model part is unchanged
    assert titled.model_copy(update={"title": None, "short_title": None, "name": "plain"}) == plain


def test_every_shipped_scenario_has_its_own_title() -> None:
    titles = [load_scenario(f).title for f in sorted(SCENARIOS.rglob("*.toml"))]
    assert all(titles) and len(set(titles)) == len(titles)


def test_retagged_distribution_replaces_rather_than_merges(tmp_path: Path) -> None:
    path = _overlay(tmp_path, '[diagnostics]\nimaging_wait_days = {dist = "fixed", value = 3}\n')
    s = load_scenario(path)
    assert s.diagnostics.imaging_wait_days.dist == "fixed"


def test_out_of_range_probability(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[population]\nfemale_share = 1.4\n")
    assert _problems(path) == [f"{path}: population.female_share: must be between 0 and 1, got 1.4"]


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[population]\nincidence_per_yer = 3\n")
    assert _problems(path) == [
        f"{path}: population.incidence_per_yer: unknown key; did you mean 'incidence_per_year'?"
    ]


def test_unknown_category_key_lists_allowed(tmp_path: Path) -> None:
    path = _overlay(
        tmp_path, "[natural_history.progression_time_multiplier_by_site]\napendix = 2.0\n"
    )
    (msg,) = _problems(path)
    assert msg.startswith(
        f"{path}: natural_history.progression_time_multiplier_by_site.apendix:"
        " unknown key; did you mean 'appendix'? (allowed: small_intestine,"
    )


def test_wrong_type(tmp_path: Path) -> None:
    path = _overlay(tmp_path, '[presentation.gp]\nmax_consultations = "eight"\n')
    assert _problems(path) == [
        f"{path}: presentation.gp.max_consultations: must be a whole number, got 'eight' (a string)"
    ]


def test_shares_must_sum_to_one(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[population.site_shares]\nlung = 0.5\n")
    assert _problems(path) == [
        f"{path}: population.site_shares: probabilities must sum to 1, got 1.329"
    ]


def test_distribution_parameter_checks(tmp_path: Path) -> None:
    path = _overlay(
        tmp_path,
        "[diagnostics]\n"
        'imaging_wait_days = {dist = "uniform", low = 5, high = 2}\n'
        'endoscopy_wait_days = {dist = "gamma", mean = -1, sd = 2}\n'
        'biopsy_wait_days = {dist = "normal", mean = 1}\n',
    )
    assert _problems(path) == [
        f"{path}: diagnostics.imaging_wait_days: needs low < high, got low=5.0, high=2.0",
        f"{path}: diagnostics.endoscopy_wait_days.mean: must be greater than 0, got -1",
        f"{path}: diagnostics.biopsy_wait_days: dist must be one of fixed, exponential, gamma, "
        "weibull, lognormal, uniform, triangular, discrete, empirical, got 'normal' "
        "(did you mean 'lognormal'?)",
    ]


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[population\n')
    (msg,) = _problems(path)
    assert msg.startswith(f"{path}: TOML syntax error:") and "line 2" in msg


def test_missing_extends(tmp_path: Path) -> None:
    path = tmp_path / "orphan.toml"
    path.write_text('extends = "nowhere.toml"\n')
    (msg,) = _problems(path)
    assert msg.startswith(f"{path}: extends: extended file not found: nowhere.toml")


def test_cyclic_extends(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    (msg,) = _problems(tmp_path / "a.toml")
    assert msg == f"{tmp_path / 'a.toml'}: extends: cyclic extends: a.toml -> b.toml -> a.toml"


def test_start_date_must_be_monday(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "start_date = 2025-01-07\n")
    (msg,) = _problems(path)
    assert "start_date must be a Monday, got 2025-01-07 (Tuesday)" in msg


def test_run_controls_are_validated_apart(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[run]\nreplications = 0\nseeds = 1\n")
    assert _problems(path) == [
        f"{path}: run.replications: must be at least 1, got 0",
        f"{path}: run.seeds: unknown key; did you mean 'seed'?",
    ]


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    path = _overlay(tmp_path, "[population]\nfemale_share = 2\nmen1_share = -1\n")
    assert len(_problems(path)) == 2


@pytest.mark.parametrize(
    "text",
    [
        "[population]\nfemale_share = 1.4\n",
        "[population]\nincidence_per_yer = 3\n",
        "[population.site_shares]\nlung = 0.5\n",
        '[presentation.gp]\nmax_consultations = "x"\n',
    ],
)
def test_cli_validate_exit_2_without_traceback(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"{path}: ")
    assert len(err.strip().splitlines()) == 1


def test_cli_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(BASELINE)]) == 0
    assert "ok" in capsys.readouterr().out


def test_cli_validate_broken_syntax_and_cycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.toml").write_text('extends = "a.toml"\n')
    (tmp_path / "s.toml").write_text("x = \n")
    assert main(["validate", str(tmp_path / "a.toml"), str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "cyclic extends" in err and "TOML syntax error" in err and "Traceback" not in err


def test_overlay_default_covers_every_unnamed_category(tmp_path: Path) -> None:
    path = _overlay(
        tmp_path, "[mdt.specialist_referral_probability_by_region]\ndefault = 1.0\nlondon = 0.9\n"
    )
    s = load_scenario(path)
    table = s.mdt.specialist_referral_probability_by_region
    assert table["london"] == 0.9
    assert all(v == 1.0 for k, v in table.items() if k != "london")


def test_server_schedule_validated(tmp_path: Path) -> None:
    path = _overlay(
        tmp_path,
        "[resources.histopathology]\nschedule = ["
        '{weekday = "mon", hour = 8.0, share = 1.0}, '
        '{weekday = "mon", hour = 8.0, share = 0.5}]\n',
    )
    (msg,) = _problems(path)
    assert "resources.histopathology" in msg and "same weekday and hour" in msg
    ok = _overlay(
        tmp_path,
        "[resources.histopathology]\nschedule = ["
        '{weekday = "mon", hour = 8.0, share = 1.0}, '
        '{weekday = "fri", hour = 18.0, share = 0.0}]\n',
        "ok.toml",
    )
    assert load_scenario(ok).resources.histopathology.schedule is not None  # type: ignore[union-attr]
