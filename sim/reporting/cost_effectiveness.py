"""Decision uncertainty from a probabilistic sensitivity analysis (PSA): net monetary benefit per
draw, the cost-effectiveness plane, the cost-effectiveness acceptability curve (CEAC) and the
expected value of perfect information (EVPI).

Reads PSA draws (cost and QALYs of each strategy in each draw); runs nothing. The PSA itself is
:mod:`sim.calibration.psa`, which writes what this module computes and draws.

::

    cost[i, j], qalys[i, j]   (draw i, strategy j: yearly totals, England, discounted)
        --net_benefit(lam)--> NMB[i, j] = lam * qalys[i, j] - cost[i, j]
        --ceac-->  P(strategy j has the highest NMB)                 (Fenwick et al. 2001)
        --evpi-->  E_i[max_j NMB[i, j]] - max_j E_i[NMB[i, j]]      (Claxton 1999)

Definitions (Briggs, Claxton & Sculpher, *Decision Modelling for Health Economic Evaluation*,
OUP 2006, ch. 7-8):

* **CEAC**: for each threshold ``lam`` (GBP per QALY), the share of draws in which a strategy
  has the highest net monetary benefit. With more than two strategies this is the multi-strategy
  curve (the probabilities over strategies sum to 1 at every threshold). A tie between strategies
  in a draw (identical scenarios) is shared equally among them.
* **EVPI**: what a decision maker would pay to remove all parameter uncertainty before choosing:
  the mean over draws of the best strategy's NMB in that draw, minus the NMB of the strategy
  best on average. It is never negative and is zero when one strategy is best in every draw.
  Computed on yearly England totals it is the population EVPI **per year** of the policy's
  steady state; divided by the people diagnosed a year it is the EVPI **per person**.

NICE's threshold range is GBP 25,000-35,000 per QALY for appraisals from April 2026 [S153]
(superseding the GBP 20,000-30,000 of PMG36 [S150]); the charts shade it.

With few replications per draw, each draw's cost and QALYs carry simulation noise as well as
parameter uncertainty; the noise widens the CE plane and inflates the EVPI (the report says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.measures.economics import THRESHOLDS
from sim.reporting.page import e

THRESHOLD_GRID = tuple(float(x) for x in range(0, 100_001, 1_000))
"""GBP per QALY at which the CEAC and EVPI are tabulated (0 to 100,000 in steps of 1,000)."""

NICE_RANGE = (min(THRESHOLDS), max(THRESHOLDS))
"""NICE's threshold range (GBP per QALY), shaded on the charts [S153]."""


