"""The ``nenpath`` command. Thin: parses, calls the library, prints; no model logic.

Exit status: 0 success; 1 some replications failed; 2 bad input (scenario file, option or
output folder), reported one problem per line with no traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import RunControls, Scenario
from .errors import NenPathError, RunControlError, ScenarioError
from .loader import load_scenario_file

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

HEADLINE_KPIS = (
    "diagnosed_per_year",
    "diagnostic_interval_days_median",
    "primary_care_interval_days_median",
    "symptom_to_diagnosis_days_median",
    "emergency_presentation_share",
    "stage_distant_at_diagnosis_share",
    "fds_28d_share",
    "rtt_62d_share",
    "specialist_mdt_discussed_share",
    "diagnosis_to_specialist_mdt_days_median",
    "specialist_mdt_utilisation",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_run_controls(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run controls (override the scenario's [run] table)")
    g.add_argument("--replications", "-n", type=_positive_int, help="replications per scenario")
    g.add_argument("--years", type=_positive_float, help="measured years after warm-up")
    g.add_argument("--warmup-years", type=_nonneg_float, help="warm-up years before measuring")
    g.add_argument("--seed", type=_nonneg_int, help="base random seed")
    g.add_argument(
        "--scale",
        type=_positive_float,
        help="population_scale: run this fraction (or multiple) of England",
    )
    g.add_argument("--workers", type=_positive_int, help="local worker processes (default: all)")
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
    g.add_argument("--max-replications", type=_positive_int, default=200)
    g.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nenpath",
        description="Discrete-event simulation of the NEN care pathway in England.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check scenario files; exit 2 listing every problem")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")

    p = sub.add_parser("run", help="run replications of one scenario")
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    _add_run_controls(p)

    p = sub.add_parser("compare", help="run scenarios with common random numbers and report")
    p.add_argument("base", type=Path, metavar="BASE")
    p.add_argument("others", type=Path, nargs="+", metavar="OTHER")
    _add_run_controls(p)

    p = sub.add_parser("report", help="rebuild report.html from a stored comparison or run")
    p.add_argument("folder", type=Path, metavar="DIR")

    p = sub.add_parser("warmup", help="recommend a warm-up period (MSER-5, Welch plot)")
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    p.add_argument(
        "--kpi",
        action="append",
        metavar="SERIES",
        help="weekly series to analyse (default: specialist_backlog, diagnoses, in_follow_up)",
    )
    _add_run_controls(p)

    p = sub.add_parser("size", help="least capacity meeting a KPI target with 95%% confidence")
    p.add_argument("scenario", type=Path, metavar="SCENARIO")
    p.add_argument(
        "--resource", required=True, help="resource to size, e.g. specialist_mdt.north_west or prrt"
    )
    p.add_argument("--kpi", required=True, help="KPI, e.g. specialist_mdt_within_14d_share")
    p.add_argument("--target", required=True, type=float, help="target value of the KPI")
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
        help="smallest capacity to consider (default: 1)",
    )
    p.add_argument(
        "--max",
        dest="hi",
        type=_positive_int,
        default=None,
        help="largest capacity to consider (default: 4x current)",
    )
    _add_run_controls(p)
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


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    bad = False
    for f in args.files:
        try:
            load_scenario_file(f)
        except ScenarioError as exc:
            bad = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
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
        }.items()
        if v is not None
    }
    try:
        controls = RunControls.model_validate({**defaults.model_dump(), **overrides})
    except ValidationError as exc:
        raise RunControlError(str(exc)) from None
    if args.scale is not None:
        scenario = with_scale(scenario, args.scale)
    return scenario, controls


def with_scale(scenario: Scenario, scale: float) -> Scenario:
    """The scenario with another ``population_scale`` (re-validated)."""
    data = scenario.model_dump(by_alias=True)
    data["population"]["population_scale"] = scale
    return Scenario.model_validate(data)


def _common_controls(scenarios: list[tuple[Scenario, RunControls]]) -> RunControls:
    """Comparisons use the base scenario's run controls for every scenario (CRN)."""
    return scenarios[0][1]


def _progress(args: argparse.Namespace) -> bool | None:
    return False if args.no_progress else None


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_experiment

    scenario, controls = load_with_controls(args.scenario, args)
    out = args.out or Path("outputs") / scenario.name
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
    _print_summary(
        result.summary,
        title=f"{scenario.name}: {len(result.replications)} "
        f"replications, {controls.years:g} measured years",
    )
    print(
        f"results written to {out}/ (manifest.json, replications.csv, summary.csv, "
        "patients.parquet)"
    )
    return _report_failures(result.failures)


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_comparison

    paths = [args.base, *args.others]
    loaded = [load_with_controls(p, args) for p in paths]
    controls = _common_controls(loaded)
    scenarios = [s for s, _ in loaded]
    out = args.out or Path("outputs") / ("compare_" + "_vs_".join(s.name for s in scenarios[:3]))
    result = run_comparison(
        scenarios,
        controls,
        out,
        dask=args.dask,
        resume=args.resume,
        force=args.force,
        progress=_progress(args),
        files={s.name: str(p) for s, p in zip(scenarios, paths, strict=True)},
    )
    for line in result.headlines:
        print("- " + line)
    print(f"comparison written to {out}/comparison.csv; report: {out}/report.html")
    return _report_failures(result.failures)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.folder)
    print(f"report written to {path}")
    return EXIT_OK


def cmd_warmup(args: argparse.Namespace) -> int:
    from .warmup import warmup_analysis

    scenario, controls = load_with_controls(args.scenario, args)
    out = args.out or Path("outputs") / f"warmup_{scenario.name}"
    result = warmup_analysis(
        scenario,
        controls,
        out,
        series=args.kpi,
        force=args.force,
        progress=_progress(args),
        dask=args.dask,
    )
    for name, weeks in result.truncation_weeks.items():
        print(f"{name}: MSER-5 truncation at week {weeks} ({weeks / 52.18:.1f} years)")
    print(
        f"recommended warm-up: {result.recommended_years:.1f} years "
        f"(set warmup_years in the scenario's [run] table); plot: {result.plot}"
    )
    return EXIT_OK


def cmd_size(args: argparse.Namespace) -> int:
    from .sizing import size_resource

    scenario, controls = load_with_controls(args.scenario, args)
    out = args.out or Path("outputs") / f"size_{scenario.name}_{args.resource}_{args.kpi}"
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
        force=args.force,
        progress=_progress(args),
        dask=args.dask,
    )
    print(result.table.to_string(index=False))
    print(result.message)
    print(f"table: {out}/sizing.csv; plot: {out}/sizing.png")
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
    rows = summary[summary["kpi"].isin(HEADLINE_KPIS)]
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
