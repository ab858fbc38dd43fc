"""The calibration report: one self-contained HTML page (figures embedded as PNG data).

Shows each target beside the model's value and 95% confidence interval before and after
fitting, with the ``fit`` targets (used by the optimiser) apart from the ``validate`` targets
(only checked afterwards), the targets still waiting for a KPI, the fitted values against their
prior ranges, and the search history. Built from a
:class:`sim.calibration.result.CalibrationResult`; it runs nothing.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from sim.calibration.result import CalibrationResult
from sim.calibration.targets import Z95, Target, TargetFit
from sim.core import io
from sim.reporting.page import e as _e
from sim.reporting.page import html_page, img
from sim.scenario.schema import Scenario


def fmt(x: float) -> str:
    """A number for a table: thousands separators for counts, 3 significant figures else."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"




def _png(fig: Figure) -> str:
    return img(io.png_base64(fig), "figure")


def _target_text(t: Target) -> str:
    rel = {"equal": "", "at_most": "at most ", "at_least": "at least "}[t.relation]
    scale = " (log scale)" if t.scale == "log" else ""
    return (
        f"{rel}{fmt(t.value)}<br><span class=small>[{fmt(t.low)}, {fmt(t.high)}] "
        f"{_e(t.interval_kind)}{scale}</span>"
    )


def _model_text(f: TargetFit | None) -> str:
    if f is None or f.n == 0:
        return "<td class=n>-</td><td class=n>-</td>"
    return (
        f"<td class=n>{fmt(f.mean)}<br><span class=small>[{fmt(f.ci_low)}, "
        f"{fmt(f.ci_high)}]</span></td><td class=n>{f.z:+.2f}</td>"
    )


def _keys_html(keys: tuple[str, ...]) -> str:
    """Dotted keys, shortened to ``parent.{a, b, c}`` when they share a parent table."""
    parents = {k.rpartition(".")[0] for k in keys}
    if len(keys) > 1 and len(parents) == 1:
        leaves = ", ".join(k.rpartition(".")[2] for k in keys)
        return f"<code>{_e(parents.pop())}.{{{_e(leaves)}}}</code>"
    return "<br>".join(f"<code>{_e(k)}</code>" for k in keys)


def _status(f: TargetFit | None) -> str:
    if f is None or f.n == 0:
        return "<td>-</td>"
    return "<td class=ok>consistent</td>" if f.consistent else "<td class=miss>missed</td>"


