"""Calibration: fit the uncertain inputs to observed England figures.

::

    scenario + parameters.toml (use = "fit") + targets.toml (use = "fit")
        -> search in the unit cube of the fit parameters, every candidate run through
           sim.experiment.runner.run_experiment with the same seed and replications (common random
           numbers: candidates differ only by their parameters, not by their luck)
        -> distance D of each candidate (sim.calibration.targets: squared deviations weighted by
           target uncertainty plus simulation noise)
        -> overlay scenarios/calibrated.toml (extends the scenario; each value commented with
           the date, score and targets)
        -> check run: the scenario before and after, side by side (paired, more replications),
           against every target, fit and validate alike
        -> fit.json and history.csv beside the report; report.html (sim.calibration.report)

The search (the budget counts candidate points, each one model evaluation of ``replications``
replications): the scenario's own values first, then a Latin hypercube over the prior box
(a third of the budget, at least two points per parameter; run as one batch, so workers share
it), then Nelder-Mead (Nelder & Mead 1965; scipy's bounded variant) from the best point found,
with an initial simplex of 15% of each range, until the budget is spent. Common random numbers
make the distance a deterministic function of the parameters, which a simplex method needs; the
price is that the fit is conditional on the seed (the check run uses more replications).

Calibration is run at a reduced ``population_scale``: shares and medians do not depend on the
scale, counts are England-scaled, but capacity is rounded to whole slots at small scales, so
capacity-driven KPIs (waiting-time standards) are coarser there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sim.calibration.inputs import (
    Parameter,
    apply_values,
    latin_hypercube,
    load_parameters,
    overlay_text,
    renamed,
    unit_values,
)
from sim.calibration.report import write_report
from sim.calibration.result import CalibrationResult, Evaluation
from sim.calibration.targets import Target, TargetFit, distance, load_targets, noise_variance
from sim.core import io
from sim.core.errors import ReplicationError, RunControlError
from sim.experiment.runner import run_experiment
from sim.scenario.loader import load_scenario, scenario_dict, scenario_hash, with_population_scale
from sim.scenario.schema import RunControls, Scenario

FAILED_DISTANCE = 1.0e12
"""Distance of a candidate whose replications produced no usable KPIs."""
SIMPLEX_STEP = 0.15
"""Initial Nelder-Mead simplex: this fraction of each parameter's unit range."""
SIGNIFICANT = 4
"""Significant figures of the values written to the overlay."""

Log = Callable[[str], None]


class _BudgetSpent(Exception):
    pass


