"""The levers a variant built in the app can change, and the TOML overlay made from them.

A variant is an overlay file (``extends = "<base>"``, see :mod:`sim.scenario.loader`) that gives
only the values the user changed from the base, each commented ``# assumption: set in the web
app``; it is checked by the same loader as ``nenpath validate`` (:func:`validate_overlay`), so
the app shows the command line's messages, and each problem is placed next to the control that
set the value (:func:`control_for`).

The levers are those the scenario files use (``scenarios/interventions/``): GP referral
guidance and awareness, primary-care CgA and imaging, Ga-68 PET for well-differentiated NETs,
PET lists and specialist-MDT slots by region, meetings a week, everyone referred to a specialist
MDT, virtual hub-and-spoke MDTs, PRRT capacity and a clinical nurse specialist.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.errors import Problem, ScenarioError
from sim.model.resources import kind_of
from sim.scenario.loader import load_scenario_file
from sim.scenario.schema import REGIONS, Scenario, Sessions

NOTE = "assumption: set in the web app"
"""The source comment of every value a user sets in the app."""

WELL_DIFFERENTIATED = ("G1", "G2", "G3")

# Values copied from the intervention files, so a variant built here means what they mean.
_HUB = {  # scenarios/interventions/virtual_hub_and_spoke_mdt.toml
    "local_mdt_first_probability": 0.20,
    "referral_processing_days": {"dist": "gamma", "mean": 3, "sd": 2},
    "results_cutoff_days": 1,
    "cancel_probability": 0.005,
}
_HUB_LOCAL_FIRST = 0.20
_CNS_MEAN_DAYS = 4.0
_CNS_DAYS = {"dist": "gamma", "mean": 4, "sd": 2}  # interventions/clinical_nurse_specialist.toml
_TWICE_WEEKLY = [{"weekday": "tue", "hour": 13.0}, {"weekday": "fri", "hour": 13.0}]
FIXED_COST_FILES = {
    "gp_awareness_campaign": "gp_awareness_campaign.toml",
    "clinical_nurse_specialists": "clinical_nurse_specialist.toml",
    "extra_specialist_mdt_meetings": "extra_specialist_mdt_session.toml",
}
"""The intervention file (in ``scenarios/interventions/``) that costs each lever's fixed cost."""


def fixed_cost(key: str) -> tuple[float, str]:
    """A lever's fixed yearly cost and its source comment, read from the intervention file
    that declares it (declared once: a variant built here costs what that file costs)."""
    from sim.app.web.jobs import scenarios_root
    from sim.reporting.report import scenario_sources, source_of

    path = scenarios_root() / "interventions" / FIXED_COST_FILES[key]
    scenario, _ = load_scenario_file(path)
    assert scenario.economics is not None, path
    value = float(scenario.economics.fixed_costs_per_year[key])
    comment = source_of(f"economics.fixed_costs_per_year.{key}", scenario_sources(path))
    return value, f"as scenarios/interventions/{path.name}: {comment}"


@dataclass(frozen=True)
class Control:
    """One widget of the variant builder."""

    key: str
    """Widget key (``st.session_state``)."""
    label: str
    kind: str
    """``share`` (0-1), ``count`` (whole number) or ``toggle``."""
    paths: tuple[str, ...]
    """Dotted scenario keys the control sets (where validation problems are placed)."""
    help: str = ""
    group: str = ""