def _targets_table(
    targets: list[Target], before: dict[str, TargetFit], after: dict[str, TargetFit]
) -> str:
    rows = [
        "<table><tr><th>target</th><th>KPI</th><th>observed [95% range]</th>"
        "<th>source</th><th>before: model mean [95% CI]</th><th>z</th>"
        "<th>after: model mean [95% CI]</th><th>z</th><th>after</th><th>note</th></tr>"
    ]
    for t in targets:
        rows.append(
            f"<tr><td>{_e(t.name)}</td><td><code>{_e(t.kpi)}</code></td>"
            f"<td class=n>{_target_text(t)}</td><td>{_e(t.source)}</td>"
            f"{_model_text(before.get(t.name))}{_model_text(after.get(t.name))}"
            f"{_status(after.get(t.name))}<td class=small>{_e(t.note)}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _z_figure(fits_before: list[TargetFit], fits_after: list[TargetFit]) -> Figure:
    names = [f.target.name for f in fits_after]
    zb = {f.target.name: f.z for f in fits_before}
    fig = Figure(figsize=(8, 0.32 * len(names) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(names))[::-1]
    ax.axvspan(-Z95, Z95, color="#e6f4ea")
    ax.axvline(0, color="#888", lw=0.8)
    clip = 8.0
    ax.scatter(
        [max(min(zb.get(n, math.nan), clip), -clip) for n in names],
        y,
        marker="o",
        facecolors="none",
        edgecolors="#888",
        label="before",
    )
    ax.scatter(
        [max(min(f.z, clip), -clip) for f in fits_after],
        y,
        marker="o",
        color="#1f5fa8",
        label="after",
    )
    bound = {"equal": "", "at_most": ", at most", "at_least": ", at least"}
    ax.set_yticks(
        y,
        [
            f"{n} ({f.target.use}{bound[f.target.relation]})"
            for n, f in zip(names, fits_after, strict=True)
        ],
    )
    ax.set_xlim(-clip - 0.5, clip + 0.5)
    ax.set_xlabel(
        "standardised deviation z = (model - target) / sqrt(sigma^2 + se^2), clipped at 8"
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _history_figure(result: CalibrationResult) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    colours = {"baseline": "#444", "lhs": "#9aa9bd", "nelder-mead": "#1f5fa8"}
    for stage, c in colours.items():
        pts = [(e.index + 1, e.distance) for e in result.history if e.stage == stage]
        if pts:
            xs, ds = zip(*pts, strict=True)
            ax.scatter(xs, ds, s=12, color=c, label=stage)
    best = np.minimum.accumulate([e.distance for e in result.history])
    ax.plot(np.arange(1, len(best) + 1), best, color="#b42318", lw=1, label="best so far")
    ax.set_yscale("log")
    ax.set_xlabel("model evaluation")
    ax.set_ylabel("distance D (fit targets)")
    ax.legend(fontsize=8)
    return fig


def write_report(result: CalibrationResult, scenario: Scenario) -> None:
    """Write ``result.report`` (HTML)."""
    before = {f.target.name: f for f in result.before}
    after = {f.target.name: f for f in result.after}
    fit_t = [t for t in result.targets if t.use == "fit" and t.name in after]
    val_t = [t for t in result.targets if t.use == "validate" and t.name in after]
    pending = [t for t in result.targets if t.name not in after]
    c = result.controls
    warm = c.warmup_years if c.warmup_years is not None else "default"
    n_fit = len(fit_t)
    missed = [t for t in fit_t + val_t if not after[t.name].consistent]
    parts = [
        f"<h1>Calibration of {_e(result.files.get('scenario', scenario.name))}</h1>",
        "<div class=box>",
        f"<p>Fitted on {_e(result.date)}. Overlay written: <code>{_e(result.overlay)}</code>. "
        f"Fit score (distance D over the {n_fit} fit targets, check run): "
        f"<b>{result.score_before:.3g}</b> before, <b>{result.score_after:.3g}</b> after "
        f"(D/n = {result.score_after / max(n_fit, 1):.2f}; about 1 per target is a good fit).</p>",
        f"<p>Search: {len(result.history)} model evaluations (budget), each "
        f"{c.replications} replications with the same seed ({c.seed}) and replication numbers "
        f"(common random numbers); best search distance {result.best.distance:.3g} "
        f"(evaluation {result.best.index + 1}, {_e(result.best.stage)}). Check run: "
        f"{result.check_controls.replications} replications of the scenario before and after. "
        f"Wall time {result.wall_seconds / 60:.1f} min.</p>",
        f"<p><b>Reduced scale.</b> Every run here simulates population_scale "
        f"{result.population_scale:g} of England for {warm} warm-up + {c.years:g} measured "
        "years. Shares and medians do not depend on the scale and counts are reported "
        "England-scaled, but capacity (MDT slots, scan lists, pathologists) is rounded to "
        "whole units at small scales, so the waiting-time standards are coarser than in a "
        "national run; confidence intervals are those of this scale.</p>",
        "</div>",
        "<h2>Fitted parameters</h2>",
        "<table><tr><th>parameter</th><th>scenario keys</th><th>prior range</th>"
        "<th>before</th><th>after</th><th>identified by</th><th>why uncertain</th></tr>",
    ]
    for p in result.params:
        keys = _keys_html(p.keys)
        kind = "multiplier" if p.transform == "multiply" else "value"
        parts.append(
            f"<tr><td>{_e(p.name)}</td><td>{keys}</td><td class=n>{fmt(p.low)} - "
            f"{fmt(p.high)}<br><span class=small>{kind}, {_e(p.prior)}</span></td>"
            f"<td class=n>{fmt(p.current(scenario))}</td>"
            f"<td class=n><b>{fmt(result.best.values[p.name])}</b></td>"
            f"<td>{_e(', '.join(p.targets))}</td><td class=small>{_e(p.why)}</td></tr>"
        )
    parts.append("</table>")
    edge = [p for p, u in zip(result.params, result.best.unit, strict=True) if min(u, 1 - u) < 0.02]
    if edge:
        parts.append(
            "<p><b>At the edge of the prior range:</b> "
            + ", ".join(_e(p.name) for p in edge)
            + ". The fit presses against the prior: either the range is too narrow or the "
            "parameter is standing in for something the model's structure does not "
            "represent (see the targets still missed).</p>"
        )
    parts.append(
        "<p class=small>Values written to the overlay (rounded to 4 significant figures; shares "
        "not fitted are rescaled so each table still sums to 1):</p><table>"
        + "".join(
            f"<tr><td><code>{_e(k)}</code></td><td class=n>{v:g}</td></tr>"
            for k, v in result.changes.items()
        )
        + "</table>"
    )
    parts += [
        "<h2>Fit targets (used by the optimiser)</h2>",
        _targets_table(fit_t, before, after),
        "<h2>Validation targets (checked after fitting, never used by the optimiser)</h2>",
        _targets_table(val_t, before, after),
        "<p class=small>z: standardised deviation on the target's comparison scale, with the "
        "target's own uncertainty and the simulation noise; 'consistent' means |z| &le; 1.96 "
        "(for a one-sided bound: on the right side, or within 1.96).</p>",
        "<h2>Deviation from each target, before and after</h2>",
        _png(_z_figure(result.before, result.after)),
    ]
    if missed:
        parts.append("<h2>Targets still missed after fitting</h2><ul>")
        for t in missed:
            f = after[t.name]
            parts.append(
                f"<li><b>{_e(t.name)}</b> ({_e(t.use)}): model {fmt(f.mean)} vs observed "
                f"{fmt(t.value)} (z = {f.z:+.1f}). {_e(t.note)}</li>"
            )
        parts.append("</ul>")
    if pending:
        parts += [
            "<h2>Targets waiting for a KPI (not evaluated)</h2>",
            "<table><tr><th>target</th><th>KPI needed</th><th>observed</th><th>use</th>"
            "<th>source</th><th>note</th></tr>",
        ]
        for t in pending:
            parts.append(
                f"<tr><td>{_e(t.name)}</td><td><code>{_e(t.kpi)}</code></td>"
                f"<td class=n>{_target_text(t)}</td><td>{_e(t.use)}</td>"
                f"<td>{_e(t.source)}</td><td class=small>{_e(t.note)}</td></tr>"
            )
        parts.append("</table>")
    parts += [
        "<h2>Search history</h2>",
        _png(_history_figure(result)),
        "<h2>Method</h2>",
        "<p>Distance D = sum over fit targets of z<sup>2</sup>, z = (model mean - target) / "
        "sqrt(sigma<sup>2</sup> + se<sup>2</sup>), where sigma is the target's 95% range / 3.92 "
        "on its comparison scale and se the standard error of the model mean over "
        "replications; one-sided targets count only on the wrong side. Search: the scenario's "
        "own values, a Latin hypercube over the prior box, then bounded Nelder-Mead from the "
        "best point, every candidate with the same seed and replication numbers. The last "
        "stage is a local search: with few targets per parameter the distance can have "
        "several minima, and another budget (hence another hypercube) may end in another "
        "one, so compare scores across runs. Files: "
        f"<code>{_e(result.files.get('targets'))}</code>, "
        f"<code>{_e(result.files.get('parameters'))}</code>; record "
        f"<code>{_e(result.record)}</code> and <code>history.csv</code> beside it.</p>",
    ]
    page = html_page("nen-pathway calibration", "\n".join(parts))
    with io.atomic_path(result.report) as tmp:
        tmp.write_text(page)
