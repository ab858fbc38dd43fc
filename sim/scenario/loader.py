"""Reading scenario files: TOML -> ``extends`` overlays -> deep merge -> validated ``Scenario``.

::

    scenario.toml --tomllib--> dict --extends/merge--> dict --pydantic--> Scenario (frozen)

A file may say ``extends = "current_practice.toml"`` (relative to itself) and give only what
changes. Tables merge key by key; any other value (numbers, strings, lists) replaces the base
value. In a category table, an overlay's ``default`` applies to every category the overlay does
not name, whatever the base said about them. A table carrying a discriminator (``dist`` for
distributions, ``kind`` for resources) that differs from the base table's replaces it whole, so
switching a wait from lognormal to fixed does not inherit the lognormal's ``sd``.

Every problem found is reported as a :class:`sim.core.errors.Problem` naming the file that set the
offending value, the dotted key and what is allowed; all problems of a file are collected before
raising :class:`sim.core.errors.ScenarioError`. A file that is not a small regular UTF-8 TOML file
(over :data:`MAX_FILE_BYTES`, a device, binary, nested over :data:`MAX_DEPTH` levels) or an
``extends`` chain over :data:`MAX_EXTENDS` files is one such problem, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from sim.core.constants import DAYS_PER_YEAR, NAME_PATTERN
from sim.core.distributions import DIST_NAMES
from sim.core.errors import Problem, ScenarioError
from sim.scenario.schema import (
    GRADES,
    REGIONS,
    RESOURCE_KINDS,
    SITES,
    STAGES,
    RunControls,
    Scenario,
    Sessions,
)

_TAGS = {"dist": set(DIST_NAMES), "kind": set(RESOURCE_KINDS)}
_RESERVED = ("extends", "run")
_CATEGORIES = frozenset((*SITES, *GRADES, *STAGES, *REGIONS))

Path_ = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------
# Reading and merging
# --------------------------------------------------------------------------------------------


MAX_FILE_BYTES = 1_000_000
"""Largest scenario file read (the complete baseline is under 30 kB)."""
MAX_DEPTH = 16
"""Deepest nesting of tables and arrays in a scenario file (the schema needs 6)."""
MAX_EXTENDS = 16
"""Longest chain of ``extends`` (each file extending the next)."""


def read_toml(path: Path, shown: str) -> dict[str, Any]:
    """Parse one file, refusing what is not a small regular UTF-8 TOML file of modest nesting
    with one clear line (never a traceback, never reading without end as from /dev/zero)."""
    kind = _kind(path, shown, "")
    if kind == "folder":
        raise ScenarioError([Problem(shown, "", "is a folder, not a scenario file")])
    if kind == "other":
        raise ScenarioError(
            [Problem(shown, "", "not a regular file (a device or pipe); give a .toml file")]
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, "", "file not found")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(shown, "", f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            [Problem(shown, "", f"larger than {MAX_FILE_BYTES:,} bytes: not a scenario file")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            [
                Problem(
                    shown,
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                    "scenario files are TOML saved as UTF-8",
                )
            ]
        ) from None
    deep = f"tables or arrays nested more than {MAX_DEPTH} deep: not a scenario file"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(shown, "", f"TOML syntax error: {exc}")]) from None
    except RecursionError:  # tomllib recurses per level: thousands deep exhaust the stack
        raise ScenarioError([Problem(shown, "", deep)]) from None
    at = _too_deep(data)
    if at is not None:
        key = ".".join(str(k) for k in at if isinstance(k, str)) or str(at[0])
        raise ScenarioError([Problem(shown, key, deep)])
    return data


def _kind(path: Path, shown: str, key: str) -> str:
    """``file``, ``folder``, ``other`` (a device, a pipe) or ``missing``; a path the system
    cannot even look up (a name too long, say) is a :class:`ScenarioError` naming ``shown``."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        if isinstance(exc, NotADirectoryError):
            return "missing"
        raise ScenarioError([Problem(shown, key, f"cannot read file: {exc.strerror}")]) from None
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    return "file" if stat.S_ISREG(st.st_mode) else "other"


