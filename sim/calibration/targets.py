"""Calibration targets: observed England figures, and how far a model run is from them.

A target file (``calibration/targets.toml``) names each observed figure once::

    [targets.emergency_route_share]
    kpi = "emergency_presentation_share"     # a KPI of sim.measures.kpis (or <kpi>__<region>)
    value = 0.18
    interval = [0.155, 0.205]                 # read as a 95% range
    interval_kind = "ci95"                    # ci95 (published or derived) | assumed | range
    use = "fit"                               # fit (the optimiser uses it) | validate (checked)
    source = "[S14] NCDA 2018"

Optional keys: ``scale`` (``linear`` or ``log``: compare on the log scale, for right-skewed
durations), ``relation`` (``equal``, or ``at_most`` / ``at_least`` for a one-sided bound),
``pending`` (true when the KPI does not exist yet: the target is listed, never evaluated),
``note`` (caveats, shown in the report).

The distance
------------
For target *i* with value *v*, 95% range [lo, hi] and transform *g* (identity or log), the model
gives one value per replication; with their mean *m* and standard error *se* (of *g*-values)::

    sigma_i = (g(hi) - g(lo)) / (2 * 1.96)                 target uncertainty
    z_i     = (m - g(v)) / sqrt(sigma_i^2 + se^2)          standardised deviation
    d_i     = z_i^2   (for at_most: only if m > g(v); for at_least: only if m < g(v))
    D       = sum of d_i over the targets used

so a target is weighted by the inverse of its total variance: its own uncertainty plus the
simulation noise (when candidates are compared, ``se^2`` comes from a variance pooled over
candidates, :func:`noise_variance`, never from a candidate's own few replications). This is
the weighted least-squares goodness of fit of Vanni et al. (2011, *PharmacoEconomics*
29:35-49). D is about chi-square with one degree of freedom per target when the model is
right, so D/n near 1 is a good fit; with fewer targets than parameters the fit is not unique
(non-identifiability: Alarid-Escudero et al. 2018, *Med Decis Making*). A target the model
cannot compute (no patients, NaN) adds ``MISSING_PENALTY``.

This module reads files and does arithmetic; it runs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.core.errors import Problem, ScenarioError
from sim.measures.kpis import KPI_DESCRIPTIONS
from sim.scenario.loader import read_toml
from sim.scenario.schema import REGIONS

Z95 = 1.959964
MISSING_PENALTY = 1.0e4
"""Distance added for a target the model cannot compute (a NaN KPI)."""

USES = ("fit", "validate")
INTERVAL_KINDS = ("ci95", "assumed", "range")
SCALES = ("linear", "log")
RELATIONS = ("equal", "at_most", "at_least")
_KEYS = {
    "kpi",
    "value",
    "interval",
    "interval_kind",
    "use",
    "source",
    "scale",
    "relation",
    "pending",
    "note",
}


class CalibrationFileError(ScenarioError):
    """A targets or parameters file is unusable; ``problems`` names file, key and what is
    allowed (the command line prints one line per problem and exits with status 2)."""


@dataclass(frozen=True)
class Target:
    """One observed figure the model should reproduce (or is checked against)."""

    name: str
    kpi: str
    value: float
    low: float
    high: float
    interval_kind: str
    use: str
    source: str
    scale: str = "linear"
    relation: str = "equal"
    pending: bool = False
    note: str = ""

    def g(self, x: Any) -> Any:
        """The comparison scale: identity, or natural log (for ``scale = "log"``)."""
        if self.scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(np.asarray(x, dtype=float))
        return np.asarray(x, dtype=float)

    @property
    def sigma(self) -> float:
        """Standard deviation of the target on the comparison scale (95% range / 3.92)."""
        lo, hi = float(self.g(self.low)), float(self.g(self.high))
        return (hi - lo) / (2 * Z95)


@dataclass(frozen=True)
class TargetFit:
    """How one target compares with one set of replications."""

    target: Target
    mean: float
    """Model mean over replications (natural scale)."""
    ci_low: float
    ci_high: float
    n: int
    z: float
    """Standardised deviation on the comparison scale (NaN if the model value is missing)."""
    term: float
    """Contribution to the distance."""

    @property
    def consistent(self) -> bool:
        """Within the combined 95% range (or on the right side of a bound)."""
        if math.isnan(self.z):
            return False
        if self.target.relation == "at_most":
            return self.z <= Z95
        if self.target.relation == "at_least":
            return self.z >= -Z95
        return abs(self.z) <= Z95


def kpi_exists(name: str) -> bool:
    """Whether ``name`` is a KPI of :mod:`sim.measures.kpis` (England, or ``<kpi>__<region>``)."""
    base, _, region = name.partition("__")
    return base in KPI_DESCRIPTIONS and (not region or region in REGIONS)


def read_toml_table(path: Path, table: str) -> dict[str, Any]:
    """The ``[table]`` of TOML file ``path`` (one problem line if unreadable or missing)."""
    shown = str(path)
    try:
        # The scenario loader's reader: size, encoding and nesting limits, one line each.
        data = read_toml(Path(path), shown)
    except ScenarioError as exc:
        raise CalibrationFileError(exc.problems) from None
    body = data.get(table)
    if not isinstance(body, dict) or not body:
        raise CalibrationFileError(
            [Problem(shown, table, f"needs a [{table}.<name>] table for each entry")]
        )
    return body


Complain = Callable[[str, str], None]
"""``bad(key, message)``: records a problem with one key of the current entry."""


def table_entries(
    shown: str,
    table: str,
    body: dict[str, Any],
    allowed: set[str],
    required: Iterable[str],
    problems: list[Problem],
) -> Iterator[tuple[str, dict[str, Any], Complain]]:
    """The entries of ``[table]`` (a file of named sub-tables, as the calibration files are)
    that are tables with only ``allowed`` keys and every ``required`` one, each with a ``bad``
    that records a problem against ``table.<name>.<key>``. Entries failing those checks are
    not yielded; their problems are appended to ``problems``."""
    for name, raw in body.items():
        where = f"{table}.{name}"
        if not isinstance(raw, dict):
            problems.append(Problem(shown, where, "must be a table"))
            continue

        def bad(key: str, msg: str, where: str = where) -> None:
            problems.append(Problem(shown, f"{where}.{key}", msg))

        before = len(problems)
        for key in sorted(set(raw) - allowed):
            bad(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in raw:
                bad(key, "required key is missing")
        if len(problems) == before:
            yield name, raw, bad


def load_targets(path: str | Path) -> list[Target]:
    """Read and check a targets file; raises :class:`CalibrationFileError` listing every problem.

    Every KPI must exist in :data:`sim.measures.kpis.KPI_DESCRIPTIONS` unless the target says
    ``pending = true``.
    """
    path = Path(path)
    shown = str(path)
    body = read_toml_table(path, "targets")
    problems: list[Problem] = []
    out: list[Target] = []
    required = ("kpi", "value", "interval", "interval_kind", "use", "source")
    for name, raw, bad in table_entries(shown, "targets", body, _KEYS, required, problems):
        before = len(problems)
        kpi, value, interval = raw["kpi"], raw["value"], raw["interval"]
        pending = raw.get("pending", False)
        if not isinstance(pending, bool):
            bad("pending", f"must be true or false, got {pending!r}")
        if not isinstance(kpi, str) or not kpi:
            bad("kpi", f"must be a KPI name, got {kpi!r}")
        elif not pending and not kpi_exists(kpi):
            bad(
                "kpi",
                f"unknown KPI {kpi!r}; name one of sim.measures.kpis.KPI_DESCRIPTIONS "
                "(optionally __<region>) or set pending = true",
            )
        if not finite_number(value):
            bad("value", f"must be a number, got {value!r}")
        if (
            not isinstance(interval, list)
            or len(interval) != 2
            or not all(finite_number(x) for x in interval)
            or not interval[0] < interval[1]
        ):
            bad("interval", f"must be [low, high] with low < high, got {interval!r}")
        for key, allowed, default in (
            ("interval_kind", INTERVAL_KINDS, None),
            ("use", USES, None),
            ("scale", SCALES, "linear"),
            ("relation", RELATIONS, "equal"),
        ):
            v = raw.get(key, default)
            if v not in allowed:
                bad(key, f"must be one of {', '.join(allowed)}, got {v!r}")
        for key in ("source", "note"):
            if not isinstance(raw.get(key, ""), str):
                bad(key, "must be a string")
        if len(problems) > before:
            continue
        lo, hi = float(interval[0]), float(interval[1])
        if raw.get("scale") == "log" and (lo <= 0 or float(value) <= 0):
            bad("interval", "a log-scale target needs a positive value and range")
            continue
        if raw.get("relation", "equal") == "equal" and not lo <= float(value) <= hi:
            bad("value", f"must lie inside interval [{lo:g}, {hi:g}], got {value!r}")
            continue
        out.append(
            Target(
                name=name,
                kpi=kpi,
                value=float(value),
                low=lo,
                high=hi,
                interval_kind=raw["interval_kind"],
                use=raw["use"],
                source=raw["source"],
                scale=raw.get("scale", "linear"),
                relation=raw.get("relation", "equal"),
                pending=pending,
                note=raw.get("note", ""),
            )
        )
    if problems:
        raise CalibrationFileError(problems)
    return out


def finite_number(x: Any) -> bool:
    """A finite int or float from TOML (``true`` is not a number)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def evaluable(targets: Iterable[Target], columns: Iterable[str]) -> list[Target]:
    """Targets whose KPI the model computes (pending targets count once their KPI exists)."""
    cols = set(columns)
    return [t for t in targets if t.kpi in cols]