class _Evaluator:
    """Runs candidate points with common random numbers and remembers every result.

    Until :meth:`pool_noise` is called, distances use each candidate's own replication
    variance; afterwards every distance (past ones rescored) uses the variance pooled over the
    candidates evaluated so far.
    """

    def __init__(
        self,
        scenario: Scenario,
        params: list[Parameter],
        targets: list[Target],
        controls: RunControls,
        budget: int,
        dask: str | None,
        log: Log | None,
    ):
        self.scenario = scenario
        self.params = params
        self.targets = targets
        self.controls = controls
        self.budget = budget
        self.dask = dask
        self.log = log
        self.history: list[Evaluation] = []
        self.noise: dict[str, float] | None = None
        self._index: dict[tuple[float, ...], int] = {}
        self._reps: list[pd.DataFrame] = []

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    def best(self) -> Evaluation:
        return min(self.history, key=lambda e: (e.distance, e.index))

    def _score(self, rows: pd.DataFrame) -> tuple[float, dict[str, float]]:
        if not len(rows):
            return FAILED_DISTANCE, {}
        d, fits = distance(self.targets, rows, self.noise)
        return d, {f.target.name: f.term for f in fits}

    def pool_noise(self) -> None:
        """Fix the simulation-noise variance of each target from every candidate so far and
        rescore them all with it."""
        self.noise = noise_variance(self.targets, self._reps)
        for i, ev in enumerate(self.history):
            d, terms = self._score(self._reps[i])
            self.history[i] = replace(ev, distance=d, terms=terms)
        if self.log is not None:
            self.log(
                f"simulation noise pooled over {len(self.history)} candidates; "
                f"best distance now {self.best().distance:.3f}"
            )

    def batch(self, units: Sequence[Sequence[float]], stage: str) -> list[Evaluation]:
        """Evaluate points (cached ones are free; new ones count against the budget)."""
        todo: list[tuple[tuple[float, ...], Scenario, dict[str, float]]] = []
        for u in units:
            key = _key(u)
            if key in self._index or any(k == key for k, _, _ in todo):
                continue
            if len(todo) >= self.remaining:
                break
            values = unit_values(self.params, key)
            name = f"candidate_{len(self.history) + len(todo):04d}"
            scen, _ = apply_values(self.scenario, self.params, values, name=name)
            todo.append((key, scen, values))
        if todo:
            result = run_experiment(
                [s for _, s, _ in todo], self.controls, None, dask=self.dask, progress=False
            )
            if result.failures:
                f = result.failures[0]
                raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
            reps = result.replications
            kpis = sorted({t.kpi for t in self.targets} & set(reps.columns))
            for key, scen, values in todo:
                rows = reps.loc[reps["scenario"] == scen.name, kpis].reset_index(drop=True)
                d, terms = self._score(rows)
                ev = Evaluation(len(self.history), stage, key, values, d, terms)
                self._index[key] = len(self.history)
                self.history.append(ev)
                self._reps.append(rows)
                if self.log is not None:
                    self.log(
                        f"evaluation {ev.index + 1}/{self.budget} ({stage}): "
                        f"distance {d:.3f} (best {self.best().distance:.3f})"
                    )
        return [self.history[self._index[_key(u)]] for u in units if _key(u) in self._index]

    def one(self, u: Sequence[float]) -> float:
        key = _key(np.clip(np.asarray(u, dtype=float), 0.0, 1.0))
        if key not in self._index and self.remaining <= 0:
            raise _BudgetSpent
        return self.batch([key], "nelder-mead")[0].distance


def _key(u: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(x), 9) for x in u)