def controls() -> list[Control]:
    """Every control of the variant builder, in the order the page shows them."""
    gp = "presentation.gp."
    out = [
        Control(
            "urgent_share",
            "NENs in NICE referral guidance: share of would-be misattributions referred urgently",
            "share",
            (gp + "misattribution_to_urgent_share",),
            "0 in current practice; the Ideal Pathway assumes 0.2",
            "Primary care",
        ),
        Control(
            "tests_share",
            "GP awareness campaign: share of would-be misattributions tested instead",
            "share",
            (gp + "misattribution_to_tests_share",),
            "0 in current practice; the Ideal Pathway assumes 0.3 (adds the campaign's cost)",
            "Primary care",
        ),
        Control(
            "cga",
            "Primary-care chromogranin A: chance a test round includes CgA",
            "share",
            (gp + "cga_requested_probability",),
            "0.05 in current practice; 0.5 with referral guidance",
            "Primary care",
        ),
        Control(
            "imaging",
            "Direct-access imaging: chance a test round includes CT/ultrasound",
            "share",
            (gp + "imaging_requested_probability",),
            "",
            "Primary care",
        ),
        Control(
            "pet_share",
            "Ga-68 PET: share of well-differentiated NETs (G1-G3) scanned",
            "share",
            tuple(f"diagnostics.pet_share_by_grade.{g}" for g in WELL_DIFFERENTIATED),
            "about 0.5 in current practice; 1 in the Ideal Pathway",
            "Diagnosis",
        ),
    ]
    out += [
        Control(
            f"pet_slots.{r}",
            _region(r),
            "count",
            (f"resources.pet.slots_per_session.{r}", "resources.pet.slots_per_session"),
            "Ga-68 PET scans per list",
            "PET slots per list",
        )
        for r in REGIONS
    ]
    out += [
        Control(
            "all_referred",
            "Everyone referred to a specialist NET MDT",
            "toggle",
            ("mdt.specialist_referral_probability_by_region",),
            "Ideal Pathway and national commissioning; slots are not changed by this",
            "Specialist MDT",
        ),
        Control(
            "hub_and_spoke",
            "Virtual hub-and-spoke specialist MDTs",
            "toggle",
            (
                "mdt.local_mdt_first_probability",
                "mdt.referral_processing_days",
                "resources.specialist_mdt.results_cutoff_days",
                "resources.specialist_mdt.cancel_probability",
            ),
            "spokes present directly at the hub, electronic referral, later results cut-off, "
            "meetings rarely lost (as interventions/virtual_hub_and_spoke_mdt.toml)",
            "Specialist MDT",
        ),
        Control(
            "mdt_meetings",
            "Specialist MDT meetings a week",
            "count",
            ("resources.specialist_mdt.sessions",),
            "1 or 2 (a second meeting on Friday; slots below are per meeting)",
            "Specialist MDT",
        ),
    ]
    out += [
        Control(
            f"mdt_slots.{r}",
            _region(r),
            "count",
            (
                f"resources.specialist_mdt.slots_per_session.{r}",
                "resources.specialist_mdt.slots_per_session",
            ),
            "specialist MDT case slots per meeting",
            "Specialist MDT slots per meeting",
        )
        for r in REGIONS
    ]
    out += [
        Control(
            "cns",
            "A clinical nurse specialist for every patient",
            "toggle",
            ("mdt.outcome_to_decision_days",),
            "shorter MDT outcome to decision to treat (adds the nurses' cost)",
            "Treatment",
        ),
        Control(
            "prrt_slots",
            "PRRT cycles per treatment day (England)",
            "count",
            ("resources.prrt.slots_per_session",),
            "5 in current practice; ring-fenced PRRT is 6",
            "Treatment",
        ),
    ]
    return out


def _region(r: str) -> str:
    return " ".join(w if w in ("and", "of") else w.capitalize() for w in r.split("_"))


def base_values(scenario: Scenario) -> dict[str, Any]:
    """Each control's value in ``scenario`` (the widgets start there)."""
    gp = scenario.presentation.gp
    mdt = scenario.mdt
    res = scenario.resources
    values: dict[str, Any] = {
        "urgent_share": gp.misattribution_to_urgent_share,
        "tests_share": gp.misattribution_to_tests_share,
        "cga": gp.cga_requested_probability,
        "imaging": gp.imaging_requested_probability,
        "pet_share": float(scenario.diagnostics.pet_share_by_grade["G1"]),
        "all_referred": all(
            mdt.specialist_referral_probability_by_region[r] >= 1.0 for r in REGIONS
        ),
        "hub_and_spoke": mdt.local_mdt_first_probability <= _HUB_LOCAL_FIRST,
        "cns": _dist_mean(mdt.outcome_to_decision_days) <= _CNS_MEAN_DAYS,
    }
    for name, key in (("pet", "pet_slots"), ("specialist_mdt", "mdt_slots")):
        spec = getattr(res, name)
        for r in REGIONS:
            values[f"{key}.{r}"] = _capacity(spec, r)
    mdt_spec = res.specialist_mdt
    values["mdt_meetings"] = len(mdt_spec.sessions) if isinstance(mdt_spec, Sessions) else 1
    values["prrt_slots"] = _capacity(res.prrt, None)
    return values


def _capacity(spec: Any, region: str | None) -> int | None:
    return kind_of(spec).capacity(spec, region)


def _dist_mean(dist: Any) -> float:
    return float(dist.mean())


Tables = dict[str, list[tuple[str, Any, str]]]
"""Overlay tables: TOML table header -> [(key, value, comment)]."""


