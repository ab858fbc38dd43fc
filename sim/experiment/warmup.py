"""Warm-up analysis: how long a run must go before its KPIs are measured.

A replication starts empty: nobody is in follow-up and no MDT list holds a case, whereas in
England thousands of people with a NEN are followed up and come back to the MDT when their
disease progresses. KPIs are therefore measured only after a warm-up (``[run] warmup_years``).
This module chooses it, by Welch's graphical method with the MSER-5 rule (Robinson,
*Simulation: The Practice of Model Development and Use*, 2nd ed., s. 9.5; Hoad, Robinson &
Davies 2010, *J. Oper. Res. Soc.* 61:1389; White 1997):

1. run a few long replications with no warm-up (default 5 x 30 simulated years);
2. take each replication's weekly series (:func:`sim.measures.kpis.weekly_series`:
   diagnoses, follow-up caseload, MDT re-discussions, specialist MDT backlog) and average them
   across replications;
3. apply MSER-5 (:func:`sim.experiment.analysis.mser`) to each averaged series: the truncation week;
4. recommend the largest truncation over the chosen series, rounded up to whole years.

MSER-5 searches only the first half of a series. A truncation at the end of that half, or a
series that still drifts after its truncation point, means the series has *not* levelled off
within the run: its truncation is then only a lower bound, and the result says so
(``levelled_off``) rather than passing it off as a steady state. The follow-up caseload of NENs
is the usual case: with long survival it keeps growing for decades.

Capacities are rounded to whole slots at small ``population_scale``; run the analysis at a
scale where the MDT slots are close to England's (0.25 or more) for the backlog series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from sim.core import io
from sim.core.constants import DAYS_PER_YEAR
from sim.core.errors import RunControlError
from sim.experiment.analysis import mser
from sim.experiment.runner import ReplicationOutput, run_experiment
from sim.scenario.schema import REGIONS, RunControls, Scenario

DEFAULT_SERIES = ("specialist_backlog", "mdt_rediscussions", "in_follow_up", "diagnoses")
"""Series analysed unless the user names others."""
DEFAULT_YEARS = 30.0
"""Simulated years per warm-up replication (warm-up itself 0)."""
DEFAULT_REPLICATIONS = 5
"""Replications averaged (Welch's method needs a few; Robinson suggests at least five)."""
BATCH = 5
"""MSER-5: weekly values are batched in fives."""
WINDOW_WEEKS = 26
"""Half-width ``w`` of Welch's moving average on the plot, weeks (assumption: half a year
smooths the weekly MDT rhythm and bank holidays yet keeps a trend of a year or more visible)."""
DRIFT_TOLERANCE = 0.05
"""A series has levelled off if, after its truncation point, its fitted linear trend changes it
by at most this share of its level over the rest of the run, or if no trend is detectable
(assumption)."""
TREND_BATCH_WEEKS = 52
"""The trend after the truncation is fitted to yearly means, so that seasonal spikes (bank
holidays) and week-to-week autocorrelation do not pass for a trend."""
WEEKS_PER_YEAR = DAYS_PER_YEAR / 7.0

SERIES_CHOICES: tuple[str, ...] = (
    "diagnoses",
    "in_follow_up",
    "mdt_rediscussions",
    "specialist_backlog",
    *(f"specialist_backlog__{r}" for r in REGIONS),
)
"""Weekly series that :func:`sim.measures.kpis.weekly_series` produces and this analysis accepts."""


@dataclass(frozen=True)
class SeriesWarmup:
    """MSER-5 on one replication-averaged weekly series."""

    series: str
    truncation_week: int
    """Weeks to delete (MSER-5), counted from the start of the run."""
    searched_weeks: int
    """MSER-5 looked for a truncation in weeks ``0 .. searched_weeks`` (half the run)."""
    at_search_limit: bool
    """The truncation is in the last batch searched: the series is still moving there."""
    drift_share: float
    """Change of the fitted linear trend over the weeks after the truncation, as a share of
    their mean level (0 = flat)."""
    trend_p_value: float
    """Two-sided p-value of that trend (least squares on yearly means; NaN with fewer than
    three years after the truncation)."""
    level: float
    """Mean of the series after the truncation point."""

    @property
    def levelled_off(self) -> bool:
        small = abs(self.drift_share) <= DRIFT_TOLERANCE
        no_trend = small or (not math.isnan(self.trend_p_value) and self.trend_p_value >= 0.05)
        return not self.at_search_limit and no_trend

    @property
    def truncation_years(self) -> float:
        return self.truncation_week / WEEKS_PER_YEAR


@dataclass
class WarmupResult:
    """What :func:`warmup_analysis` found."""

    series: list[SeriesWarmup]
    recommended_years: float
    """Largest truncation over the series, rounded up to whole years."""
    averaged: pd.DataFrame
    """``week``, ``time`` (days) and every analysed series, averaged over replications."""
    replications: int
    years: float
    """Simulated years per replication."""
    plot: Path | None = None
    table_path: Path | None = None
    failures: list[Any] = field(default_factory=list)

    @property
    def truncation_weeks(self) -> dict[str, int]:
        return {s.series: s.truncation_week for s in self.series}

    @property
    def levelled_off(self) -> dict[str, bool]:
        return {s.series: s.levelled_off for s in self.series}

    @property
    def table(self) -> pd.DataFrame:
        return warmup_table(self.series)


def check_series(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The series to analyse; an unknown name is a :class:`RunControlError` naming the allowed."""
    chosen = tuple(names) if names else DEFAULT_SERIES
    bad = [n for n in chosen if n not in SERIES_CHOICES]
    if bad:
        raise RunControlError(
            f"--kpi {bad[0]}: not a weekly series; choose from {', '.join(SERIES_CHOICES)}"
        )
    return tuple(dict.fromkeys(chosen))


def average_series(series: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """Average weekly series over replications (Welch's method, step 1).

    ``series`` has one row per (scenario,) replication and week, as in ``series.parquet``.
    Weeks that not every replication reached (none, when they share a horizon) are dropped.
    """
    missing = [n for n in names if n not in series]
    if missing:
        raise RunControlError(
            f"--kpi {missing[0]}: this model version does not produce that weekly series"
        )
    reps = series["replication"].nunique()
    grouped = series.groupby("week", sort=True)
    avg = grouped[["time", *names]].mean()
    avg = avg[grouped.size() == reps].reset_index()
    return avg


def welch_moving_average(y: np.ndarray, w: int) -> np.ndarray:
    """Welch's moving average of window ``w`` (Law, *Simulation Modeling and Analysis*, 5th
    ed., s. 9.5.1): point ``i`` (1-based) averages ``y[i-w .. i+w]``, or ``y[1 .. 2i-1]`` while
    ``i <= w``; defined for ``i = 1 .. m - w``."""
    y = np.asarray(y, dtype=float)
    m = len(y)
    w = max(0, min(w, (m - 1) // 2))
    c = np.concatenate([[0.0], np.cumsum(y)])
    out = np.empty(m - w)
    for i in range(1, m - w + 1):
        lo, hi = (0, 2 * i - 1) if i <= w else (i - w - 1, i + w)
        out[i - 1] = (c[hi] - c[lo]) / (hi - lo)
    return out


def analyse_series(name: str, y: np.ndarray, batch: int = BATCH) -> SeriesWarmup:
    """MSER-``batch`` truncation of one averaged series, with the checks that it levelled off."""
    y = np.asarray(y, dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"series {name} has missing weeks")
    d = mser(y, batch)
    searched = (len(y) // batch // 2) * batch
    rest = y[d:]
    level = float(rest.mean()) if len(rest) else math.nan
    slope, p_value = _trend(rest)
    change = slope * (len(rest) - 1)
    drift = change / abs(level) if level != 0 else (0.0 if change == 0 else math.inf)
    return SeriesWarmup(
        series=name,
        truncation_week=int(d),
        searched_weeks=int(searched),
        at_search_limit=searched > 0 and d >= searched - batch,
        drift_share=drift,
        trend_p_value=p_value,
        level=level,
    )


def _trend(y: np.ndarray, batch: int = TREND_BATCH_WEEKS) -> tuple[float, float]:
    """Least-squares slope per week of ``y`` and its p-value, fitted to means of ``batch``
    weeks (to the weeks themselves if there are fewer than three batches)."""
    nb = len(y) // batch
    if nb >= 3:
        means = y[: nb * batch].reshape(nb, batch).mean(axis=1)
        x = np.arange(nb) * batch + (batch - 1) / 2
    else:
        means, x = y, np.arange(len(y), dtype=float)
    if len(means) < 3 or np.ptp(means) == 0:
        return 0.0, math.nan
    fit = stats.linregress(x, means)
    return float(fit.slope), float(fit.pvalue) if nb >= 3 else math.nan


def recommended_years(results: list[SeriesWarmup]) -> float:
    """The largest truncation, rounded up to whole years (0 if nothing needs deleting)."""
    weeks = max((r.truncation_week for r in results), default=0)
    return float(math.ceil(round(weeks / WEEKS_PER_YEAR, 9)))


def warmup_table(results: list[SeriesWarmup]) -> pd.DataFrame:
    """One row per series: what ``warmup.csv`` holds."""
    return pd.DataFrame(
        [
            {
                "series": r.series,
                "truncation_week": r.truncation_week,
                "truncation_years": round(r.truncation_years, 3),
                "searched_weeks": r.searched_weeks,
                "at_search_limit": r.at_search_limit,
                "drift_share_after_truncation": round(r.drift_share, 4),
                "trend_p_value": round(r.trend_p_value, 6),
                "level_after_truncation": r.level,
                "levelled_off": r.levelled_off,
            }
            for r in results
        ]
    )


def welch_figure(
    averaged: pd.DataFrame, results: list[SeriesWarmup], replications: int, window: int
) -> Figure:
    """One panel per series: the replication-averaged weekly series, Welch's moving average and
    the MSER-5 truncation point (dashed), with the end of the searched half (dotted)."""
    fig = Figure(figsize=(9, 2.3 * len(results) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    years = averaged["time"].to_numpy() / DAYS_PER_YEAR
    for ax, r in zip(axes, results, strict=True):
        y = averaged[r.series].to_numpy(dtype=float)
        ma = welch_moving_average(y, window)
        ax.plot(years, y, color="#9ecae1", lw=0.7, label=f"mean of {replications} replications")
        ax.plot(years[: len(ma)], ma, color="#1b6ca8", lw=1.6, label=f"moving average (w={window})")
        cut = r.truncation_week / WEEKS_PER_YEAR
        ax.axvline(cut, color="#d1495b", ls="--", lw=1.2, label=f"MSER-5: {cut:.1f} years")
        ax.axvline(r.searched_weeks / WEEKS_PER_YEAR, color="grey", ls=":", lw=1)
        state = "levelled off" if r.levelled_off else "NOT levelled off"
        ax.set_title(
            f"{r.series}: truncation at week {r.truncation_week} ({cut:.1f} years), {state}",
            fontsize=9,
            loc="left",
        )
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("simulated years from an empty start (dotted: end of MSER-5 search)")
    return fig


@io.holds_folder("out")
def warmup_analysis(
    scenario: Scenario,
    controls: RunControls,
    out: Path | None,
    *,
    series: list[str] | tuple[str, ...] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    dask: str | None = None,
    window: int = WINDOW_WEEKS,
) -> WarmupResult:
    """Run long replications from an empty start and recommend a warm-up.

    Parameters
    ----------
    scenario:
        The scenario to analyse.
    controls:
        ``replications`` long replications of ``years`` simulated years each (the caller sets
        these; the command uses :data:`DEFAULT_REPLICATIONS` x :data:`DEFAULT_YEARS`); its
        warm-up is ignored (set to 0).
    out:
        Folder for the run (everything :func:`sim.experiment.runner.run_experiment` writes) plus
        ``warmup.csv`` (one row per series), ``warmup_series.csv`` (the averaged series) and
        ``warmup.png`` (the Welch plot). ``None``: nothing is written.
    series:
        Weekly series to analyse (:data:`SERIES_CHOICES`; default :data:`DEFAULT_SERIES`).
    force, resume, progress, dask:
        As for :func:`sim.experiment.runner.run_experiment`.
    window:
        Half-width of Welch's moving average on the plot, weeks.
    """
    names = check_series(series)
    long_run = RunControls.model_validate({**controls.model_dump(), "warmup_years": 0.0})
    collected: list[pd.DataFrame] = []

    def keep(res: ReplicationOutput) -> None:
        collected.append(res.series)

    experiment = run_experiment(
        [scenario],
        long_run,
        out,
        dask=dask,
        resume=resume,
        force=force,
        progress=progress,
        on_output=None if out is not None else keep,
    )
    weekly = pd.read_parquet(out / "series.parquet") if out is not None else pd.concat(collected)
    # Only whole weeks: the last, partial week of the run would read as a sudden drop.
    weekly = weekly[weekly["time"] + 7.0 <= long_run.horizon_days + 1e-9]
    averaged = average_series(weekly, names)
    results = [analyse_series(n, averaged[n].to_numpy()) for n in names]
    n_reps = int(weekly["replication"].nunique())
    result = WarmupResult(
        series=results,
        recommended_years=recommended_years(results),
        averaged=averaged,
        replications=n_reps,
        years=long_run.years,
        failures=experiment.failures,
    )
    if out is not None:
        result.table_path = out / "warmup.csv"
        io.write_csv(result.table_path, warmup_table(results))
        io.write_csv(out / "warmup_series.csv", averaged)
        result.plot = out / "warmup.png"
        fig = welch_figure(averaged, results, n_reps, window)
        io.save_png(fig, result.plot)
    return result
