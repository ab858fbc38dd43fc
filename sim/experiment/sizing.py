"""Capacity sizing: the least capacity of one resource for which a KPI meets a target.

The question a planner asks: *how many specialist MDT slots a week does the North West need so
that 90% of new patients are discussed within 14 days of diagnosis?* Here that is::

    nenpath size scenarios/current_practice.toml --resource specialist_mdt.north_west \\
        --kpi specialist_mdt_within_14d_share__north_west --target 0.9

Method
------
* **One resource, one knob.** ``specialist_mdt.north_west`` is the North West's instance of a
  regional resource: only that region's slots change. ``prrt`` names a national resource. The
  knob is slots per session for weekly sessions (slots per week = slots x sessions a week) and
  the number of servers for a server pool. Each candidate is a new scenario built through the
  schema's validation (dump, change, :meth:`Scenario.model_validate`).
* **Common random numbers.** Every candidate runs the same replications with the same seed, so
  replication *k* sees the same patients whatever the capacity; differences between candidates
  are capacity, not noise.
* **With 95% confidence.** A candidate meets the target only if the bound of the KPI's 95%
  interval over replications does (the lower bound for "at least", the upper for "at most"),
  not merely its mean. The interval keeps within the KPI's bounds
  (:func:`sim.experiment.analysis.bounded_interval`: logit scale for shares, log scale for
  waits and counts), so it never claims a share above 1 or a negative wait.
* **And keeping up with demand.** A candidate whose resource is saturated (mean utilisation
  above ``--max-utilisation``, default :data:`MAX_UTILISATION`; every sessions or server-pool
  resource reports it, from the run's ``resources.parquet``; unlimited slots have none)
  does not meet the target even if its KPI does: with priority rules, new patients can be seen
  on time by slots too few for the whole demand while lower-priority cases (re-discussions at
  progression, reviews) queue without limit, and a queue run that close to capacity has long
  waits for whoever comes last. Utilisation falls as capacity rises, so the combined verdict
  stays monotone.
* **A search that does not try every value.** Start at the scenario's capacity; bracket by
  halving (if it meets the target) or doubling (if not) within ``[lo, hi]``, then bisect
  between the largest failing and the smallest passing capacity. This relies on the KPI being
  monotone in capacity; the evaluated points are checked for that, and a curve found
  non-monotone (a significant paired difference the wrong way, or a pass below a fail) is
  reported.
* **Scale.** Runs at ``population_scale`` s < 1 scale capacity too, as each resource kind
  says (:meth:`sim.model.resources.ResourceKind.run_capacity`): session slots exactly
  (fractional slots spread over sessions), servers rounded. Either way candidates move in steps of
  about 1/s England slots or servers, the finest difference a run of that size can resolve.
  Capacities are reported in England terms.

It does not decide which KPI matters, nor model the cost of capacity. If even the largest
capacity allowed fails, it says so with the KPI at that capacity and, for the specialist-MDT
timeliness KPIs, how much of the delay lies before listing, where MDT slots cannot reach it.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core import io
from sim.core.calendar import Calendar
from sim.core.constants import MIN_CAPACITY_SCALE
from sim.core.errors import ReplicationError, RunControlError
from sim.experiment.analysis import bounded_interval, t_interval
from sim.experiment.runner import fingerprint, run_experiment
from sim.measures.kpis import KPI_DESCRIPTIONS, instance_utilisation, kpi_bounds, kpi_info
from sim.measures.registry import HIGHER, LOWER, NEUTRAL
from sim.model.resources import ResourceKind, has_capacity, kind_of
from sim.scenario.loader import with_changes
from sim.scenario.schema import REGIONS, Resources, RunControls, Scenario, Sessions

AT_LEAST, AT_MOST = "at_least", "at_most"
DEFAULT_HI_FACTOR = 4
"""Default largest capacity considered: this many times the scenario's."""
MAX_UTILISATION = 0.95
"""Default highest mean utilisation a recommended capacity may run at. A queue that grows
without limit uses every slot offered; one at 95% already makes its lowest-priority cases wait
many sessions (the wait grows like 1 / (1 - utilisation))."""

_WITHIN = re.compile(r"^specialist_mdt_within_(\d+)d_share$")


