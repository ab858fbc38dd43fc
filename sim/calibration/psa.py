"""Probabilistic sensitivity analysis (PSA): how uncertain are the headline KPIs, and why?

::

    parameters.toml (every entry, fit and psa alike) --Latin hypercube--> N input draws
    scenario + draw i --> run_experiment (same seed and replication numbers for every draw)
                      --> KPI means per draw --> spread (mean, sd, 2.5/50/97.5 centiles)
                                            --> PRCC of each input with each KPI (tornado)

Inputs are drawn over their prior ranges (uniform or log-uniform, see
:mod:`sim.calibration.inputs`) by Latin hypercube sampling (McKay, Beckman & Conover 1979) from
the named stream ``psa/inputs`` of the base seed, so the same seed gives the same draws. Every
draw is run with the same replication numbers (common random numbers): the spread across draws
is then parameter uncertainty, not simulation noise. For a calibrated scenario, note that the
fitted inputs are drawn over their whole prior range again: the spread is conservative.

Which inputs drive a KPI: partial rank correlation coefficients (PRCC; Marino, Hogue, Ray &
Kirschner 2008, *J Theor Biol* 254:178-196): the correlation of the ranks of an input and of the
KPI after removing, by linear regression on the ranks, the effect of every other input. PRCC
measures monotone influence in [-1, 1]; it needs more draws than inputs (NaN otherwise).

Writes to the output folder: ``draws.csv`` (one row per draw: inputs and KPI means),
``summary.csv`` (spread per KPI, with the scenario's own value), ``sensitivity.csv`` (PRCC per
KPI and input), ``tornado.png`` and ``psa.html``, and ``manifest.json``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io as _io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from sim.calibration.inputs import (
    Parameter,
    apply_values,
    latin_hypercube,
    load_parameters,
    renamed,
    unit_values,
)
from sim.core import io
from sim.core.errors import ReplicationError, RunControlError
from sim.experiment.runner import run_experiment
from sim.measures.kpis import KPI_DESCRIPTIONS, REGISTRY
from sim.measures.registry import view
from sim.scenario.loader import scenario_hash
from sim.scenario.schema import RunControls, Scenario

PSA_KPIS = view(REGISTRY, "psa")
"""KPIs summarised by default: tagged "psa" in the registry."""

INPUT_STREAM = "psa/inputs"
BASE = "psa_base"


@dataclass
class PsaResult:
    draws: pd.DataFrame
    """One row per draw: ``draw``, input values, KPI means over replications."""
    summary: pd.DataFrame
    sensitivity: pd.DataFrame
    out: Path
    wall_seconds: float


def sample_inputs(params: list[Parameter], n: int, seed: int) -> pd.DataFrame:
    """``n`` Latin-hypercube draws of every parameter over its prior range (one column each)."""
    u = latin_hypercube(n, len(params), seed, INPUT_STREAM)
    return pd.DataFrame([unit_values(params, row) for row in u], columns=[p.name for p in params])


def prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Partial rank correlation of each column of ``x`` (n x d) with ``y`` (n).

    NaN where it is undefined (fewer than d + 3 rows, a constant input or output).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, d = x.shape
    out = np.full(d, math.nan)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    n = len(y)
    if n < d + 3 or np.ptp(y) == 0:
        return out
    rx = np.column_stack([pd.Series(x[:, j]).rank().to_numpy() for j in range(d)])
    ry = pd.Series(y).rank().to_numpy()
    for j in range(d):
        others = np.column_stack([np.ones(n), np.delete(rx, j, axis=1)])
        ex = rx[:, j] - others @ np.linalg.lstsq(others, rx[:, j], rcond=None)[0]
        ey = ry - others @ np.linalg.lstsq(others, ry, rcond=None)[0]
        sx, sy = np.sqrt(ex @ ex), np.sqrt(ey @ ey)
        if sx > 1e-9 * n and sy > 1e-9 * n:
            out[j] = float(ex @ ey / (sx * sy))
    return out


@io.holds_folder("out")
def run_psa(
    scenario: Scenario,
    controls: RunControls,
    parameters_file: Path,
    draws: int,
    out: Path,
    *,
    kpis: list[str] | None = None,
    dask: str | None = None,
    force: bool = False,
    scenario_file: str | None = None,
) -> PsaResult:
    """Run the PSA and write its files to ``out`` (see the module docstring)."""
    started = time.perf_counter()
    params = load_parameters(parameters_file, scenario)
    names = list(kpis or PSA_KPIS)
    unknown = [k for k in names if k.partition("__")[0] not in KPI_DESCRIPTIONS]
    if unknown:
        raise RunControlError(
            f"--kpi: unknown KPI {unknown[0]!r}; choose from {', '.join(KPI_DESCRIPTIONS)}"
        )
    if draws < 2:
        raise RunControlError(f"--draws must be at least 2, got {draws}")
    inputs = sample_inputs(params, draws, controls.seed)
    fp = _fingerprint(scenario, controls, params, draws)
    io.prepare_folder(out, fp, force=force, resume=False)
    scenarios = [renamed(scenario, BASE)]
    for i, row in inputs.iterrows():
        s, _ = apply_values(scenario, params, row.to_dict(), name=f"psa_{int(i):04d}")
        scenarios.append(s)
    manifest = {
        "tool": "nen-pathway psa",
        "fingerprint": fp,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario": {"name": scenario.name, "file": scenario_file, "hash": scenario_hash(scenario)},
        "parameters_file": str(parameters_file),
        "draws": draws,
        "controls": controls.model_dump(mode="json"),
        "population_scale": scenario.population.population_scale,
        "input_stream": INPUT_STREAM,
        "status": "running",
        "versions": io.versions(),
        "git_commit": io.git_commit(),
    }
    io.write_json(out / io.MANIFEST, manifest)
    reps = _replications(scenarios, controls, dask)
    means = reps.groupby("scenario", sort=False)[names].mean()
    table = inputs.copy()
    table.insert(0, "draw", range(draws))
    kpi_means = means.reindex([f"psa_{i:04d}" for i in range(draws)]).reset_index(drop=True)
    table = pd.concat([table, kpi_means], axis=1)
    summary = _summary(table, means.loc[BASE], names)
    sens = _sensitivity(table, params, names)
    io.write_csv(out / "draws.csv", table)
    io.write_csv(out / "summary.csv", summary)
    io.write_csv(out / "sensitivity.csv", sens)
    fig = tornado_figure(sens, names)
    with io.atomic_path(out / "tornado.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    elapsed = time.perf_counter() - started
    _write_html(out / "psa.html", scenario, params, summary, fig, draws, controls, elapsed)
    manifest.update(status="complete", timings={"wall_seconds": round(elapsed, 1)})
    io.write_json(out / io.MANIFEST, manifest)
    return PsaResult(table, summary, sens, out, elapsed)


def _replications(
    scenarios: list[Scenario], controls: RunControls, dask: str | None
) -> pd.DataFrame:
    """Replications of every scenario (CRN), failing loudly if any replication failed."""
    res = run_experiment(scenarios, controls, None, dask=dask, progress=False)
    if res.failures:
        f = res.failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    return res.replications


def _fingerprint(
    scenario: Scenario, controls: RunControls, params: list[Parameter], draws: int
) -> str:
    blob = {
        "psa": True,
        "scenario": scenario_hash(scenario),
        "controls": controls.model_dump(mode="json", exclude={"workers"}),
        "parameters": [[p.name, list(p.keys), p.transform, p.low, p.high, p.prior] for p in params],
        "draws": draws,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _summary(table: pd.DataFrame, base: pd.Series, names: list[str]) -> pd.DataFrame:
    rows = []
    for k in names:
        v = table[k].dropna().to_numpy(dtype=float)
        q = np.quantile(v, [0.025, 0.5, 0.975]) if len(v) else [math.nan] * 3
        rows.append(
            {
                "kpi": k,
                "scenario_value": float(base[k]),
                "mean": float(v.mean()) if len(v) else math.nan,
                "sd": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                "p2_5": q[0],
                "median": q[1],
                "p97_5": q[2],
                "n": len(v),
            }
        )
    return pd.DataFrame(rows)


def prcc_p_value(r: float, n: int, d: int) -> float:
    """Two-sided p-value of a PRCC ``r`` from ``n`` draws of ``d`` inputs: t = r sqrt(df /
    (1 - r^2)) with df = n - d - 1 (Marino et al. 2008, eq. 6 with d - 1 other inputs)."""
    df = n - d - 1
    if df < 1 or math.isnan(r):
        return math.nan
    if abs(r) >= 1:
        return 0.0
    t = r * math.sqrt(df / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), df))


def _sensitivity(table: pd.DataFrame, params: list[Parameter], names: list[str]) -> pd.DataFrame:
    x = table[[p.name for p in params]].to_numpy(dtype=float)
    rows = []
    for k in names:
        y = table[k].to_numpy(dtype=float)
        n = int((~np.isnan(y)).sum())
        r = prcc(x, y)
        for p, v in zip(params, r, strict=True):
            rows.append(
                {"kpi": k, "input": p.name, "prcc": v, "p_value": prcc_p_value(v, n, len(params))}
            )
    return pd.DataFrame(rows)


def tornado_figure(sens: pd.DataFrame, names: list[str], top: int = 8) -> Figure:
    """One tornado panel per KPI: the ``top`` inputs by |PRCC|, largest at the top."""
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(5.2 * cols, 2.9 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, k in zip(axes.flat, names, strict=False):
        s = sens[sens["kpi"] == k].dropna(subset=["prcc"])
        s = s.reindex(s["prcc"].abs().sort_values(ascending=False).index)[:top][::-1]
        colours = [
            ("#b42318" if v < 0 else "#1f5fa8") + ("ff" if p < 0.05 else "55")
            for v, p in zip(s["prcc"], s["p_value"].fillna(1.0), strict=True)
        ]
        ax.barh(s["input"], s["prcc"], color=colours)
        ax.axvline(0, color="#444", lw=0.8)
        ax.set_xlim(-1, 1)
        ax.set_title(k, fontsize=9)
        ax.tick_params(labelsize=7)
        if s.empty:
            ax.text(
                0.5,
                0.5,
                "PRCC undefined (too few draws?)",
                ha="center",
                fontsize=8,
                transform=ax.transAxes,
            )
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Partial rank correlation of each input with each KPI (tornado; pale bars: p >= 0.05)",
        fontsize=11,
    )
    return fig


def _write_html(
    path: Path,
    scenario: Scenario,
    params: list[Parameter],
    summary: pd.DataFrame,
    fig: Figure,
    draws: int,
    controls: RunControls,
    elapsed: float,
) -> None:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    img = base64.b64encode(buf.getvalue()).decode("ascii")
    e = html.escape

    def f(x: float) -> str:
        return "-" if x != x else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}")

    rows = "".join(
        f"<tr><td><code>{e(r.kpi)}</code></td><td>{f(r.scenario_value)}</td><td>{f(r.mean)}</td>"
        f"<td>{f(r.sd)}</td><td>{f(r.p2_5)} - {f(r.p97_5)}</td></tr>"
        for r in summary.itertuples()
    )
    prow = "".join(
        f"<tr><td>{e(p.name)}</td><td>{e(p.use)}</td><td>{p.low:g} - {p.high:g} "
        f"({'multiplier' if p.transform == 'multiply' else 'value'}, {e(p.prior)})</td>"
        f"<td>{e(p.why)}</td></tr>"
        for p in params
    )
    warn = (
        f"<p><b>Few draws:</b> {draws} draws for {len(params)} inputs leave "
        f"{draws - len(params) - 1} residual degrees of freedom; PRCCs are unstable below "
        f"about {3 * len(params)} draws.</p>"
        if draws < 3 * len(params)
        else ""
    )
    page = f"""<!doctype html><html><head><meta charset=utf-8><title>PSA {e(scenario.name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .5em;font-size:.9em}}
th{{background:#f2f2f2}}</style></head><body>
<h1>Probabilistic sensitivity analysis: {e(scenario.name)}</h1>
<p>{draws} Latin-hypercube draws of {len(params)} inputs over their prior ranges (seed
{controls.seed}); each draw {controls.replications} replication(s) with the same replication
numbers (common random numbers) at population_scale {scenario.population.population_scale:g},
{controls.warmup_years if controls.warmup_years is not None else "default"} warm-up +
{controls.years:g} measured years. Wall time {elapsed / 60:.1f} min.</p>
<h2>Spread of the headline KPIs</h2>
<table><tr><th>KPI</th><th>scenario as given</th><th>mean over draws</th><th>sd</th>
<th>95% of draws</th></tr>{rows}</table>
<h2>Which inputs drive them</h2>{warn}<img alt="tornado" src="data:image/png;base64,{img}">
<h2>Inputs</h2><table><tr><th>input</th><th>use</th><th>range</th><th>why uncertain</th></tr>
{prow}</table>
<p>Files: draws.csv, summary.csv, sensitivity.csv, tornado.png.</p></body></html>
"""
    with io.atomic_path(path) as tmp:
        tmp.write_text(page)
