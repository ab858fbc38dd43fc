"""Figures for the comparison report, drawn from stored results only.

Each function takes tables already read from a results folder and returns a matplotlib
:class:`~matplotlib.figure.Figure`; :func:`sim.core.io.png_base64` turns one into the base64
PNG the report embeds. Figures are built on the object API (``Figure``; :mod:`sim.core.io`
saves it with the Agg renderer), never ``pyplot``, so no global backend or state is touched.
Scenarios keep one colour throughout the report.

Nothing here simulates or computes a KPI: the numbers come from ``comparison.csv`` (via
:mod:`sim.reporting.compare`), ``patients.parquet`` and ``series.parquet``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.core.constants import DAYS_PER_YEAR
from sim.reporting.compare import BREACH_STEPS, lookup, scenario_label
from sim.scenario.schema import REGIONS, STAGES

_COLOURS = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6b4c9a", "#00798c", "#8c564b"]
_STEP_COLOURS = [
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#fdae6b",
    "#e6550d",
    "#a1d99b",
    "#31a354",
]  # one per compare.BREACH_STEPS, in order

INTERVALS: tuple[tuple[str, str, str, str | None, int | None], ...] = (
    # (title, end column, start column, boolean column selecting patients, reference line)
    ("First symptoms to diagnosis", "diagnosis_time", "onset_time", "symptomatic", None),
    ("First presentation to diagnosis", "diagnosis_time", "first_presentation_time", None, None),
    ("First GP consultation to referral", "first_referral_time", "first_gp_time", None, None),
    ("Urgent referral to diagnosis (28 days)", "diagnosis_time", "referral_time", "urgent", 28),
    (
        "Referral or upgrade to treatment (62 days)",
        "first_treatment_time",
        "clock62_start_time",
        None,
        62,
    ),
    ("Diagnosis to specialist MDT", "specialist_mdt_time", "diagnosis_time", None, 14),
)
"""The key intervals drawn as ECDFs (days)."""


_STYLES: list[str | tuple[int, tuple[int, ...]]] = [
    "-",
    "--",
    ":",
    "-.",
    (0, (5, 1, 1, 1)),
    (0, (3, 3)),
]


def colour(i: int) -> str:
    """The colour of the ``i``-th scenario."""
    return _COLOURS[i % len(_COLOURS)]


def linestyle(i: int) -> str | tuple[int, tuple[int, ...]]:
    """The line style of the ``i``-th scenario (lines that coincide stay visible)."""
    return _STYLES[i % len(_STYLES)]


def region_label(region: str) -> str:
    """``north_east_and_yorkshire`` -> ``North East and Yorkshire``."""
    words = region.split("_")
    return " ".join(w if w in ("and", "of") else w.capitalize() for w in words)


def _ecdf(x: np.ndarray, points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of ``x`` (NaN ignored), at most ``points`` steps: beyond that the sorted
    values are thinned to evenly spaced ranks, which a figure cannot tell apart."""
    x = np.sort(x[np.isfinite(x)])
    y = np.arange(1, len(x) + 1) / max(len(x), 1)
    if len(x) > points:
        keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(int))
        x, y = x[keep], y[keep]
    return x, y


def interval_ecdfs(patients: pd.DataFrame, scenarios: list[str]) -> Figure:
    """ECDFs of the key intervals, one panel per interval, one line per scenario (pooled over
    replications; patients diagnosed in the measured window)."""
    fig = Figure(figsize=(12, 7.2))
    axes = fig.subplots(2, 3)
    patients = patients.assign(urgent=patients["referral_type"] == "urgent")
    if "symptomatic" not in patients:  # older runs: symptomatic people are those seen by a GP
        patients["symptomatic"] = patients["first_gp_time"].notna()
    for ax, (title, end, start, where, ref) in zip(axes.flat, INTERVALS, strict=True):
        top = 0.0
        for i, scen in enumerate(scenarios):
            p = patients[patients["scenario"] == scen]
            if where is not None:
                p = p[p[where].fillna(False).astype(bool)]
            x, y = _ecdf((p[end] - p[start]).to_numpy(dtype=float))
            if len(x):
                ax.step(
                    x,
                    y,
                    where="post",
                    color=colour(i),
                    linestyle=linestyle(i),
                    linewidth=1.6,
                    label=scenario_label(scen, short=True),
                )
                top = max(top, float(np.quantile(x, 0.95)))
        if ref is not None:
            ax.axvline(ref, color="grey", linestyle=":", linewidth=1)
            top = max(top, ref * 1.2)
        ax.set_xlim(0, top * 1.05 if top > 0 else 1)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("days (axis cut at the 95th centile)", fontsize=8)
        ax.set_ylabel("share of patients", fontsize=8)
        ax.grid(alpha=0.3)
    _figure_legend(fig, axes.flat[0], len(scenarios))
    return fig