# ---------------------------------------------------------------------------------------------
# What to size and against what
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizedResource:
    """One resource instance whose capacity is the knob."""

    name: str
    """As given: ``specialist_mdt.north_west`` or ``prrt``."""
    base: str
    """Resource in the scenario's ``[resources]`` table."""
    region: str | None
    """The region whose instance changes, or None for a national resource."""
    kind: ResourceKind
    """What kind of capacity it is (:mod:`sim.model.resources`): everything sizing needs to
    know of it."""
    spec: Any
    """Its specification in the scenario."""
    current: int | None
    """The scenario's capacity (in ``kind.unit``; None = unlimited)."""

    @property
    def key(self) -> str:
        """The scenario key holding the capacity (``slots_per_session``, ``servers``)."""
        assert self.kind.capacity_key is not None
        return self.kind.capacity_key

    @property
    def per_week(self) -> int:
        """How many times a week the capacity is offered (sessions a week; 1 for a pool)."""
        return self.kind.per_week(self.spec)

    @property
    def minimum(self) -> int:
        """The least capacity the schema allows."""
        return self.kind.minimum

    @property
    def weekly(self) -> bool:
        """Whether its capacity is also counted by the week (slots a week)."""
        return self.kind.weekly_unit != self.kind.unit

    def text(self, capacity: int) -> str:
        """``capacity`` in words, e.g. ``3 slots per session (6 a week)``."""
        return self.kind.capacity_text(capacity, self.per_week)


def resource_names(scenario: Scenario) -> list[str]:
    """Every resource instance that can be sized: ``base.region`` or ``base`` (national)."""
    names = []
    for base, spec in scenario.resources:
        if has_capacity(spec):
            if spec.scope == "region":
                names += [f"{base}.{r}" for r in REGIONS]
            else:
                names.append(base)
    return names


def parse_resource(scenario: Scenario, name: str) -> SizedResource:
    """The resource instance called ``name``; raises :class:`RunControlError` naming the
    allowed forms and the nearest valid name."""
    base, _, region = name.partition(".")
    allowed = resource_names(scenario)
    spec = getattr(scenario.resources, base) if base in Resources.model_fields else None
    if spec is None:
        raise RunControlError(
            f"--resource {name}: no such resource{_nearest(name, allowed)} "
            f"(resources: {', '.join(sorted({a.split('.')[0] for a in allowed}))}; "
            "a regional one is named resource.region, e.g. specialist_mdt.north_west)"
        )
    if not has_capacity(spec):
        raise RunControlError(
            f"--resource {name}: '{base}' is a plain delay in this scenario and has no capacity "
            f"to size (sizable: {', '.join(sorted({a.split('.')[0] for a in allowed}))})"
        )
    if spec.scope == "region" and not region:
        raise RunControlError(
            f"--resource {name}: '{base}' is regional; name one region's instance, e.g. "
            f"{base}.north_west (regions: {', '.join(REGIONS)})"
        )
    if spec.scope == "national" and region:
        raise RunControlError(
            f"--resource {name}: '{base}' is national (one for England); use --resource {base}"
        )
    if region and region not in REGIONS:
        raise RunControlError(
            f"--resource {name}: unknown region '{region}'"
            f"{_nearest(name, [f'{base}.{r}' for r in REGIONS])} (regions: {', '.join(REGIONS)})"
        )
    kind = kind_of(spec)
    return SizedResource(
        name, base, region or None, kind, spec, kind.capacity(spec, region or None)
    )


def kpi_names() -> list[str]:
    """Every KPI a replication reports: England and ``<kpi>__<region>``."""
    return [*KPI_DESCRIPTIONS, *(f"{k}__{r}" for r in REGIONS for k in KPI_DESCRIPTIONS)]


def parse_kpi(kpi: str) -> tuple[str, str | None]:
    """``(base KPI, region or None)``; raises :class:`RunControlError` for an unknown KPI."""
    base, _, region = kpi.partition("__")
    if base not in KPI_DESCRIPTIONS or (region and region not in REGIONS):
        raise RunControlError(
            f"--kpi {kpi}: unknown KPI{_nearest(kpi, kpi_names())} (KPIs are listed in "
            "summary.csv of any run; add __<region> for a region, e.g. "
            "specialist_mdt_within_14d_share__north_west)"
        )
    return base, region or None


def default_direction(kpi: str) -> str | None:
    """Whether the KPI should be at least or at most the target: from which way is better for
    patients, declared with the KPI (:data:`sim.measures.kpis.REGISTRY`); None for a KPI with
    no better direction (the caller must say)."""
    info = kpi_info(kpi)
    better = info.better if info is not None else NEUTRAL
    return {HIGHER: AT_LEAST, LOWER: AT_MOST}.get(better)


def with_capacity(scenario: Scenario, res: SizedResource, capacity: int, name: str) -> Scenario:
    """``scenario`` with ``res`` set to ``capacity`` (England terms), re-validated.

    For a regional resource only ``res.region``'s entry changes (a single number for every
    region is first spelled out region by region).
    """
    value: Any = capacity
    if res.region is not None:
        old = getattr(getattr(scenario.resources, res.base), res.key)
        value = dict(old) if isinstance(old, dict) else {r: old for r in REGIONS}
        value[res.region] = capacity
    return with_changes(scenario, {"name": name, f"resources.{res.base}.{res.key}": value})


