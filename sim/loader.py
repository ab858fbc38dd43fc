"""Reading scenario files: TOML -> ``extends`` overlays -> deep merge -> validated ``Scenario``.

::

    scenario.toml --tomllib--> dict --extends/merge--> dict --pydantic--> Scenario (frozen)

A file may say ``extends = "current_practice.toml"`` (relative to itself) and give only what
changes. Tables merge key by key; any other value (numbers, strings, lists) replaces the base
value. In a category table, an overlay's ``default`` applies to every category the overlay does
not name, whatever the base said about them. A table carrying a discriminator (``dist`` for
distributions, ``kind`` for resources) that differs from the base table's replaces it whole, so
switching a wait from lognormal to fixed does not inherit the lognormal's ``sd``.

Every problem found is reported as a :class:`sim.errors.Problem` naming the file that set the
offending value, the dotted key and what is allowed; all problems of a file are collected before
raising :class:`sim.errors.ScenarioError`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from .config import RunControls, Scenario
from .distributions import DIST_NAMES
from .errors import Problem, ScenarioError

_TAGS = {"dist": set(DIST_NAMES), "kind": {"sessions", "servers", "delay"}}
_TAG_SEGMENTS = set(DIST_NAMES) | {"sessions", "servers", "delay"}
_RESERVED = ("extends", "run")

Path_ = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------
# Reading and merging
# --------------------------------------------------------------------------------------------


def _read_toml(path: Path, shown: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, "", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(shown, "", f"TOML syntax error: {exc}")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(shown, "", f"cannot read file: {exc.strerror}")]) from None


def _merge(
    base: dict[str, Any], over: dict[str, Any], origin: dict[Path_, str], src: str, at: Path_ = ()
) -> dict[str, Any]:
    # A category table's ``default`` in an overlay covers every category the overlay does not
    # name, including those the base named: {default = 1.0} means "all of them".
    out = {k: v for k, v in base.items() if k in over} if "default" in over else dict(base)
    for key, value in over.items():
        path = (*at, key)
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not _retagged(old, value):
            out[key] = _merge(old, value, origin, src, path)
        else:
            out[key] = value
            for p in [p for p in origin if p[: len(path)] == path]:
                del origin[p]
            _mark(value, origin, src, path)
    return out


def _retagged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(tag in new and new.get(tag) != old.get(tag) for tag in _TAGS)


def _mark(value: Any, origin: dict[Path_, str], src: str, path: Path_) -> None:
    origin[path] = src
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(v, origin, src, (*path, k))


def _resolve(path: Path, shown: str, chain: list[Path], origin: dict[Path_, str]) -> dict[str, Any]:
    """Read ``path`` and everything it extends, base first; fills ``origin`` with provenance."""
    real = path.resolve()
    if real in chain:
        cycle = " -> ".join(p.name for p in [*chain, real])
        raise ScenarioError([Problem(shown, "extends", f"cyclic extends: {cycle}")])
    data = _read_toml(path, shown)
    parent = data.pop("extends", None)
    if parent is None:
        _mark(data, origin, shown, ())
        return data
    if not isinstance(parent, str):
        raise ScenarioError(
            [Problem(shown, "extends", f"must be a file name (a string), got {parent!r}")]
        )
    parent_path = path.parent / parent
    if not parent_path.is_file():
        raise ScenarioError(
            [
                Problem(
                    shown,
                    "extends",
                    f"extended file not found: {parent} (looked in {parent_path.parent})",
                )
            ]
        )
    base = _resolve(parent_path, str(parent_path), [*chain, real], origin)
    # A variant inherits everything but its name and titles: the name is its own file's stem by
    # default, and a title names one file's scenario, not the variants built on it.
    for key in ("name", "title", "short_title"):
        base.pop(key, None)
    return _merge(base, data, origin, shown)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_scenario_file(path: str | Path) -> tuple[Scenario, RunControls]:
    """Load a scenario file: its validated :class:`Scenario` and its ``[run]`` defaults.

    Raises :class:`ScenarioError` listing every problem found.
    """
    path = Path(path)
    shown = str(path)
    origin: dict[Path_, str] = {}
    data = _resolve(path, shown, [], origin)
    data.setdefault("name", path.stem)
    run = data.pop("run", {})
    return _validate(data, run, origin, shown)


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file (see :func:`load_scenario_file`)."""
    return load_scenario_file(path)[0]


