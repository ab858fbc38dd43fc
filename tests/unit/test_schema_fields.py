"""No validated-but-dead parameters: every field of the scenario schema is read somewhere.

A field is *read* if some module of :mod:`sim` other than the schema itself mentions it as an
attribute (``.name``), a key (``["name"]``) or a string (``"name"``), or if a schema method
that is itself used outside the schema (e.g. ``GP.outcome_shares``, ``TreatmentOption.pfs``)
reads it. Validators do not count: checking a value is not using it. A parameter that is
validated and documented but never used misleads whoever sets it.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

from pydantic import BaseModel

import sim
from sim.scenario import schema
from sim.scenario.schema import RunControls, Scenario

SIM = Path(sim.__file__).resolve().parent
SCHEMA = Path(schema.__file__).resolve()


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from ``root`` through its fields' annotations."""
    found: dict[str, type[BaseModel]] = {}
    todo: list[object] = [root]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t.__name__ in found:
                continue
            found[t.__name__] = t
            todo.extend(f.annotation for f in t.model_fields.values())
        else:
            todo.extend(typing.get_args(t))
    return found


def _fields() -> dict[str, str]:
    """Field name -> the model declaring it, for every model of a scenario and run controls."""
    out: dict[str, str] = {}
    for root in (Scenario, RunControls):
        for model in _models(root).values():
            for name in model.model_fields:
                out.setdefault(name, model.__name__)
    return out


def _sources_outside_schema() -> str:
    return "\n".join(
        path.read_text() for path in sorted(SIM.rglob("*.py")) if path.resolve() != SCHEMA
    )


def _used_schema_methods(outside: str) -> str:
    """The source of every schema method (validators aside) called outside the schema."""
    source = SCHEMA.read_text()
    parts = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in item.decorator_list]
            if any("validator" in d for d in decorators):
                continue
            if re.search(rf"\.{item.name}\b", outside):
                parts.append(ast.get_source_segment(source, item) or "")
    return "\n".join(parts)


def _reading_text() -> str:
    outside = _sources_outside_schema()
    return outside + "\n" + _used_schema_methods(outside)


def test_the_walk_finds_the_nested_models() -> None:
    models = _models(Scenario)
    assert {"Population", "Diagnostics", "MDT", "Sessions", "Servers", "Survival"} <= set(models)


def test_every_schema_field_is_read_outside_the_schema() -> None:
    text = _reading_text()
    unread = sorted(
        f"{model}.{name}"
        for name, model in _fields().items()
        if not re.search(rf"\.{name}\b|\[\s*[\"']{name}[\"']\s*\]|[\"']{name}[\"']", text)
    )
    assert not unread, f"validated but read nowhere outside sim/scenario/schema.py: {unread}"


def test_a_field_read_only_by_a_validator_counts_as_unread() -> None:
    """``GP._levers_add_up`` reads both misattribution shares; only ``outcome_shares`` (used by
    the pathway) makes them read. Validators are left out of the reading text."""
    text = _used_schema_methods(_sources_outside_schema())
    assert "def outcome_shares" in text
    assert "_levers_add_up" not in text