def _too_deep(value: Any) -> Path_ | None:
    """The key path of the first value nested more than :data:`MAX_DEPTH` deep (dotted keys and
    ``[a.b.c]`` headers nest too), or None."""
    stack: list[tuple[Any, Path_]] = [(value, ())]
    while stack:
        node, at = stack.pop()
        if len(at) > MAX_DEPTH:
            return at
        if isinstance(node, dict):
            stack += [(v, (*at, k)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, (*at, i)) for i, v in enumerate(node)]
    return None


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
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(
            [
                Problem(
                    shown,
                    "extends",
                    f"extends chain more than {MAX_EXTENDS} files deep (from {chain[0].name}); "
                    "an overlay extends a complete scenario or another overlay of one",
                )
            ]
        )
    data = read_toml(path, shown)
    parent = data.pop("extends", None)
    if parent is None:
        _mark(data, origin, shown, ())
        return data
    if not isinstance(parent, str):
        raise ScenarioError(
            [Problem(shown, "extends", f"must be a file name (a string), got {parent!r}")]
        )
    parent_path = path.parent / parent
    kind = _kind(parent_path, shown, "extends")
    if kind == "folder":
        raise ScenarioError(
            [Problem(shown, "extends", f"{parent_path} is a folder, not a scenario file")]
        )
    if kind == "missing":
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
    named = "name" in data
    if not named:
        data["name"] = path.stem
        origin[("name",)] = shown
    run = data.pop("run", {})
    try:
        return _validate(data, run, origin, shown)
    except ScenarioError as exc:
        if named:
            raise
        hint = ' (the file\'s name, as it sets no name: add name = "...")'
        raise ScenarioError(
            [
                Problem(p.file, p.key, p.message + hint) if p.key == "name" else p
                for p in exc.problems
            ]
        ) from None


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


def scenario_warnings(scenario: Scenario, shown: str) -> list[Problem]:
    """What is valid but probably not meant, one :class:`Problem` each (``shown``: the file
    named): a resource of weekly sessions with no slot in any region takes no case, so
    everyone sent there waits for ever (never discussed or treated) and the run ends quietly."""
    out = []
    for name, spec in scenario.resources:
        if isinstance(spec, Sessions) and spec.slots_for(None) == 0:
            out.append(
                Problem(
                    shown,
                    f"resources.{name}.slots_per_session",
                    "0 in every region: no session takes a case, so everyone sent to "
                    f"{name} waits for ever and is never seen there (leave the key out for "
                    "unlimited slots)",
                )
            )
    return out


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
        run, problem = _policy_start_date(run, scenario, origin, shown)
        problems += problem
        try:
            controls = RunControls.model_validate(run)
        except ValidationError as exc:
            problems += _problems(exc, RunControls, run, origin, shown, ("run",))
    if problems:
        raise ScenarioError(problems)
    assert scenario is not None and controls is not None
    return scenario, controls


def years_from_start(date: dt.date, start_date: dt.date) -> float:
    """A calendar date as years from a scenario's t = 0 (its ``start_date``); raises
    ValueError for a date before it."""
    days = (date - start_date).days
    if days < 0:
        raise ValueError(f"{date} is before the scenario's start_date {start_date} (t=0)")
    return days / DAYS_PER_YEAR


def _policy_start_date(
    run: dict[str, Any], scenario: Scenario | None, origin: dict[Path_, str], shown: str
) -> tuple[dict[str, Any], list[Problem]]:
    """``[run] policy_start_date = YYYY-MM-DD`` (a TOML date) as ``policy_start_years`` from the
    scenario's ``start_date``: the run controls keep one measure of the policy start."""
    if "policy_start_date" not in run:
        return run, []
    run = dict(run)
    date = run.pop("policy_start_date")
    where = origin.get(("run", "policy_start_date"), shown)
    key = "run.policy_start_date"
    if "policy_start_years" in run:
        why = "give policy_start_years or policy_start_date, not both"
        return run, [Problem(where, key, why)]
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        why = f"must be a date written YYYY-MM-DD (no quotes), got {date!r}"
        return run, [Problem(where, key, why)]
    if scenario is None:  # the scenario's own problems are reported
        return run, []
    try:
        run["policy_start_years"] = years_from_start(date, scenario.start_date)
    except ValueError as exc:
        return run, [Problem(where, key, f"{exc}; give a later date")]
    return run, []


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into one line each
# --------------------------------------------------------------------------------------------


