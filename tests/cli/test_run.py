"""`nenpath run` end to end: the four files, reproducibility, refusing another run's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.app.cli import main
from tests.helpers import BASELINE, quick_run_options

ARGS = [*quick_run_options(), "--workers", "1", "--no-progress"]


def _run(out: Path, *extra: str) -> int:
    return main(["run", str(BASELINE), *ARGS, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "a"
    assert _run(out) == 0
    return out


def test_writes_the_four_files(first_run: Path) -> None:
    for name in ("manifest.json", "replications.csv", "summary.csv", "patients.parquet"):
        assert (first_run / name).is_file(), name
    manifest = json.loads((first_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["controls"]["seed"] == 20261123
    assert len(manifest["scenarios"][0]["hash"]) == 64
    assert manifest["scenarios"][0]["resolved"]["population"]["population_scale"] == 0.02
    assert "simpy" in manifest["versions"] and "wall_seconds" in manifest["timings"]
    reps = pd.read_csv(first_run / "replications.csv")
    assert list(reps["replication"]) == [0, 1]
    assert "diagnostic_interval_days_median__north_west" in reps.columns
    summary = pd.read_csv(first_run / "summary.csv")
    assert list(summary.columns) == ["kpi", "mean", "ci_low", "ci_high", "n"]
    patients = pd.read_parquet(first_run / "patients.parquet")
    assert {"scenario", "replication", "patient", "diagnosis_time", "region"} <= set(patients)


def test_same_seed_identical_patients(first_run: Path, tmp_path: Path) -> None:
    assert _run(tmp_path / "b") == 0
    a = (first_run / "patients.parquet").read_bytes()
    b = (tmp_path / "b" / "patients.parquet").read_bytes()
    assert a == b
    assert (first_run / "replications.csv").read_bytes() == (
        tmp_path / "b" / "replications.csv"
    ).read_bytes()


def test_different_seed_differs(first_run: Path, tmp_path: Path) -> None:
    assert _run(tmp_path / "c", "--seed", "7") == 0
    a = pd.read_parquet(first_run / "patients.parquet")
    c = pd.read_parquet(tmp_path / "c" / "patients.parquet")
    assert not a.equals(c)


def test_refuses_another_runs_folder(first_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (first_run / "replications.csv").read_bytes()
    assert _run(first_run, "--seed", "8") == 2
    err = capsys.readouterr().err
    assert "holds a different run" in err and "--force" in err and "Traceback" not in err
    assert (first_run / "replications.csv").read_bytes() == before


def test_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert _run(tmp_path) == 2
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_force_replaces_another_run(first_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    assert _run(out, "--seed", "9") == 0
    assert _run(out, "--force") == 0
    assert (out / "replications.csv").read_bytes() == (first_run / "replications.csv").read_bytes()


def test_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(BASELINE), "--replications", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
