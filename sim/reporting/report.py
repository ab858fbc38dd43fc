"""The comparison report: one self-contained ``report.html`` built from stored results only.

::

    DIR/manifest.json, replications.csv, patients.parquet, series.parquet, scenario_sources.json
        --build_report--> DIR/comparison.csv + DIR/report.html

``nenpath compare`` calls :func:`build_report` after its runs; ``nenpath report DIR`` calls it
again, on any finished run folder, without simulating. Figures are embedded as base64 PNG and
the page loads nothing else (no scripts, fonts or style sheets from elsewhere), so it can be
mailed or archived as one file.

The methods section follows STRESS-DES (Monks et al., *J Simulation* 2019): objectives, logic,
data, experimentation, implementation, code access. Parameter sources come from the scenario
files' own comments (``# [S14] ...`` / ``# assumption: ...``), parsed by
:func:`scenario_sources` at run time and stored beside the results, so the report shows the
sources the run actually used even if the files change later.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.constants import DAYS_PER_YEAR
from sim.core.errors import RunControlError
from sim.core.evidence import Source, cited_tags, read_evidence
from sim.core.io import (
    MANIFEST,
    atomic_path,
    folder_lock,
    is_own_manifest,
    png_base64,
    read_manifest,
    write_csv,
)
from sim.measures.economics import economic_headlines, write_economics
from sim.measures.kpis import REGISTRY
from sim.measures.registry import view
from sim.model.resources import KINDS as RESOURCE_KINDS
from sim.reporting import plots
from sim.reporting.answers import answers_section, regional_headlines, regional_lever
from sim.reporting.compare import (
    BREACH_MILESTONES,
    BREACH_STEPS,
    COMPARISON_FILE,
    REGIONS_FILE,
    UTILISATION_COLUMNS,
    UTILISATION_FILE,
    Effect,
    add_derived_kpis,
    breach_steps,
    breach_summary,
    cohorts,
    comparison_table,
    fmt_diff,
    fmt_range,
    fmt_value,
    headlines_by_scenario,
    includes_zero,
    kpi_description,
    lookup,
    read_sources,
    regional_table,
    scenario_label,
    scenario_titles,
    titles_of,
    unchanged,
    unexpected_effects,
    utilisation_table,
)
from sim.reporting.economics_report import economics_section
from sim.reporting.page import csv_link, html_page, img
from sim.reporting.page import e as _e
from sim.scenario.schema import REGIONS

REPORT_FILE = "report.html"

SCENARIO_LABEL_KEYS = ("name", "title", "short_title", "description")
"""Top-level scenario keys that name or describe it: not parameters, never levers."""

PATIENT_COLUMNS = list(
    dict.fromkeys(
        [
            "scenario",
            "replication",
            "patient",
            "referral_type",
            "stage_at_diagnosis",
            "symptomatic",
            "onset_time",
            "first_gp_time",
            "first_presentation_time",
            "first_referral_time",
            "referral_time",
            *BREACH_MILESTONES,
            "death_time",
        ]
    )
)
"""The columns of ``patients.parquet`` the report reads (it never loads the rest): every
milestone the 62-day breach attribution needs (:data:`sim.reporting.compare.BREACH_MILESTONES`),
those of the interval ECDFs and cohorts."""

TABLE_KPIS = view(REGISTRY, "table")
"""KPIs in the report's main table, tagged "table" in the registry (every KPI is in
comparison.csv)."""


INTERVAL_METHOD = (
    "Means over replications with 95% confidence intervals that keep within the values each "
    "KPI can take (its kind, declared with the KPI in sim/measures/kpis.py): shares (0-1) on the "
    "logit scale, logit(m) &plusmn; t&middot;s/(&radic;n&middot;m(1&minus;m)), and non-negative "
    "KPIs (days, years, counts, rates) on the log scale, m&middot;exp(&plusmn;t&middot;s/"
    "(&radic;n&middot;m)), where m and s are the mean and standard deviation of the n "
    "replications' values and t the 97.5% t quantile with n&minus;1 degrees of freedom; the "
    "gaps between regions (highest &minus; lowest region in each replication, never negative) "
    "likewise, as shares' or days' gaps. Far from a bound these are the t-interval; near one "
    "they narrow towards it instead of crossing it. The observations are replications, not "
    "patients (patients in one replication share its queues), so a binomial interval over "
    "patients (Wilson) would understate the spread. A mean on a bound (every replication 0, "
    "say) gets the t-interval clipped to the bounds. Scenario differences use common random "
    "numbers (replication k of every scenario sees the same synthetic patients) and paired-t "
    "intervals of the per-replication differences, clipped to the widest difference the "
    "bounds allow (&plusmn;1 for a share)."
)
"""The methods section's account of the intervals (HTML)."""


# ---------------------------------------------------------------------------------------------
# Scenario files' comments: the sources of every parameter
# ---------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#\s?(.*))?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=\s*(.*)$")


def _split_comment(text: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment), ignoring ``#`` inside strings."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return text[:i].rstrip(), text[i + 1 :].strip()
    return text.rstrip(), ""


def _balance(text: str) -> int:
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def parse_comments(text: str) -> dict[str, Any]:
    """The comments of one TOML file, keyed by dotted parameter path.

    Returns ``{"header": str, "keys": {path: comment}, "tables": {path: comment}}``:
    ``header`` is the comment block at the top of the file (paragraphs kept), ``keys`` the
    comment on each ``key = value`` line (or, failing that, the comment lines just above it),
    ``tables`` the comment on each ``[table]`` header line or the block just above or below it.
    Array-of-table entries are numbered, ``treatment.first_line[0]``. Divider comments
    (``# --- ...``) are skipped.
    """
    lines = text.splitlines()
    header: list[str] = []
    block: list[str] = []
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        line = lines[i].strip()
        if line:
            block.append(line.lstrip("#").strip())
        elif block:
            header += [*block, ""]
            block = []
        i += 1
    keys: dict[str, str] = {}
    tables: dict[str, str] = {}
    table = ""
    counts: dict[str, int] = {}
    pending = block
    depth = 0
    for raw in lines[i:]:
        line = raw.strip()
        if depth > 0:  # inside a multi-line value
            depth += _balance(_split_comment(line)[0])
            continue
        if line.startswith("#"):
            note = line.lstrip("#").strip()
            if note and not note.startswith("-"):
                pending.append(note)
            continue
        if not line:
            continue
        m = _HEADER.match(line)
        if m:
            name = m.group(2).strip()
            if m.group(1) == "[[":
                n = counts.get(name, 0)
                counts[name] = n + 1
                table = f"{name}[{n}]"
            else:
                table = name
            note = " ".join([*pending, m.group(3) or ""]).strip()
            if note:
                tables[table] = note
            pending = []
            continue
        m = _KEY.match(line)
        if m:
            key = m.group(1).replace('"', "").replace("'", "")
            value, comment = _split_comment(m.group(2))
            depth = _balance(value)
            path = f"{table}.{key}" if table else key
            if comment:
                keys[path] = comment
            elif pending:
                keys[path] = " ".join(pending)
            if pending and table and table not in tables:
                tables[table] = " ".join(pending)
        pending = []
    return {"header": "\n".join(header).strip(), "keys": keys, "tables": tables}