_TYPE_ERRORS = frozenset(
    {
        "float_type",
        "float_parsing",
        "int_type",
        "int_from_float",
        "int_parsing",
        "bool_type",
        "string_type",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "date_type",
    }
)
"""Pydantic errors that say only "not of this type": for a union (a number or a table by
region) each member reports one, and only the member the value was meant for says anything."""


def _problems(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    origin: dict[Path_, str],
    shown: str,
    prefix: Path_,
) -> list[Problem]:
    found: list[tuple[Path_, Any]] = []
    for err in exc.errors(include_url=False):
        found.append((_clean_loc(tuple(err["loc"]), data, err["type"] == "missing"), err))
    found = _one_reading_of_unions(found)
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for path, err in found:
        key = ".".join(str(p) for p in (*prefix, *path))
        merged = err.get("type") == "merged_types"
        msg = err["msg"] if merged else _message(err, model, data, path)
        src = _origin_of(path, origin if not prefix else _sub(origin, prefix), shown, data)
        if (key, msg) not in seen:
            seen.add((key, msg))
            out.append(Problem(src, key, msg))
    return out


def _sub(origin: dict[Path_, str], prefix: Path_) -> dict[Path_, str]:
    """``origin`` seen from inside the table at ``prefix`` (e.g. ``[run]``)."""
    n = len(prefix)
    return {p[n:]: src for p, src in origin.items() if p[:n] == prefix}


def _one_reading_of_unions(found: list[tuple[Path_, Any]]) -> list[tuple[Path_, Any]]:
    """Keep, for a value checked against several union members, what the member it was meant
    for says: a type error at a key is dropped when another error concerns that key, or a key
    inside it; type errors alone at a key merge into one ("a whole number or a table")."""
    real = {path for path, err in found if err["type"] not in _TYPE_ERRORS}
    deeper = {path[:n] for path, _ in found for n in range(len(path))}
    out: list[tuple[Path_, Any]] = []
    merged: dict[Path_, list[Any]] = {}
    for path, err in found:
        if err["type"] not in _TYPE_ERRORS:
            out.append((path, err))
        elif path not in real and path not in deeper:
            if path not in merged:
                merged[path] = []
                out.append(
                    (path, {"type": "merged_types", "loc": err["loc"], "parts": merged[path]})
                )
            merged[path].append(err)
    for i, (path, err) in enumerate(out):
        if err.get("type") == "merged_types":
            parts = err["parts"]
            if len(parts) == 1:
                out[i] = (path, parts[0])
                continue
            kinds = []
            for e in parts:
                kind = _TYPE_WORDS.get(e["type"], e["type"])
                if kind not in kinds:
                    kinds.append(kind)
            kinds.sort(key=lambda k: k == "a table")
            err["msg"] = f"must be {' or '.join(kinds)}, got {_describe(parts[0].get('input'))}"
    return out


_TYPE_WORDS = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_type": "a date (YYYY-MM-DD)",
}


def _clean_loc(loc: tuple[Any, ...], data: Any, missing: bool = False) -> Path_:
    """The user's key path of a pydantic error location: walk ``loc`` alongside the data, so
    segments pydantic adds (union members such as ``constrained-int``, discriminator tags,
    validator names) drop out. A category filled from the table's ``default`` is that
    ``default``; a missing key is kept as the last segment."""
    out: list[Any] = []
    node = data
    tag_seen = None
    for i, seg in enumerate(loc):
        if (
            isinstance(node, dict)
            and tag_seen is not node
            and seg in (node.get("kind"), node.get("dist"))
        ):
            tag_seen = node  # the member of a tagged union pydantic chose (once), not a key
            continue
        in_dict = isinstance(node, dict) and seg in node
        in_list = isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)
        if in_dict or in_list:
            out.append(seg)
            node = node[seg]
        elif isinstance(node, dict) and "default" in node and seg in _CATEGORIES:
            out.append("default")
            node = node["default"]
        elif missing and i == len(loc) - 1 and isinstance(seg, str):
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
    if typ == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return (
            "must be a plain name (letters, digits, '_', '.' and '-', starting with a letter "
            f"or digit), got {value!r}"
        )
    if typ == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {value!r}"
    if typ == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long, got {len(str(value))}"
    if typ == "string_too_short":
        return "must not be empty"
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
