"""The ``nenpath`` command. Thin: parses, calls the library, prints; no model logic.

Exit status: 0 success; 1 some replications failed; 2 bad input (scenario file, option or
output folder), reported one problem per line with no traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.core.errors import NenPathError, RunControlError, ScenarioError
from sim.model.population import check_run_size
from sim.scenario.loader import (
    load_scenario_file,
    scenario_warnings,
    with_population_scale,
    years_from_start,
)
from sim.scenario.schema import (
    MAX_COUNT,
    MAX_NUMBER,
    MAX_REPLICATIONS,
    MAX_SCALE,
    MAX_SEED,
    MAX_WORKERS,
    MAX_YEARS,
    REGIONS,
    RunControls,
    Scenario,
)

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _number(
    kind: type, minimum: float, strict: bool, what: str, maximum: float | None = None
) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) at least (``strict``: above)
    ``minimum`` and at most ``maximum``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < minimum or (strict and value == minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {value:g}")
        return value

    return parse


_positive_int = _number(int, 1, False, "a whole number", MAX_COUNT)
_nonneg_int = _number(int, 0, False, "a whole number", MAX_COUNT)
_positive_float = _number(float, 0.0, True, "a number", MAX_NUMBER)
_replications = _number(int, 1, False, "a whole number", MAX_REPLICATIONS)
_years = _number(float, 0.0, True, "a number", MAX_YEARS)
_warmup_years = _number(float, 0.0, False, "a number", MAX_YEARS)
_seed = _number(int, 0, False, "a whole number", MAX_SEED)
_scale = _number(float, 0.0, True, "a number", MAX_SCALE)
_workers = _number(int, 1, False, "a whole number", MAX_WORKERS)


def _policy_start(text: str) -> float | dt.date:
    """``--policy-start``: years from t=0 (a number) or a calendar date (YYYY-MM-DD)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return _warmup_years(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a number of years from t=0 (at least 0) or a date YYYY-MM-DD, got {text!r}"
        ) from None


def _capacity_list(text: str) -> list[int]:
    """``--candidates``: distinct whole capacities, e.g. ``14,16,18``."""
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers separated by commas, e.g. 14,16,18; got {text!r}"
        ) from None
    if not values or values[0] < 0 or values[-1] > MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"must be one or more whole numbers between 0 and {MAX_COUNT}, got {text!r}"
        )
    return values