def scenario_sources(path: Path) -> dict[str, Any]:
    """Comments of a scenario file and every file it extends (for the methods section).

    Returns ``{"file", "header", "keys", "tables", "chain"}``: ``keys`` and ``tables`` merge the
    chain, the file's own comments winning over its bases'; ``chain`` lists ``{"file",
    "header"}`` from this file down to the complete base. Unreadable files give empty entries.
    """
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: set[Path] = set()
    current: Path | None = path
    while current is not None and current.resolve() not in seen and current.is_file():
        seen.add(current.resolve())
        text = current.read_text()
        chain.append((current, parse_comments(text)))
        try:
            parent = tomllib.loads(text).get("extends")
        except tomllib.TOMLDecodeError:
            parent = None
        current = (
            Path(os.path.normpath(current.parent / parent)) if isinstance(parent, str) else None
        )
    keys: dict[str, str] = {}
    tables: dict[str, str] = {}
    for _, parsed in reversed(chain):
        keys.update(parsed["keys"])
        tables.update(parsed["tables"])
    return {
        "file": str(path),
        "header": chain[0][1]["header"] if chain else "",
        "keys": keys,
        "tables": tables,
        "chain": [{"file": str(p), "header": parsed["header"]} for p, parsed in chain],
    }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A resolved scenario as ``{dotted.path: value}``: tables are opened down to values;
    distributions, lists and treatment rules stay whole."""
    out: dict[str, Any] = {}
    if isinstance(data, dict) and "dist" not in data:
        for k, v in data.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and "dist" not in v and v:
                out.update(flatten(v, key))
            elif (
                isinstance(v, list) and v and all(isinstance(x, dict) and "choose" in x for x in v)
            ):
                for i, rule in enumerate(v):
                    out[f"{key}[{i}]"] = rule
            else:
                out[key] = v
    else:
        out[prefix] = data
    return out


def source_of(path: str, sources: dict[str, Any]) -> str:
    """The comment that documents parameter ``path``: its own, its table's ``default`` entry's,
    the nearest enclosing key's or table's, or its rule's ``choose`` line."""
    keys: dict[str, str] = sources.get("keys", {})
    tables: dict[str, str] = sources.get("tables", {})
    if path in keys:
        return keys[path]
    children = [v for k, v in keys.items() if k.startswith(path + ".")]
    if children and "[" in path:
        return " ".join(dict.fromkeys(children))
    parts = path.split(".")
    for n in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:n])
        if head in keys:
            return keys[head]
        if f"{head}.default" in keys and n == len(parts) - 1:
            return keys[f"{head}.default"] + " (the table's default)"
        if head in tables:
            return tables[head]
    return ""


def show(value: Any) -> str:
    """A parameter value in compact TOML-like text."""
    if isinstance(value, dict) and "dist" in value:
        args = ", ".join(f"{k}={_num(v)}" for k, v in value.items() if k != "dist")
        return f"{value['dist']}({args})"
    if isinstance(value, dict) and "choose" in value:
        when = ", ".join(f"{k}={_num(v)}" for k, v in value.get("when", {}).items()) or "otherwise"
        choose = ", ".join(f"{k} {_num(v)}" for k, v in value["choose"].items())
        return f"when {when}: {choose}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_num(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) if isinstance(v, dict) else _num(v) for v in value) + "]"
    return _num(value)


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return show(v)
    if isinstance(v, dict):
        return show(v)
    return str(v)


# ---------------------------------------------------------------------------------------------
# Building the report
# ---------------------------------------------------------------------------------------------


@dataclass
class ReportResult:
    """What :func:`build_report` wrote and said."""

    path: Path
    comparison: pd.DataFrame
    headlines: list[str]
    unexpected: list[Effect]


