"""What a KPI declaration says: its kind (unit and bounds), which way is better, its words, and
which views show it. The declarations themselves are in :data:`sim.measures.kpis.KPIS` (and
:data:`sim.measures.economics.ECONOMIC_KPIS`); every list of KPIs elsewhere (the report's table,
the headline sentences, the command line's summary, the PSA's defaults, the regional gaps, the
"unexpected effect" check, the sizing direction) is derived from them with :func:`view`.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Kind(NamedTuple):
    """What a kind of KPI measures: its unit and the bounds every value (and so every mean and
    confidence interval) lies within."""

    unit: str
    lower: float
    upper: float


KINDS: dict[str, Kind] = {
    "share": Kind("share, 0-1 (shown as %)", 0.0, 1.0),
    "days": Kind("days", 0.0, math.inf),
    "years": Kind("years", 0.0, math.inf),
    "per_year": Kind("a year, England-scaled", 0.0, math.inf),
    "count": Kind("number, England-scaled", 0.0, math.inf),
    "mean_count": Kind("mean per patient", 0.0, math.inf),
    "life_years": Kind("life-years or QALYs (see the label: discounted or not)", 0.0, math.inf),
    "gbp": Kind("GBP (price year in the methods), discounted", 0.0, math.inf),
}
"""The kinds of KPI. Shares are bounded by 0 and 1; every other kind is non-negative."""

VIEWS: dict[str, str] = {
    "table": "a row of the report's main table",
    "headline": "a plain-English headline sentence per scenario (needs ``phrase``)",
    "cli": "printed by the command line after a run",
    "psa": "summarised by default by the probabilistic sensitivity analysis",
    "range": "its gap between regions (highest - lowest) is a derived KPI, the equity measure",
    "range_headline": "its gap between regions is also a headline sentence",
    "capacity": "set by queues at finite capacity, so biased at a small population scale "
    "(fewer servers per queue wait longer at the same utilisation; README, 'Scale')",
}
"""The views a KPI can be tagged with (``Kpi.show``). Within a view, KPIs appear in registry
order."""

HIGHER, LOWER, NEUTRAL = +1, -1, 0


class Kpi(NamedTuple):
    """A KPI's declaration.

    ``label``: plain-English label; ``kind``: a key of :data:`KINDS`; ``better``: which way is
    better for patients (:data:`HIGHER`, :data:`LOWER`, or :data:`NEUTRAL` for counts of
    diagnoses, utilisation and case mix); ``phrase``: what it is inside a sentence ("the median
    time from ..."); ``people``: for counts of people a year, what they would do ("die of their
    NEN"), so a headline reads "N fewer people a year would ..."; ``show``: the views
    (:data:`VIEWS`); ``derived``: computed across replications' KPIs when scenarios are compared
    rather than from one replication's event log.
    """

    label: str
    kind: str
    better: int = NEUTRAL
    phrase: str = ""
    people: str = ""
    show: tuple[str, ...] = ()
    derived: bool = False


def check(registry: dict[str, Kpi]) -> None:
    """Fail loudly (at import) on a malformed declaration: an unknown kind or view, a headline
    without its phrase, a direction other than -1, 0, +1."""
    for name, k in registry.items():
        problems = []
        if k.kind not in KINDS:
            problems.append(f"kind {k.kind!r} is not one of {sorted(KINDS)}")
        if k.better not in (HIGHER, LOWER, NEUTRAL):
            problems.append(f"better {k.better!r} is not -1, 0 or +1")
        unknown = set(k.show) - set(VIEWS)
        if unknown:
            problems.append(f"views {sorted(unknown)} are not among {sorted(VIEWS)}")
        if ("headline" in k.show or "range_headline" in k.show) and not k.phrase:
            problems.append("a headline needs a phrase")
        if problems:
            raise ValueError(f"KPI {name!r}: " + "; ".join(problems))


def view(registry: dict[str, Kpi], tag: str) -> tuple[str, ...]:
    """The KPIs tagged ``tag``, in registry order."""
    if tag not in VIEWS:
        raise ValueError(f"unknown view {tag!r}; views: {', '.join(VIEWS)}")
    return tuple(name for name, k in registry.items() if tag in k.show)
