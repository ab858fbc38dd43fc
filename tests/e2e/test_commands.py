"""Whole commands end to end: ``python -m sim``, ``nenpath psa`` and ``nenpath warmup`` on small
runs, checking the files they write. (The commands' pieces are tested fast in cli/,
calibration/ and experiments/.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.app.cli import main
from sim.experiment.warmup import analyse_series
from tests.helpers import BASELINE

pytestmark = pytest.mark.slow


def test_python_dash_m_sim(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(BASELINE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and "ok" in out.stdout


def test_psa_command_is_reproducible(tmp_path: Path) -> None:
    args = [
        "psa",
        str(BASELINE),
        "--draws",
        "3",
        "--scale",
        "0.02",
        "--years",
        "1",
        "--warmup-years",
        "0",
        "--kpi",
        "diagnostic_interval_days_median",
        "--kpi",
        "emergency_presentation_share",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for name in ("draws.csv", "summary.csv", "sensitivity.csv", "tornado.png", "psa.html"):
        assert (tmp_path / "a" / name).is_file(), name
    a = pd.read_csv(tmp_path / "a" / "draws.csv")
    b = pd.read_csv(tmp_path / "b" / "draws.csv")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 3 and "emergency_rate" in a and "diagnostic_interval_days_median" in a


def test_nenpath_warmup_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wu"
    args = ["warmup", str(BASELINE), "--scale", "0.02", "--years", "4", "-n", "2"]
    code = main([*args, "--workers", "1", "--no-progress", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "recommended warm-up:" in text and "in_follow_up: MSER-5 truncation at week" in text
    assert (out / "warmup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "warmup.csv").set_index("series")
    assert list(table.index) == [
        "specialist_backlog",
        "mdt_rediscussions",
        "in_follow_up",
        "diagnoses",
    ]
    assert (table["truncation_week"] <= table["searched_weeks"]).all()
    # A follow-up caseload started from nobody cannot level off in 4 years (NENs live for many
    # years after diagnosis): it must be reported as still rising.
    assert not table.loc["in_follow_up", "levelled_off"]
    assert table.loc["in_follow_up", "drift_share_after_truncation"] > 0.1
    assert "had not levelled off" in text
    # the averaged series is the plain mean of the two replications' weekly series, whole weeks
    avg = pd.read_csv(out / "warmup_series.csv")
    parts = [pd.read_parquet(p) for p in sorted((out / "parts").glob("*/rep_*.series.parquet"))]
    assert len(parts) == 2
    whole = int(4 * 365.25 // 7)
    assert len(avg) == whole
    expected = (parts[0]["in_follow_up"] + parts[1]["in_follow_up"]).to_numpy()[:whole] / 2
    assert avg["in_follow_up"].to_numpy() == pytest.approx(expected)
    assert (
        table.loc["in_follow_up", "truncation_week"]
        == analyse_series("in_follow_up", expected).truncation_week
    )


def test_comparison_psa_of_a_scenario_with_itself_has_nothing_to_decide(tmp_path: Path) -> None:
    same = tmp_path / "same_as_base.toml"
    same.write_text(f'extends = "{BASELINE.resolve()}"\ntitle = "The same"\n')
    args = [
        "psa",
        str(BASELINE),
        str(same),
        "--draws",
        "3",
        "--scale",
        "0.02",
        "--years",
        "1",
        "--warmup-years",
        "0",
        "--kpi",
        "diagnosed_per_year",
        "--no-progress",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = tmp_path / "a"
    for name in (
        "economics_draws.csv",
        "ceac.csv",
        "evpi.csv",
        "ce_plane.png",
        "ceac.png",
        "evpi.png",
        "decision_sensitivity.csv",
        "decision_tornado.png",
        "psa.html",
    ):
        assert (out / name).is_file(), name
    econ = pd.read_csv(out / "economics_draws.csv")
    assert len(econ) == 6 and set(econ["scenario"]) == {"current_practice", "same_as_base"}
    # same draw, same replication numbers, same model: exactly the same cost and QALYs
    assert (econ["d_cost_per_year"] == 0).all() and (econ["d_qalys_per_year"] == 0).all()
    assert econ["cost_per_year"].nunique() == 3  # but the draws differ from each other
    ceac = pd.read_csv(out / "ceac.csv")
    assert (ceac["probability_best"] == 0.5).all()  # every draw a tie, shared
    evpi = pd.read_csv(out / "evpi.csv")
    assert (evpi["evpi_per_year"] == 0).all() and (evpi["evpi_per_person"] == 0).all()
    page = (out / "psa.html").read_text()
    assert "Cost-effectiveness under uncertainty" in page and "25,000-35,000" in page
