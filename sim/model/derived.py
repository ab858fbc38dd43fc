"""Tables derived from scenario parameters, built once per parameter object.

The event loop asks the same questions of the same parameters hundreds of thousands of times (the
outcome shares of a GP consultation, which treatment rule applies to a patient). :func:`derived`
answers them from a table built on first use for that very parameter object: the scenario is a
frozen value, so the table can never go stale, and a process whose scenario changes during a
run (a policy start) gets the new scenario's tables simply by asking with its parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_TABLES: dict[tuple[int, str], tuple[Any, Any]] = {}
"""(id of the parameter object, table name) -> (the object, its table). The object is kept
alive with its table, so its id cannot be reused while the entry exists."""
MAX_TABLES = 512
"""Entries kept; beyond, the oldest are dropped (a calibration builds many scenarios)."""


def derived(params: Any, name: str, build: Callable[[Any], T]) -> T:
    """The table ``build(params)``, built once per parameter object and ``name``."""
    key = (id(params), name)
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is params:
        table: T = hit[1]
        return table
    table = build(params)
    if len(_TABLES) >= MAX_TABLES:
        for old in list(_TABLES)[: MAX_TABLES // 2]:
            del _TABLES[old]
    _TABLES[key] = (params, table)
    return table