def load_scenario_dict(
    data: dict[str, Any], source: str = "<scenario>"
) -> tuple[Scenario, RunControls]:
    """Validate an already-merged scenario dictionary (used by tests and tools)."""
    data = dict(data)
    run = data.pop("run", {})
    data.pop("extends", None)
    return _validate(data, run, {}, source)


def merge_overlay(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overlay`` onto ``base`` with the same rules as ``extends``."""
    return _merge(base, overlay, {}, "<overlay>")


def with_changes(scenario: Scenario, changes: dict[str, Any]) -> Scenario:
    """A re-validated copy of ``scenario`` with ``changes`` ({"dotted.key.path": value}).

    Variants go through validation like any scenario file (never ``model_copy(update=...)``,
    which skips it).
    """
    data = scenario.model_dump(by_alias=True)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return Scenario.model_validate(data)


def with_population_scale(scenario: Scenario, scale: float) -> Scenario:
    """The scenario at another ``population_scale`` (a fraction or multiple of England)."""
    return with_changes(scenario, {"population.population_scale": scale})


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the scenario's canonical JSON (model parameters only, not run controls)."""
    blob = json.dumps(scenario_dict(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def scenario_dict(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain JSON-ready data (aliases as written in TOML)."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=True)


def _validate(
    data: dict[str, Any], run: Any, origin: dict[Path_, str], shown: str
) -> tuple[Scenario, RunControls]:
    problems: list[Problem] = []
    scenario = controls = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems += _problems(exc, Scenario, data, origin, shown, ())
    if not isinstance(run, dict):
        problems.append(Problem(shown, "run", f"must be a table, got {run!r}"))
    else:
        try:
            controls = RunControls.model_validate(run)
        except ValidationError as exc:
            problems += _problems(exc, RunControls, run, origin, shown, ("run",))
    if problems:
        raise ScenarioError(problems)
    assert scenario is not None and controls is not None
    return scenario, controls


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into one line each
# --------------------------------------------------------------------------------------------


def _problems(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    origin: dict[Path_, str],
    shown: str,
    prefix: Path_,
) -> list[Problem]:
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = _clean_loc(loc)
        key = ".".join(str(p) for p in (*prefix, *path))
        msg = _message(err, model, data, path)
        src = _origin_of((*prefix, *path), origin, shown, data)
        if (key, msg) not in seen:
            seen.add((key, msg))
            out.append(Problem(src, key, msg))
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for seg in loc:
        if seg == "[key]":
            continue
        if isinstance(seg, str) and (seg in _TAG_SEGMENTS or seg.startswith("function-")):
            continue
        if isinstance(seg, str) and seg.isdigit():
            seg = int(seg)
        out.append(seg)
    return tuple(out)


def _origin_of(path: Path_, origin: dict[Path_, str], shown: str, data: Any = None) -> str:
    """The file that set the value at ``path``; for a whole table (whose entries may come from
    several files), the file the user named."""
    value = data
    for seg in path:
        value = value.get(seg) if isinstance(value, dict) else None
    if isinstance(value, dict):
        return shown
    for n in range(len(path), -1, -1):
        src = origin.get(path[:n])
        if src is not None:
            return src
    return shown


def _describe(value: Any) -> str:
    kind = {
        str: "a string",
        bool: "a boolean",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value))
    shown = repr(value) if not isinstance(value, dict | list) else kind or type(value).__name__
    if isinstance(value, dict | list):
        return str(shown)
    return f"{shown} ({kind})" if kind else str(shown)


def _message(err: Any, model: type[BaseModel], data: Any, path: Path_) -> str:
    typ = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    is_key = "[key]" in err["loc"]
    if typ == "extra_forbidden":
        valid = _valid_keys(model, data, path[:-1])
        return "unknown key" + _suggest(str(path[-1]), valid)
    if typ == "literal_error" and is_key:
        allowed = _literal_choices(ctx.get("expected", ""))
        return f"unknown key{_suggest(str(value), allowed)} (allowed: {', '.join(allowed)})"
    if typ == "literal_error":
        allowed = _literal_choices(ctx.get("expected", ""))
        return f"must be one of {', '.join(allowed)}, got {_describe(value)}" + _suggest(
            str(value), allowed, lead=" (did you mean {}?)"
        )
    if typ == "missing":
        return "required key is missing"
    if typ in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("discriminator", "").strip("'")
        expected = _literal_choices(ctx.get("expected_tags", ""))
        if typ == "union_tag_not_found":
            return f"needs a '{tag}' key, one of {', '.join(expected)}"
        got = ctx.get("tag")
        return f"{tag} must be one of {', '.join(expected)}, got {got!r}" + _suggest(
            str(got), expected, lead=" (did you mean {}?)"
        )
    simple = {
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_parsing": "must be a whole number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "dict_type": "must be a table",
        "model_type": "must be a table",
        "model_attributes_type": "must be a table",
        "date_type": "must be a date (YYYY-MM-DD)",
        "finite_number": "must be a finite number",
    }
    if typ in simple:
        return f"{simple[typ]}, got {_describe(value)}"
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if typ in bounds:
        words, key = bounds[typ]
        return f"must be {words} {ctx[key]:g}, got {value!r}"
    if typ == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if typ == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {value!r}"
    if typ == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        if "got" not in msg and not isinstance(value, dict | list):
            msg += f", got {value!r}"
        return msg
    return str(err["msg"])


def _literal_choices(expected: str) -> list[str]:
    return [
        part.strip().strip("'") for part in expected.replace(" or ", ",").split(",") if part.strip()
    ]


def _suggest(word: str, valid: list[str], lead: str = "; did you mean {}?") -> str:
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return lead.format(repr(close[0])) if close else ""


def _valid_keys(model: type[BaseModel], data: Any, path: Path_) -> list[str]:
    """The keys allowed at ``path`` (walking the schema alongside the data)."""
    typ: Any = model
    for seg in path:
        sub = data.get(seg) if isinstance(data, dict) else None
        typ = _child_type(typ, seg, data)
        data = sub
    typ = _pick_member(typ, data)
    if isinstance(typ, type) and issubclass(typ, BaseModel):
        return [f.alias or name for name, f in typ.model_fields.items()]
    return []


def _child_type(typ: Any, seg: Any, data: Any) -> Any:
    typ = _pick_member(typ, data)
    if isinstance(typ, type) and issubclass(typ, BaseModel):
        for name, f in typ.model_fields.items():
            if seg in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(typ)
    if origin is dict:
        return typing.get_args(typ)[1]
    if origin is list:
        return typing.get_args(typ)[0]
    return None


def _pick_member(typ: Any, data: Any) -> Any:
    """Unwrap Annotated/Optional/unions to the member matching ``data``."""
    while True:
        origin = typing.get_origin(typ)
        if origin is typing.Annotated:
            typ = typing.get_args(typ)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [m for m in typing.get_args(typ) if m is not type(None)]
            chosen = None
            for m in members:
                inner = _pick_member(m, None)
                if (
                    isinstance(inner, type)
                    and issubclass(inner, BaseModel)
                    and isinstance(data, dict)
                ):
                    for tag in _TAGS:
                        f = inner.model_fields.get(tag)
                        if f is not None and data.get(tag) in typing.get_args(f.annotation):
                            chosen = m
                if chosen is None and typing.get_origin(inner) is dict and isinstance(data, dict):
                    chosen = m
            typ = chosen if chosen is not None else members[0]
            continue
        return typ
