"""Uncertain inputs: which scenario values calibration and PSA may change, and how.

A parameters file (``calibration/parameters.toml``) names each uncertain input once::

    [parameters.emergency_rate]
    keys = ["presentation.emergency_rate_per_year_by_stage.localised",
            "presentation.emergency_rate_per_year_by_stage.regional",
            "presentation.emergency_rate_per_year_by_stage.distant"]
    transform = "multiply"      # set: every key takes the value; multiply: key = its value x value
    low = 0.2                   # prior range (of the value, or of the multiplier)
    high = 2.0
    prior = "loguniform"        # uniform | loguniform: how the range is sampled and searched
    use = "fit"                 # fit: calibrated (and sampled by PSA) | psa: sampled by PSA only
    targets = ["emergency_route_share"]   # fit targets that mainly identify it (documentation)
    why = "why the value is uncertain"

Keys are dotted paths into the *resolved* scenario (category tables are complete there, so a
``default`` entry is addressed through the categories it fills). Optional keys: ``constraint =
"shares"`` and ``integer = true``.

Shares that must sum to 1
-------------------------
With ``constraint = "shares"`` a key is one entry of a table whose entries sum to 1 (e.g. the
outcomes of a first GP consultation). The entries being set take their values and the other
entries of the same table are rescaled in proportion to fill what is left::

    other_k = base_k * (1 - sum of set entries) / (sum of the other entries' base values)

so the ratios between the entries not fitted are kept (a multinomial-logit parametrisation with
the others as a fixed-ratio reference group). The file is refused unless the table sums to 1, at
least one entry is left to rescale and the set entries' upper bounds sum to less than 1, so every
point of the search box is a valid scenario.

The unit cube
-------------
Optimiser and sampler work in ``[0, 1]^d``: ``u -> low + u (high - low)`` for a uniform prior,
``low * (high/low)^u`` for a log-uniform one (multipliers, rates, durations).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim.calibration.targets import (
    CalibrationFileError,
    finite_number,
    read_toml_table,
    table_entries,
)
from sim.core.errors import Problem
from sim.core.streams import Streams
from sim.scenario.loader import with_changes
from sim.scenario.schema import Scenario

TRANSFORMS = ("set", "multiply")
PRIORS = ("uniform", "loguniform")
PARAM_USES = ("fit", "psa")
SHARES_TOLERANCE = 1e-6
_KEYS = {
    "keys",
    "transform",
    "low",
    "high",
    "prior",
    "use",
    "constraint",
    "targets",
    "why",
    "source",
    "integer",
}
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Parameter:
    """One uncertain input: one or more scenario keys moved together by one number."""

    name: str
    keys: tuple[str, ...]
    transform: str
    low: float
    high: float
    prior: str
    use: str
    why: str
    constraint: str | None = None
    targets: tuple[str, ...] = ()
    source: str = ""
    integer: bool = False

    def value(self, u: float) -> float:
        """The value at unit coordinate ``u`` in [0, 1]."""
        u = min(max(float(u), 0.0), 1.0)
        if self.prior == "loguniform":
            return self.low * (self.high / self.low) ** u
        return self.low + u * (self.high - self.low)

    def unit(self, x: float) -> float:
        """The unit coordinate of value ``x`` (clipped into [0, 1])."""
        if self.prior == "loguniform":
            u = math.log(x / self.low) / math.log(self.high / self.low) if x > 0 else 0.0
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def current(self, scenario: Scenario) -> float:
        """The scenario's own value of this input (1 for a multiplier)."""
        if self.transform == "multiply":
            return 1.0
        return float(_get(scenario.model_dump(by_alias=True), self.keys[0]))


# ---------------------------------------------------------------------------------------------
# Reading and checking
# ---------------------------------------------------------------------------------------------