def compare(target: Target, values: Iterable[float], noise_var: float | None = None) -> TargetFit:
    """Compare one target with the per-replication values of its KPI (see module docstring).

    ``noise_var`` is the variance of one replication's value (on the comparison scale) from a
    pooled estimate; without it the sample variance of ``values`` is used. With few
    replications the sample variance is itself very noisy, and a candidate whose replications
    happen to disagree would look closer to every target: pass a pooled estimate when
    comparing candidates (see :func:`noise_variance`).
    """
    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        nan = math.nan
        return TargetFit(target, nan, nan, nan, 0, nan, MISSING_PENALTY)
    mean = float(x.mean())
    half = _t_half_width(x)
    gx = target.g(x)
    if not np.all(np.isfinite(gx)):
        # e.g. a median of 0 days on a log-scale target: compare at the smallest positive value
        gx = target.g(np.maximum(x, target.low * 1e-3))
    gm = float(np.mean(gx))
    if noise_var is not None:
        se2 = noise_var / n
    else:
        se2 = float(np.var(gx, ddof=1)) / n if n > 1 else 0.0
    denom = math.sqrt(target.sigma**2 + se2)
    z = (gm - float(target.g(target.value))) / denom
    if target.relation == "at_most":
        term = max(z, 0.0) ** 2
    elif target.relation == "at_least":
        term = min(z, 0.0) ** 2
    else:
        term = z**2
    return TargetFit(target, mean, mean - half, mean + half, n, z, term)


