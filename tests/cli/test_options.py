"""The command line's own surface: --version, `nenpath kpis`, and help text on every option."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from sim.app.cli import build_parser, kpi_rows, main
from sim.measures.kpis import DERIVED_KPIS, KINDS, KPIS


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nenpath {version('nen-pathway')}"


def test_every_option_and_argument_has_help() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert {"run", "compare", "report", "kpis", "size", "calibrate", "psa"} <= set(commands)
    missing = []
    for name, sub in [("nenpath", parser), *commands.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_kpis_lists_every_kpi_with_its_unit_and_meaning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["kpis"]) == 0
    out = capsys.readouterr().out
    for name, info in [*KPIS.items(), *DERIVED_KPIS.items()]:
        (line,) = [x for x in out.splitlines() if x.split(" ", 1)[0] == name]
        assert KINDS[info.kind].unit in line and info.label in line, name


def test_kpis_pattern_filters_by_name_meaning_or_shell_pattern(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert [r[0] for r in kpi_rows("utilisation")] == ["specialist_mdt_utilisation"]
    assert {r[0] for r in kpi_rows("EMERGENCY")} == {
        "emergency_presentation_share",
        "cost_emergency_per_year",
        "cost_emergency_per_patient_diagnosed",
    }
    rows = kpi_rows("death-certificate")  # in the meaning only
    assert {"registered_per_year", "one_year_survival_registry_share"} <= {r[0] for r in rows}
    assert all("death-certificate" in label.lower() for _, _, label in rows)
    ranges = {r[0] for r in kpi_rows("*_region_range")}
    assert ranges == {k for k in DERIVED_KPIS if k.endswith("_region_range")} and ranges
    assert main(["kpis", "days_p90"]) == 0
    capacity = {r[0] for r in kpi_rows("capacity")}
    assert {"rtt_62d_share", "pet_wait_days_median"} <= capacity
    assert "diagnosed_per_year" not in capacity
    assert "diagnosis_to_specialist_mdt_days_p90" in capsys.readouterr().out
    assert main(["kpis", "no such kpi"]) == 2
    assert "no KPI matches" in capsys.readouterr().err
