"""Every bad input is one line naming the file, the key and what is allowed, exit status 2, no
traceback (issue 16). Each test reproduces a bullet of the issue's "Why": values that validated
and then crashed a worker or vanished, input silently replaced, run sizes that exhausted memory,
files that crashed the loader, and messages that named the wrong key or file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sim.app.cli import main
from tests.helpers import BASELINE, quick_run_options


def _overlay(tmp_path: Path, text: str, name: str = "variant.toml") -> Path:
    path = tmp_path / name
    path.write_text(f"extends = {json.dumps(str(BASELINE))}\n{text}\n")
    return path


def _validate(path: Path | str, capsys: pytest.CaptureFixture[str]) -> str:
    """Validate ``path``, expecting exit 2 and one line on standard error; return that line."""
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    err = out.err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------------------------------
# Values that validated, then crashed a worker or vanished
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[population]\nincidence_per_year = inf", "population.incidence_per_year", "finite"),
        ("[population]\nincidence_per_year = 1e308", "population.incidence_per_year", "at most"),
        ("[population]\nincidence_per_year = nan", "population.incidence_per_year", "finite"),
        ("[population]\nincidence_per_year = 5e6", "population.incidence_per_year", "1e+06"),
        ("[population]\npopulation_scale = 150", "population.population_scale", "at most 100"),
        ("[population]\nprehistory_years = 300", "population.prehistory_years", "at most 200"),
        ("[run]\nyears = 1e5", "run.years", "at most 200"),
        (
            "[population]\nage_years = {dist = 'weibull', shape = 1e-5, scale = 60}",
            "population.age_years",
            "quantile",
        ),
        (
            "[mdt]\nreferral_processing_days = {dist = 'gamma', mean = 1e-300, sd = 1e300}",
            "mdt.referral_processing_days",
            "",
        ),
        (
            "[mdt]\nreferral_processing_days = {dist = 'fixed', value = inf}",
            "mdt.referral_processing_days.value",
            "finite",
        ),
        (
            "[mdt]\nreferral_processing_days = {dist = 'lognormal', mean = 10, sd = 1e9}",
            "mdt.referral_processing_days",
            "quantile",
        ),
        (
            "[presentation]\nmen1_surveillance_interval_days = inf",
            "presentation.men1_surveillance_interval_days",
            "finite",
        ),
    ],
)
def test_values_that_crashed_or_vanished_are_refused(
    text: str, key: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, text)
    err = _validate(path, capsys)
    assert err.startswith(f"{path}: {key}") and message in err, err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--years", "inf", "must be a finite number"),
        ("--scale", "inf", "must be a finite number"),
        ("--years", "nan", "must be a finite number"),
        ("--years", "100000", "must be at most"),
        ("--warmup-years", "1e6", "must be at most"),
        ("--replications", "100000000", "must be at most"),
        ("--scale", "1e9", "must be at most"),
        ("--scale", "1000", "must be at most 100"),
    ],
)
def test_run_controls_out_of_bounds_are_one_line(
    option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(BASELINE), option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err and message in err, err


@pytest.mark.parametrize(
    ("extra", "words"),
    [(["--scale", "50"], "--scale"), (["--scale", "10", "--years", "150"], "--years")],
)
def test_a_run_too_large_for_memory_is_refused_with_an_estimate(
    extra: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(BASELINE), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "patients" in err and "GB" in err and words in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Input silently replaced
# ---------------------------------------------------------------------------------------------


def test_zero_histopathology_servers_in_a_region_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, "[resources.histopathology.servers]\nlondon = 0")
    err = _validate(path, capsys)
    assert err.startswith(f"{path}: resources.histopathology.servers.london: must be at least 1")


def test_zero_specialist_slots_everywhere_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, "[resources.specialist_mdt]\nslots_per_session = 0")
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"warning: {path}: resources.specialist_mdt.slots_per_session: 0 ")
    assert "never" in err and len(err.splitlines()) == 1
    out = tmp_path / "run"
    argv = ["run", str(path), *quick_run_options(1), "--workers", "1", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert capsys.readouterr().err.strip().startswith("warning: ")


# ---------------------------------------------------------------------------------------------
# Messages that named the wrong key or file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[resources.specialist_mdt]\nslots_per_session = -3",
            "resources.specialist_mdt.slots_per_session: must be at least 0, got -3",
        ),
        (
            "[resources.specialist_mdt]\nslots_per_session = 2.5",
            "resources.specialist_mdt.slots_per_session: must be a whole number or a table, "
            "got 2.5 (a number)",
        ),
        (
            "[resources.specialist_mdt.slots_per_session]\nlondon = -1",
            "resources.specialist_mdt.slots_per_session.london: must be at least 0, got -1",
        ),
        (
            "[resources.histopathology.servers]\nlondon = 2.5",
            "resources.histopathology.servers.london: must be a whole number, got 2.5 (a number)",
        ),
    ],
)
def test_messages_name_the_users_key_and_the_file_that_set_it(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, text)
    err = _validate(path, capsys)
    assert err == f"{path}: {expected}"
    assert "constrained" not in err and "must be a table" not in err


def test_extends_pointing_at_a_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "v.toml"
    path.write_text('extends = "sub"\n')
    err = _validate(path, capsys)
    assert err == f"{path}: extends: {tmp_path / 'sub'} is a folder, not a scenario file"


# ---------------------------------------------------------------------------------------------
# Files that crashed the loader
# ---------------------------------------------------------------------------------------------


def _deep_arrays(depth: int) -> str:
    return "x = " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00\x00binary\x00", "not UTF-8 text"),
        ("name = 'x'\n".encode("utf-16"), "not UTF-8 text"),
        (_deep_arrays(3000).encode(), "nested more than"),
        (_deep_arrays(40).encode(), "nested more than"),
        (b"x = 1\n" * 400_000, "larger than"),
    ],
)
def test_unreadable_files_are_one_line(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    err = _validate(path, capsys)
    assert err.startswith(f"{path}: ") and message in err, err


def test_an_endless_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = _validate("/dev/zero", capsys)
    assert err.startswith("/dev/zero: ") and "not a regular file" in err


def test_a_long_extends_chain_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f0.toml").write_text('name = "x"\n')
    for i in range(1, 1000):
        (tmp_path / f"f{i}.toml").write_text(f'extends = "f{i - 1}.toml"\n')
    err = _validate(tmp_path / "f999.toml", capsys)
    assert "extends" in err and "deep" in err, err


def test_calibration_files_are_read_as_carefully(tmp_path: Path) -> None:
    from sim.calibration.targets import CalibrationFileError, read_toml_table

    with pytest.raises(CalibrationFileError, match="not a regular file"):
        read_toml_table(Path("/dev/zero"), "targets")
    bad = tmp_path / "targets.toml"
    bad.write_bytes("[targets]\n".encode("utf-16"))
    with pytest.raises(CalibrationFileError, match="not UTF-8 text"):
        read_toml_table(bad, "targets")


def test_a_number_with_no_bounds_is_finite_all_the_same() -> None:
    """Safety net for fields added later without bounds (such as a multiplier only ``ge=1``)."""
    from pydantic import Field, ValidationError

    from sim.scenario.schema import Strict

    class Later(Strict):
        multiplier: float = Field(ge=1.0)

    assert Later(multiplier=2.0).multiplier == 2.0
    with pytest.raises(ValidationError, match="must be a finite number"):
        Later(multiplier=math.inf)
    with pytest.raises(ValidationError):
        Later(multiplier=math.nan)


def test_a_path_the_system_refuses_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = tmp_path / ("x" * 300)
    for argv in (
        ["validate", f"{long}.toml"],
        ["run", str(BASELINE), *quick_run_options(1), "--out", str(long)],
        ["report", str(long)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "File name too long" in err, err
    path = _overlay(tmp_path, "")
    path.write_text(f'extends = "{"y" * 300}.toml"\n')
    assert _validate(path, capsys) == f"{path}: extends: cannot read file: File name too long"
