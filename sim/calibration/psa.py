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

Comparison PSA (two or more scenarios, the first the comparator): every draw applies the same
input values to every scenario, and every scenario is run with the same replication numbers, so
the strategies differ only by their levers within a draw. A scenario's lever wins over a drawn
value: an input with ``transform = "set"`` whose key the scenario sets to another value than the
comparator's keeps the scenario's value (e.g. virtual hub-and-spoke MDTs set
``mdt.local_mdt_first_probability`` = 0.2; drawing it over 0.3-0.9 would undo the policy); a
``multiply`` input moves the scenario's own value, keeping its change relative to the comparator.
The manifest lists the keys held. With economic KPIs, the draws' yearly cost and QALYs give the
cost-effectiveness plane, the CEAC and the EVPI (:mod:`sim.reporting.cost_effectiveness`).

Writes to the output folder: ``draws.csv`` (one row per draw and scenario: inputs and KPI
means), ``summary.csv`` (spread per KPI and scenario, with the scenario's own value),
``sensitivity.csv`` (PRCC per scenario, KPI and input), ``tornado.png`` (the first scenario),
``psa.html`` and ``manifest.json``; with economic KPIs also ``economics_draws.csv`` (cost and
QALYs a year per draw and scenario, and the differences from the comparator) and, for a
comparison, ``ceac.csv``, ``evpi.csv``, ``decision_sensitivity.csv`` (PRCC of each input with
each scenario's net benefit gain), ``ce_plane.png``, ``ceac.png``, ``evpi.png`` and
``decision_tornado.png``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from sim.calibration.inputs import (
    Parameter,
    apply_values,
    flatten,
    latin_hypercube,
    load_parameters,
    renamed,
    unit_values,
)
from sim.core import io
from sim.core.errors import ReplicationError, RunControlError
from sim.experiment.runner import run_experiment
from sim.measures.economics import COST_KPI, QALY_KPI, THRESHOLDS
from sim.measures.kpis import KPI_DESCRIPTIONS, REGISTRY
from sim.measures.registry import view
from sim.reporting.cost_effectiveness import (
    ce_plane_figure,
    ceac_figure,
    decision_html,
    decision_tables,
    evpi_figure,
)
from sim.reporting.page import e, html_page, img
from sim.scenario.loader import scenario_hash
from sim.scenario.schema import RunControls, Scenario

PSA_KPIS = view(REGISTRY, "psa")
"""KPIs summarised by default: tagged "psa" in the registry."""

INPUT_STREAM = "psa/inputs"
BASE = "psa_base"
PERSONS_KPI = "diagnosed_per_year"
"""People diagnosed a year: the population the per-person EVPI divides by."""


@dataclass
class PsaResult:
    draws: pd.DataFrame
    """One row per draw and scenario: ``draw``, ``scenario``, input values, KPI means over
    replications."""
    summary: pd.DataFrame
    sensitivity: pd.DataFrame
    out: Path
    wall_seconds: float
    economics: pd.DataFrame | None = None
    """Cost and QALYs a year per draw and scenario (None without economic KPIs)."""
    ceac: pd.DataFrame | None = None
    """CEAC table of a comparison (None for one scenario)."""
    evpi: pd.DataFrame | None = None
    """EVPI table of a comparison (None for one scenario)."""
    held: dict[str, list[str]] = field(default_factory=dict)
    """Per scenario, the keys of ``set`` inputs kept at the scenario's lever value."""


def _run_name(strategy: int, draw: int | None) -> str:
    """The run name of a draw (None: the scenario as given) of strategy ``strategy``."""
    stem = BASE if draw is None else f"psa_{draw:04d}"
    return stem if strategy == 0 else f"{stem}_s{strategy}"


def strategy_parameters(
    params: list[Parameter], base: Scenario, other: Scenario
) -> tuple[list[Parameter], list[str]]:
    """The inputs as applied to ``other`` in a comparison PSA against ``base``, and the keys held.

    A ``set`` input's key whose value in ``other`` differs from ``base``'s is a lever of
    ``other``: it is dropped from the input (the scenario keeps its value); an input left with no
    key is dropped. ``multiply`` inputs are kept whole (they scale the scenario's own value).
    """
    a, b = flatten(base.model_dump(by_alias=True)), flatten(other.model_dump(by_alias=True))
    out: list[Parameter] = []
    held: list[str] = []
    for p in params:
        if p.transform != "set":
            out.append(p)
            continue
        keys = tuple(k for k in p.keys if a.get(k) == b.get(k))
        held += [k for k in p.keys if k not in keys]
        if keys:
            out.append(replace(p, keys=keys))
    return out, held


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
    others: Sequence[Scenario] = (),
    kpis: list[str] | None = None,
    dask: str | None = None,
    force: bool = False,
    scenario_file: str | None = None,
    other_files: Sequence[str] = (),
) -> PsaResult:
    """Run the PSA of ``scenario`` (with ``others``: a comparison PSA, ``scenario`` the
    comparator) and write its files to ``out`` (see the module docstring)."""
    started = time.perf_counter()
    strategies = [scenario, *others]
    seen = [s.name for s in strategies]
    if len(set(seen)) < len(seen):
        dup = next(n for n in seen if seen.count(n) > 1)
        raise RunControlError(
            f"the scenarios of a comparison PSA need distinct names; {dup!r} is given twice"
        )
    params = load_parameters(parameters_file, scenario)
    applied: list[list[Parameter]] = [params]
    held: dict[str, list[str]] = {}
    for o in others:
        load_parameters(parameters_file, o)  # every key must exist and every end be valid there
        ps, keys = strategy_parameters(params, scenario, o)
        applied.append(ps)
        if keys:
            held[o.name] = keys
    names = list(kpis or PSA_KPIS)
    unknown = [k for k in names if k.partition("__")[0] not in KPI_DESCRIPTIONS]
    if unknown:
        raise RunControlError(
            f"--kpi: unknown KPI {unknown[0]!r}; choose from {', '.join(KPI_DESCRIPTIONS)}"
        )
    if draws < 2:
        raise RunControlError(f"--draws must be at least 2, got {draws}")
    inputs = sample_inputs(params, draws, controls.seed)
    fp = _fingerprint(strategies, controls, params, draws)
    io.prepare_folder(out, fp, force=force, resume=False)
    runs: list[Scenario] = []
    for j, s in enumerate(strategies):
        runs.append(renamed(s, _run_name(j, None)))
        for i, row in inputs.iterrows():
            r, _ = apply_values(s, applied[j], row.to_dict(), name=_run_name(j, int(i)))
            runs.append(r)
    files = [scenario_file, *other_files]
    manifest = {
        "tool": "nen-pathway psa",
        "fingerprint": fp,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario": {"name": scenario.name, "file": scenario_file, "hash": scenario_hash(scenario)},
        "strategies": [
            {"name": s.name, "file": files[j] if j < len(files) else None, "hash": scenario_hash(s)}
            for j, s in enumerate(strategies)
        ],
        "held_keys": held,
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
    reps = _replications(runs, controls, dask)
    econ_cols = [c for c in (COST_KPI, QALY_KPI, PERSONS_KPI) if c in reps]
    means = reps.groupby("scenario", sort=False)[list(dict.fromkeys(names + econ_cols))].mean()
    tables, summaries, sens_tables = [], [], []
    for j, s in enumerate(strategies):
        t = inputs.copy()
        t.insert(0, "draw", range(draws))
        t.insert(1, "scenario", s.name)
        rows = means.reindex([_run_name(j, i) for i in range(draws)]).reset_index(drop=True)
        t = pd.concat([t, rows[names]], axis=1)
        tables.append(t)
        summaries.append(_summary(t, means.loc[_run_name(j, None)], names).assign(scenario=s.name))
        sens_tables.append(_sensitivity(t, params, names).assign(scenario=s.name))
    table = pd.concat(tables, ignore_index=True)
    summary = _first(pd.concat(summaries, ignore_index=True), "scenario")
    sens = _first(pd.concat(sens_tables, ignore_index=True), "scenario")
    io.write_csv(out / "draws.csv", table)
    io.write_csv(out / "summary.csv", summary)
    io.write_csv(out / "sensitivity.csv", sens)
    fig = tornado_figure(sens_tables[0], names)
    io.save_png(fig, out / "tornado.png")
    result = PsaResult(table, summary, sens, out, 0.0, held=held)
    section = ""
    if COST_KPI in reps and QALY_KPI in reps:
        section = _economics(result, strategies, means, inputs, params, controls, out)
    elapsed = time.perf_counter() - started
    _write_html(
        out / "psa.html", strategies, params, summary, fig, draws, controls, elapsed, section, held
    )
    manifest.update(status="complete", timings={"wall_seconds": round(elapsed, 1)})
    io.write_json(out / io.MANIFEST, manifest)
    result.wall_seconds = elapsed
    return result


def _first(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[[column, *(c for c in frame.columns if c != column)]]


def label_of(s: Scenario) -> str:
    """How the PSA report names a scenario."""
    return s.short_title or s.title or s.name


def economic_draws(strategies: Sequence[Scenario], means: pd.DataFrame, draws: int) -> pd.DataFrame:
    """Cost and QALYs a year (England, discounted) per draw and scenario, the people diagnosed a
    year, and the differences from the comparator (the first scenario) in the same draw."""
    rows = []
    for j, s in enumerate(strategies):
        m = means.reindex([_run_name(j, i) for i in range(draws)])
        rows.append(
            pd.DataFrame(
                {
                    "draw": range(draws),
                    "scenario": s.name,
                    "cost_per_year": m[COST_KPI].to_numpy(dtype=float),
                    "qalys_per_year": m[QALY_KPI].to_numpy(dtype=float),
                    "diagnosed_per_year": m[PERSONS_KPI].to_numpy(dtype=float)
                    if PERSONS_KPI in m
                    else np.nan,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    base = table[table["scenario"] == strategies[0].name].set_index("draw")
    table["d_cost_per_year"] = (
        table["cost_per_year"] - base["cost_per_year"].reindex(table["draw"]).to_numpy()
    )
    table["d_qalys_per_year"] = (
        table["qalys_per_year"] - base["qalys_per_year"].reindex(table["draw"]).to_numpy()
    )
    return table


def _economics(
    result: PsaResult,
    strategies: Sequence[Scenario],
    means: pd.DataFrame,
    inputs: pd.DataFrame,
    params: list[Parameter],
    controls: RunControls,
    out: Path,
) -> str:
    """Write the economic files of the PSA into ``result`` and ``out``; return the HTML section."""
    draws = len(inputs)
    econ = economic_draws(strategies, means, draws)
    io.write_csv(out / "economics_draws.csv", econ)
    result.economics = econ
    if len(strategies) < 2:
        c = econ["cost_per_year"].to_numpy(dtype=float)
        q = econ["qalys_per_year"].to_numpy(dtype=float)
        return (
            "<h2 id='cost-effectiveness'>Costs and QALYs under uncertainty</h2>"
            f"<p>Across the draws, {e(label_of(strategies[0]))} costs GBP "
            f"{np.nanmean(c) / 1e6:,.1f} million a year (95% of draws "
            f"{np.nanquantile(c, 0.025) / 1e6:,.1f}-{np.nanquantile(c, 0.975) / 1e6:,.1f}) and "
            f"gives {np.nanmean(q):,.0f} QALYs a year ({np.nanquantile(q, 0.025):,.0f}-"
            f"{np.nanquantile(q, 0.975):,.0f}), England, discounted (economics_draws.csv). The "
            "cost-effectiveness plane, acceptability curve and EVPI need a decision: run a "
            "comparison PSA, <code>nenpath psa BASE OTHER...</code>.</p>"
        )
    base = strategies[0].name
    persons = float(econ.loc[econ["scenario"] == base, "diagnosed_per_year"].mean())
    ceac_table, evpi_table = decision_tables(econ, [s.name for s in strategies], persons)
    io.write_csv(out / "ceac.csv", ceac_table)
    io.write_csv(out / "evpi.csv", evpi_table)
    result.ceac, result.evpi = ceac_table, evpi_table
    labels = {s.name: label_of(s) for s in strategies}

    def label(name: str) -> str:
        return labels.get(name, name)

    decision = decision_sensitivity(strategies, econ, inputs, params)
    io.write_csv(out / "decision_sensitivity.csv", decision)
    figures = {
        "ce_plane": ce_plane_figure(econ, base, label),
        "ceac": ceac_figure(ceac_table, label),
        "evpi": evpi_figure(evpi_table, persons),
        "decision_tornado": tornado_figure(decision, list(dict.fromkeys(decision["kpi"]))),
    }
    for name, fig in figures.items():
        io.save_png(fig, out / f"{name}.png")
    images = {name: io.png_base64(fig, dpi=90) for name, fig in figures.items()}
    return decision_html(
        econ, ceac_table, evpi_table, base, persons, controls.replications, images, label
    )


def decision_sensitivity(
    strategies: Sequence[Scenario],
    econ: pd.DataFrame,
    inputs: pd.DataFrame,
    params: list[Parameter],
) -> pd.DataFrame:
    """Which inputs drive the decision: the PRCC of each input with each scenario's net monetary
    benefit gain over the comparator (threshold x dQALYs - dcost, a year) at NICE's thresholds.
    ``kpi`` is ``nmb_gain_<threshold>:<scenario>``."""
    tables = []
    for s in strategies[1:]:
        d = econ[econ["scenario"] == s.name].set_index("draw").reindex(range(len(inputs)))
        t = inputs.reset_index(drop=True).copy()
        cols = []
        for lam in THRESHOLDS:
            col = f"nmb_gain_{int(lam)}:{s.name}"
            t[col] = lam * d["d_qalys_per_year"].to_numpy() - d["d_cost_per_year"].to_numpy()
            cols.append(col)
        tables.append(_sensitivity(t, params, cols).assign(scenario=s.name))
    return _first(pd.concat(tables, ignore_index=True), "scenario")


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
    strategies: Sequence[Scenario], controls: RunControls, params: list[Parameter], draws: int
) -> str:
    blob: dict[str, object] = {
        "psa": True,
        "scenario": scenario_hash(strategies[0]),
        "controls": controls.model_dump(mode="json", exclude={"workers"}),
        "parameters": [[p.name, list(p.keys), p.transform, p.low, p.high, p.prior] for p in params],
        "draws": draws,
    }
    if len(strategies) > 1:
        blob["others"] = [scenario_hash(s) for s in strategies[1:]]
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
    strategies: Sequence[Scenario],
    params: list[Parameter],
    summary: pd.DataFrame,
    fig: Figure,
    draws: int,
    controls: RunControls,
    elapsed: float,
    section: str = "",
    held: dict[str, list[str]] | None = None,
) -> None:
    tornado = img(io.png_base64(fig, dpi=90), "Which inputs drive the KPIs (tornado)")
    scenario = strategies[0]
    labels = {s.name: label_of(s) for s in strategies}

    def f(x: float) -> str:
        return "-" if x != x else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}")

    many = len(strategies) > 1
    rows = "".join(
        "<tr>"
        + (f"<td>{e(labels.get(r.scenario, r.scenario))}</td>" if many else "")
        + f"<td><code>{e(r.kpi)}</code></td><td>{f(r.scenario_value)}</td><td>{f(r.mean)}</td>"
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
    kept = "".join(
        f"<li>{e(labels.get(n, n))}: {', '.join(f'<code>{e(k)}</code>' for k in keys)}</li>"
        for n, keys in (held or {}).items()
    )
    compared = (
        f"<p>Comparison PSA of {', '.join(e(label_of(s)) for s in strategies)}: every draw "
        "applies the same input values to every scenario (a scenario's own lever wins over a "
        "drawn value of the same key"
        + (f"; held at the scenario's value: <ul>{kept}</ul>" if kept else "")
        + "). The tornado is the first scenario's.</p>"
        if many
        else ""
    )
    title = " vs ".join(e(label_of(s)) for s in strategies)
    body = f"""<h1>Probabilistic sensitivity analysis: {title}</h1>
<p>{draws} Latin-hypercube draws of {len(params)} inputs over their prior ranges (seed
{controls.seed}); each draw {controls.replications} replication(s) with the same replication
numbers (common random numbers) at population_scale {scenario.population.population_scale:g},
{controls.warmup_years if controls.warmup_years is not None else "default"} warm-up +
{controls.years:g} measured years. Wall time {elapsed / 60:.1f} min.</p>{compared}
<h2>Spread of the headline KPIs</h2>
<table><tr>{"<th>scenario</th>" if many else ""}<th>KPI</th><th>scenario as given</th>
<th>mean over draws</th><th>sd</th><th>95% of draws</th></tr>{rows}</table>
{section}
<h2>Which inputs drive them</h2>{warn}{tornado}
<h2>Inputs</h2><table><tr><th>input</th><th>use</th><th>range</th><th>why uncertain</th></tr>
{prow}</table>
<p>Files: draws.csv, summary.csv, sensitivity.csv, tornado.png.</p>"""
    with io.atomic_path(path) as tmp:
        tmp.write_text(html_page(f"PSA {scenario.name}", body))