def _t_half_width(x: np.ndarray) -> float:
    n = len(x)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))


def distance(
    targets: Iterable[Target], reps: pd.DataFrame, noise: dict[str, float] | None = None
) -> tuple[float, list[TargetFit]]:
    """Weighted squared distance ``D`` of one scenario's replications (one row each, one
    column per KPI) from ``targets``, and the comparison of each target.

    ``noise`` maps target names to the pooled variance of one replication's value (see
    :func:`noise_variance`); targets not in it use their own sample variance. Targets whose
    KPI is not a column of ``reps`` (pending KPIs) are skipped.
    """
    noise = noise or {}
    fits = [
        compare(t, reps[t.kpi].to_numpy(), noise.get(t.name))
        for t in evaluable(targets, reps.columns)
    ]
    return float(sum(f.term for f in fits)), fits


def noise_variance(targets: Iterable[Target], groups: Iterable[pd.DataFrame]) -> dict[str, float]:
    """Pooled within-candidate variance of one replication's value of each target's KPI, on
    the target's comparison scale: the mean of the sample variances over ``groups`` (one frame
    of replications per candidate; candidates with fewer than two usable values are skipped).
    Replication noise depends little on the parameters, so pooling over many candidates gives
    a stable estimate where each candidate alone has only a few replications.
    """
    groups = list(groups)
    out: dict[str, float] = {}
    for t in targets:
        variances = []
        for g in groups:
            if t.kpi not in g:
                continue
            x = g[t.kpi].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            gx = t.g(np.maximum(x, t.low * 1e-3)) if t.scale == "log" else t.g(x)
            if len(gx) > 1:
                variances.append(float(np.var(gx, ddof=1)))
        if variances:
            out[t.name] = float(np.mean(variances))
    return out
