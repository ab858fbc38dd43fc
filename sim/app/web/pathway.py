"""Watch the pathway: a sample of patients moving through its queues and MDTs, animated.

One small replication is simulated (:func:`sim.model.simulation.simulate`) and its event log
turned into the vidigi convention (:func:`sim.measures.event_table.events_frame`: ``entity_id``,
``event``, ``time``, ``resource``). Each patient's step is the last pathway event seen (with
their GP, referred, waiting for pathology, PET, a local or specialist MDT, awaiting a decision
or treatment); they leave the picture when their first treatment starts or they die. vidigi
(:func:`vidigi.animation.animate_activity_log`) draws the queues; :func:`step_counts` is the
same picture as a table (the text alternative).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.measures.event_table import events_frame
from sim.model.simulation import simulate
from sim.scenario.loader import load_scenario_file, with_population_scale
from sim.scenario.schema import RunControls

STEPS: tuple[tuple[str, str], ...] = (
    ("gp", "With their GP"),
    ("secondary_care", "Tests and biopsy"),
    ("pathology", "Pathology queue"),
    ("diagnosed", "Diagnosed: staging"),
    ("pet", "Ga-68 PET queue"),
    ("local_mdt", "Local MDT queue"),
    ("specialist_mdt", "Specialist MDT queue"),
    ("decision", "Discussed: to decide"),
    ("treatment", "Treatment queue"),
)
"""The steps drawn, in pathway order (event name, label)."""

_BY_EVENT = {
    "presentation": "gp",
    "gp_consultation": "gp",
    "primary_care_test": "gp",
    "referral": "secondary_care",
    "first_seen": "secondary_care",
    "tests_reported": "secondary_care",
    "biopsy": "secondary_care",
    "diagnosis": "diagnosed",
    "restaged": "diagnosed",
    "decision_to_treat": "treatment",
}
_BY_QUEUE = {
    "histopathology": "pathology",
    "pet": "pet",
    "local_mdt": "local_mdt",
    "specialist_mdt": "specialist_mdt",
    "surgery": "treatment",
    "prrt": "treatment",
}


@dataclass
class Watched:
    log: pd.DataFrame
    """vidigi event log: ``entity_id, event_type, event, time`` (days from the window start)."""
    patients: int
    days: float


def pathway_log(
    scenario_file: Path,
    *,
    patients: int = 60,
    window_weeks: int = 26,
    scale: float = 0.05,
    warmup_years: float = 1.0,
    seed: int = 12345,
) -> Watched:
    """Simulate one replication at ``scale`` and keep up to ``patients`` people (chosen with a
    seeded generator) who first present in the first half of a ``window_weeks`` window after
    ``warmup_years``; their steps until first treatment, death or the window's end."""
    scenario, defaults = load_scenario_file(scenario_file)
    scenario = with_population_scale(scenario, scale)
    years = (window_weeks * 7) / 365.25 + 0.05
    controls = RunControls.model_validate(
        {**defaults.model_dump(), "replications": 1, "years": years, "warmup_years": warmup_years,
         "seed": seed, "workers": 1}
    )  # fmt: skip
    result = simulate(scenario, 0, controls)
    ev = events_frame(result.events, [r.name for r in result.resources])
    return to_vidigi(ev, result.warmup_days, window_weeks * 7.0, patients, seed)


def to_vidigi(ev: pd.DataFrame, start: float, days: float, patients: int, seed: int = 0) -> Watched:
    """The vidigi log of ``patients`` people (seeded sample) who present in
    ``[start, start + days / 2)``, times relative to ``start``, cut at ``start + days``."""
    ev = ev[ev["entity_id"] >= 0]
    first = ev[ev["event"] == "presentation"].groupby("entity_id")["time"].min()
    eligible = first[(first >= start) & (first < start + days / 2)].index.to_numpy()
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(patients, len(eligible)), replace=False))
    ev = ev[ev["entity_id"].isin(chosen)].sort_values(["entity_id", "time"], kind="stable")
    rows: list[dict[str, Any]] = []
    for pid, sub in ev.groupby("entity_id", sort=True):
        last = None
        t0 = float(sub["time"].iloc[0]) - start
        rows.append({"entity_id": int(pid), "event_type": "arrival_departure",
                     "event": "arrival", "time": t0})  # fmt: skip
        end = days
        for event, t, resource in zip(
            sub["event"].astype(str), sub["time"], sub.get("resource", ""), strict=True
        ):
            t = float(t) - start
            if t >= days:
                break
            if event in ("treatment_start", "death", "discharged"):
                end = t
                break
            step = _BY_EVENT.get(event)
            if event == "queue_join":
                step = _BY_QUEUE.get(str(resource).split(".")[0])
            elif event == "service_start" and str(resource).split(".")[0].endswith("_mdt"):
                step = "decision"
            if step is not None and step != last:
                rows.append({"entity_id": int(pid), "event_type": "queue", "event": step,
                             "time": t})  # fmt: skip
                last = step
        rows.append({"entity_id": int(pid), "event_type": "arrival_departure",
                     "event": "depart", "time": end})  # fmt: skip
    log = pd.DataFrame(rows, columns=["entity_id", "event_type", "event", "time"])
    return Watched(log, len(chosen), days)


def positions() -> pd.DataFrame:
    """Where each step is drawn: three rows of three queues, in pathway order (a queue grows
    to the left of its label's point)."""
    rows = [{"event": "arrival", "x": 30, "y": 600, "label": "Arrival"}]
    for i, (event, label) in enumerate(STEPS):
        row, col = divmod(i, 3)
        rows.append({"event": event, "x": 400 + 450 * col, "y": 520 - 190 * row, "label": label})
    rows.append({"event": "depart", "x": 1400, "y": 30, "label": "Treated or left"})
    return pd.DataFrame(rows)


def step_counts(w: Watched, every_days: float = 7.0) -> pd.DataFrame:
    """How many of the sample are at each step at the start of each week (the animation as a
    table)."""
    log = w.log
    times = np.arange(0.0, w.days, every_days)
    labels = dict(STEPS)
    out = []
    for t in times:
        seen = log[log["time"] <= t].groupby("entity_id").tail(1)
        now = seen[seen["event"] != "depart"]
        counts = now["event"].map(labels).value_counts()
        at = {label: int(counts.get(label, 0)) for _, label in STEPS}
        out.append({"week": int(t // 7), **at})
    return pd.DataFrame(out)


def animate(w: Watched) -> Any:
    """The vidigi animation (a plotly figure) of :func:`pathway_log`'s sample, a frame a week."""
    from vidigi.animation import animate_activity_log

    return animate_activity_log(
        event_log=w.log,
        event_position_df=positions(),
        simulation_time_unit="days",
        every_x_time_units=7,
        limit_duration=int(w.days),
        plotly_height=640,
        plotly_width=1300,
        wrap_queues_at=10,
        step_snapshot_max=30,
        entity_icon_size=16,
        gap_between_entities=16,
        # A plain dot: emoji icons need an emoji font, which many machines lack.
        custom_entity_icon_list=["●"],
        stage_label_offset=30,
        text_size=14,
        override_x_max=1500,
        override_y_max=640,
        frame_duration=600,
        frame_transition_duration=400,
        debug_mode=False,
    )
