"""Output analysis across replications: confidence intervals, paired differences, replication
counts and warm-up detection.

Methods (Law, *Simulation Modeling and Analysis*, 5th ed.; Robinson, *Simulation*, 2nd ed.):

* **t-based confidence interval** of a KPI's mean over independent replications.
* **Paired differences** between scenarios run with common random numbers: replication *k* of
  both scenarios sees the same patients, so the CI of the mean difference is built from the
  per-replication differences (Law s. 10.2.1, the paired-t interval).
* **Replications needed** (confidence-interval method): the smallest *n* whose CI half-width
  is at most ``precision`` x |mean| (Robinson s. 9.6; sim-tools' ``ReplicationsAlgorithm``).
* **Bounded confidence intervals** (:func:`bounded_interval`, :func:`bounded_columns`): a
  share's interval is built on the logit scale and a non-negative quantity's (days, counts,
  rates) on the log scale, then transformed back, so no interval leaves the range its KPI can
  take. The half-width is the t-interval's, carried to the transformed scale by the delta
  method: ``logit(m) +/- t * s / (sqrt(n) * m * (1 - m))`` for a share with mean ``m``
  (the logit-transformed interval Stata's ``proportion`` reports), ``m * exp(+/- t * s /
  (sqrt(n) * m))`` for a non-negative mean. The interval contains the mean, has the
  t-interval's width to first order when it is far from the bounds, and narrows towards a
  bound instead of crossing it. The observations are the replications' values (a share per
  replication), not patients: patients in one replication share its queues, so a binomial
  (Wilson) interval over patients would understate the spread between replications.
* **MSER-5** warm-up truncation (White 1997; Hoad, Robinson & Davies 2010): batch the series in
  fives and choose the truncation point minimising the marginal standard error of the
  remaining batch means, searched over the first half of the series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special, stats

LEVEL = 0.95


def t_interval(x: ArrayLike, level: float = LEVEL) -> tuple[float, float, float, int]:
    """Mean, CI low, CI high and n (NaN values ignored). With n < 2 the CI is NaN."""
    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a)]
    n = len(a)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(a.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    sd = float(a.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half, n


def bounded_columns(
    x: np.ndarray,
    lower: ArrayLike,
    upper: ArrayLike,
    level: float = LEVEL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean and 95% CI of a (replications x KPIs) matrix, each column's interval
    kept within its bounds ``lower[j]``, ``upper[j]`` (NaN values ignored; NaN CI where fewer
    than 2 values).

    Columns bounded by 0 and 1 get the logit-scale interval, columns bounded below by 0 only the
    log-scale one (see the module notes). A column whose mean lies on a bound, or whose bounds
    are of another form, gets the t-interval clipped to its bounds (clipping never removes a
    value the KPI can take, so it cannot lower the coverage).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    lower = np.broadcast_to(np.asarray(lower, dtype=float), x.shape[1:])
    upper = np.broadcast_to(np.asarray(upper, dtype=float), x.shape[1:])
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    filled = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = np.where(n > 0, filled.sum(axis=0) / n, np.nan)
        ss = np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0)
        sd = np.sqrt(ss / (n - 1))
        q = stats.t.ppf(0.5 + level / 2, np.where(n >= 2, n - 1, 1))
        half = np.where(n >= 2, q * sd / np.sqrt(np.maximum(n, 1)), np.nan)
        lo = np.clip(mean - half, lower, upper)
        hi = np.clip(mean + half, lower, upper)
        unit = (lower == 0) & (upper == 1) & (mean > 0) & (mean < 1)
        w = half / (mean * (1 - mean))
        centre = special.logit(np.where(unit, mean, 0.5))
        lo = np.where(unit, special.expit(centre - w), lo)
        hi = np.where(unit, special.expit(centre + w), hi)
        positive = (lower == 0) & (upper == np.inf) & (mean > 0)
        w = half / mean
        lo = np.where(positive, mean * np.exp(-w), lo)
        hi = np.where(positive, mean * np.exp(w), hi)
    # Rounding at the ends of the scale (expit(-40) is not 0): keep the interval on its bounds
    # and around its mean.
    lo = np.where(np.isnan(half), np.nan, np.clip(np.fmin(lo, mean), lower, upper))
    hi = np.where(np.isnan(half), np.nan, np.clip(np.fmax(hi, mean), lower, upper))
    return mean, lo, hi


def bounded_interval(
    x: ArrayLike, lower: float, upper: float, level: float = LEVEL
) -> tuple[float, float, float, int]:
    """Mean, CI low, CI high and n of one KPI's replication values, the CI within
    ``[lower, upper]`` (:func:`bounded_columns`). With n < 2 the CI is NaN."""
    a = np.asarray(x, dtype=float)
    mean, lo, hi = bounded_columns(a[:, None] if a.ndim == 1 else a, lower, upper, level)
    return float(mean[0]), float(lo[0]), float(hi[0]), int(np.isfinite(a).sum())


def summarise(
    reps: pd.DataFrame,
    kpis: Iterable[str] | None = None,
    level: float = LEVEL,
    bounds: Callable[[str], tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Per KPI (and per scenario, if ``reps`` has a ``scenario`` column): mean and 95% CI.

    ``bounds`` gives each KPI's bounds (e.g. :func:`sim.measures.kpis.kpi_bounds`): the CI is then
    :func:`bounded_interval`; without it, the t-interval. Returns columns ``[scenario,] kpi,
    mean, ci_low, ci_high, n``.
    """
    names = (
        list(kpis)
        if kpis is not None
        else [c for c in reps.columns if c not in ("scenario", "replication")]
    )
    rows = []
    groups = reps.groupby("scenario", sort=False) if "scenario" in reps else [(None, reps)]
    for scen, g in groups:
        for k in names:
            if bounds is None:
                mean, lo, hi, n = t_interval(g[k].to_numpy(), level)
            else:
                mean, lo, hi, n = bounded_interval(g[k].to_numpy(), *bounds(k), level)
            row = {"kpi": k, "mean": mean, "ci_low": lo, "ci_high": hi, "n": n}
            if scen is not None:
                row = {"scenario": scen, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(
    reps: pd.DataFrame, base: str, other: str, kpi: str, level: float = LEVEL
) -> tuple[float, float, float, int]:
    """Mean of ``other - base`` over replications present in both, with its paired-t CI."""
    a = reps[reps["scenario"] == base].set_index("replication")[kpi]
    b = reps[reps["scenario"] == other].set_index("replication")[kpi]
    diff = (b - a.reindex(b.index)).to_numpy()
    return t_interval(diff, level)


def unpaired_difference(
    reps: pd.DataFrame, base: str, other: str, kpi: str, level: float = LEVEL
) -> tuple[float, float, float]:
    """Mean difference with a Welch CI that ignores the pairing (for comparison only)."""
    a = reps.loc[reps["scenario"] == base, kpi].dropna().to_numpy(dtype=float)
    b = reps.loc[reps["scenario"] == other, kpi].dropna().to_numpy(dtype=float)
    diff = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return diff, diff - half, diff + half


def relative_half_width(x: ArrayLike, level: float = LEVEL) -> float:
    """CI half-width divided by |mean| (inf if the mean is 0, NaN with fewer than 2 values)."""
    mean, lo, hi, n = t_interval(x, level)
    if n < 2 or math.isnan(lo):
        return math.nan
    return (hi - lo) / 2 / abs(mean) if mean != 0 else math.inf


def replications_needed(
    x: ArrayLike, precision: float, level: float = LEVEL, max_n: int = 10_000
) -> int:
    """Smallest n whose CI half-width would be <= precision x |mean|, projecting the sample
    standard deviation of ``x`` (the confidence-interval method)."""
    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a)]
    if len(a) < 2:
        return 2
    mean, sd = abs(float(a.mean())), float(a.std(ddof=1))
    if sd == 0:
        return len(a)
    if mean == 0:
        return max_n
    for n in range(2, max_n + 1):
        if stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) <= precision * mean:
            return max(n, 2)
    return max_n


def mser(series: ArrayLike, batch: int = 5) -> int:
    """MSER-``batch`` truncation point, as an index into ``series`` (observations to delete).

    The series is grouped in batches of ``batch``; for each candidate truncation d (in batches,
    up to half the batches) the statistic is the variance of the remaining batch means divided
    by their count; the minimising d is returned times ``batch``. A trailing partial batch is
    left out. Fewer than four batches: 0.
    """
    y = np.asarray(series, dtype=float)
    if np.isnan(y).any():
        raise ValueError("mser: the series has missing values (NaN)")
    nb = len(y) // batch
    if nb < 4:
        return 0
    means = y[: nb * batch].reshape(nb, batch).mean(axis=1)
    best_d, best = 0, math.inf
    for d in range(0, nb // 2 + 1):
        rest = means[d:]
        m = len(rest)
        stat = float(((rest - rest.mean()) ** 2).sum()) / m**2
        if stat < best:
            best, best_d = stat, d
    return best_d * batch