def overlay_tables(values: dict[str, Any], base: Scenario) -> Tables:
    """The overlay's tables: only what differs from ``base`` (``values`` from the widgets;
    a missing key is the base's value)."""
    start = base_values(base)
    v = {**start, **values}
    changed = {k for k in start if v[k] != start[k]}
    tables: Tables = {}

    def put(table: str, key: str, value: Any, comment: str = NOTE) -> None:
        tables.setdefault(table, []).append((key, value, comment))

    labels = {c.key: c.label for c in controls()}
    for key, field in (
        ("urgent_share", "misattribution_to_urgent_share"),
        ("tests_share", "misattribution_to_tests_share"),
        ("cga", "cga_requested_probability"),
        ("imaging", "imaging_requested_probability"),
    ):
        if key in changed:
            put("presentation.gp", field, v[key], f"{NOTE} ({labels[key]})")
    if "pet_share" in changed:
        for g in WELL_DIFFERENTIATED:
            put("diagnostics.pet_share_by_grade", g, v["pet_share"], f"{NOTE} (PET share)")
    for name, key in (("pet", "pet_slots"), ("specialist_mdt", "mdt_slots")):
        if any(f"{key}.{r}" in changed for r in REGIONS):
            # Every region is named: the base may give one number for all of them.
            for r in REGIONS:
                put(f"resources.{name}.slots_per_session", r, v[f"{key}.{r}"])
    if "all_referred" in changed and v["all_referred"]:
        for r in REGIONS:
            put("mdt.specialist_referral_probability_by_region", r, 1.0, f"{NOTE} (everyone)")
    if "hub_and_spoke" in changed and v["hub_and_spoke"]:
        why = f"{NOTE} (virtual hub-and-spoke MDT, as interventions/virtual_hub_and_spoke_mdt)"
        put("mdt", "local_mdt_first_probability", _HUB["local_mdt_first_probability"], why)
        put("mdt", "referral_processing_days", _HUB["referral_processing_days"], why)
        put("resources.specialist_mdt", "results_cutoff_days", _HUB["results_cutoff_days"], why)
        put("resources.specialist_mdt", "cancel_probability", _HUB["cancel_probability"], why)
    if "cns" in changed and v["cns"]:
        put(
            "mdt",
            "outcome_to_decision_days",
            _CNS_DAYS,
            f"{NOTE} (clinical nurse specialist, as interventions/clinical_nurse_specialist)",
        )
    if "mdt_meetings" in changed:
        meetings = v["mdt_meetings"]
        sessions: Any = _TWICE_WEEKLY[:1] if meetings == 1 else _TWICE_WEEKLY
        if meetings not in (1, 2):
            sessions = meetings  # not a list: the loader says what is allowed
        put("resources.specialist_mdt", "sessions", sessions, f"{NOTE} (meetings a week)")
    if "prrt_slots" in changed:
        put("resources.prrt", "slots_per_session", v["prrt_slots"])
    if base.economics is not None:
        have = base.economics.fixed_costs_per_year
        wanted = []
        if "tests_share" in changed and v["tests_share"] > 0:
            wanted.append("gp_awareness_campaign")
        if "cns" in changed and v["cns"]:
            wanted.append("clinical_nurse_specialists")
        if "mdt_meetings" in changed and v["mdt_meetings"] == 2:
            wanted.append("extra_specialist_mdt_meetings")
        for cost in wanted:
            if cost not in have:
                value, comment = fixed_cost(cost)
                put("economics.fixed_costs_per_year", cost, value, comment)
    return tables


def slug(title: str) -> str:
    """A scenario name from a title: lower-case words joined by ``_`` (``variant`` if none)."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    name = "_".join(words)[:40].strip("_")
    return name or "variant"


def overlay_text(tables: Tables, title: str, extends: str, *, header: str = "") -> str:
    """The overlay as TOML (one value a line, each with its comment)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if lines:
        lines.append("")
    lines += [
        f"extends = {_toml(extends)}",
        f"name = {_toml(slug(title))}",
        f"title = {_toml(title.strip() or 'A variant')}",
        'description = "Built in the nen-pathway web app"',
    ]
    for table, rows in tables.items():
        lines += ["", f"[{table}]"]
        lines += [f"{key} = {_toml(value)}  # {comment}" for key, value, comment in rows]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if value is None:
        return '"none"'  # TOML has no null: the loader names the key and what is allowed
    raise TypeError(f"cannot write {value!r} as TOML")


def extends_path(base_file: Path, folder: Path) -> str:
    """``base_file`` relative to ``folder`` (where the overlay is written), POSIX style."""
    return Path(os.path.relpath(base_file.resolve(), folder.resolve())).as_posix()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_overlay(text_for: Any, base_file: Path, root: Path, title: str) -> Path:
    """Write the overlay for running under ``root/overlays/<hash>/<name>.toml`` (content
    addressed: the same variant is the same file, and no session overwrites another's).
    ``text_for(extends)`` gives the text for a given ``extends`` path."""
    probe = text_for(base_file.resolve().as_posix())
    folder = root / "overlays" / content_hash(probe)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(title)}.toml"
    text = text_for(extends_path(base_file, folder))
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return path


@dataclass
class Checked:
    """What :func:`validate_overlay` found."""

    scenario: Scenario | None
    problems: list[Problem]
    path: Path


def validate_overlay(path: Path) -> Checked:
    """Load the overlay file as ``nenpath validate`` does: the scenario, or its problems."""
    try:
        scenario, _ = load_scenario_file(path)
    except ScenarioError as exc:
        return Checked(None, list(exc.problems), path)
    return Checked(scenario, [], path)


def control_for(key: str) -> str | None:
    """The control whose value a problem at dotted ``key`` is about (None: the overlay as a
    whole, shown by the overlay's text)."""
    best: tuple[int, str] | None = None
    for c in controls():
        for p in c.paths:
            if (key == p or key.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), c.key)
    return best[1] if best else None


def problem_text(p: Problem) -> str:
    """One problem as the command line prints it."""
    return str(p)