def search(
    scenario: Scenario,
    params: list[Parameter],
    targets: list[Target],
    controls: RunControls,
    budget: int,
    *,
    dask: str | None = None,
    log: Log | None = None,
) -> tuple[list[Evaluation], dict[str, float]]:
    """Minimise the distance over the fit parameters' box within ``budget`` evaluations.

    Returns every evaluation in order (the first is the scenario's own values) and the pooled
    noise variance of one replication per target (see
    :func:`sim.calibration.targets.noise_variance`), with which the distances were scored.
    """
    if budget < 1:
        raise RunControlError(f"--budget must be at least 1, got {budget}")
    ev = _Evaluator(scenario, params, targets, controls, budget, dask, log)
    d = len(params)
    start = [p.unit(p.current(scenario)) for p in params]
    ev.batch([start], "baseline")
    n_lhs = min(max(2 * d, budget // 3), ev.remaining)
    if n_lhs > 0:
        points = latin_hypercube(n_lhs, d, controls.seed, "calibration/lhs")
        ev.batch([list(row) for row in points], "lhs")
    ev.pool_noise()
    if ev.remaining > 0 and d > 0:
        x0 = np.asarray(ev.best().unit)
        simplex = [x0]
        for i in range(d):
            step = SIMPLEX_STEP if x0[i] + SIMPLEX_STEP <= 1 else -SIMPLEX_STEP
            simplex.append(x0 + step * np.eye(d)[i])
        with contextlib.suppress(_BudgetSpent):
            minimize(
                ev.one,
                x0,
                method="Nelder-Mead",
                bounds=[(0.0, 1.0)] * d,
                options={
                    "initial_simplex": np.array(simplex),
                    "maxfev": 10 * budget,
                    "xatol": 1e-3,
                    "fatol": 1e-3,
                },
            )
    return ev.history, ev.noise or {}


def calibrate(
    scenario: Scenario,
    scenario_file: Path,
    controls: RunControls,
    *,
    targets_file: Path,
    parameters_file: Path,
    budget: int,
    overlay: Path,
    report: Path,
    check_replications: int | None = None,
    dask: str | None = None,
    log: Log | None = None,
    today: dt.date | None = None,
) -> CalibrationResult:
    """Fit, write the overlay, check before against after, write the record and the report.

    ``scenario`` is the loaded ``scenario_file`` (possibly at a reduced ``population_scale``);
    the overlay extends ``scenario_file`` and never carries the scale.
    """
    started = time.perf_counter()
    targets = load_targets(targets_file)
    params_all = load_parameters(parameters_file, scenario, [t.name for t in targets])
    params = [p for p in params_all if p.use == "fit"]
    fit_targets = [t for t in targets if t.use == "fit" and not t.pending]
    if not params:
        raise RunControlError(f'{parameters_file}: no parameter has use = "fit"')
    if not fit_targets:
        raise RunControlError(f'{targets_file}: no evaluable target has use = "fit"')
    if controls.replications < 2:
        raise RunControlError("calibration needs --replications of at least 2 (for the noise)")
    if log is not None:
        for p in params:
            x = p.current(scenario)
            if not p.low <= x <= p.high:
                log(
                    f"note: {p.name} = {x:g} in the scenario lies outside its prior "
                    f"[{p.low:g}, {p.high:g}]; the search starts from the nearest edge"
                )
    history, noise = search(scenario, params, fit_targets, controls, budget, dask=dask, log=log)
    best = min(history, key=lambda e: (e.distance, e.index))

    date = (today or dt.date.today()).isoformat()
    scale = scenario.population.population_scale
    after_scen, changes = apply_values(
        scenario, params, best.values, name="after", significant=SIGNIFICANT
    )
    before_scen = renamed(scenario, "before")
    check = RunControls.model_validate(
        {
            **controls.model_dump(),
            "replications": check_replications or max(controls.replications, 5),
        }
    )
    if log is not None:
        log(f"check run: before and after, {check.replications} replications each")
    res = run_experiment([before_scen, after_scen], check, None, dask=dask, progress=False)
    if res.failures:
        f = res.failures[0]
        raise ReplicationError(f.scenario, f.replication, f.seed, f.traceback)
    reps = res.replications
    _, before = distance(targets, reps[reps["scenario"] == "before"], noise)
    _, after = distance(targets, reps[reps["scenario"] == "after"], noise)
    fit_names = {t.name for t in fit_targets}
    score_before = sum(f.term for f in before if f.target.name in fit_names)
    score_after = sum(f.term for f in after if f.target.name in fit_names)

    _write_overlay(
        overlay,
        scenario_file,
        scenario,
        params,
        changes,
        best,
        score_after,
        date,
        controls,
        budget,
        len(history),
        fit_targets,
    )
    written = with_population_scale(load_scenario(overlay), scale)
    if _model_part(written) != _model_part(after_scen):
        raise AssertionError("the overlay written does not reproduce the checked scenario")

    result = CalibrationResult(
        params=params,
        targets=targets,
        history=history,
        best=best,
        changes=changes,
        before=before,
        after=after,
        score_before=score_before,
        score_after=score_after,
        controls=controls,
        check_controls=check,
        noise=noise,
        population_scale=scale,
        date=date,
        overlay=overlay,
        report=report,
        record=report.parent / "fit.json",
        wall_seconds=time.perf_counter() - started,
        files={
            "scenario": str(scenario_file),
            "targets": str(targets_file),
            "parameters": str(parameters_file),
        },
    )
    _write_record(result, scenario)
    write_report(result, scenario)
    return result


def _model_part(scenario: Scenario) -> dict[str, Any]:
    d = scenario_dict(scenario)
    for key in ("name", "title", "short_title", "description"):
        d.pop(key, None)
    return d


def _write_overlay(
    path: Path,
    scenario_file: Path,
    scenario: Scenario,
    params: list[Parameter],
    changes: dict[str, float],
    best: Evaluation,
    score: float,
    date: str,
    controls: RunControls,
    budget: int,
    evaluations: int,
    fit_targets: list[Target],
) -> None:
    extends = os.path.relpath(Path(scenario_file).resolve(), Path(path).resolve().parent)
    owner = {k: p for p in params for k in p.keys}
    comments: dict[str, str] = {}
    for key in changes:
        p = owner.get(key)
        if p is None:
            comments[key] = f"calibrated {date}: rescaled so the shares sum to 1"
            continue
        names = ", ".join(p.targets) or ", ".join(t.name for t in fit_targets)
        how = (
            "" if p.transform == "set" else f" ({best.values[p.name]:.4g} x {_base(scenario, key)})"
        )
        comments[key] = f"calibrated {date}, score {score:.3g}, target(s) {names}{how}"
    scale = scenario.population.population_scale
    header = [
        f"Calibrated inputs on top of {Path(scenario_file).name}, written by `nenpath calibrate`"
        f" on {date}.",
        f"Fit score {score:.4g}: weighted squared distance over {len(fit_targets)} fit targets "
        "(calibration/targets.toml),",
        f"from the check run; best search distance {best.distance:.4g} after {evaluations} model "
        f"evaluations (budget {budget}).",
        f"Each evaluation: {controls.replications} replications at population_scale {scale:g}, "
        f"{controls.warmup_years if controls.warmup_years is not None else 'default'} warm-up + "
        f"{controls.years:g} measured years, seed {controls.seed}.",
        "Parameters and their prior ranges: calibration/parameters.toml; report: "
        "calibration/report.html.",
        "Do not edit by hand: rerun `nenpath calibrate` (see README, Calibration).",
    ]
    text = overlay_text(
        changes,
        extends=extends,
        title=f"{scenario.title or scenario.name.replace('_', ' ').capitalize()}, "
        f"calibrated {date}",
        description=f"{scenario.description or scenario.name} - calibrated {date}, "
        f"score {score:.3g}",
        header=header,
        comments=comments,
    )
    with io.atomic_path(Path(path)) as tmp:
        tmp.write_text(text)


def _base(scenario: Scenario, key: str) -> str:
    node: Any = scenario.model_dump(by_alias=True)
    for seg in key.split("."):
        node = node[seg]
    return f"{node:g}"


def _fit_rows(fits: list[TargetFit]) -> dict[str, dict[str, float | bool]]:
    return {
        f.target.name: {
            "mean": f.mean,
            "ci_low": f.ci_low,
            "ci_high": f.ci_high,
            "n": f.n,
            "z": f.z,
            "term": f.term,
            "consistent": f.consistent,
        }
        for f in fits
    }


def _write_record(result: CalibrationResult, scenario: Scenario) -> None:
    """``fit.json`` (what was fitted, with what, to what result) and ``history.csv``."""
    folder = result.record.parent
    hist = pd.DataFrame(
        [
            {
                "evaluation": e.index,
                "stage": e.stage,
                "distance": e.distance,
                **{f"param:{k}": v for k, v in e.values.items()},
                **{f"term:{k}": v for k, v in e.terms.items()},
            }
            for e in result.history
        ]
    )
    io.write_csv(folder / "history.csv", hist)
    before = _fit_rows(result.before)
    after = _fit_rows(result.after)
    record = {
        "date": result.date,
        "files": {**result.files, "overlay": str(result.overlay), "report": str(result.report)},
        "scenario_hash": scenario_hash(scenario),
        "score": result.score_after,
        "score_before": result.score_before,
        "best_search_distance": result.best.distance,
        "evaluations": len(result.history),
        "population_scale": result.population_scale,
        "controls": result.controls.model_dump(mode="json"),
        "check_controls": result.check_controls.model_dump(mode="json"),
        "noise_variance_per_replication": result.noise,
        "wall_seconds": round(result.wall_seconds, 1),
        "parameters": [
            {
                "name": p.name,
                "keys": list(p.keys),
                "transform": p.transform,
                "prior": [p.low, p.high, p.prior],
                "before": p.current(scenario),
                "after": result.best.values[p.name],
            }
            for p in result.params
        ],
        "changes": result.changes,
        "targets": [
            {
                "name": t.name,
                "kpi": t.kpi,
                "use": t.use,
                "pending": t.pending,
                "value": t.value,
                "interval": [t.low, t.high],
                "relation": t.relation,
                "before": before.get(t.name),
                "after": after.get(t.name),
            }
            for t in result.targets
        ],
        "versions": io.versions(),
        "git_commit": io.git_commit(),
    }
    io.write_json(result.record, _finite(record))


def _finite(x: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
