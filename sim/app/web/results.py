"""What a stored run folder says, for the app's pages: read from disk only, never run.

The sentences are the report's own (:func:`sim.reporting.compare.statement` and
:func:`sim.measures.economics.economic_headline`), grouped here by the kind of user who asks
them (campaigners, policy analysts, NHS planners).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.errors import RunControlError
from sim.core.io import read_manifest
from sim.measures.economics import ECONOMICS_FILE, economic_headline
from sim.reporting.compare import (
    COMPARISON_FILE,
    HEADLINE_KPIS,
    REGIONS_FILE,
    UTILISATION_FILE,
    fmt_value,
    lookup,
    scenario_label,
    scenario_titles,
    statement,
    titles_of,
    unchanged,
)
from sim.reporting.report import REPORT_FILE

USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Campaigners",
        "time to diagnosis and how many people's cancer spreads first",
        (
            "diagnostic_interval_days_median",
            "symptom_to_diagnosis_days_median",
            "distant_diagnosed_per_year",
            "spread_before_diagnosis_per_year",
            "nen_deaths_per_year",
        ),
    ),
    (
        "Policy analysts",
        "value for money, outcomes and equity between regions",
        (
            "economics",
            "one_year_survival_share",
            "five_year_survival_share",
            "emergency_presentation_share",
            "diagnostic_interval_days_median_region_range",
        ),
    ),
    (
        "NHS planners",
        "waiting-time standards and specialist MDT capacity",
        (
            "fds_28d_share",
            "rtt_62d_share",
            "specialist_mdt_discussed_share",
            "diagnosis_to_specialist_mdt_days_median",
        ),
    ),
)
"""Who asks which headline: (kind of user, what they ask, KPIs; ``economics`` is the outcomes
and costs sentence). A headline KPI no group names goes to the policy analysts."""


@dataclass
class Comparison:
    """A stored comparison (or single run) read back."""

    folder: Path
    manifest: dict[str, Any]
    names: list[str]
    table: pd.DataFrame
    regions: pd.DataFrame = field(default_factory=pd.DataFrame)
    economics: pd.DataFrame = field(default_factory=pd.DataFrame)
    utilisation: pd.DataFrame = field(default_factory=pd.DataFrame)
    titles: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.names[0]

    @property
    def report(self) -> Path | None:
        p = self.folder / REPORT_FILE
        return p if p.is_file() else None

    def label(self, name: str, short: bool = False) -> str:
        with scenario_titles(self.titles):
            return scenario_label(name, short)

    @property
    def replications(self) -> int:
        return int(self.manifest.get("replications") or 0)


def _csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return pd.DataFrame()


def load_comparison(folder: Path) -> Comparison:
    """Read ``comparison.csv`` and its companions; :class:`RunControlError` (one line) if the
    folder holds no finished comparison."""
    manifest = read_manifest(folder)
    table = _csv(folder / COMPARISON_FILE)
    if manifest is None or table.empty or "scenario" not in table:
        raise RunControlError(
            f"{folder}: no finished comparison here (manifest.json and comparison.csv are "
            "needed); for a folder from `nenpath run`, `nenpath report` writes them"
        )
    present = set(table["scenario"])
    names = [
        s["name"]
        for s in manifest.get("scenarios", [])
        if isinstance(s, dict) and s.get("name") in present
    ] or list(dict.fromkeys(table["scenario"]))
    resolved = {
        s["name"]: s.get("resolved", {})
        for s in manifest.get("scenarios", [])
        if isinstance(s, dict) and "name" in s
    }
    return Comparison(
        folder=folder,
        manifest=manifest,
        names=names,
        table=table,
        regions=_csv(folder / REGIONS_FILE),
        economics=_csv(folder / ECONOMICS_FILE),
        utilisation=_csv(folder / UTILISATION_FILE),
        titles=titles_of(resolved),
    )


def headlines_by_user(c: Comparison) -> dict[str, dict[str, list[str]]]:
    """``{scenario: {kind of user: [sentences]}}`` for every scenario but the base; KPIs a
    scenario leaves exactly unchanged are gathered into one closing sentence, as the report
    does."""
    group_of = {k: user for user, _, kpis in USERS for k in kpis}
    out: dict[str, dict[str, list[str]]] = {}
    with scenario_titles(c.titles):
        for scen in c.names[1:]:
            groups: dict[str, list[str]] = {user: [] for user, _, _ in USERS}
            same: list[str] = []
            econ = (
                c.economics[c.economics["scenario"] == scen]
                if "scenario" in c.economics
                else pd.DataFrame()
            )
            if not econ.empty:
                row = econ.iloc[0].to_dict()
                row["icer_note"] = "" if _missing(row.get("icer_note")) else row["icer_note"]
                groups[group_of["economics"]].append(economic_headline(row, scenario_label(scen)))
            for kpi, words in HEADLINE_KPIS:
                row = lookup(c.table, kpi, scen)
                user = group_of.get(kpi, "Policy analysts")
                if unchanged(row):
                    same.append(f"{words} ({fmt_value(kpi, row['mean'])})")
                    continue
                text = statement(c.table, kpi, words, c.base, scen)
                if text is not None:
                    groups[user].append(text)
            if same:
                groups["Policy analysts"].append(
                    f"{scenario_label(scen)} leaves unchanged, identically in every paired "
                    f"replication (its levers act on other parts of the pathway): "
                    f"{'; '.join(same)}."
                )
            out[scen] = groups
    return out


def value_ci(kpi: str, mean: float, lo: float, hi: float) -> str:
    """``54 days (48-61 days)``: a value and its 95% CI as people read them."""
    if lo != lo or hi != hi:
        return fmt_value(kpi, mean)
    low, high = fmt_value(kpi, lo), fmt_value(kpi, hi)
    unit = high.partition(" ")[2]
    low = low.partition(" ")[0] if unit and low.endswith(unit) else low
    return f"{fmt_value(kpi, mean)} ({low} to {high})"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def kpi_frame(c: Comparison, kpis: list[tuple[str, str]], scale: float = 1.0) -> pd.DataFrame:
    """Long table ``label, scenario, mean, ci_low, ci_high, text`` of ``kpis`` ((name,
    label)) for every scenario: what a chart draws and the table beside it shows."""
    rows = []
    for kpi, label in kpis:
        for scen in c.names:
            r = lookup(c.table, kpi, scen)
            if math.isnan(r["mean"]):
                continue
            rows.append(
                {
                    "kpi": kpi,
                    "measure": label,
                    "scenario": c.label(scen, short=True),
                    "mean": r["mean"] * scale,
                    "ci_low": r["ci_low"] * scale,
                    "ci_high": r["ci_high"] * scale,
                    "value (95% CI)": value_ci(kpi, r["mean"], r["ci_low"], r["ci_high"]),
                }
            )
    return pd.DataFrame(rows)


def regional_frame(c: Comparison, kpi: str) -> pd.DataFrame:
    """``region, scenario, mean, ci_low, ci_high, value (95% CI)`` of ``kpi`` by NHS region."""
    r = c.regions
    if r.empty or "kpi" not in r:
        return pd.DataFrame()
    sub = r[(r["kpi"] == kpi) & (r["region"] != "england")].copy()
    if sub.empty:
        return sub
    sub = sub[sub["scenario"].isin(c.names)]
    sub["scenario"] = [c.label(s, short=True) for s in sub["scenario"]]
    sub["value (95% CI)"] = [
        value_ci(kpi, m, lo, hi)
        for m, lo, hi in zip(sub["mean"], sub["ci_low"], sub["ci_high"], strict=True)
    ]
    return sub[["region", "scenario", "mean", "ci_low", "ci_high", "value (95% CI)"]]


def regional_table(c: Comparison, kpis: list[str]) -> pd.DataFrame:
    """One row per region, one column per scenario x KPI: the regional picture as a table."""
    frames = []
    for kpi in kpis:
        f = regional_frame(c, kpi)
        if f.empty:
            continue
        f = f.assign(column=[f"{kpi} · {s}" for s in f["scenario"]])
        frames.append(f.pivot(index="region", columns="column", values="value (95% CI)"))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, axis=1).reset_index()


@dataclass
class Sizing:
    folder: Path
    manifest: dict[str, Any]
    table: pd.DataFrame

    @property
    def message(self) -> str:
        return str(self.manifest.get("message") or "")

    @property
    def recommended(self) -> int | None:
        r = self.manifest.get("recommended")
        return int(r) if isinstance(r, int | float) else None


def load_sizing(folder: Path) -> Sizing:
    manifest = read_manifest(folder)
    table = _csv(folder / "sizing.csv")
    if manifest is None or manifest.get("kind") != "sizing" or table.empty:
        raise RunControlError(f"{folder}: no finished sizing here (sizing.csv is needed)")
    return Sizing(folder, manifest, table)


def summary_frame(folder: Path) -> pd.DataFrame:
    """``summary.csv`` of a single run (``nenpath run``)."""
    return _csv(folder / "summary.csv")