def _add_run_controls(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run controls (override the scenario's [run] table)")
    g.add_argument("--replications", "-n", type=_replications, help="replications per scenario")
    g.add_argument("--years", type=_years, help="measured years after warm-up")
    g.add_argument("--warmup-years", type=_warmup_years, help="warm-up years before measuring")
    g.add_argument(
        "--policy-start",
        type=_policy_start,
        metavar="YEARS|DATE",
        help="when the compared scenarios' differences from BASE take effect: years from t=0 "
        "or a date (YYYY-MM-DD, from the scenario's start_date); default: the end of the "
        "warm-up; 0: every scenario under its own rules from t=0",
    )
    g.add_argument(
        "--settle-years",
        type=_warmup_years,
        help="years after the policy start left out of the measured window (default 0)",
    )
    g.add_argument(
        "--branching",
        choices=("auto", "fork", "recompute"),
        help="how the scenarios of a replication share the history before the policy start: "
        "fork after simulating it once, or recompute it per scenario (same results; default "
        "auto: fork where available)",
    )
    g.add_argument("--seed", type=_seed, help="base random seed")
    g.add_argument(
        "--scale",
        type=_scale,
        help="population_scale: run this fraction (or multiple) of England",
    )
    g.add_argument("--workers", type=_workers, help="local worker processes (default: all)")
    g.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask scheduler at ADDRESS, or 'local' for a LocalCluster",
    )
    g.add_argument("--out", type=Path, help="output folder (default: outputs/<name>)")
    g.add_argument("--force", action="store_true", help="replace an output folder of another run")
    g.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted run in --out without redoing finished work",
    )
    g.add_argument(
        "--precision",
        type=_positive_float,
        metavar="FRACTION",
        help="add replications until the 95%% CI half-width of --precision-kpi is "
        "at most FRACTION of its mean (e.g. 0.05)",
    )
    g.add_argument(
        "--precision-kpi",
        action="append",
        metavar="KPI",
        help="KPI(s) the --precision target applies to (repeatable)",
    )
    g.add_argument(
        "--max-replications",
        type=_replications,
        default=200,
        help="most replications per scenario --precision may add up to (default: 200)",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="show no progress (default: a bar on a terminal, else one line per replication)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nenpath",
        description="Discrete-event simulation of the NEN care pathway in England.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {_version()}",
        help="print the version of nen-pathway and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check scenario files; exit 2 listing every problem")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="scenario TOML files")

    p = sub.add_parser("run", help="run replications of one scenario")
    p.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario TOML file")
    _add_run_controls(p)

    p = sub.add_parser("compare", help="run scenarios with common random numbers and report")
    p.add_argument("base", type=Path, metavar="BASE", help="scenario the others are compared with")
    p.add_argument(
        "others", type=Path, nargs="+", metavar="OTHER", help="scenario(s) to compare with BASE"
    )
    _add_run_controls(p)

    p = sub.add_parser("report", help="rebuild report.html from a stored comparison or run")
    p.add_argument(
        "folder", type=Path, metavar="DIR", help="folder written by `compare` or `run --out`"
    )

    p = sub.add_parser(
        "kpis",
        help="list the KPIs: name, kind (unit) and meaning",
        description="List the KPIs from their declarations (sim/measures/kpis.py): every KPI is "
        "also reported per NHS region as <kpi>__<region> (regions: " + ", ".join(REGIONS) + ").",
    )
    p.add_argument(
        "pattern",
        nargs="?",
        metavar="PATTERN",
        help="only KPIs whose name or meaning contains PATTERN (case-insensitive), or whose "
        "name matches it as a shell pattern (e.g. '*_share')",
    )

    p = sub.add_parser(
        "warmup",
        help="recommend a warm-up period (MSER-5, Welch plot)",
        description="Run long replications from an empty start (no warm-up), average their "
        "weekly series, apply MSER-5 to each and draw a Welch plot. Writes warmup.csv, "
        "warmup_series.csv and warmup.png to --out.",
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario TOML file")
    p.add_argument(
        "--kpi",
        action="append",
        metavar="SERIES",
        help="weekly series to analyse, repeatable (default: specialist_backlog, "
        "mdt_rediscussions, in_follow_up, diagnoses; also specialist_backlog__<region>)",
    )
    g = p.add_argument_group("run controls")
    g.add_argument("--replications", "-n", type=_replications, help="replications (default 5)")
    g.add_argument("--years", type=_years, help="simulated years per replication (default 30)")
    g.add_argument("--seed", type=_seed, help="base random seed")
    g.add_argument("--scale", type=_scale, help="population_scale (fraction of England)")
    g.add_argument("--workers", type=_workers, help="local worker processes (default: all)")
    g.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address, or 'local'")
    g.add_argument("--out", type=Path, help="output folder (default: outputs/warmup_<name>)")
    g.add_argument("--force", action="store_true", help="replace an output folder of another run")
    g.add_argument("--resume", action="store_true", help="finish an interrupted analysis")
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="show no progress (default: a bar on a terminal, else one line per replication)",
    )
    p.set_defaults(warmup_years=None)

    p = sub.add_parser("size", help="least capacity meeting a KPI target with 95%% confidence")
    p.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario TOML file")
    p.add_argument(
        "--resource", required=True, help="resource to size, e.g. specialist_mdt.north_west or prrt"
    )
    p.add_argument("--kpi", required=True, help="KPI, e.g. specialist_mdt_within_14d_share")
    p.add_argument(
        "--target",
        required=True,
        type=_number(float, -MAX_NUMBER, False, "a number", MAX_NUMBER),
        help="target value of the KPI",
    )
    p.add_argument(
        "--direction",
        choices=["at_least", "at_most"],
        help="whether the KPI must be at least or at most the target "
        "(default: from the KPI's name)",
    )
    p.add_argument(
        "--min",
        dest="lo",
        type=_nonneg_int,
        default=None,
        help="smallest capacity to consider: slots per session, or servers (default: 1)",
    )
    p.add_argument(
        "--max",
        dest="hi",
        type=_positive_int,
        default=None,
        help="largest capacity to consider (default: 4x the scenario's)",
    )
    p.add_argument(
        "--candidates",
        type=_capacity_list,
        metavar="C1,C2,...",
        help="evaluate exactly these capacities (England terms), all in one run that shares "
        "each replication's history up to the policy start, instead of the search; the answer "
        "is the least of them that meets the target",
    )
    p.add_argument(
        "--per-round",
        type=_positive_int,
        default=None,
        metavar="N",
        help="capacities the search evaluates together in each round, in one run whose "
        "replications share their history up to the policy start (default: 4, "
        "sim.experiment.sizing.DEFAULT_PER_ROUND); 1 bisects, one capacity at a time",
    )
    p.add_argument(
        "--max-utilisation",
        type=_positive_float,
        default=None,
        help="a capacity at which the resource runs above this mean utilisation does not meet "
        "the target, whatever the KPI: it does not keep up with demand (default: 0.95, "
        "sim.experiment.sizing.MAX_UTILISATION; 1 accepts a saturated resource)",
    )
    _add_run_controls(p)

    p = sub.add_parser("calibrate", help="fit uncertain inputs to observed England figures")
    p.add_argument(
        "scenario",
        type=Path,
        nargs="?",
        default=Path("scenarios/current_practice.toml"),
        metavar="SCENARIO",
        help="scenario to calibrate (default: scenarios/current_practice.toml)",
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=60,
        help="model evaluations (candidate points) the search may use (default: 60)",
    )
    p.add_argument(
        "--targets",
        type=Path,
        default=Path("calibration/targets.toml"),
        help="observed figures to fit and check (default: calibration/targets.toml)",
    )
    p.add_argument(
        "--parameters",
        type=Path,
        default=Path("calibration/parameters.toml"),
        help="uncertain inputs and their prior ranges (default: calibration/parameters.toml)",
    )
    p.add_argument(
        "--overlay",
        type=Path,
        default=Path("scenarios/calibrated.toml"),
        help="scenario overlay to write (default: scenarios/calibrated.toml)",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=Path("calibration/report.html"),
        help="HTML report; fit.json and history.csv are written beside it",
    )
    p.add_argument(
        "--check-replications",
        type=_positive_int,
        help="replications of the before/after check run (default: max(replications, 5))",
    )
    _add_sampling_controls(p, replications=3)

    p = sub.add_parser(
        "psa",
        help="probabilistic sensitivity analysis (spread, tornado; with OTHER scenarios: "
        "CE plane, CEAC, EVPI)",
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario TOML file")
    p.add_argument(
        "others",
        type=Path,
        nargs="*",
        metavar="OTHER",
        help="scenarios compared with SCENARIO under the same draws (common random numbers): "
        "cost-effectiveness plane, acceptability curve and EVPI",
    )
    p.add_argument(
        "--draws",
        type=_positive_int,
        default=60,
        help="input draws (default: 60; PRCCs want about 3 per input)",
    )
    p.add_argument(
        "--parameters",
        type=Path,
        default=Path("calibration/parameters.toml"),
        help="inputs to draw and their ranges (default: calibration/parameters.toml)",
    )
    p.add_argument("--kpi", action="append", metavar="KPI", help="KPI to summarise (repeatable)")
    p.add_argument("--out", type=Path, help="output folder (default: outputs/psa_<name>)")
    p.add_argument("--force", action="store_true", help="replace an output folder of another run")
    _add_sampling_controls(p, replications=1)

    p = sub.add_parser("app", help="serve the web app (Streamlit) on http://localhost:8501")
    p.add_argument(
        "--port",
        type=_number(int, 1, False, "a port number", 65535),
        default=8501,
        help="port to serve on (default: 8501)",
    )
    p.add_argument(
        "--address",
        default="localhost",
        help="address to listen on (default: localhost; 0.0.0.0 for every interface)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {
        "validate": cmd_validate,
        "run": cmd_run,
        "compare": cmd_compare,
        "report": cmd_report,
        "warmup": cmd_warmup,
        "size": cmd_size,
        "calibrate": cmd_calibrate,
        "psa": cmd_psa,
        "kpis": cmd_kpis,
        "app": cmd_app,
    }[args.command]
    try:
        return handler(args)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INPUT
    except NenPathError as exc:
        print(f"nenpath: {exc}", file=sys.stderr)
        return EXIT_INPUT if not hasattr(exc, "traceback") else EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "nenpath: interrupted; finished replications are kept (use --resume)", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    except OSError as exc:
        # A path the system refuses (a name too long, no permission, a full disk): one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nenpath: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nen-pathway")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree, not installed
        return "unknown (not installed)"


def kpi_rows(pattern: str | None = None) -> list[tuple[str, str, str]]:
    """``(name, unit, meaning [views])`` of every KPI and derived KPI whose name or meaning
    contains ``pattern`` (case-insensitive), whose name matches it as a shell pattern, or which
    is in the view it names (``capacity``, ``headline``: :data:`sim.measures.registry.VIEWS`)."""
    from fnmatch import fnmatchcase

    from sim.measures.kpis import DERIVED_KPIS, KINDS, KPIS

    rows = []
    for name, info in [*KPIS.items(), *DERIVED_KPIS.items()]:
        p = (pattern or "").lower()
        if (
            p not in name.lower()
            and p not in info.label.lower()
            and p not in info.show
            and not fnmatchcase(name, pattern or "")
        ):
            continue
        views = f" [{', '.join(info.show)}]" if info.show else ""
        rows.append((name, KINDS[info.kind].unit, info.label + views))
    return rows


def cmd_kpis(args: argparse.Namespace) -> int:
    rows = kpi_rows(args.pattern)
    if not rows:
        print(f"nenpath: no KPI matches {args.pattern!r}", file=sys.stderr)
        return EXIT_INPUT
    width = max(len(n) for n, _, _ in rows)
    unit_width = max(len(u) for _, u, _ in rows)
    print(f"{'KPI':{width}s}  {'unit':{unit_width}s}  meaning")
    for name, unit, label in rows:
        print(f"{name:{width}s}  {unit:{unit_width}s}  {label}")
    print(
        f"{len(rows)} KPI(s). Each is also reported per NHS region as <kpi>__<region>, except "
        "the gaps between regions (*_region_range); the people-a-year counts derived from the "
        "others, and those gaps, are computed when scenarios are compared. In brackets, the "
        "views that show a KPI (e.g. 'nenpath kpis capacity': KPIs biased at a small --scale)."
    )
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    bad = False
    for f in args.files:
        try:
            scenario, _ = load_scenario_file(f)
        except ScenarioError as exc:
            bad = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            _warn(scenario, f)
            print(f"{f}: ok")
    return EXIT_INPUT if bad else EXIT_OK


def load_with_controls(path: Path, args: argparse.Namespace) -> tuple[Scenario, RunControls]:
    """Load a scenario file and apply command-line run controls and ``--scale``."""
    scenario, defaults = load_scenario_file(path)
    overrides = {
        k: v
        for k, v in {
            "replications": args.replications,
            "years": args.years,
            "warmup_years": args.warmup_years,
            "seed": args.seed,
            "workers": args.workers,
            "policy_start_years": _policy_start_years(args, scenario, path),
            "settle_years": getattr(args, "settle_years", None),
        }.items()
        if v is not None
    }
    try:
        controls = RunControls.model_validate({**defaults.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        option = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "run controls"
        raise RunControlError(f"{option}: {err['msg']}") from None
    if args.scale is not None:
        scenario = with_population_scale(scenario, args.scale)
    _warn(scenario, path)
    check_run_size(scenario.population, controls)
    return scenario, controls


def _policy_start_years(args: argparse.Namespace, scenario: Scenario, path: Path) -> float | None:
    """``--policy-start`` in years from t=0 (a date counts from the scenario's start_date)."""
    start = getattr(args, "policy_start", None)
    if not isinstance(start, dt.date):
        return start
    try:
        return years_from_start(start, scenario.start_date)
    except ValueError as exc:
        raise RunControlError(
            f"--policy-start {start}: in {path}, {exc}; give a later date or a number of years"
        ) from None


def _warn(scenario: Scenario, path: Path) -> None:
    """Print what is valid but probably not meant (e.g. no slots anywhere), one line each."""
    for problem in scenario_warnings(scenario, str(path)):
        print(f"warning: {problem}", file=sys.stderr)


def _common_controls(scenarios: list[tuple[Scenario, RunControls]]) -> RunControls:
    """Comparisons use the base scenario's run controls for every scenario (CRN)."""
    return scenarios[0][1]


def _default_out(*parts: str) -> Path:
    """A command's default output folder, ``outputs/<parts>``
    (:func:`sim.core.io.default_folder`)."""
    from sim.core.io import default_folder

    return default_folder(*parts)


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress else None


def cmd_run(args: argparse.Namespace) -> int:
    from sim.experiment.runner import run_experiment

    scenario, controls = load_with_controls(args.scenario, args)
    out = args.out or _default_out(scenario.name)
    result = run_experiment(
        [scenario],
        controls,
        out,
        dask=args.dask,
        resume=args.resume,
        force=args.force,
        progress=_progress(args),
        precision=args.precision,
        precision_kpis=args.precision_kpi or ("diagnostic_interval_days_median",),
        max_replications=args.max_replications,
        files={scenario.name: str(args.scenario)},
    )
    reused = f" ({result.reused} reused from the interrupted run)" if result.reused else ""
    _print_summary(
        result.summary,
        title=f"{scenario.title or scenario.name} ({scenario.name}): {len(result.replications)} "
        f"replications{reused}, {controls.years:g} measured years",
    )
    print(
        f"results written to {out}/ (manifest.json, replications.csv, summary.csv, "
        "patients.parquet)"
    )
    return _report_failures(result.failures)


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.app.workflows import run_comparison

    paths = [args.base, *args.others]
    loaded = [load_with_controls(p, args) for p in paths]
    controls = _common_controls(loaded)
    scenarios = [s for s, _ in loaded]
    out = args.out or _default_out("compare", "_vs_".join(s.name for s in scenarios[:3]))
    result = run_comparison(
        scenarios,
        controls,
        out,
        dask=args.dask,
        resume=args.resume,
        force=args.force,
        progress=_progress(args),
        files={s.name: str(p) for s, p in zip(scenarios, paths, strict=True)},
        precision=args.precision,
        precision_kpis=args.precision_kpi or ("diagnostic_interval_days_median",),
        max_replications=args.max_replications,
        branching=args.branching,
    )
    for line in result.headlines:
        print("- " + line)
    if result.unexpected:
        print(
            f"note: {len(result.unexpected)} effect(s) go the opposite way to their scenario's "
            "levers; the report's closing note explains each"
        )
    print(f"comparison written to {out}/comparison.csv; report: {out}/report.html")
    return _report_failures(result.failures)


def cmd_report(args: argparse.Namespace) -> int:
    from sim.reporting.report import build_report

    result = build_report(args.folder)
    for line in result.headlines:
        print("- " + line)
    print(f"comparison: {args.folder}/comparison.csv; report: {result.path}")
    return EXIT_OK


def cmd_warmup(args: argparse.Namespace) -> int:
    from sim.experiment.warmup import (
        DEFAULT_REPLICATIONS,
        DEFAULT_YEARS,
        check_series,
        warmup_analysis,
    )

    series = check_series(args.kpi)
    scenario, controls = load_with_controls(args.scenario, args)
    controls = RunControls.model_validate(
        {
            **controls.model_dump(),
            "replications": args.replications or DEFAULT_REPLICATIONS,
            "years": args.years or DEFAULT_YEARS,
            "warmup_years": 0.0,
        }
    )
    out = args.out or _default_out("warmup", scenario.name)
    result = warmup_analysis(
        scenario,
        controls,
        out,
        series=series,
        force=args.force,
        resume=args.resume,
        progress=_progress(args),
        dask=args.dask,
    )
    print(
        f"{scenario.name}: {result.replications} replications of {result.years:g} years "
        "from an empty start, averaged"
    )
    for r in result.series:
        where = " (end of the searched half)" if r.at_search_limit else ""
        state = (
            "levelled off"
            if r.levelled_off
            else f"NOT levelled off: still changes {r.drift_share:+.0%} after it"
        )
        print(
            f"  {r.series}: MSER-5 truncation at week {r.truncation_week} "
            f"({r.truncation_years:.1f} years){where}; {state}"
        )
    print(
        f"recommended warm-up: {result.recommended_years:g} years (largest truncation, rounded "
        "up); set warmup_years in the scenario's [run] table"
    )
    rising = [r.series for r in result.series if not r.levelled_off]
    if rising:
        print(
            f"note: {', '.join(rising)} had not levelled off within {result.years:g} years, so "
            "the recommendation is a lower bound for them; try a longer --years"
        )
    print(f"table: {result.table_path}; plot: {result.plot}")
    return _report_failures(result.failures)


def cmd_size(args: argparse.Namespace) -> int:
    from sim.experiment.sizing import DEFAULT_PER_ROUND, MAX_UTILISATION, size_resource

    if args.precision is not None:
        raise RunControlError(
            "--precision does not apply to size: every capacity runs the same --replications "
            "(common random numbers)"
        )
    if args.candidates is not None and args.per_round is not None:
        raise RunControlError(
            "--per-round applies to the search; --candidates evaluates the listed capacities "
            "in one round: give one or the other"
        )
    scenario, controls = load_with_controls(args.scenario, args)
    out = args.out or _default_out("size", scenario.name, args.resource, args.kpi)
    result = size_resource(
        scenario,
        controls,
        args.resource,
        args.kpi,
        args.target,
        out,
        direction=args.direction,
        lo=args.lo,
        hi=args.hi,
        max_utilisation=(MAX_UTILISATION if args.max_utilisation is None else args.max_utilisation),
        force=args.force,
        resume=args.resume,
        progress=_progress(args),
        dask=args.dask,
        on_candidate=lambda line: print(line, file=sys.stderr, flush=True),
        branching=args.branching,
        candidates=args.candidates,
        per_round=DEFAULT_PER_ROUND if args.per_round is None else args.per_round,
    )
    print(result.table.to_string(index=False))
    print(result.message)
    print(f"table: {out}/sizing.csv; plot: {out}/sizing.png")
    return EXIT_OK


def _add_sampling_controls(p: argparse.ArgumentParser, replications: int) -> None:
    """Run controls of `calibrate` and `psa`: many small runs, so reduced-scale defaults."""
    g = p.add_argument_group("run controls (defaults suit many small runs, not the [run] table)")
    g.add_argument(
        "--replications",
        "-n",
        type=_replications,
        default=replications,
        help=f"replications per evaluation (default: {replications})",
    )
    g.add_argument(
        "--scale",
        type=_scale,
        default=0.1,
        help="population_scale of every run (default: 0.1; counts are England-scaled)",
    )
    g.add_argument("--years", type=_years, default=3.0, help="measured years (3)")
    g.add_argument("--warmup-years", type=_warmup_years, default=2.0, help="warm-up years (2)")
    g.add_argument("--seed", type=_seed, help="base random seed (default: the scenario's)")
    g.add_argument("--workers", type=_workers, default=1, help="local worker processes (1)")
    g.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on a Dask scheduler at ADDRESS, or 'local' for a LocalCluster",
    )
    g.add_argument("--no-progress", action="store_true", help="print no progress lines")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibration.search import calibrate

    scenario, controls = load_with_controls(args.scenario, args)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    result = calibrate(
        scenario,
        args.scenario,
        controls,
        targets_file=args.targets,
        parameters_file=args.parameters,
        budget=args.budget,
        overlay=args.overlay,
        report=args.report,
        check_replications=args.check_replications,
        dask=args.dask,
        log=None if args.no_progress else log,
    )
    print(
        f"calibrated {len(result.params)} inputs with {len(result.history)} model evaluations "
        f"at scale {result.population_scale:g}: fit score {result.score_before:.3g} -> "
        f"{result.score_after:.3g}"
    )
    for p in result.params:
        print(f"  {p.name:32s} {p.current(scenario):>12.4g} -> {result.best.values[p.name]:.4g}")
    missed = [f.target.name for f in result.after if not f.consistent]
    if missed:
        print("targets still missed: " + ", ".join(missed))
    _warn_capacity_scale(result.population_scale, [f.target.kpi for f in result.after])
    print(f"overlay: {result.overlay}; report: {result.report}; record: {result.record}")
    return EXIT_OK


def _warn_capacity_scale(scale: float, kpis: list[str]) -> None:
    """Warn (stderr) when KPIs set by queues at finite capacity were computed below the scale
    where their bias stays within the full-scale CI (README, 'Scale')."""
    from sim.core.constants import MIN_CAPACITY_SCALE
    from sim.measures.kpis import REGISTRY
    from sim.measures.registry import view

    capacity = set(view(REGISTRY, "capacity"))
    hit = sorted({k for k in kpis if k.partition("__")[0] in capacity})
    if scale < MIN_CAPACITY_SCALE and hit:
        print(
            f"caution: at population scale {scale:g} these capacity KPIs are biased, not only "
            f"noisier (below {MIN_CAPACITY_SCALE:g}; README, 'Scale'): {', '.join(hit)}",
            file=sys.stderr,
        )


def cmd_psa(args: argparse.Namespace) -> int:
    from sim.calibration.psa import run_psa

    scenario, controls = load_with_controls(args.scenario, args)
    others = [load_with_controls(p, args)[0] for p in args.others]
    out = args.out or _default_out("psa", "_vs_".join(s.name for s in [scenario, *others][:3]))
    result = run_psa(
        scenario,
        controls,
        args.parameters,
        args.draws,
        out,
        others=others,
        kpis=args.kpi,
        dask=args.dask,
        force=args.force,
        scenario_file=str(args.scenario),
        other_files=[str(p) for p in args.others],
    )
    print(result.summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if result.evpi is not None:
        for lam in (25_000.0, 35_000.0):
            r = result.evpi[result.evpi["threshold"] == lam].iloc[0]
            print(
                f"at GBP {lam:,.0f}/QALY: best on expected net benefit {r['best_expected']}; "
                f"EVPI GBP {r['evpi_per_person']:,.0f} per person diagnosed, "
                f"GBP {r['evpi_per_year'] / 1e6:,.2f} million a year for England"
            )
    files = "draws.csv, summary.csv, sensitivity.csv, tornado.png, psa.html"
    if result.economics is not None:
        files += ", economics_draws.csv"
    if result.evpi is not None:
        files += ", ceac.csv, evpi.csv, decision_sensitivity.csv, ce_plane.png, ceac.png, evpi.png"
        files += ", decision_tornado.png"
    print(f"PSA written to {out}/ ({files})")
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    """Serve the web app (``sim/app/web/main.py``) with Streamlit until interrupted."""
    import subprocess

    script = Path(__file__).resolve().parent / "web" / "main.py"
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.port", str(args.port), "--server.address", args.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    print(f"nen-pathway app: http://{args.address}:{args.port} (Ctrl-C stops it)", flush=True)
    if os.name == "posix":
        # Become the server: a signal that stops `nenpath app` (a test's terminate(), a
        # service manager) then stops Streamlit too, instead of leaving it serving, orphaned.
        os.execv(sys.executable, command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v != v:
        return "-"
    return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"


def _print_summary(summary: Any, title: str) -> None:
    from sim.measures.kpis import REGISTRY
    from sim.measures.registry import view

    rows = summary[summary["kpi"].isin(view(REGISTRY, "cli"))]
    print(title)
    print(f"  {'KPI':48s} {'mean':>12s} {'95% CI':>26s}")
    for _, r in rows.iterrows():
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        print(f"  {r['kpi']:48s} {_fmt(r['mean']):>12s} {ci:>26s}")
    print("  (every KPI, England and by region, is in summary.csv)")


def _report_failures(failures: list[Any]) -> int:
    for f in failures:
        print(
            f"replication {f.replication} of scenario {f.scenario!r} (seed {f.seed}) "
            f"failed:\n{f.traceback}",
            file=sys.stderr,
        )
    return EXIT_FAILED if failures else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
