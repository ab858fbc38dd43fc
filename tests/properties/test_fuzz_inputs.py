"""Fuzzing what users type (issue 16): random mutations of ``scenarios/current_practice.toml``
through ``nenpath validate`` and a tiny ``nenpath run``.

Whatever the mutation, the command exits 0, or exits 2 with one line per problem naming the file
and a key; never a traceback, never exit 1 (a replication that crashed on a value validation let
through), never a file written outside the output folder.

The budget is fixed (:data:`VALIDATE_EXAMPLES`, :data:`RUN_EXAMPLES`) and so is the seed
(:data:`SEED`, or the environment variable ``NENPATH_FUZZ_SEED``); a failure prints the seed and
the mutation, so ``NENPATH_FUZZ_SEED=<seed> pytest tests/properties/test_fuzz_inputs.py``
replays it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import math
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from sim.app.cli import main
from tests.helpers import BASELINE

SEED = int(os.environ.get("NENPATH_FUZZ_SEED", "20261202"))
VALIDATE_EXAMPLES = 200
RUN_EXAMPLES = 12

with BASELINE.open("rb") as _fh:
    BASE: dict[str, Any] = tomllib.load(_fh)

KeyPath = tuple[str | int, ...]


def _leaves(node: Any, at: KeyPath = ()) -> list[KeyPath]:
    """Every key path in ``node``: tables, arrays and values (the root excluded)."""
    out: list[KeyPath] = [at] if at else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*at, i))
    return out


PATHS = _leaves(BASE)


def _get(node: Any, path: KeyPath) -> Any:
    for k in path:
        node = node[k]
    return node


NUMERIC_PATHS = [p for p in PATHS if type(_get(BASE, p)) in (int, float)]

DELETE = object()


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


NASTY: list[Any] = [
    math.inf,
    -math.inf,
    math.nan,
    0,
    -1,
    0.0,
    2.5,
    1e308,
    1e-300,
    10**30,
    -(10**30),
    "",
    "x",
    "..",
    True,
    [],
    {},
    _nested(40),
    {"dist": "weibull", "shape": 1e-5, "scale": 10},
    {"dist": "gamma", "mean": 1e-300, "sd": 1e300},
    {"dist": "fixed", "value": math.inf},
    {"dist": "lognormal", "mean": 1, "sd": 1e9},
    {"default": -1},
    DELETE,
]
EXTRA_KEY = ("unknown_key", 1)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = (f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(v))


def _toml(data: dict[str, Any]) -> str:
    """A TOML document of ``data`` (every table inline: one line per top-level key)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items())


def _mutate(data: dict[str, Any], path: KeyPath, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    *parents, last = path
    node: Any = out
    for k in parents:
        node = node[k]
    if value is DELETE:
        if isinstance(node, dict):
            del node[last]
        else:
            node.pop(last)  # type: ignore[arg-type]
    elif value is EXTRA_KEY:
        target = node[last]
        if isinstance(target, dict):
            target["unknown_key"] = 1
        elif isinstance(node, dict):
            node["unknown_key"] = 1
    else:
        node[last] = value
    return out


mutations = st.lists(
    st.tuples(st.sampled_from(PATHS), st.sampled_from([*NASTY, EXTRA_KEY])), min_size=1, max_size=3
)


def _apply(data: dict[str, Any], muts: list[tuple[KeyPath, Any]]) -> dict[str, Any]:
    for path, value in muts:
        try:
            _get(data, path)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced what this path reached
        data = _mutate(data, path, value)
    return data


def _invoke(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, err.getvalue()


def _check_output(code: int, err: str, files: list[str]) -> None:
    note(f"fuzz seed {SEED}; exit {code}; stderr:\n{err}")
    assert "Traceback" not in err
    assert code in (0, 2)
    lines = [line for line in err.splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith("warning: ")]
    if code == 2:
        assert problems
    names = "|".join(re.escape(f) for f in files)
    for line in problems:
        # One line per problem: the file, the key it concerns, what is allowed.
        assert re.match(rf"^({names}): [\w.\[\]-]+: \S", line), line
    for line in lines:
        if line.startswith("warning: "):
            assert re.match(rf"^warning: ({names}): [\w.\[\]-]+: \S", line), line


@seed(SEED)
@settings(
    max_examples=VALIDATE_EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(muts=mutations)
def test_validate_never_crashes(muts: list[tuple[KeyPath, Any]]) -> None:
    data = _apply(copy.deepcopy(BASE), muts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.toml"
        path.write_text(_toml(data), encoding="utf-8")
        code, err = _invoke(["validate", str(path)])
        _check_output(code, err, [str(path)])
        assert sorted(os.listdir(tmp)) == ["mutated.toml"]


RUN_ARGS = ["--scale", "0.005", "--workers", "1", "--no-progress"]
RUN_VALUES = [0, 1, 0.5, 1e9, 10**6, DELETE]
"""Boundary values that validate often, so the run itself is exercised."""


@seed(SEED)
@settings(
    max_examples=RUN_EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(path=st.sampled_from(NUMERIC_PATHS), value=st.sampled_from(RUN_VALUES))
def test_a_tiny_run_never_crashes_or_writes_elsewhere(path: KeyPath, value: Any) -> None:
    data = _mutate(BASE, path, value)
    data["run"] = {"replications": 1, "years": 0.25, "warmup_years": 0.0, "seed": 1}
    data["population"]["prehistory_years"] = min(data["population"].get("prehistory_years", 1), 1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = root / "mutated.toml"
        scenario.write_text(_toml(data), encoding="utf-8")
        out = root / "out"
        cwd = Path.cwd()
        os.chdir(root)
        try:
            code, err = _invoke(["run", str(scenario), *RUN_ARGS, "--out", str(out)])
        finally:
            os.chdir(cwd)
        _check_output(code, err, [str(scenario)])
        assert sorted(p.name for p in root.iterdir()) == (
            ["mutated.toml", "out"] if code == 0 else ["mutated.toml"]
        )