@dataclass(frozen=True)
class Question:
    """What is sized against what: validated options of ``nenpath size``."""

    resource: SizedResource
    kpi: str
    kpi_region: str | None
    target: float
    direction: str
    """``at_least`` or ``at_most``."""
    lo: int
    hi: int
    """Least and largest capacity considered (England terms)."""
    max_utilisation: float = MAX_UTILISATION
    """A capacity whose resource runs above this mean utilisation does not meet the target."""

    @property
    def op(self) -> str:
        return ">=" if self.direction == AT_LEAST else "<="

    @property
    def bound_name(self) -> str:
        """Which CI bound must meet the target."""
        return "lower" if self.direction == AT_LEAST else "upper"

    def bound(self, ci_low: float, ci_high: float) -> float:
        return ci_low if self.direction == AT_LEAST else ci_high

    def met_by(self, ci_low: float, ci_high: float) -> bool:
        """Whether the 95% CI bound meets the target (NaN never does)."""
        b = self.bound(ci_low, ci_high)
        return bool(b >= self.target) if self.direction == AT_LEAST else bool(b <= self.target)


def make_question(
    scenario: Scenario,
    controls: RunControls,
    resource: str,
    kpi: str,
    target: float,
    direction: str | None = None,
    lo: int | None = None,
    hi: int | None = None,
    max_utilisation: float = MAX_UTILISATION,
) -> Question:
    """Validate the options; raises :class:`RunControlError` with one clear line."""
    res = parse_resource(scenario, resource)
    kpi_base, kpi_region = parse_kpi(kpi)
    direction = direction or default_direction(kpi)
    if direction not in (AT_LEAST, AT_MOST):
        raise RunControlError(
            f"--kpi {kpi}: cannot tell from its name whether it should be at least or at most "
            "the target; give --direction at_least or --direction at_most"
        )
    if kpi_base.endswith("_share") and not 0.0 <= target <= 1.0:
        raise RunControlError(f"--target {target:g}: {kpi} is a share; give a value in [0, 1]")
    if controls.replications < 2:
        raise RunControlError(
            "--replications must be at least 2 for a confidence interval "
            f"(got {controls.replications})"
        )
    lo = max(1, res.minimum) if lo is None else lo
    if lo < res.minimum:
        raise RunControlError(
            f"--min {lo}: {res.name} needs at least {res.minimum} {res.kind.unit}"
        )
    if hi is None:
        if not res.current:
            raise RunControlError(
                f"--resource {res.name}: the scenario gives it "
                f"{'unlimited' if res.current is None else 'zero'} capacity; give --max"
            )
        hi = DEFAULT_HI_FACTOR * res.current
    if hi < lo:
        raise RunControlError(f"--max {hi} is below --min {lo}")
    if not 0.0 < max_utilisation <= 1.0:
        raise RunControlError(
            f"--max-utilisation {max_utilisation:g}: give a share in (0, 1] (1 accepts a "
            "saturated resource)"
        )
    return Question(res, kpi, kpi_region, target, direction, lo, hi, max_utilisation)


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One evaluated capacity."""

    run_capacity: int
    """Capacity in the (possibly scaled) run."""
    capacity: int
    """England-terms capacity put in the scenario."""
    values: pd.Series
    """KPI per replication (index: replication)."""
    mean: float
    ci_low: float
    ci_high: float
    n: int
    kpi_met: bool
    """The KPI's 95% CI bound meets the target."""
    folder: Path
    utilisation: float = math.nan
    """Mean utilisation of the resource at this capacity, where the model reports it."""
    saturated: bool = False
    """Utilisation above the question's ``max_utilisation`` (False where it is unknown)."""
    scenario: str | None = None
    """Its scenario's name in ``folder`` (which may hold several candidates' runs)."""

    @property
    def meets(self) -> bool:
        """The target is met: the KPI's CI bound meets it and the resource keeps up."""
        return self.kpi_met and not self.saturated


@dataclass
class SizingResult:
    table: pd.DataFrame
    """One row per capacity tried, in increasing capacity: capacity (England terms; slots per
    week for sessions), KPI mean, 95% CI, replications, whether the KPI's CI bound meets the
    target, where the model reports it the resource's mean utilisation and whether that is
    saturated, and whether the capacity meets the target (KPI met and not saturated)."""
    message: str
    """The answer in one paragraph."""
    recommended: int | None
    """Least capacity meeting the target (England terms), or None if none within range."""
    monotone: bool
    candidates: list[Candidate] = field(default_factory=list)
    out: Path | None = None