def stage_counts(
    patients: pd.DataFrame, scenarios: list[str], years: float, scale: float
) -> pd.DataFrame:
    """People a year diagnosed at each stage (England-scaled), per scenario and replication:
    the stage staging found (as registries record it)."""
    p = patients[patients["stage_at_diagnosis"].notna() & patients["scenario"].isin(scenarios)]
    counts = p.groupby(["scenario", "replication"], observed=True)[
        "stage_at_diagnosis"
    ].value_counts().unstack(fill_value=0).reindex(columns=list(STAGES), fill_value=0).astype(
        float
    ) / (years * scale)
    return counts.reset_index()


def stage_bars(counts: pd.DataFrame, scenarios: list[str]) -> Figure:
    """Stage at diagnosis: people a year per stage and scenario (95% CI over replications,
    non-negative), each scenario's bar labelled with its paired difference from the first
    scenario (95% CI; "n.s." where it includes zero)."""
    from sim.experiment.analysis import bounded_interval, t_interval

    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(STAGES))
    base = counts[counts["scenario"] == scenarios[0]].set_index("replication")
    top = 0.0
    for i, scen in enumerate(scenarios):
        g = counts[counts["scenario"] == scen].set_index("replication")
        stats = [bounded_interval(g[s].to_numpy(dtype=float), 0.0, np.inf) for s in STAGES]
        mean = np.array([m for m, _, _, _ in stats])
        err = _yerr(stats)
        xs = x + (i - (len(scenarios) - 1) / 2) * width
        ax.bar(
            xs, mean, width, yerr=err, capsize=3, color=colour(i),
            label=scenario_label(scen, short=True),
        )  # fmt: skip
        top = max(top, float(np.nanmax(mean + err[1])))
        if i == 0:
            continue
        for j, stage in enumerate(STAGES):
            diff = (g[stage] - base[stage].reindex(g.index)).to_numpy(dtype=float)
            d, lo, hi, _ = t_interval(diff)
            sig = not (lo <= 0 <= hi) if lo == lo else False
            text = f"{d:+,.0f}" + (f"\n[{lo:+,.0f}, {hi:+,.0f}]" if sig else "\nn.s.")
            ax.text(
                xs[j], mean[j] + err[1][j], text, ha="center", va="bottom", fontsize=6.5,
                fontweight="bold" if sig else "normal",
            )  # fmt: skip
    ax.set_ylim(0, top * 1.22)
    ax.set_xticks(x, [s.capitalize() for s in STAGES])
    ax.set_ylabel("people diagnosed a year (England)")
    ax.set_title(
        f"Stage at diagnosis; labels: difference from {scenario_label(scenarios[0], short=True)}"
        " a year [95% CI]",
        fontsize=10,
    )
    _legend_below(ax, len(scenarios))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _figure_legend(fig: Figure, ax: Any, entries: int) -> None:
    """One legend for a figure of panels, in a row beneath them all (never over data); lays
    the figure out."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=min(entries, 4), fontsize=8.5, frameon=False
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))


def _legend_below(ax: Any, entries: int, below: float = 0.12) -> None:
    """The legend under the axes (``below`` axes-heights down, clear of the tick labels), in
    one row where it fits: it never covers data."""
    ax.legend(
        fontsize=8, ncol=min(entries, 4), loc="upper center", bbox_to_anchor=(0.5, -below),
        frameon=False,
    )  # fmt: skip


def _yerr(stats: list[tuple[float, float, float, int]]) -> np.ndarray:
    lo = np.array([m - low if low == low else 0.0 for m, low, _, _ in stats])
    hi = np.array([high - m if high == high else 0.0 for m, _, high, _ in stats])
    return np.vstack([lo, hi])


STANDARDS = (
    ("fds_28d_share", "28-day Faster\nDiagnosis Standard", 0.75),
    ("dtt_31d_share", "31-day decision\nto treatment", 0.96),
    ("rtt_62d_share", "62-day referral\nto treatment", 0.85),
)
"""NHS cancer waiting-time standards and their operational thresholds [S33], [S35]."""


def standards_bars(table: pd.DataFrame, scenarios: list[str]) -> Figure:
    """Share meeting each NHS standard per scenario (95% CI), with the national threshold."""
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    width = 0.8 / max(len(scenarios), 1)
    x = np.arange(len(STANDARDS))
    for i, scen in enumerate(scenarios):
        rows = [lookup(table, k, scen) for k, _, _ in STANDARDS]
        stats = [(r["mean"], r["ci_low"], r["ci_high"], 0) for r in rows]
        mean = np.array([r["mean"] for r in rows])
        ax.bar(
            x + (i - (len(scenarios) - 1) / 2) * width,
            100 * mean,
            width,
            yerr=100 * _yerr(stats),
            capsize=3,
            color=colour(i),
            label=scenario_label(scen, short=True),
        )
    for j, (_, _, threshold) in enumerate(STANDARDS):
        ax.hlines(100 * threshold, j - 0.45, j + 0.45, colors="black", linestyles="--")
    ax.set_xticks(x, [label for _, label, _ in STANDARDS], fontsize=8.5)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% meeting the standard")
    ax.set_title("NHS cancer waiting-time standards (dashed: operational threshold)", fontsize=10)
    _legend_below(ax, len(scenarios), below=0.2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def breach_bars(summary: pd.DataFrame, scenarios: list[str]) -> Figure:
    """62-day breaches: mean days each step used among breaching patients, per scenario."""
    fig = Figure(figsize=(9, 0.9 + 0.7 * max(len(scenarios), 1)))
    ax = fig.subplots()
    for i, scen in enumerate(scenarios):
        row = summary[summary["scenario"] == scen]
        left = 0.0
        for j, (name, label) in enumerate(BREACH_STEPS):
            v = float(row[f"{name}_breach_mean"].iloc[0]) if len(row) else 0.0
            v = 0.0 if v != v else v
            ax.barh(
                i,
                v,
                left=left,
                color=_STEP_COLOURS[j],
                edgecolor="white",
                label=label if i == 0 else None,
            )
            if v >= 6:
                ax.text(left + v / 2, i, f"{v:.0f}", ha="center", va="center", fontsize=7.5)
            left += v
        share = float(row["breach_share"].iloc[0]) if len(row) else float("nan")
        ax.text(left + 1, i, f"{100 * share:.0f}% breach", va="center", fontsize=8)
    ax.axvline(62, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, max(ax.get_xlim()[1], 70) * 1.15)  # room for the breach-share labels
    ax.set_yticks(
        range(len(scenarios)), [scenario_label(s, short=True) for s in scenarios], fontsize=8.5
    )
    ax.invert_yaxis()
    ax.set_xlabel("mean days per breaching patient (dashed: 62 days)")
    ax.set_title("Which step used the days, among patients treated after 62 days", fontsize=10)
    ax.legend(fontsize=7.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.35 - 0.05))
    fig.tight_layout()
    return fig


def backlog_lines(
    series: pd.DataFrame,
    scenarios: list[str],
    warmup_days: float,
    scale: float,
    policy_start_days: float = 0.0,
) -> Figure:
    """Cases waiting after the week's specialist MDT meetings (England, England-scaled): mean
    over replications, 4-week rolling mean, with the range over replications shaded; the
    policy start (where the scenarios leave their shared history) as a vertical line."""
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    for i, scen in enumerate(scenarios):
        g = series[series["scenario"] == scen]
        if g.empty:
            continue
        wide = g.pivot_table(index="time", columns="replication", values="specialist_backlog")
        wide = wide.rolling(4, min_periods=1).mean() / scale
        years = wide.index.to_numpy() / DAYS_PER_YEAR
        ax.plot(
            years,
            wide.mean(axis=1),
            color=colour(i),
            linestyle=linestyle(i),
            label=scenario_label(scen, short=True),
        )
        ax.fill_between(years, wide.min(axis=1), wide.max(axis=1), color=colour(i), alpha=0.15)
    ax.axvspan(0, warmup_days / DAYS_PER_YEAR, color="grey", alpha=0.12, label="not measured")
    if policy_start_days > 0:
        ax.axvline(
            policy_start_days / DAYS_PER_YEAR, color="black", linewidth=1, label="policy start"
        )
    ax.set_xlabel("years from the simulation start")
    ax.set_ylabel("cases waiting (England)")
    ax.set_title(
        "Specialist MDT backlog after each week's meetings (shaded: range over replications)",
        fontsize=10,
    )
    _legend_below(ax, len(scenarios) + 1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


REGIONAL_KPIS = (
    ("diagnostic_interval_days_median", "Median first presentation to diagnosis (days)", 1.0),
    ("stage_distant_at_diagnosis_share", "% with distant spread at diagnosis", 100.0),
    ("specialist_mdt_discussed_share", "% discussed at a specialist MDT", 100.0),
    ("rtt_62d_share", "% treated within 62 days", 100.0),
)
"""KPIs drawn by region: (KPI, axis label, multiplier)."""


def regional_dots(table: pd.DataFrame, scenarios: list[str]) -> Figure:
    """Each KPI of :data:`REGIONAL_KPIS` by region (95% CI), one marker per scenario."""
    fig = Figure(figsize=(12, 6.4))
    axes = fig.subplots(2, 2)
    y = np.arange(len(REGIONS))
    offset = 0.6 / max(len(scenarios), 1)
    for ax, (kpi, label, mult) in zip(axes.flat, REGIONAL_KPIS, strict=True):
        for i, scen in enumerate(scenarios):
            rows = [lookup(table, f"{kpi}__{r}", scen) for r in REGIONS]
            mean = np.array([r["mean"] for r in rows]) * mult
            stats = [(r["mean"], r["ci_low"], r["ci_high"], 0) for r in rows]
            ax.errorbar(
                mean,
                y + (i - (len(scenarios) - 1) / 2) * offset,
                xerr=mult * _yerr(stats),
                fmt="o",
                color=colour(i),
                markersize=4,
                capsize=2,
                label=scenario_label(scen, short=True),
            )
        ax.set_yticks(y, [region_label(r) for r in REGIONS], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(label, fontsize=9.5)
        ax.grid(axis="x", alpha=0.3)
    _figure_legend(fig, axes.flat[0], len(scenarios))
    return fig


def yearly_path(
    series: pd.DataFrame,
    patients: pd.DataFrame,
    scenarios: list[str],
    start_days: float,
    scale: float,
    after_policy_start: bool = True,
) -> Figure:
    """Year by year from ``start_days`` (the policy start, or the measured window's start):
    the specialist MDT backlog (mean of the weekly values), the median time from first
    presentation to diagnosis and the share diagnosed with distant spread, by year of
    diagnosis; mean over replications."""
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3)
    titles = (
        "Specialist MDT backlog (cases waiting, England)",
        "Median presentation to diagnosis (days)",
        "% diagnosed with distant spread",
    )
    for i, scen in enumerate(scenarios):
        style = {
            "color": colour(i),
            "linestyle": linestyle(i),
            "marker": "o",
            "markersize": 3,
            "label": scenario_label(scen, short=True),
        }
        g = series[(series["scenario"] == scen) & (series["time"] >= start_days)]
        if not g.empty:
            year = ((g["time"] - start_days) // DAYS_PER_YEAR).astype(int) + 1
            by = g.groupby([year, g["replication"]])["specialist_backlog"].mean() / scale
            mean = by.groupby(level=0).mean()
            axes[0].plot(mean.index, mean.to_numpy(), **style)
        p = patients[(patients["scenario"] == scen) & (patients["diagnosis_time"] >= start_days)]
        if not p.empty:
            year = ((p["diagnosis_time"] - start_days) // DAYS_PER_YEAR).astype(int) + 1
            interval = p["diagnosis_time"] - p["first_presentation_time"]
            med = interval.groupby([year, p["replication"]]).median().groupby(level=0).mean()
            axes[1].plot(med.index, med.to_numpy(), **style)
            distant = (p["stage_at_diagnosis"].astype(str) == "distant").astype(float) * 100
            share = distant.groupby([year, p["replication"]]).mean().groupby(level=0).mean()
            axes[2].plot(share.index, share.to_numpy(), **style)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel(
            "year after the policy start" if after_policy_start else "year of the measured window"
        )
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize=7.5, loc="best")
    fig.tight_layout()
    return fig
