"""The --resume guard: which source files decide a replication's numbers.

Every module of the packages below reporting (core, scenario, model, measures, experiment) is
hashed, found by walking the package folders: a new model module is covered without anyone
remembering to list it. Presentation layers are not, so editing a report keeps replications.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import sim
from sim.experiment import runner

SIM = Path(sim.__file__).resolve().parent


def _fake_tree(root: Path) -> None:
    for pkg in ("core", "scenario", "model", "measures", "experiment", "reporting", "app"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / "mod.py").write_text(f"X = {pkg!r}\n")


def test_every_module_of_the_model_packages_is_hashed() -> None:
    hashed = {p.resolve() for p in runner.hashed_sources()}
    for pkg in runner.MODEL_PACKAGES:
        for path in (SIM / pkg).rglob("*.py"):
            assert path.resolve() in hashed, path
    assert not any("reporting" in p.parts or "app" in p.parts for p in hashed)


def test_a_new_model_module_changes_the_hash(tmp_path: Path) -> None:
    _fake_tree(tmp_path)
    before = runner.source_hash(tmp_path)
    (tmp_path / "model" / "new_clinic.py").write_text("CAPACITY = 1\n")
    assert tmp_path / "model" / "new_clinic.py" in runner.hashed_sources(tmp_path)
    assert runner.source_hash(tmp_path) != before


def test_a_report_edit_keeps_the_hash(tmp_path: Path) -> None:
    _fake_tree(tmp_path)
    before = runner.source_hash(tmp_path)
    (tmp_path / "reporting" / "mod.py").write_text("X = 'edited'\n")
    (tmp_path / "app" / "new_page.py").write_text("Y = 1\n")
    assert runner.source_hash(tmp_path) == before


def test_the_hashed_packages_are_the_layers_up_to_experiment() -> None:
    """Ties the guard to the layers contract: every layer at or below ``sim.experiment`` (the
    ones that decide numbers; sim.model can import only those below it) is hashed."""
    config = tomllib.loads((SIM.parent / "pyproject.toml").read_text())
    (layers,) = (
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    )
    below = [name.removeprefix("sim.") for name in layers[layers.index("sim.experiment") :]]
    assert sorted(runner.MODEL_PACKAGES) == sorted(below)