def bracket_and_bisect(meets: Callable[[int], bool], start: int, lo: int, hi: int) -> int | None:
    """Least integer ``k`` in ``[lo, hi]`` with ``meets(k)``, assuming ``meets`` is monotone
    (False below some threshold, True from it on); None if ``meets(hi)`` is False.

    Starts at ``start``: if it passes, halves towards ``lo`` until a capacity fails; if not,
    doubles towards ``hi`` until one passes; then bisects the bracket. Calls ``meets`` about
    ``2 log2(hi / lo)`` times at most, never twice for the same ``k`` if the caller caches.
    """
    k = min(max(start, lo), hi)
    passing: int | None = None
    failing: int | None = None
    if meets(k):
        passing = k
        while passing > lo:
            k = max(lo, passing // 2)
            if not meets(k):
                failing = k
                break
            passing = k
        if failing is None:
            return passing
    else:
        failing = k
        while failing < hi:
            k = min(hi, max(2 * failing, failing + 1))
            if meets(k):
                passing = k
                break
            failing = k
        if passing is None:
            return None
    while passing - failing > 1:
        mid = (passing + failing) // 2
        if meets(mid):
            passing = mid
        else:
            failing = mid
    return passing


def search_in_rounds(
    meets_all: Callable[[list[int]], dict[int, bool]],
    start: int,
    lo: int,
    hi: int,
    per_round: int,
) -> int | None:
    """Least integer ``k`` in ``[lo, hi]`` with ``meets(k)``, assuming it is monotone (False
    below a threshold, True from it on); None if ``hi`` fails. ``meets_all(ks)`` evaluates
    up to ``per_round`` capacities at once (one run whose replications share their history).

    The first round is a ladder around ``start`` (``start``, its half, its double, a quarter,
    four times...); each later round splits the bracket between the largest failing and the
    least passing capacity into ``per_round + 1`` near-equal parts (or, with no passing one
    yet, takes ``hi`` and points below it). A bracket of width ``w`` takes about
    ``log(w) / log(per_round + 1)`` rounds; no capacity is evaluated twice.
    """
    if per_round < 1:
        raise ValueError("per_round must be at least 1")
    start = min(max(start, lo), hi)
    ladder = [start]
    step = 2
    while len(ladder) < per_round and step <= 2 * max(hi, 1):  # then both ends are out
        for k in (start // step, start * step):
            if lo <= k <= hi and k not in ladder and len(ladder) < per_round:
                ladder.append(k)
        step *= 2
    known = dict(meets_all(sorted(ladder)))
    while True:
        passing = min((k for k, ok in known.items() if ok), default=None)
        top = hi + 1 if passing is None else passing
        failing = max((k for k, ok in known.items() if not ok and k < top), default=lo - 1)
        if passing is None and hi in known:
            return None
        if passing is not None and passing - failing <= 1:
            return passing
        if passing is None:  # hi must be tried: it and points below it
            ks = [*_between(failing, hi, per_round - 1), hi]
        else:
            ks = _between(failing, passing, per_round)
        new = sorted(k for k in set(ks) if k not in known)
        assert new, (failing, passing, known)  # every round narrows the bracket
        known.update(meets_all(new))


def _between(a: int, b: int, n: int) -> list[int]:
    """Up to ``n`` integers strictly between ``a`` and ``b``, splitting it into near-equal
    parts (all of them when there are no more than ``n``)."""
    inside = b - a - 1
    if inside <= n:
        return list(range(a + 1, b))
    return sorted({a + round(i * (b - a) / (n + 1)) for i in range(1, n + 1)})


DEFAULT_PER_ROUND = 4
"""Capacities a sizing search evaluates together in each round (``--per-round``): each round is
one run in which every replication simulates its history to the policy start once and branches
into each capacity. 4 visits about 2.5 rounds for the default range of 4x the scenario's
capacity (a bisection, 1, needs about 8 capacities one after the other)."""


@io.holds_folder("out")
def size_resource(
    scenario: Scenario,
    controls: RunControls,
    resource: str,
    kpi: str,
    target: float,
    out: Path,
    *,
    direction: str | None = None,
    lo: int | None = None,
    hi: int | None = None,
    max_utilisation: float = MAX_UTILISATION,
    force: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    dask: str | None = None,
    on_candidate: Callable[[str], None] | None = None,
    branching: str | None = None,
    candidates: list[int] | None = None,
    per_round: int = DEFAULT_PER_ROUND,
) -> SizingResult:
    """Find the least capacity of ``resource`` for which ``kpi`` meets ``target`` with 95%
    confidence.

    Parameters
    ----------
    scenario, controls:
        The scenario and run controls (replications, seed, years; the same for every
        candidate: common random numbers).
    resource:
        ``base.region`` for a regional resource (only that region changes) or ``base``.
    kpi:
        A KPI name as in ``summary.csv`` (``<kpi>`` or ``<kpi>__<region>``).
    target:
        The value the KPI must reach.
    out:
        Output folder: ``sizing.csv``, ``sizing.png``, ``manifest.json`` and one run folder
        per candidate (``slots_per_session_0019/``...).
    direction:
        ``"at_least"`` or ``"at_most"``; default from the KPI's name.
    lo, hi:
        Least and largest capacity considered, England terms (default: 1, and 4 x the
        scenario's capacity).
    max_utilisation:
        A capacity at which the resource runs above this mean utilisation does not meet the
        target, whatever its KPI (it does not keep up with demand).
    force, resume:
        Replace a folder holding something else; reuse finished runs of the same sizing.
    progress, dask:
        Passed to :func:`sim.experiment.runner.run_experiment`.
    on_candidate:
        Called with one line of text per capacity evaluated.
    branching:
        How candidates share each replication's history up to the policy start (see
        :func:`sim.experiment.runner.run_experiment`). Every candidate *is* ``scenario`` until
        the policy start and has its capacity from then on.
    candidates:
        Evaluate exactly these capacities (England terms), in one run in ``out/candidates/``
        whose replications simulate the shared history once for all of them, instead of the
        search; the answer is the least of them that meets the target.
    per_round:
        Capacities the search evaluates together in each round (:func:`search_in_rounds`),
        each round one run (``out/round_<i>/``) whose replications share their history up to
        the policy start; 1 is the bracket-and-bisect search (:func:`bracket_and_bisect`),
        one run per capacity (``out/<unit>_<capacity>/``).
    """
    q = make_question(scenario, controls, resource, kpi, target, direction, lo, hi, max_utilisation)
    res, scale = q.resource, scenario.population.population_scale
    meta = {
        "tool": "nen-pathway",
        "kind": "sizing",
        "resource": res.name,
        "kpi": kpi,
        "target": target,
        "direction": q.direction,
        "lo": q.lo,
        "hi": q.hi,
        "max_utilisation": q.max_utilisation,
    }
    # The folder's identity leaves out the KPI and target: the runs at each capacity are the
    # same whatever is asked of them, so --resume can reuse them for another question.
    fp = hashlib.sha256(
        json.dumps([fingerprint([scenario], controls, scenario), res.name]).encode()
    ).hexdigest()
    io.prepare_folder(out, fp, force=force, resume=resume)
    io.write_json(out / io.MANIFEST, {**meta, "status": "running", "fingerprint": fp})

    cache: dict[int, Candidate] = {}
    reported: set[int] = set()

    run = {"force": force, "resume": resume, "progress": progress, "dask": dask}
    run["branching"] = branching
    if candidates is not None:
        ks = sorted({_run_units(res, c, scale) for c in candidates})
        cache.update(_evaluate_grid(scenario, controls, q, ks, out / "candidates", **run))

    def evaluate(k: int) -> Candidate:
        if k not in cache or k not in reported:
            c = cache[k] = (
                cache[k] if k in cache else _evaluate(scenario, controls, q, k, out, **run)
            )
            reported.add(k)
            if on_candidate is not None:
                on_candidate(
                    f"{res.text(c.capacity)}: {kpi} {c.mean:.3g} "
                    f"[{c.ci_low:.3g}, {c.ci_high:.3g}] "
                    f"{'meets' if c.kpi_met else 'misses'} {q.op} {target:g}"
                    + (f", but saturated (utilisation {c.utilisation:.2f})" if c.saturated else "")
                )
        return cache[k]

    start = res.current if res.current is not None else q.hi
    if candidates is not None:
        for k in sorted(cache):
            evaluate(k)  # reports each
        best = next((k for k in sorted(cache) if cache[k].meets), None)
    elif per_round > 1:
        rounds: list[list[int]] = []

        def evaluate_round(ks: list[int]) -> dict[int, bool]:
            rounds.append(ks)
            folder = out / f"round_{len(rounds)}"
            cache.update(_evaluate_grid(scenario, controls, q, ks, folder, **run))
            return {k: evaluate(k).meets for k in ks}  # reports each

        best = search_in_rounds(
            evaluate_round,
            _run_units(res, start, scale),
            _run_units(res, q.lo, scale, bound="lo"),
            _run_units(res, q.hi, scale, bound="hi"),
            per_round,
        )
    else:
        best = bracket_and_bisect(
            lambda k: evaluate(k).meets,
            _run_units(res, start, scale),
            _run_units(res, q.lo, scale, bound="lo"),
            _run_units(res, q.hi, scale, bound="hi"),
        )
    cands = [cache[k] for k in sorted(cache)]
    if all(math.isnan(c.mean) for c in cands):
        raise RunControlError(
            f"--kpi {kpi}: undefined (no patients counted) in every run; check the KPI, region "
            "and run length"
        )
    monotone, mono_note = _monotonicity(cands, q.direction)
    table = _table(res, cands, scale)
    recommended = cache[best].capacity if best is not None else None
    message = _message(q, cands, best, controls, scale)
    if mono_note:
        message += " " + mono_note
    io.write_csv(out / "sizing.csv", table)
    _plot(out / "sizing.png", q, table, recommended)
    io.write_json(
        out / io.MANIFEST,
        {
            **meta,
            "status": "complete",
            "fingerprint": fp,
            "recommended": recommended,
            "monotone": monotone,
            "message": message,
            "controls": controls.model_dump(mode="json"),
            "population_scale": scale,
        },
    )
    return SizingResult(table, message, recommended, monotone, cands, out)


def _run_units(res: SizedResource, capacity: int, scale: float, bound: str = "") -> int:
    """England-terms capacity -> the search variable (one distinct run per value; a search
    ``bound`` is rounded inwards, so no candidate lies outside ``[--min, --max]``)."""
    return res.kind.search_units(capacity, scale, bound)


def _england_units(res: SizedResource, k: int, scale: float) -> int:
    """The search variable ``k`` -> the England-terms capacity that gives it."""
    return res.kind.england_units(k, scale)


def _evaluate(
    scenario: Scenario,
    controls: RunControls,
    q: Question,
    k: int,
    out: Path,
    **run: Any,
) -> Candidate:
    """Run the replications at run capacity ``k`` (in ``out/<unit>_<capacity>/``)."""
    res = q.resource
    e = _england_units(res, k, scenario.population.population_scale)
    variant = with_capacity(scenario, res, e, f"{scenario.name}-{res.name}-{e}")
    folder = out / f"{res.key}_{e:04d}"
    result = run_experiment([variant], controls, folder, base=scenario, **run)
    if result.failures:
        f = result.failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    return _candidate(q, k, e, result.replications, controls, folder)


def _evaluate_grid(
    scenario: Scenario,
    controls: RunControls,
    q: Question,
    ks: list[int],
    folder: Path,
    **run: Any,
) -> dict[int, Candidate]:
    """Run every run capacity in ``ks`` in one experiment (in ``folder``), branched from
    ``scenario`` at the policy start, so each replication's shared history is simulated once
    for all of them."""
    res = q.resource
    scale = scenario.population.population_scale
    es = {k: _england_units(res, k, scale) for k in ks}
    variants = {k: with_capacity(scenario, res, e, f"{res.key}_{e:04d}") for k, e in es.items()}
    result = run_experiment(list(variants.values()), controls, folder, base=scenario, **run)
    if result.failures:
        f = result.failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    reps = result.replications
    return {
        k: _candidate(q, k, es[k], reps[reps["scenario"] == v.name], controls, folder)
        for k, v in variants.items()
    }


def _candidate(
    q: Question, k: int, e: int, reps: pd.DataFrame, controls: RunControls, folder: Path
) -> Candidate:
    """A candidate from its replications' KPIs."""
    res = q.resource
    if q.kpi not in reps:
        raise RunControlError(f"--kpi {q.kpi}: not reported by this model version")
    # The same replications 0..n-1 at every capacity, even if a resumed folder holds more.
    reps = reps[reps["replication"] < controls.replications]
    values = reps.set_index("replication")[q.kpi].astype(float)
    # The CI keeps within the KPI's bounds (a share in 0-1, a wait non-negative).
    mean, ci_low, ci_high, n = bounded_interval(values.to_numpy(), *kpi_bounds(q.kpi))
    scenario = str(reps["scenario"].iloc[0]) if "scenario" in reps and len(reps) else None
    util = _utilisation(folder, res, controls.replications, scenario)
    met = q.met_by(ci_low, ci_high)
    saturated = bool(util > q.max_utilisation)  # NaN (not reported) is never saturated
    return Candidate(
        k, e, values, mean, ci_low, ci_high, n, met, folder, util, saturated, scenario
    )


def _utilisation(
    folder: Path, res: SizedResource, replications: int, scenario: str | None = None
) -> float:
    """Mean utilisation of the sized instance over replications ``0..replications-1``, from
    the run's ``resources.parquet`` (every capacity resource: sessions and server pools); in a
    run of several candidates, ``scenario``'s rows only."""
    path = folder / "resources.parquet"
    if not path.exists():
        return math.nan
    table = pd.read_parquet(path)
    table = table[table["replication"] < replications]
    if scenario is not None and "scenario" in table:
        table = table[table["scenario"] == scenario]
    return instance_utilisation(table, res.base, res.region)


def _monotonicity(cands: list[Candidate], direction: str) -> tuple[bool, str]:
    """Whether the evaluated curve is monotone in the expected direction.

    Consecutive capacities are compared with the paired (same replications) 95% interval of
    the difference; a difference significantly the wrong way, or a capacity that meets the
    target below one that does not, makes the curve non-monotone.
    """
    sign = 1.0 if direction == AT_LEAST else -1.0
    notes = []
    for a, b in itertools.pairwise(cands):
        diff = (b.values - a.values.reindex(b.values.index)).to_numpy() * sign
        mean, _, high, n = t_interval(diff)
        if n >= 2 and high < 0:
            notes.append(
                f"the KPI gets worse from {a.capacity} to {b.capacity} "
                f"(paired difference {sign * mean:+.3g}, 95% CI excludes 0)"
            )
    passes = [c.meets for c in cands]
    if any(p and not q for p, q in itertools.pairwise(passes)):
        notes.append("a smaller capacity meets the target where a larger one does not")
    if not notes:
        return True, ""
    return False, "Warning: the capacity curve is not monotone (" + "; ".join(notes) + ")."


def _table(res: SizedResource, cands: list[Candidate], scale: float) -> pd.DataFrame:
    rows = []
    for c in cands:
        row: dict[str, Any] = {res.key: c.capacity}
        if res.weekly:
            row[_weekly_column(res)] = c.capacity * res.per_week
        if scale != 1.0:
            row[f"run_{res.key}"] = res.kind.run_capacity(c.capacity, scale)
        row.update(mean=c.mean, ci_low=c.ci_low, ci_high=c.ci_high, n=c.n, kpi_met=c.kpi_met)
        if not all(math.isnan(x.utilisation) for x in cands):
            row.update(utilisation=c.utilisation, saturated=c.saturated)
        row["meets_target"] = c.meets
        rows.append(row)
    return pd.DataFrame(rows)


def _weekly_column(res: SizedResource) -> str:
    """The sizing table's column of capacity a week (``slots_per_week``), or the capacity's
    own column for a kind whose capacity is not counted by the week (servers)."""
    return res.kind.weekly_unit.replace(" ", "_") if res.weekly else res.key


def _message(
    q: Question,
    cands: list[Candidate],
    best: int | None,
    controls: RunControls,
    scale: float,
) -> str:
    """The answer in plain words: the least capacity and its KPI, or why there is none."""
    res, kpi = q.resource, q.kpi
    where = f"{res.base} capacity" + (f" in {res.region}" if res.region else "")
    runs = (
        f"{len(cands)} capacities tried in [{q.lo}, {q.hi}], {controls.replications} "
        f"replications each (seed {controls.seed}, {controls.years:g} measured "
        + ("year" if controls.years == 1 else "years")
        + (f", population scale {scale:g}" if scale != 1.0 else "")
        + ")"
    )
    parts = []
    by_k = {c.run_capacity: c for c in cands}
    if best is not None:
        c = by_k[best]
        parts.append(
            f"Least capacity meeting {kpi} {q.op} {q.target:g} with 95% confidence: "
            f"{res.text(c.capacity)} for {res.name}: mean {c.mean:.3g}, "
            f"95% CI [{c.ci_low:.3g}, {c.ci_high:.3g}]."
        )
        below = [x for x in cands if x.run_capacity < best]
        if below:
            b = below[-1]
            why = (
                f"the resource runs at utilisation {b.utilisation:.2f}"
                if b.kpi_met
                else f"the {q.bound_name} CI bound is {q.bound(b.ci_low, b.ci_high):.3g}"
            )
            parts.append(f"With {res.text(b.capacity)} {why}.")
        else:
            parts.append("(Already met at the smallest capacity considered.)")
    else:
        c = cands[-1]
        parts.append(
            f"Not achievable by {where} alone: with {res.text(c.capacity)} "
            f"(the largest considered; raise it with --max) the {q.bound_name} CI bound of "
            f"{kpi} is {q.bound(c.ci_low, c.ci_high):.3g} (mean {c.mean:.3g}), "
            f"{'short of' if q.direction == AT_LEAST else 'above'} the target {q.target:g}."
        )
        ceiling = _listing_ceiling(q, c, controls)
        if ceiling:
            parts.append(ceiling)
    if res.current is not None:
        k_now = _run_units(res, res.current, scale)
        cur = [x for x in cands if x.run_capacity == k_now]
        if cur:
            as_run = f", run as {k_now} at this scale" if scale != 1.0 else ""
            parts.append(
                f"The scenario's {res.current}{as_run} gives {cur[0].mean:.3g} "
                f"[{cur[0].ci_low:.3g}, {cur[0].ci_high:.3g}]."
            )
    saturated_met = [x for x in cands if x.kpi_met and x.saturated]
    if saturated_met:
        x = saturated_met[0]
        parts.append(
            f"The KPI alone is already met at {res.text(x.capacity)}, but there the "
            f"resource runs at utilisation {x.utilisation:.2f}, above {q.max_utilisation:g} "
            "(--max-utilisation): the priority rule serves these cases first while "
            "lower-priority cases (re-discussions at progression, reviews) queue without limit "
            "or wait many sessions, so such capacities are not counted as meeting the target."
        )
    if q.kpi_region is not None and res.region is not None and q.kpi_region != res.region:
        parts.append(
            f"Note: the KPI is measured in {q.kpi_region} but only {res.region}'s capacity changes."
        )
    parts.append(runs + ".")
    if scale != 1.0:
        step = 1.0 / scale
        parts.append(
            f"At population scale {scale:g} capacity moves in steps of about {step:.3g} England "
            f"{res.kind.unit}; use --scale 1 for the exact number."
        )
    if scale < MIN_CAPACITY_SCALE:
        parts.append(
            f"Caution: below population scale {MIN_CAPACITY_SCALE:g} the waits and standards set "
            "by queues are biased, not only noisier (fewer slots per queue wait longer at the "
            "same utilisation; README, 'Scale'): confirm the answer at --scale 1."
        )
    return " ".join(parts)


def _listing_ceiling(q: Question, cand: Candidate, controls: RunControls) -> str:
    """For ``specialist_mdt_within_<N>d_share``: the best share any number of slots could give,
    from when patients were listed (results cut-off, then the next session), and the median
    time from diagnosis to listing. Empty if not applicable."""
    res, kpi_region = q.resource, q.kpi_region
    m = _WITHIN.match(q.kpi.partition("__")[0])
    if m is None or res.base != "specialist_mdt" or (res.region and kpi_region != res.region):
        return ""
    if not isinstance(res.spec, Sessions):  # the ceiling is that of weekly meetings
        return ""
    days = float(m.group(1))
    path = cand.folder / "patients.parquet"
    if not path.is_file():
        return ""
    cols = ["scenario", "replication", "region", "diagnosis_time", "specialist_mdt_listed_time"]
    p = pd.read_parquet(path, columns=cols)
    if cand.scenario is not None:  # a run of several candidates: this one's patients
        p = p[p["scenario"] == cand.scenario]
    p = p[
        p["specialist_mdt_listed_time"].notna()
        & (p["diagnosis_time"] >= controls.measure_start_days)
        & (p["diagnosis_time"] <= controls.horizon_days)
    ]
    if kpi_region is not None:
        p = p[p["region"].astype(str) == kpi_region]
    if p.empty:
        return ""
    cutoff = res.spec.results_cutoff_days
    offsets = Calendar.week_offsets([(s.weekday, s.hour) for s in res.spec.sessions])
    earliest = np.array(
        [
            Calendar.next_session(t + cutoff, offsets)
            for t in p["specialist_mdt_listed_time"].to_numpy()
        ]
    )
    reachable = (earliest - p["diagnosis_time"].to_numpy()) <= days
    ceiling = pd.Series(reachable).groupby(p["replication"].to_numpy()).mean().mean()
    listing = float((p["specialist_mdt_listed_time"] - p["diagnosis_time"]).median())
    return (
        f"Even unlimited slots could discuss at most {ceiling:.0%} within {days:g} days: the "
        f"remaining delay is before listing (median {listing:.1f} days from diagnosis to "
        f"listing, then the {cutoff:g}-day results cut-off and the wait for the next "
        "meeting, bank holidays aside)."
    )


def _plot(path: Path, q: Question, table: pd.DataFrame, recommended: int | None) -> None:
    """The capacity curve with its 95% CI band and the target line (no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    res, kpi, target = q.resource, q.kpi, q.target
    x_col = _weekly_column(res)
    x = table[x_col].to_numpy(dtype=float)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.fill_between(x, table["ci_low"], table["ci_high"], alpha=0.25, label="95% CI")
    ax.plot(x, table["mean"], marker="o", label=f"{kpi} (mean)")
    ax.axhline(target, color="crimson", linestyle="--", label=f"target {target:g}")
    if "saturated" in table and table["saturated"].any():
        sat = table["saturated"].to_numpy(dtype=bool)
        ax.plot(
            x[sat], table["mean"].to_numpy()[sat], linestyle="none", marker="x", color="black",
            markersize=9, label=f"saturated (utilisation > {q.max_utilisation:g})",
        )  # fmt: skip
    if recommended is not None:
        rx = recommended * res.per_week
        ax.axvline(rx, color="grey", linestyle=":", label=f"recommended: {rx:g}")
    ax.set_xlabel(f"{res.name}: {res.kind.weekly_unit}")
    ax.set_ylabel(kpi)
    ax.set_title(f"Capacity curve for {res.name}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    io.save_png(fig, path, dpi=120)


def _nearest(word: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