def net_benefit(cost: Any, qalys: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Net monetary benefit ``lam * qalys - cost``: array (thresholds, draws, strategies) from
    ``cost`` and ``qalys`` of shape (draws, strategies)."""
    c, q = np.asarray(cost, dtype=float), np.asarray(qalys, dtype=float)
    if c.shape != q.shape or c.ndim != 2:
        raise ValueError(
            f"cost and qalys must be (draws, strategies) arrays, got {c.shape}, {q.shape}"
        )
    lam = np.asarray(thresholds, dtype=float)[:, None, None]
    return lam * q[None, :, :] - c[None, :, :]


def ceac(nmb: np.ndarray) -> np.ndarray:
    """Probability that each strategy has the highest NMB: (thresholds, strategies) from
    ``nmb`` (thresholds, draws, strategies). Ties in a draw are shared equally."""
    best = nmb.max(axis=2, keepdims=True)
    winners = (nmb == best).astype(float)
    winners /= winners.sum(axis=2, keepdims=True)
    return winners.mean(axis=1)


def evpi(nmb: np.ndarray) -> np.ndarray:
    """Expected value of perfect information at each threshold (thresholds,), in the units of
    the NMB: ``mean_i max_j NMB[i, j] - max_j mean_i NMB[i, j]``."""
    return nmb.max(axis=2).mean(axis=1) - nmb.mean(axis=1).max(axis=1)


def decision_tables(
    draws: pd.DataFrame,
    strategies: Sequence[str],
    persons_per_year: float,
    thresholds: Sequence[float] = THRESHOLD_GRID,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CEAC and the EVPI tables from PSA economic draws.

    ``draws`` has one row per draw and strategy: ``draw``, ``scenario``, ``cost_per_year``,
    ``qalys_per_year``. Returns ``ceac`` (``threshold``, ``scenario``, ``probability_best``) and
    ``evpi`` (``threshold``, ``best_expected`` (the strategy with the highest mean NMB),
    ``evpi_per_year`` (GBP, England) and ``evpi_per_person`` (divided by ``persons_per_year``)).
    Draws missing a strategy are dropped.
    """
    cost = draws.pivot(index="draw", columns="scenario", values="cost_per_year")
    qalys = draws.pivot(index="draw", columns="scenario", values="qalys_per_year")
    cols = list(strategies)
    cost, qalys = cost.reindex(columns=cols), qalys.reindex(columns=cols)
    keep = cost.notna().all(axis=1) & qalys.notna().all(axis=1)
    nmb = net_benefit(cost[keep].to_numpy(), qalys[keep].to_numpy(), thresholds)
    p = ceac(nmb)
    lam = np.asarray(thresholds, dtype=float)
    ceac_table = pd.DataFrame(
        {
            "threshold": np.repeat(lam, len(cols)),
            "scenario": np.tile(cols, len(lam)),
            "probability_best": p.reshape(-1),
        }
    )
    value = evpi(nmb)
    evpi_table = pd.DataFrame(
        {
            "threshold": lam,
            "best_expected": [cols[j] for j in nmb.mean(axis=1).argmax(axis=1)],
            "evpi_per_year": value,
            "evpi_per_person": value / persons_per_year if persons_per_year > 0 else np.nan,
            "draws": int(keep.sum()),
        }
    )
    return ceac_table, evpi_table


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _shade_nice(ax: Any, scale: float = 1.0) -> None:
    ax.axvspan(
        NICE_RANGE[0] / scale,
        NICE_RANGE[1] / scale,
        color="#f2c94c",
        alpha=0.3,
        lw=0,
        label=f"NICE range GBP {NICE_RANGE[0]:,.0f}-{NICE_RANGE[1]:,.0f}/QALY",
    )


def ce_plane_figure(draws: pd.DataFrame, base: str, label: Callable[[str], str] = str) -> Any:
    """Incremental cost against incremental QALYs a year of every strategy against ``base``, one
    point per draw, with the NICE threshold lines through the origin."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.subplots()
    cost = draws.pivot(index="draw", columns="scenario", values="cost_per_year")
    qalys = draws.pivot(index="draw", columns="scenario", values="qalys_per_year")
    others = [s for s in cost.columns if s != base]
    cmap = colormaps["tab10"]
    dq_all, dc_all = [], []
    for k, s in enumerate(others):
        dq = (qalys[s] - qalys[base]).to_numpy()
        dc = (cost[s] - cost[base]).to_numpy() / 1e6
        ax.scatter(dq, dc, s=14, alpha=0.6, color=cmap(k % 10), label=label(s))
        ax.scatter(
            [np.nanmean(dq)],
            [np.nanmean(dc)],
            s=90,
            marker="X",
            color=cmap(k % 10),
            edgecolor="black",
            lw=0.7,
        )
        dq_all.append(dq)
        dc_all.append(dc)
    ax.axhline(0, color="#444", lw=0.8)
    ax.axvline(0, color="#444", lw=0.8)
    if dq_all:
        span = float(np.nanmax(np.abs(np.concatenate(dq_all)))) or 1.0
        x = np.array([-span, span]) * 1.1
        for lam, style in zip(NICE_RANGE, ("--", ":"), strict=True):
            ax.plot(x, lam * x / 1e6, style, color="#b58900", label=f"GBP {lam:,.0f} per QALY")
        ax.set_xlim(x[0], x[1])
    ax.set_xlabel("QALYs gained a year vs base (England, discounted)")
    ax.set_ylabel("Extra cost a year vs base (GBP million, discounted)")
    ax.set_title(
        f"Cost-effectiveness plane vs {label(base)} (one point per PSA draw; X: mean)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return fig


def ceac_figure(ceac_table: pd.DataFrame, label: Callable[[str], str] = str) -> Any:
    """The CEAC: probability each strategy is the most cost-effective against the threshold."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    _shade_nice(ax, 1e3)
    for s, g in ceac_table.groupby("scenario", sort=False):
        ax.plot(g["threshold"] / 1e3, g["probability_best"], lw=1.8, label=label(str(s)))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, float(ceac_table["threshold"].max()) / 1e3)
    ax.set_xlabel("Threshold (GBP thousand per QALY)")
    ax.set_ylabel("Probability most cost-effective")
    ax.set_title("Cost-effectiveness acceptability curve", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def evpi_figure(evpi_table: pd.DataFrame, persons_per_year: float) -> Any:
    """EVPI per person diagnosed (left axis) and per year for England (right axis: the same
    curve times ``persons_per_year``) against the threshold."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    _shade_nice(ax, 1e3)
    lam = evpi_table["threshold"] / 1e3
    ax.plot(lam, evpi_table["evpi_per_person"], color="#1f5fa8", lw=1.8, label="EVPI")
    ax.set_xlabel("Threshold (GBP thousand per QALY)")
    ax.set_ylabel("EVPI per person diagnosed (GBP)")
    ax.set_xlim(0, float(lam.max()))
    ax.set_ylim(bottom=0)
    right = ax.twinx()
    low, high = ax.get_ylim()
    right.set_ylim(low * persons_per_year / 1e6, high * persons_per_year / 1e6)
    right.set_ylabel("EVPI a year, England (GBP million)")
    ax.set_title("Expected value of perfect information", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------------
# The PSA report's section
# ---------------------------------------------------------------------------------------------


def _gbp(v: float) -> str:
    return "-" if v != v else f"GBP {v:,.0f}"


def decision_html(
    draws: pd.DataFrame,
    ceac_table: pd.DataFrame,
    evpi_table: pd.DataFrame,
    base: str,
    persons_per_year: float,
    replications: int,
    images: dict[str, str],
    label: Callable[[str], str] = str,
) -> str:
    """The "Cost-effectiveness under uncertainty" section of the PSA report: the CE plane, the
    CEAC and the EVPI with the values at NICE's thresholds (``images``: name -> base64 PNG)."""
    strategies = list(dict.fromkeys(draws["scenario"]))
    at = [float(x) for x in (20_000, *THRESHOLDS, 50_000)]
    head = "".join(f"<th>GBP {x:,.0f}/QALY</th>" for x in at)
    rows = ""
    for s in strategies:
        g = ceac_table[ceac_table["scenario"] == s].set_index("threshold")["probability_best"]
        rows += (
            f"<tr><td>{e(label(s))}</td>"
            + "".join(f"<td>{g.get(x, float('nan')):.2f}</td>" for x in at)
            + "</tr>"
        )
    ev = evpi_table.set_index("threshold")
    rows += (
        "<tr><td><b>EVPI per person diagnosed</b></td>"
        + "".join(f"<td>{_gbp(float(ev['evpi_per_person'].get(x, float('nan'))))}</td>" for x in at)
        + "</tr>"
    )
    rows += (
        "<tr><td><b>EVPI a year, England</b></td>"
        + "".join(f"<td>{_gbp(float(ev['evpi_per_year'].get(x, float('nan'))))}</td>" for x in at)
        + "</tr>"
    )
    rows += (
        "<tr><td>Best on expected NMB</td>"
        + "".join(f"<td>{e(label(str(ev['best_expected'].get(x, ''))))}</td>" for x in at)
        + "</tr>"
    )
    noise = (
        f"<p><b>Simulation noise:</b> each draw is {replications} replication(s); the spread of "
        "each draw's cost and QALYs includes simulation noise as well as parameter uncertainty, "
        "so the plane is wider and the EVPI higher than parameter uncertainty alone would give. "
        "More replications per draw shrink the noise (common random numbers keep the strategies' "
        "differences tighter than their levels).</p>"
    )
    img = "".join(
        f"<figure><img alt='{e(name)}' src='data:image/png;base64,{images[name]}'></figure>"
        for name in ("ce_plane", "ceac", "evpi")
        if name in images
    )
    if "decision_tornado" in images:
        img += (
            "<h3>Which inputs drive the decision</h3><p>Partial rank correlation of each input "
            "with each scenario's net monetary benefit gain over the comparator (threshold x "
            "QALYs gained - extra cost, a year) at NICE's thresholds: the inputs whose "
            "uncertainty matters most for the choice, where more evidence would be worth "
            "most (decision_sensitivity.csv).</p><figure><img alt='decision tornado' "
            f"src='data:image/png;base64,{images['decision_tornado']}'></figure>"
        )
    return (
        "<h2 id='cost-effectiveness'>Cost-effectiveness under uncertainty</h2>"
        f"<p>Strategies: {', '.join(e(label(s)) for s in strategies)} (comparator: "
        f"{e(label(base))}). Every PSA draw applies the same input values to every strategy and "
        "runs it with the same replication numbers (common random numbers). Costs and QALYs are "
        "yearly totals of the measured window (England, NHS and PSS perspective, discounted). "
        "The CEAC gives, at each threshold, the share of draws in which a strategy has the "
        "highest net monetary benefit (threshold x QALYs - cost); the EVPI is the mean over "
        "draws of the best strategy's net benefit minus that of the strategy best on average: "
        "the most that removing all parameter uncertainty could be worth. Per person it is the "
        f"yearly England figure divided by {persons_per_year:,.0f} people diagnosed a year "
        "(the comparator's mean over draws). NICE's threshold range is GBP 25,000-35,000 per "
        "QALY for appraisals from April 2026 [S153] (PMG36's GBP 20,000-30,000 [S150], shown "
        "for reference, is superseded); it is shaded on the charts.</p>"
        f"<table><tr><th>Probability most cost-effective</th>{head}</tr>{rows}</table>"
        + noise
        + img
        + "<p>Files: economics_draws.csv, ceac.csv, evpi.csv, decision_sensitivity.csv, "
        "ce_plane.png, ceac.png, evpi.png, decision_tornado.png.</p>"
    )