def _read_results(folder: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    manifest = read_manifest(folder)
    reps_path = folder / "replications.csv"
    if manifest is None or not reps_path.is_file():
        raise RunControlError(
            f"{folder}: no stored results ({MANIFEST} and replications.csv are needed); "
            "run `nenpath compare` or `nenpath run` with --out first"
        )
    scenarios = manifest.get("scenarios")
    if (
        not is_own_manifest(manifest)
        or not isinstance(manifest.get("controls", {}), dict)
        or not isinstance(scenarios, list)
        or not scenarios
        or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in scenarios)
    ):
        raise RunControlError(
            f"{folder}: {MANIFEST} was not written by `nenpath run` or `nenpath compare` (it "
            "lacks the tool, fingerprint, controls or scenarios they record); nothing to report"
        )
    try:
        reps = pd.read_csv(reps_path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise RunControlError(f"{reps_path}: cannot be read as a table: {exc}") from None
    if reps.empty or "replication" not in reps:
        raise RunControlError(f"{folder}: replications.csv holds no finished replication")
    if "scenario" not in reps:
        reps.insert(0, "scenario", scenarios[0]["name"])
    if not set(reps["scenario"]) & {s["name"] for s in scenarios}:
        raise RunControlError(
            f"{folder}: replications.csv names none of the scenarios in {MANIFEST}"
        )
    return manifest, reps


def build_report(folder: Path) -> ReportResult:
    """Write ``comparison.csv`` and ``report.html`` in ``folder`` from its stored results.

    The first scenario in the run is the base. Raises :class:`RunControlError` (a one-line
    message) if the folder holds no finished run, or another process is writing in it.
    """
    folder = Path(folder)
    _read_results(folder)  # before the lock: a folder that holds no run is left untouched
    with folder_lock(folder):
        return _build_report(folder)


def _build_report(folder: Path) -> ReportResult:
    manifest, reps = _read_results(folder)
    names = [s["name"] for s in manifest["scenarios"] if s["name"] in set(reps["scenario"])]
    base = names[0]
    reps = add_derived_kpis(reps)
    table = comparison_table(reps, base)
    write_csv(folder / COMPARISON_FILE, table)
    regions = regional_table(table)
    write_csv(folder / REGIONS_FILE, regions)
    utilisation = _read_utilisation(folder, names)
    if not utilisation.empty:
        write_csv(folder / UTILISATION_FILE, utilisation)

    controls = manifest.get("controls", {})
    # The measured window's start (the warm-up's end, or later with a later policy start or
    # settle_years; runs stored before policy starts existed have only warmup_days).
    warmup = float(controls.get("measure_start_days", controls.get("warmup_days", 0.0)))
    policy_start = float(controls.get("policy_start_days", 0.0))
    resolved = {s["name"]: s.get("resolved", {}) for s in manifest["scenarios"]}
    scale = float(resolved[base].get("population", {}).get("population_scale", 1.0))

    patients = _read_patients(folder, warmup)
    # A folder written before a milestone was recorded lacks its column: no attribution then,
    # rather than one that gives that step's days to its neighbour.
    attributable = not patients.empty and all(c in patients for c in BREACH_MILESTONES)
    steps = breach_summary(breach_steps(patients)) if attributable else pd.DataFrame()
    # Headlines, explanations, figures and headings name scenarios by their files' titles.
    with scenario_titles(titles_of(resolved)):
        by_scenario = headlines_by_scenario(table, base)
        for scen in names[1:]:
            lever = regional_lever(resolved[base], resolved.get(scen, {}))
            if lever:  # a regional lever: its effect where it acts comes first
                by_scenario[scen] = regional_headlines(table, base, scen, lever) + by_scenario.get(
                    scen, []
                )
        economics = write_economics(folder, reps, base)  # ICERs: economics.csv
        econ_lines = economic_headlines(reps, base, scenario_label)
        if _transition_caveat(controls):
            econ_lines = {
                k: v + " These are a transition's figures: costs count from the policy start, "
                "benefits build up beyond the horizon (see Outcomes and costs)."
                for k, v in econ_lines.items()
            }
        for scen, line in econ_lines.items():
            by_scenario.setdefault(scen, []).insert(0, line)
        lines = [line for group in by_scenario.values() for line in group]
        years = float(controls.get("years", 1.0))
        horizon = float(controls.get("horizon_days", warmup + years * DAYS_PER_YEAR))
        groups = {
            s: c
            for s in names[1:]
            if not patients.empty
            and (c := cohorts(patients, base, s, horizon, years, scale)) is not None
        }
        unexpected = unexpected_effects(
            table, base, steps if not steps.empty else None, groups, scale
        )

        sources = read_sources(folder)
        for s in manifest["scenarios"]:
            if s["name"] not in sources and s.get("file") and Path(s["file"]).is_file():
                sources[s["name"]] = scenario_sources(Path(s["file"]))

        figures = _figures(
            folder, table, patients, steps, names, warmup, scale, years, policy_start
        )
        page = _page(
            manifest, names, table, by_scenario, unexpected, steps, figures, sources, resolved
        ).replace(_REGIONS_SLOT, _regions_section(regions, names))
        page = page.replace(_UTILISATION_SLOT, _utilisation_section(utilisation, names))
        files = {x["name"]: x.get("file") for x in manifest["scenarios"]}
        page = page.replace(
            _ANSWERS_SLOT,
            answers_section(
                table, utilisation, names, econ_lines, _relative(files.get(base)), scale
            ),
        )
        page = page.replace(
            _ECONOMICS_SLOT,
            economics_section(
                table,
                economics,
                names,
                resolved,
                sources,
                kpi_table=_kpi_table,
                flatten=flatten,
                source_of=source_of,
                label=scenario_label,
                png=png_base64,
            ).replace("</h2>", "</h2>" + _transition_caveat(controls), 1),
        )
    page = with_contents(page, folder)
    path = folder / REPORT_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return ReportResult(path, table, lines, unexpected)


TRANSITION_CAVEAT = (
    "Read the costs and QALYs as a <b>transition</b>: this window starts at the policy start, so "
    "a change's costs count from its first day while the deaths it averts and the QALYs it "
    "gains build up over years, many after the horizon, where they are not counted (life after "
    "the horizon is censored). Over a few years this understates the lifetime benefit that "
    "NICE's reference case asks for, and so overstates the cost per QALY. For value for money, "
    "compare steady states (<code>--policy-start 0</code>, as <code>make demo</code> does) or "
    "measure long after the start (<code>--settle-years</code>)."
)
"""Said in the outcomes and costs section (and beside the analysts' value-for-money line) of a
comparison measured from a policy start."""


def _transition_caveat(c: dict[str, Any]) -> str:
    start = float(c.get("policy_start_days", 0.0) or 0.0)
    measure = float(c.get("measure_start_days", c.get("warmup_days", 0.0)) or 0.0)
    if start <= 0 or measure - start >= 10 * DAYS_PER_YEAR:
        return ""
    return f"<p class='note'>{TRANSITION_CAVEAT}</p>"


def _policy_start_paragraph(c: dict[str, Any], names: list[str]) -> str:
    """One paragraph on when the scenarios' differences take effect and what is measured."""
    start = float(c.get("policy_start_days", 0.0) or 0.0)
    measure = float(c.get("measure_start_days", c.get("warmup_days", 0.0)) or 0.0)
    years = _num(round(start / DAYS_PER_YEAR, 2))
    if start <= 0:
        return (
            "<p>Every scenario ran under its own rules from an empty system at t = 0 (no "
            "policy start): the comparison is between steady states after each one's "
            "warm-up.</p>"
        )
    settle = round((measure - start) / DAYS_PER_YEAR, 2)
    window = (
        "The measured window starts at the policy start, so the KPIs include the transition."
        if settle <= 0
        else f"The measured window starts {_num(settle)} years after it (settling years "
        "left out), for a comparison nearer the new steady state."
    )
    return (
        f"<p><b>Policy start.</b> Every scenario is {_e(scenario_label(names[0]))} until "
        f"year {years} of the simulation (the same history, simulated once per replication "
        "and branched); at the policy start each switches to its own capacities, rules and "
        "parameters, and patients already in the pathway carry on under the new rules from "
        "their next step, with everything drawn for them unchanged (common random numbers). "
        f"So the figures show the backlog the policy inherits and how fast it changes. {window}"
        "</p>"
    )


def _read_utilisation(folder: Path, names: list[str]) -> pd.DataFrame:
    """:func:`sim.reporting.compare.utilisation_table` of the folder's resources.parquet
    (empty without one: a run stored before resources were recorded)."""
    path = folder / "resources.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=UTILISATION_COLUMNS)
    return utilisation_table(pd.read_parquet(path), names)


def _read_patients(folder: Path, warmup_days: float) -> pd.DataFrame:
    path = folder / "patients.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=PATIENT_COLUMNS)
    import pyarrow.parquet as pq

    present = set(pq.read_schema(path).names)
    cols = [c for c in PATIENT_COLUMNS if c in present]
    p = pd.read_parquet(path, columns=cols)
    for c in PATIENT_COLUMNS:
        if c not in p and c != "symptomatic" and c not in BREACH_MILESTONES:
            p[c] = float("nan")
    p = p[p["diagnosis_time"] >= warmup_days]
    return p.reset_index(drop=True)


def _figures(
    folder: Path,
    table: pd.DataFrame,
    patients: pd.DataFrame,
    steps: pd.DataFrame,
    names: list[str],
    warmup: float,
    scale: float,
    years: float,
    policy_start: float = 0.0,
) -> dict[str, str]:
    figs: dict[str, str] = {}
    if not patients.empty:
        figs["ecdf"] = png_base64(plots.interval_ecdfs(patients, names))
        figs["stage"] = png_base64(
            plots.stage_bars(plots.stage_counts(patients, names, years, scale), names)
        )
    figs["standards"] = png_base64(plots.standards_bars(table, names))
    if not steps.empty:
        figs["breach"] = png_base64(plots.breach_bars(steps, names))
    series_path = folder / "series.parquet"
    if series_path.is_file():
        series = pd.read_parquet(
            series_path, columns=["scenario", "replication", "time", "specialist_backlog"]
        )
        figs["backlog"] = png_base64(
            plots.backlog_lines(series, names, warmup, scale, policy_start)
        )
        if not patients.empty and "first_presentation_time" in patients:
            figs["yearly"] = png_base64(
                plots.yearly_path(series, patients, names, warmup, scale, policy_start > 0)
            )
    figs["regional"] = png_base64(plots.regional_dots(table, names))
    return figs


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

def _img(figs: dict[str, str], key: str, alt: str, caption: str) -> str:
    if key not in figs:
        return f"<p class='small'>({_e(alt)}: no data in this run.)</p>"
    return img(figs[key], alt, caption)


def _ci_text(kpi: str, r: dict[str, float]) -> str:
    if r["ci_low"] != r["ci_low"]:
        return fmt_value(kpi, r["mean"])
    low, high = fmt_value(kpi, r["ci_low"]), fmt_value(kpi, r["ci_high"])
    unit = high.partition(" ")[2]
    low = low.partition(" ")[0] if unit and low.endswith(unit) else low
    return f"{fmt_value(kpi, r['mean'])}<br><span class='small'>({low}&ndash;{high})</span>"


def _diff_text(kpi: str, r: dict[str, float]) -> str:
    if unchanged(r):
        return "no change"
    if r["diff_ci_low"] != r["diff_ci_low"]:
        return _e(fmt_diff(kpi, r["diff_vs_base"], short=True))
    return (
        f"{_e(fmt_diff(kpi, r['diff_vs_base'], short=True))}<br>"
        f"<span class='small'>({_e(fmt_range(kpi, r['diff_ci_low'], r['diff_ci_high'], True))})"
        "</span>"
    )


def _kpi_table(table: pd.DataFrame, names: list[str], kpis: tuple[str, ...]) -> str:
    head = "<tr><th>KPI</th>" + "".join(
        f"<th>{_e(scenario_label(s, short=True))}</th>" for s in names
    )
    head += (
        "".join(f"<th>{_e(scenario_label(s, short=True))} &minus; base</th>" for s in names[1:])
        + "</tr>"
    )
    rows = []
    for k in kpis:
        if table[table["kpi"] == k].empty:
            continue
        cells = [f"<td>{_e(kpi_description(k))}<br><span class='small'>{_e(k)}</span></td>"]
        cells += [f"<td class='n'>{_ci_text(k, lookup(table, k, s))}</td>" for s in names]
        for s in names[1:]:
            r = lookup(table, k, s)
            strong = not includes_zero(r["diff_ci_low"], r["diff_ci_high"])
            text = _diff_text(k, r)
            cells.append(f"<td class='n'>{'<b>' + text + '</b>' if strong else text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _breach_table(steps: pd.DataFrame, names: list[str]) -> str:
    if steps.empty:
        return ""
    head = "<tr><th>step</th>" + "".join(
        f"<th>{_e(scenario_label(s, short=True))}: mean days in breaches (all on clock)<br>"
        "share of breaches where it used the most days</th>"
        for s in names
    )
    rows = []
    for name, label in BREACH_STEPS:
        cells = [f"<td>{_e(label)}</td>"]
        for s in names:
            r = steps[steps["scenario"] == s]
            if r.empty:
                cells.append("<td></td>")
                continue
            b, a, big = (
                float(r[f"{name}_{x}"].iloc[0])
                for x in ("breach_mean", "all_mean", "largest_share")
            )
            big_text = f"{100 * big:.0f}%" if big == big else "n/a"
            cells.append(f"<td class='n'>{b:.1f} ({a:.1f})<br>{big_text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    tail = "<tr><td>patients on the 62-day clock / breaches (all replications)</td>" + "".join(
        f"<td class='n'>{int(r['on_clock'].iloc[0]):,} / {int(r['breaches'].iloc[0]):,}</td>"
        if not (r := steps[steps["scenario"] == s]).empty
        else "<td></td>"
        for s in names
    )
    return f"<table>{head}</tr>{''.join(rows)}{tail}</tr></table>"


_REGIONS_SLOT = "<!-- every KPI by region -->"
_ANSWERS_SLOT = "<!-- answer boxes -->"
_TOC_SLOT = "<!-- table of contents -->"
DATA_FILES = (COMPARISON_FILE, REGIONS_FILE, UTILISATION_FILE, "economics.csv")


def with_contents(page: str, folder: Path) -> str:
    """``page`` with a table of contents (every section heading with an id, in order) and
    the data files written beside the report as downloads carried inside the page (data:
    links: the page still loads nothing from elsewhere)."""
    heads = re.findall(r"<h2 id=['\"]([\w-]+)['\"]>(.*?)</h2>", page)
    links = "".join(f"<a href='#{i}'>{t}</a>" for i, t in heads)
    data = ", ".join(
        csv_link((folder / f).read_bytes(), f) for f in DATA_FILES if (folder / f).is_file()
    )
    nav = f"<nav class='toc' aria-label='Contents'><b>Contents</b>{links}</nav>"
    if data:
        nav += f"<p class='small'>Download the numbers: {data} (also beside this report).</p>"
    return page.replace(_TOC_SLOT, nav, 1)


def _relative(path: str | None) -> str | None:
    """A scenario file's path as the user would type it: relative to the working directory
    when it is under it."""
    if not path:
        return None
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:  # another drive (Windows)
        return path


_UTILISATION_SLOT = "<!-- utilisation of every capacity resource -->"
_ECONOMICS_SLOT = "<!-- outcomes and costs (sim/economics_report.py) -->"


def _csv_link(frame: pd.DataFrame, name: str) -> str:
    """A download link carrying ``frame`` as CSV inside the page (a data: URL)."""
    return csv_link(frame.to_csv(index=False).encode(), name)


def _utilisation_section(util: pd.DataFrame, names: list[str]) -> str:
    """Utilisation of every capacity resource, one table per resource type (rows: its
    instances by region; columns: scenarios), and utilisation.csv as a download."""
    if util.empty:
        return "<p class='small'>(Resource use was not recorded in this run.)</p>"
    parts = []
    for base, g in util.groupby("base", sort=False):
        kind = g["kind"].iloc[0]
        unit = RESOURCE_KINDS[kind].unit
        head = "<tr><th>resource</th>" + "".join(
            f"<th>{_e(scenario_label(s, short=True))}: {unit}; utilisation (95% CI)</th>"
            for s in names
        )
        rows = []
        for _, r in g.groupby("resource", sort=False):
            region = str(r["region"].iloc[0])
            cells = [
                f"<td>{_e('England' if region == 'national' else plots.region_label(region))}</td>"
            ]
            for s in names:
                x = r[r["scenario"] == s]
                if x.empty:
                    cells.append("<td></td>")
                    continue
                x0 = x.iloc[0]
                ci = (
                    f" ({100 * x0['ci_low']:.0f}&ndash;{100 * x0['ci_high']:.0f}%)"
                    if x0["ci_low"] == x0["ci_low"]
                    else ""
                )
                cells.append(
                    f"<td class='n'>{x0['capacity']:g}; {100 * x0['utilisation']:.0f}%"
                    f"<span class='small'>{ci}</span></td>"
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<h4>{_e(base)} ({_e(kind)})</h4><table>{head}</tr>{''.join(rows)}</table>")
    return (
        "<p>Share of each resource's capacity used in the measured window, mean over "
        "replications (95% CI): for weekly sessions, slots filled / slots offered at the sessions "
        "held; for server pools, busy server-days / server-days on duty (a service that runs past "
        "its shift's end can take this above 100%). Capacity is as run (at a population scale "
        "below 1, slots per session are fractional: whole slots on average). Also as "
        f"{_csv_link(util, UTILISATION_FILE)}.</p>" + "".join(parts)
    )


def _regions_section(regions: pd.DataFrame, names: list[str]) -> str:
    """Every KPI by region, one collapsed table per scenario, and regions.csv embedded as a
    download (a data: link: the page still loads nothing from elsewhere)."""
    if regions.empty:
        return ""
    link = _csv_link(regions, REGIONS_FILE)
    places = ["england", *REGIONS]
    head = "<tr><th>KPI</th>" + "".join(
        f"<th>{_e(p.replace('_', ' ').title())}</th>" for p in places
    )
    parts = []
    for s in names:
        sub = regions[regions["scenario"] == s].set_index(["kpi", "region"])
        rows = []
        for kpi in dict.fromkeys(sub.index.get_level_values(0)):
            cells = [f"<td>{_e(kpi_description(kpi))}<br><span class='small'>{_e(kpi)}</span></td>"]
            for p in places:
                if (kpi, p) in sub.index:
                    r = sub.loc[(kpi, p)]
                    row = {c: float(r[c]) for c in ("mean", "ci_low", "ci_high")}
                    cells.append(f"<td class='n'>{_ci_text(kpi, row)}</td>")
                else:
                    cells.append("<td></td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(
            f"<details><summary>{_e(scenario_label(s))}: every KPI by region</summary>"
            f"<table>{head}</tr>{''.join(rows)}</table></details>"
        )
    return (
        "<h3>Every KPI by region</h3><p>Mean over replications (95% CI) of every KPI in England "
        f"and each NHS region. The same numbers, with the paired differences from the base, "
        f"are in {link} (also written beside this report).</p>" + "".join(parts)
    )


def _range_table(table: pd.DataFrame, names: list[str]) -> str:
    from sim.reporting.compare import RANGE_KPIS

    return _kpi_table(table, names, tuple(f"{k}_region_range" for k in RANGE_KPIS))


def _closing(unexpected: list[Effect]) -> str:
    """The effects opposite to their levers, grouped by scenario and mechanism: each
    mechanism paragraph once, after the effects it explains."""
    if not unexpected:
        return (
            "<p>No effect has a 95% confidence interval that excludes zero in the direction "
            "opposite to what its scenario's levers aim at.</p>"
        )
    groups: dict[tuple[str, str], list[Effect]] = {}
    for e in unexpected:
        groups.setdefault((e.scenario, e.explanation), []).append(e)
    items = []
    for (scen, why), effects in groups.items():
        changes = "".join(
            f"<li>{_e(kpi_description(e.kpi))}: {_e(fmt_diff(e.kpi, e.diff))} "
            f"(95% CI {_e(fmt_range(e.kpi, e.ci_low, e.ci_high))})</li>"
            for e in effects
        )
        items.append(
            f"<li><b>{_e(scenario_label(scen))}</b>, the opposite of what its levers aim at:"
            f"<ul>{changes}</ul>Likely mechanism: {_e(why)}</li>"
        )
    return (
        "<p>These effects have the opposite sign from what the scenario's levers imply, with a "
        "95% confidence interval that excludes zero:</p><ul>" + "".join(items) + "</ul>"
    )


def _levers(
    names: list[str],
    resolved: dict[str, Any],
    sources: dict[str, Any],
    descriptions: dict[str, str],
) -> str:
    base = names[0]
    flat_base = flatten(resolved.get(base, {}))
    parts = []
    for s in names[1:]:
        flat = flatten(resolved.get(s, {}))
        src = sources.get(s, {})
        changed = [
            k
            for k in sorted(set(flat) | set(flat_base), key=_key_order(flat, flat_base))
            if k not in SCENARIO_LABEL_KEYS and flat.get(k) != flat_base.get(k)
        ]
        rows = "".join(
            f"<tr><td>{_e(k)}</td><td>{_e(show(flat_base.get(k, '(absent)')))}</td>"
            f"<td>{_e(show(flat.get(k, '(absent)')))}</td><td>{_e(source_of(k, src))}</td></tr>"
            for k in changed
        )
        chain = src.get("chain", [])
        header = src.get("header", "")
        definition = (
            f"<details><summary>The scenario file's own account of its levers "
            f"({_e(src.get('file', ''))})</summary><pre>{_e(header)}</pre></details>"
            if header
            else ""
        )
        extends = (
            "<p class='small'>File chain: " + " &rarr; ".join(_e(c["file"]) for c in chain) + "</p>"
            if chain
            else ""
        )
        parts.append(
            f"<h4>{_e(scenario_label(s))} <span class='small'>({_e(s)})</span></h4>"
            f"<p>{_e(descriptions.get(s, ''))}</p>{extends}{definition}"
            f"<p>{len(changed)} parameter(s) differ from {_e(scenario_label(base))}:</p>"
            "<table><tr><th>parameter</th><th>base value</th><th>scenario value</th>"
            f"<th>source or assumption (scenario file comment)</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _key_order(*flats: dict[str, Any]) -> Any:
    order: dict[str, int] = {}
    for f in flats:
        for k in f:
            order.setdefault(k, len(order))
    return lambda k: order.get(k, len(order))


def _parameters(base: str, resolved: dict[str, Any], sources: dict[str, Any]) -> str:
    flat = flatten(resolved.get(base, {}))
    src = sources.get(base, {})
    rows = []
    n_src = n_assume = n_none = 0
    for k, v in flat.items():
        if k in SCENARIO_LABEL_KEYS:
            continue
        note = source_of(k, src)
        if re.search(r"\[S\d+", note):
            n_src += 1
        if "assumption" in note.lower() or "calibrated" in note.lower():
            n_assume += 1
        if not note:
            n_none += 1
            note = "(no comment in the file: schema default or table-level value)"
        rows.append(f"<tr><td>{_e(k)}</td><td>{_e(show(v))}</td><td>{_e(note)}</td></tr>")
    return (
        f"<p>{len(rows)} parameters; {n_src} cite a source [Sx] (see References), {n_assume} are "
        f"marked as assumptions or calibrated, {n_none} carry no comment (values the schema "
        "fills in by default).</p><details><summary>Every parameter of "
        f"{_e(scenario_label(base))}, with its value and source</summary><table><tr>"
        "<th>parameter</th><th>value</th><th>source (file comment)</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


_PATHWAY = """\
 symptom onset -(patient interval)-> GP consultation --misattributed (IBS, gastritis, anxiety,
      |                                   |  ^         menopause, asthma) --+
      |                                   |  +------------ reconsult -------+
      |                                   +-- primary-care tests (CgA, direct imaging)
      |                                   +-- urgent / routine referral
      +-- emergency presentation (hazard rises with stage)        |
      +-- incidental finding (imaging, appendicectomy)            |
      +-- MEN1 surveillance                                       v
             first seen -- CT/MRI, endoscopy, bloods --> nothing found -> back to GP
                                    |
             biopsy -(non-diagnostic: repeat)-> specialist histopathology with Ki-67 [capacity]
                                    |
                       DIAGNOSIS (stage frozen: delay costs stage)
                                    |
             Ga-68 DOTATATE PET [capacity] --> local MDT --> specialist NET MDT [weekly slots]
                                    |
             decision to treat (rules by site, grade, stage, function)
                                    |
   surgery [lists] / SSA / PRRT [4 cycles, capacity] / everolimus / sunitinib / CAPTEM /
   platinum-etoposide / liver-directed / watchful waiting / best supportive care
                                    |
     follow-up scans -- progression --> MDT re-discussion --> next line ... death"""


def _resources_text(res: dict[str, Any]) -> str:
    items = []
    for name, spec in res.items():
        noun, details = RESOURCE_KINDS[spec["kind"]].describe(spec)
        text = ", ".join([noun, *(f"{label} {show(value)}" for label, value in details)])
        items.append(f"<li><b>{_e(name)}</b>: {_e(text)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _survival_text(scenario: dict[str, Any]) -> str:
    """Methods 2.2b, with the base scenario's own survival values."""
    surv = scenario.get("survival", {})
    untreated = surv.get("untreated_survival_factor", {})
    hr = surv.get("specialist_care_hazard_ratio", {})
    rho = surv.get("progression_survival_correlation")
    pps = {
        g: spec.get("median")
        for g, spec in surv.get("post_progression_survival_days", {}).items()
        if isinstance(spec, dict)
    }

    def by_grade(table: dict[str, Any]) -> str:
        return ", ".join(f"{g} {table[g]:g}" for g in table) or "(not set)"

    return (
        "NEN death comes from the disease, on a clock anchored to distant spread and never "
        "to the date of diagnosis (sim/model/disease.py): so earlier diagnosis at the same "
        "stage can never bring a death forward. Three mechanisms move survival, each with its "
        "uncertainty: <b>stage shift</b> (a tumour resected before it spreads is cured unless "
        "it recurs, with a recurrence probability by grade, site and stage from published "
        "cohorts); <b>access to care</b> (distant disease with no anti-tumour treatment, "
        "undiagnosed, watched or on supportive care only, lasts a fraction of its survival "
        f"under care: {_e(by_grade(untreated))}, assumptions, PSA range 0.75-1 times that; so "
        "care starting sooner after spread saves time); <b>specialist care</b> (distant "
        "disease whose care a specialist NET MDT plans uses its survival at a hazard ratio of "
        f"{_e(by_grade(hr))}, PSA range 0.63-1.0 for G1/G2, from observational studies of "
        "high-volume centres shrunk towards no effect, none shown for G3 or NEC; and specialist "
        "MDTs choose guideline treatment more often, PRRT, liver-directed therapy and trials "
        "only on their recommendation). Which systemic therapy a patient receives (SSA, PRRT, "
        "everolimus, chemotherapy) changes progression, re-discussion and capacity use but "
        "not survival directly: trials show progression-free, not clear overall, survival "
        "gains (NETTER-1 overall survival 48.0 vs 36.3 months, not significant). So PRRT "
        "capacity and waits do not change deaths in this model. Each line's progression-free "
        "time keeps its trial distribution but is ranked with the patient's survival (a "
        f"Gaussian copula, correlation {rho}): those who progress early are those who die "
        "early. And a NEN death follows a progression: a line progresses, and is found, no "
        "later than the death less a post-progression survival drawn for the patient (median "
        f"{_e(by_grade({g: round(m / 30.44) for g, m in pps.items() if m is not None}))} months by "
        "grade, from NETTER-1 and second-line NEC series), unless the line started too close "
        "to death to leave one; it moves no death."
    )


def _methods(
    manifest: dict[str, Any],
    names: list[str],
    resolved: dict[str, Any],
    sources: dict[str, Any],
    descriptions: dict[str, str],
) -> str:
    c = manifest.get("controls", {})
    base = names[0]
    scale = resolved.get(base, {}).get("population", {}).get("population_scale", 1.0)
    prehistory = resolved.get(base, {}).get("population", {}).get("prehistory_years", "")
    versions = manifest.get("versions", {})
    version_text = ", ".join(f"{k} {v}" for k, v in versions.items())
    hashes = "".join(
        f"<li>{_e(s['name'])}: {_e(s.get('file') or '')} sha256 {_e(s.get('hash', ''))}</li>"
        for s in manifest.get("scenarios", [])
    )
    kpis = "".join(f"<li><code>{_e(k)}</code>: {_e(kpi_description(k))}</li>" for k in TABLE_KPIS)
    timings = manifest.get("timings", {})
    wall = timings.get("wall_seconds")
    reps_n = manifest.get("replications", c.get("replications", ""))
    rows = [
        (
            "1.1 Purpose",
            "Estimate, with uncertainty, what changes to the NEN care pathway in England would do "
            "to delays, stage at diagnosis, NHS waiting-time standards and the spread between "
            "NHS regions: for policy analysts, NHS planners and campaigners.",
        ),
        (
            "1.2 Model outputs",
            "Per replication, the KPIs listed below (England and each of the 7 NHS regions as "
            "<code>&lt;kpi&gt;__&lt;region&gt;</code>); derived per replication: people a year "
            "diagnosed with distant spread (distant share &times; diagnoses a year) and the "
            "gap between regions (highest &minus; lowest regional value). Every KPI is in "
            f"comparison.csv.<ul>{kpis}</ul>",
        ),
        (
            "1.3 Experimentation aims",
            "Compare "
            + ", ".join(_e(scenario_label(s)) for s in names[1:])
            + f" with {_e(scenario_label(base))} (the base), each scenario changing only its "
            "levers (listed under 2.3).",
        ),
        (
            "2.1 Base model overview",
            f"<pre>{_e(_PATHWAY)}</pre>",
        ),
        (
            "2.2 Base model logic",
            "Incident NENs arrive by region (Poisson, from the incidence rate and each region's "
            "population). Each patient's tumour stage advances while undiagnosed; symptomatic "
            "patients consult their GP after the patient interval and may be misattributed, "
            "tested or referred; emergency, incidental and surveillance routes compete. "
            "Secondary-care work-up, biopsy and specialist pathology lead to diagnosis (stage is "
            "recorded then; PET staging may find spread CT/MRI missed), local and/or specialist "
            "MDT discussion, a treatment decision by rules on site, grade, stage, function, SSTR "
            "status, age, treatment history and the team deciding, treatment lines with "
            "progression found at surveillance scans, re-discussion, discharge after cure, and "
            "death from the NEN or other causes.",
        ),
        ("2.2b What carries survival effects", _survival_text(resolved.get(base, {}))),
        ("2.3 Scenario logic", _levers(names, resolved, sources, descriptions)),
        (
            "2.4 Algorithms",
            "Pre-diagnosis natural history and route clocks are drawn once per patient and read "
            "arithmetically (no events); emergency presentation by exact inversion of a "
            "stage-dependent piecewise-constant hazard; other-cause death from a Gompertz law; "
            "all sampling by inversion of each distribution's quantile function from named, "
            "order-independent uniform streams.",
        ),
        (
            "2.5 Components",
            "Entities: patients (attributes: region, site, grade, stage, function, SSTR status, "
            "age, sex, MEN1). Activities: GP consultations, tests, biopsy, reporting, PET, MDT "
            "discussion, treatment lines, follow-up scans. Resources and queues (slotted weekly "
            "sessions take up to their slots of eligible listed cases at each meeting, by "
            "priority rule; the rest roll over):"
            + _resources_text(resolved.get(base, {}).get("resources", {}))
            + "Entry: incident cases from the incidence rate; exit: death or end of run.",
        ),
        (
            "3.1-3.4 Data, parameters and assumptions",
            "Every parameter's value and source (the scenario file's own comment, citing "
            "docs/evidence.md [Sx] or marked <i>assumption</i>) is listed below; the references "
            "of the sources cited close this section.",
        ),
        (
            "Limitations",
            "Survival effects rest on the mechanisms in 2.2b: the specialist-care hazard ratio "
            "is observational, the effect of no care on survival is an assumption, and "
            "published England survival by stage, grade and site was not available to check "
            "them against (1-year survival overall and by age is checked, and "
            "scripts/clinical_audit.py checks survival by site and from the start of PRRT "
            "against published series). One-year survival measured as registries do is about "
            "69% against 75%: too many NEN deaths, mostly NEC, come after a hospital "
            "presentation but before histology. Progression-free survival on SSA (about 23 "
            "months) is below CLARINET's 33 and within real-world series; on PRRT (about 24) "
            "within real-world series and just below NETTER-1's 28, since NEN deaths now follow "
            "a progression. "
            "Post-diagnosis waits change survival only where they delay the start of care of "
            "spread disease or a resection past the tumour's spread. The monthly hazard "
            "of stage progression while undiagnosed is not published for NENs (calibrated "
            "assumption), so the size of any stage shift rests on it. Most lever sizes are "
            "assumptions (marked in 2.3). KPIs count patients diagnosed in the measured "
            "window, so a scenario that diagnoses people who used to die undiagnosed changes "
            "the group the shares and medians describe (see the closing note).",
        ),
        (
            "4.1 Initialisation",
            f"Warm-up {_num(c.get('warmup_years', ''))} years ({_num(c.get('warmup_days', ''))}"
            f" days) discarded as a filter: KPIs count patients diagnosed after it. Onsets are "
            f"generated from {_num(prehistory)} years before the start so that people already on "
            "their way at time zero are present.",
        ),
        (
            "4.2 Run length",
            f"{_num(c.get('years', ''))} measured years from day "
            f"{_num(c.get('measure_start_days', c.get('warmup_days', '')))} (horizon "
            f"{_num(c.get('horizon_days', ''))} days); policy start at day "
            f"{_num(c.get('policy_start_days', 0.0))} (0: every scenario under its own rules "
            "from t = 0).",
        ),
        (
            "4.3 Estimation approach",
            f"{_num(reps_n)} replications per "
            f"scenario, base seed {_num(c.get('seed', ''))}; population scale {_num(scale)} of "
            "England (counts are England-scaled; capacities scale with the population: "
            "session slots exactly, servers to whole servers). "
            + INTERVAL_METHOD
            + (
                f" <b>Only {reps_n} replications:</b> fewer than 5 values per interval; the t "
                "quantile is large and the standard deviation itself uncertain, so read every "
                "interval as rough."
                if isinstance(reps_n, int) and reps_n < 5
                else ""
            ),
        ),
        (
            "5.1 Software",
            f"Python with SimPy; versions: {_e(version_text)}.",
        ),
        (
            "5.2 Random sampling",
            "Every stochastic decision draws from a named stream seeded from (base seed, "
            "replication, CRC32 of the name); patient attributes from uniforms addressed by "
            "(purpose, patient, draw number).",
        ),
        (
            "5.3 Model execution",
            f"SimPy discrete-event scheduling; backend {_e(manifest.get('backend', ''))}; "
            "identical results serial or parallel for the same seed"
            + (f"; wall time {wall:.0f} s" if isinstance(wall, int | float) else "")
            + f"; run created {_e(manifest.get('created', ''))}.",
        ),
        (
            "5.4 System specification",
            "Not recorded beyond the backend and wall time above.",
        ),
        (
            "6 Code access",
            f"nen-pathway, git commit {_e(manifest.get('git_commit') or 'unknown')}. Scenario "
            f"files and their SHA-256 hashes:<ul>{hashes}</ul>",
        ),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        "<p>Reported following the STRESS-DES checklist (Monks et al. 2019).</p>"
        f"<table>{table}</table>"
        + _parameters(base, resolved, sources)
        + _bibliography(names, sources)
    )


def scenario_texts(source: dict[str, Any]) -> list[str]:
    """Every comment of a scenario file and the files it extends (from :func:`scenario_sources`)."""
    return [
        source.get("header", ""),
        *source.get("keys", {}).values(),
        *source.get("tables", {}).values(),
        *(c.get("header", "") for c in source.get("chain", [])),
    ]


_REPORT_CITES = "[S33], [S35]"
"""The sources the report's own text cites (the NHS standards' thresholds)."""


def _bibliography(
    names: list[str], sources: dict[str, Any], evidence: dict[str, Source] | None = None
) -> str:
    """The references of every source tag the scenarios shown cite in their files' comments."""
    texts = [t for n in names for t in scenario_texts(sources.get(n, {}))]
    tags = cited_tags([*texts, _REPORT_CITES])
    if not tags:
        return ""
    table = read_evidence() if evidence is None else evidence
    items = []
    for tag in tags:
        row = table.get(tag)
        ref = (
            re.sub(r"\*([^*]+)\*", r"<i>\1</i>", _e(row.reference))
            if row
            else "(not in docs/evidence.md)"
        )
        items.append(f"<li id='{_e(tag)}'><b>[{_e(tag)}]</b> {ref}</li>")
    return (
        "<h3>References</h3>"
        f"<p>The {len(tags)} sources cited in the comments of the scenario files compared here "
        "(and the files they extend) and in this report; docs/evidence.md in the repository "
        "says what each gives the model.</p><ul class='refs'>" + "".join(items) + "</ul>"
    )


def _page(
    manifest: dict[str, Any],
    names: list[str],
    table: pd.DataFrame,
    by_scenario: dict[str, list[str]],
    unexpected: list[Effect],
    steps: pd.DataFrame,
    figs: dict[str, str],
    sources: dict[str, Any],
    resolved: dict[str, Any],
) -> str:
    c = manifest.get("controls", {})
    descriptions = {n: str(resolved.get(n, {}).get("description", "")) for n in names}
    scale = resolved.get(names[0], {}).get("population", {}).get("population_scale", 1.0)
    reps = manifest.get("replications", c.get("replications", ""))
    scen_list = "".join(
        f"<li><b>{_e(scenario_label(n))}</b> ({_e(n)}): {_e(descriptions[n])}</li>" for n in names
    )
    head_items = (
        "".join(
            f"<h3>{_e(scenario_label(scen))} compared with {_e(scenario_label(names[0]))}</h3>"
            "<ul class='headline'>" + "".join(f"<li>{_e(t)}</li>" for t in lines) + "</ul>"
            for scen, lines in by_scenario.items()
        )
        or "<p>Only one scenario in this run: nothing to compare.</p>"
    )
    n_odd = len(unexpected)
    if n_odd:
        head_items += (
            f"<p class='note'>{n_odd} effect(s) go the opposite way to what their scenario's "
            "levers aim at; the <a href='#closing'>closing note</a> explains each.</p>"
        )
    status = manifest.get("status", "")
    warn = (
        f"<p class='note'>Run status: {_e(status)}; some replications failed and are not "
        "included.</p>"
        if status and status != "complete"
        else ""
    )
    cautions = []
    if float(scale) != 1:
        cautions.append(
            f"this run simulates {_num(scale)} of England: counts are England-scaled and capacity "
            "scales with the population, but each queue has fewer slots or servers, so waits and "
            "standards set by queues are <b>biased</b> (longer waits at the same utilisation), "
            "not only noisier: at 0.25 the 62-day share is about 4 points lower and the PET wait "
            "about 5 days longer than at full scale (README, 'Scale')"
        )
    if isinstance(reps, int) and reps < 5:
        cautions.append(
            f"<b>only {reps} replications</b>: fewer than 5 values behind every confidence "
            "interval, so the intervals themselves are rough (their width rests on a standard "
            "deviation from so few values); use at least 5, better 10"
        )
    elif isinstance(reps, int) and reps < 10:
        cautions.append(
            f"with {reps} replications the confidence intervals of single-scenario values (and "
            "of regional values) are wide; differences between scenarios are paired and much "
            "tighter"
        )
    if isinstance(reps, int) and reps < 5:
        cautions.append(
            "single-scenario and regional intervals are wide; differences between scenarios "
            "are paired and tighter"
        )
    small = (
        "<p class='note'>Read with care: " + "; ".join(cautions) + ". For decisions, use more "
        "replications and measured years at full scale.</p>"
        if cautions
        else ""
    )
    return html_page(
        "NEN pathway: " + " vs ".join(scenario_label(n) for n in names),
        f"""<h1>Neuroendocrine cancer pathway in England: what would change?</h1>
<p>A discrete-event simulation of the NEN care pathway compares:</p><ul>{scen_list}</ul>
<p class="small">{_num(reps)} replications per scenario, {_num(c.get("years", ""))} measured
years after a {_num(c.get("warmup_years", ""))}-year warm-up, seed {_num(c.get("seed", ""))},
population scale {_num(scale)}. Ranges in brackets are 95% confidence intervals.</p>
{warn}{small}
{_TOC_SLOT}
{_ANSWERS_SLOT}
<h2 id='headlines'>Headlines</h2>{head_items}
<h2 id='key-results'>Key results</h2>
<p>Mean over replications (95% CI), and the paired difference from
{_e(scenario_label(names[0]))} (95% CI; bold where the interval excludes zero). Every KPI,
England and by region, is in <code>comparison.csv</code>.</p>
{_kpi_table(table, names, TABLE_KPIS)}
<h2 id='waits'>How long people wait</h2>
{
        _img(
            figs,
            "ecdf",
            "ECDFs of key intervals",
            "Cumulative distribution of each interval: the share of patients (y) whose interval "
            "was at most x days; further left is faster. Pooled over replications, patients "
            "diagnosed after the warm-up; dotted lines mark 28 and 62 days and the 14-day MDT "
            "target.",
        )
    }
<h2 id='stage'>Stage at diagnosis</h2>
{
        _img(
            figs,
            "stage",
            "Stage at diagnosis",
            "People diagnosed a year at each stage, as staging found it (England-scaled; error "
            "bars: 95% CI over replications). Each scenario's bars carry its paired difference "
            "from the base a year (95% CI; n.s. where it includes zero). Delay costs stage in "
            "the model: tumours advance while undiagnosed. Better staging (more Ga-68 PET) also "
            "moves people from localised to distant by finding spread CT missed, so more "
            "people 'diagnosed distant' is not by itself harm: the campaigners' box counts the "
            "true stage.",
        )
    }
<h2 id='standards'>NHS waiting-time standards</h2>
{
        _img(
            figs,
            "standards",
            "Share meeting each NHS standard",
            "28-day Faster Diagnosis Standard (urgent referral to diagnosis; threshold 75%), "
            "31-day decision to treatment (96%), 62-day referral or upgrade to treatment (85%) "
            f"{_REPORT_CITES}.",
        )
    }
<h3>Which step used the days in 62-day breaches</h3>
{
        _img(
            figs,
            "breach",
            "Breach attribution",
            "For patients treated more than 62 days after urgent referral (or consultant "
            "upgrade), the mean days each step used. The steps add up to the whole interval.",
        )
    }
{_breach_table(steps, names)}
<h2 id='backlog'>Specialist MDT backlog over time</h2>
{_policy_start_paragraph(c, names)}
{
        _img(
            figs,
            "backlog",
            "MDT backlog over time",
            "Cases still waiting after the week's specialist NET MDT meetings, all regions, "
            "England-scaled (divided by the population scale). Grey: not measured (warm-up); "
            "black line: the policy start, where the scenarios leave their shared history. The "
            "spikes are mostly the weeks after Christmas, New Year and Easter: a meeting that "
            "falls on a bank holiday is not held, so that week's cases wait another week (in one "
            "replication checked, 7 of the 10 largest week-on-week jumps followed a bank "
            "holiday on the meeting's weekday).",
        )
    }
<h3>Year by year{
        " after the policy start"
        if float(c.get("policy_start_days", 0) or 0) > 0
        else " in the measured window"
    }</h3>
{
        _img(
            figs,
            "yearly",
            "Yearly path after the policy start",
            "Each measured year (1 = the first year of the measured window): the specialist MDT "
            "backlog (mean of the weekly values, England-scaled), and, for the people diagnosed "
            "that year, the median days from first presentation to diagnosis and the share "
            "with distant spread; means over replications.",
        )
    }
<h2 id='capacity'>Capacity resources: how much is used</h2>
{_UTILISATION_SLOT}
<h2 id='regions'>Regions</h2>
{
        _img(
            figs,
            "regional",
            "Regional spread",
            "Each NHS region (95% CI over replications). The spread between regions is the "
            "equity measure; its change is tabulated below.",
        )
    }
<p>Gap between the highest and lowest region, per replication, then averaged (95% CI):</p>
{_range_table(table, names)}
{_REGIONS_SLOT}
{_ECONOMICS_SLOT}
<h2 id='closing'>Closing note: effects opposite to what the levers imply</h2>
{_closing(unexpected)}
<h2 id='methods'>Methods (STRESS-DES)</h2>
{_methods(manifest, names, resolved, sources, descriptions)}
<p class="small">Built by <code>nenpath report</code> from the stored results in this folder
(manifest.json, replications.csv, patients.parquet, series.parquet, scenario_sources.json).
Sources [Sx] refer to the project's evidence table (docs/evidence.md); their references
close the methods.</p>
""",
    )