def load_parameters(
    path: str | Path, scenario: Scenario, target_names: Iterable[str] | None = None
) -> list[Parameter]:
    """Read a parameters file and check it against ``scenario``.

    Every key must exist in the resolved scenario and hold a number; no key may belong to two
    parameters; ``targets`` must name targets in ``target_names`` (if given). Raises
    :class:`~sim.calibration.targets.CalibrationFileError` listing every problem.
    """
    path = Path(path)
    shown = str(path)
    body = read_toml_table(path, "parameters")
    data = scenario.model_dump(by_alias=True)
    known = set(target_names) if target_names is not None else None
    problems: list[Problem] = []
    out: list[Parameter] = []
    owner: dict[str, str] = {}
    required = ("keys", "transform", "low", "high", "use", "why")
    for name, raw, bad in table_entries(shown, "parameters", body, _KEYS, required, problems):
        before = len(problems)
        keys = raw["keys"]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            bad("keys", "must be a non-empty list of dotted key paths")
            continue
        for k in keys:
            try:
                v = _get(data, k)
            except KeyError as exc:
                bad("keys", f"{k!r} is not a key of the scenario ({exc.args[0]})")
                continue
            if not finite_number(v):
                bad("keys", f"{k!r} must hold a number in the scenario, holds {v!r}")
            if k in owner:
                bad("keys", f"{k!r} is already moved by parameter {owner[k]!r}")
            owner.setdefault(k, name)
        low, high = raw["low"], raw["high"]
        if not (finite_number(low) and finite_number(high) and low < high):
            bad("low", f"low and high must be numbers with low < high, got {low!r}, {high!r}")
        transform = raw["transform"]
        if transform not in TRANSFORMS:
            bad("transform", f"must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        prior = raw.get("prior", "loguniform" if transform == "multiply" else "uniform")
        if prior not in PRIORS:
            bad("prior", f"must be one of {', '.join(PRIORS)}, got {prior!r}")
        elif prior == "loguniform" and finite_number(low) and low <= 0:
            bad("low", f"a log-uniform prior needs low > 0, got {low!r}")
        if raw["use"] not in PARAM_USES:
            bad("use", f"must be one of {', '.join(PARAM_USES)}, got {raw['use']!r}")
        constraint = raw.get("constraint")
        if constraint not in (None, "shares"):
            bad("constraint", f"must be 'shares' or absent, got {constraint!r}")
        elif constraint == "shares" and transform != "set":
            bad("constraint", "'shares' needs transform = \"set\"")
        targets = raw.get("targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            bad("targets", "must be a list of target names")
        elif known is not None:
            for t in targets:
                if t not in known:
                    bad("targets", f"unknown target {t!r} (not in the targets file)")
        if not isinstance(raw.get("integer", False), bool):
            bad("integer", "must be true or false")
        if len(problems) > before:
            continue
        out.append(
            Parameter(
                name=name,
                keys=tuple(keys),
                transform=transform,
                low=float(low),
                high=float(high),
                prior=prior,
                use=raw["use"],
                why=str(raw["why"]),
                constraint=constraint,
                targets=tuple(targets),
                source=str(raw.get("source", "")),
                integer=bool(raw.get("integer", False)),
            )
        )
    if not problems:
        problems += _check_shares(out, data, shown)
    if not problems:
        problems += _check_corners(out, scenario, shown)
    if problems:
        raise CalibrationFileError(problems)
    return out


def _check_shares(params: list[Parameter], data: dict[str, Any], shown: str) -> list[Problem]:
    problems: list[Problem] = []
    for parent, entries in _share_groups(params).items():
        table = _get(data, parent)
        where = f"parameters.{entries[0][0].name}.keys"
        total = sum(float(v) for v in table.values())
        if abs(total - 1) > SHARES_TOLERANCE:
            problems.append(Problem(shown, where, f"{parent} does not sum to 1 (sum {total:.6g})"))
        fitted = {leaf for _, leaf in entries}
        if not set(table) - fitted:
            problems.append(
                Problem(shown, where, f"every entry of {parent} is set: none left to rescale")
            )
        top = sum(p.high for p, _ in entries)
        if top >= 1:
            problems.append(
                Problem(
                    shown,
                    where,
                    f"upper bounds of the set entries of {parent} sum to {top:g}; must be below 1",
                )
            )
    return problems


def _check_corners(params: list[Parameter], scenario: Scenario, shown: str) -> list[Problem]:
    """Every parameter at its low and at its high end must give a valid scenario."""
    problems: list[Problem] = []
    for p in params:
        for end in (p.low, p.high):
            try:
                apply_values(scenario, [p], {p.name: end})
            except CalibrationFileError as exc:
                first = exc.problems[0]
                msg = f"at {end:g} the scenario is invalid: {first.key}: {first.message}"
                problems.append(Problem(shown, f"parameters.{p.name}", msg))
                break
    return problems


def _share_groups(params: Iterable[Parameter]) -> dict[str, list[tuple[Parameter, str]]]:
    groups: dict[str, list[tuple[Parameter, str]]] = {}
    for p in params:
        if p.constraint == "shares":
            for k in p.keys:
                parent, _, leaf = k.rpartition(".")
                groups.setdefault(parent, []).append((p, leaf))
    return groups


# ---------------------------------------------------------------------------------------------
# Applying values
# ---------------------------------------------------------------------------------------------


def apply_values(
    scenario: Scenario,
    params: Sequence[Parameter],
    values: Mapping[str, float],
    *,
    name: str | None = None,
    significant: int | None = None,
) -> tuple[Scenario, dict[str, float]]:
    """The scenario with ``values`` (parameter name -> value) applied, re-validated, and the
    changes made (dotted key -> new value, including entries rescaled to keep shares summing
    to 1).

    ``significant`` rounds each new value to that many significant figures (for writing a
    readable overlay); rescaled share entries are then computed from the rounded values.
    """
    data = scenario.model_dump(by_alias=True)
    base = scenario.model_dump(by_alias=True)
    changes: dict[str, float] = {}
    for p in params:
        if p.name not in values:
            continue
        v = float(values[p.name])
        for k in p.keys:
            new = v if p.transform == "set" else float(_get(base, k)) * v
            if significant is not None:
                new = float(f"{new:.{significant}g}")
            if p.integer:
                new = round(new)
            changes[k] = new
    for parent, entries in _share_groups(p for p in params if p.name in values).items():
        table = _get(base, parent)
        fitted = {leaf for _, leaf in entries}
        rest = [k for k in table if k not in fitted]
        room = 1.0 - sum(changes[f"{parent}.{leaf}"] for leaf in fitted)
        rest_total = sum(float(table[k]) for k in rest)
        for k in rest:
            share = float(table[k]) * room / rest_total if rest_total > 0 else room / len(rest)
            changes[f"{parent}.{k}"] = round(share, 12)
    for k, v in changes.items():
        _set(data, k, v)
    if name is not None:
        data["name"] = name
    try:
        return Scenario.model_validate(data), changes
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(s) for s in first["loc"])
        raise CalibrationFileError([Problem("<parameters>", loc, str(first["msg"]))]) from None


def unit_values(params: Sequence[Parameter], u: Sequence[float]) -> dict[str, float]:
    """Parameter values at a point ``u`` of the unit cube (one coordinate per parameter)."""
    return {p.name: p.value(x) for p, x in zip(params, u, strict=True)}


def renamed(scenario: Scenario, name: str) -> Scenario:
    """The scenario under another name (re-validated)."""
    return with_changes(scenario, {"name": name})


def latin_hypercube(n: int, d: int, seed: int, stream: str) -> np.ndarray:
    """``n`` points of a Latin hypercube in ``[0, 1]^d`` (McKay, Beckman & Conover 1979).

    Each coordinate's ``n`` values fall one in each of the ``n`` equal strata, in random order,
    at a random position within the stratum. Drawn from the named stream ``stream`` of base seed
    ``seed`` (:class:`sim.core.streams.Streams`), so the same seed gives the same points.
    """
    rng = Streams(seed, 0).fresh(stream)
    out = np.empty((n, d))
    for j in range(d):
        out[:, j] = (rng.permutation(n) + rng.random(n)) / n
    return out


# ---------------------------------------------------------------------------------------------
# The overlay file
# ---------------------------------------------------------------------------------------------


def overlay_text(
    changes: Mapping[str, float],
    *,
    extends: str,
    description: str,
    header: Sequence[str],
    comments: Mapping[str, str],
    title: str | None = None,
) -> str:
    """A scenario overlay (TOML) that ``extends`` a file and sets ``changes`` (dotted key ->
    value), each line commented from ``comments``; ``title`` names it in reports."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines += ["", f"extends = {_toml_str(extends)}"]
    lines += [f"title = {_toml_str(title)}"] if title else []
    lines += [f"description = {_toml_str(description)}"]
    tables: dict[str, list[str]] = {}
    for key in changes:
        parent, _, leaf = key.rpartition(".")
        tables.setdefault(parent, []).append(leaf)
    for parent, leaves in tables.items():
        segments = parent.split(".") if parent else []
        if not all(_BARE.match(s) for s in [*segments, *leaves]):
            raise ValueError(f"cannot write key {parent}.{leaves} as a bare TOML key")
        lines += ["", f"[{parent}]"] if parent else [""]
        for leaf in leaves:
            key = f"{parent}.{leaf}" if parent else leaf
            note = comments.get(key, "")
            text = f"{leaf} = {_toml_number(changes[key])}"
            lines.append(f"{text}  # {note}" if note else text)
    return "\n".join(lines) + "\n"


def _toml_number(x: float) -> str:
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{float(x):.1f}"
    return repr(float(x))


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Dotted paths
# ---------------------------------------------------------------------------------------------


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    walked: list[str] = []
    for seg in dotted.split("."):
        if not isinstance(node, Mapping) or seg not in node:
            at = ".".join(walked) or "the top level"
            options = sorted(node) if isinstance(node, Mapping) else []
            hint = f"; {at} has {', '.join(map(str, options))}" if options else ""
            raise KeyError(f"no {seg!r} under {at}{hint}")
        node = node[seg]
        walked.append(seg)
    return node


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for seg in parents:
        node = node[seg]
    node[leaf] = value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as ``{dotted key: leaf value}`` (lists are leaves)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
