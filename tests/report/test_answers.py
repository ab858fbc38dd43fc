"""The report's answer boxes and regional headlines, on hand-made comparison tables and on the
shipped scenario files."""

from __future__ import annotations

import pandas as pd

from sim.reporting.answers import (
    campaigner_box,
    changed_regions,
    largest_effects,
    planner_box,
    regional_headlines,
    regional_lever,
    scale_caution,
)
from sim.reporting.compare import COMPARISON_COLUMNS
from sim.scenario.loader import load_scenario, scenario_dict
from sim.scenario.schema import REGIONS
from tests.helpers import BASELINE, SCENARIOS


def _table(rows: dict[str, tuple[float, float, float, float, float]]) -> pd.DataFrame:
    """A comparison table of base "cp" and scenario "x": kpi -> (base mean, x mean, diff,
    diff CI low, diff CI high)."""
    out = []
    for kpi, (b, m, d, lo, hi) in rows.items():
        out.append([kpi, "cp", b, b, b, 0.0, 0.0, 0.0])
        out.append([kpi, "x", m, m, m, d, lo, hi])
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)


def test_a_regional_table_change_is_found_region_by_region() -> None:
    base = {"resources": {"pet": {"slots_per_session": 4, "kind": "sessions"}}, "title": "a"}
    scen = {
        "resources": {
            "pet": {"slots_per_session": {r: 8 if r == "north_west" else 4 for r in REGIONS},
                    "kind": "sessions"}
        },
        "title": "b",
    }  # fmt: skip
    assert changed_regions(base, scen) == {"resources.pet.slots_per_session": ["north_west"]}
    assert regional_lever(base, scen) == {"resources.pet.slots_per_session": ["north_west"]}
    # Something national changes too: not a regional lever.
    national = {**scen, "gp": {"awareness": 2}}
    assert regional_lever({**base, "gp": {"awareness": 1}}, national) == {}
    # Every region changes: a national lever in regional clothing.
    every = {"resources": {"pet": {"slots_per_session": dict.fromkeys(REGIONS, 6),
                                   "kind": "sessions"}}, "title": "b"}  # fmt: skip
    assert regional_lever(base, every) == {}


def test_shipped_scenarios_regional_or_not() -> None:
    cp = scenario_dict(load_scenario(BASELINE))
    nw = scenario_dict(load_scenario(SCENARIOS / "interventions" / "north_west_pet_double.toml"))
    ideal = scenario_dict(load_scenario(SCENARIOS / "ideal_pathway.toml"))
    assert regional_lever(cp, nw) == {"resources.pet.slots_per_session": ["north_west"]}
    assert regional_lever(cp, ideal) == {}
    assert regional_lever(cp, cp) == {}


def test_regional_headlines_name_the_region_and_its_resource_kpi() -> None:
    t = _table(
        {
            "pet_wait_days_median__north_west": (4.6, 2.3, -2.3, -3.0, -1.6),
            "pet_wait_days_median__london": (4.0, 4.0, 0.0, 0.0, 0.0),
            "rtt_62d_share__north_west": (0.40, 0.41, 0.01, -0.01, 0.03),
        }
    )
    lines = regional_headlines(t, "cp", "x", {"resources.pet.slots_per_session": ["north_west"]})
    assert "North West only" in lines[0]
    text = " ".join(lines)
    assert "from 4.6 days to 2.3 days" in text and "in North West" in text
    assert "London" not in text  # a region the lever does not change gets no headline
    assert "cannot tell" in text  # the 62-day share's CI includes zero, and it says so


def test_largest_effects_rank_by_relative_size_and_skip_noise() -> None:
    t = _table(
        {
            "rtt_62d_share": (0.40, 0.50, 0.10, 0.08, 0.12),  # +25%
            "pet_wait_days_median": (4.0, 2.0, -2.0, -2.5, -1.5),  # -50%
            "fds_28d_share": (0.80, 0.82, 0.02, 0.01, 0.03),  # +2.5%
            "nen_deaths_per_year": (2000.0, 1000.0, -1000.0, -2500.0, 500.0),  # CI has zero
            "diagnosed_per_year": (4000.0, 8000.0, 4000.0, 3000.0, 5000.0),  # no direction
            "prrt_wait_days_median": (5.0, 6.0, 1.0, 0.5, 1.5),  # +20%, worse
        }
    )
    effects = largest_effects(t, "cp", "x")
    assert len(effects) == 3
    assert effects[0].startswith("Median wait for Ga-68 DOTATATE PET")
    assert "better for patients" in effects[0]
    assert effects[1].startswith("First treatments within 62 days")
    assert effects[2].startswith("Median wait for the first PRRT cycle")
    assert "worse for patients" in effects[2]


def test_campaigner_box_counts_people_and_months() -> None:
    t = _table(
        {
            "symptom_to_diagnosis_days_median": (432.0, 372.0, -60.0, -74.0, -45.0),
            "spread_before_diagnosis_per_year": (2394.0, 2332.0, -62.0, -85.0, -39.0),
            "nen_deaths_per_year": (2196.0, 2161.0, -35.0, -82.0, 12.0),
        }
    )
    box = campaigner_box(t, "cp", ["cp", "x"])
    assert "14.2 months to 12.2 months" in box
    assert "<b>62 fewer</b> people a year would have their NEN spread before diagnosis" in box
    assert "95% CI 39 to 85" in box
    assert "cannot tell whether fewer people a year would die of their NEN" in box


def test_planner_box_flags_the_busiest_and_gives_the_size_command() -> None:
    util = pd.DataFrame(
        [
            ("pet", "north_west", "cp", 0.97, 9.0, 40.0),
            ("pet", "london", "cp", 0.60, 2.0, 5.0),
            ("pet", "north_west", "x", 0.50, 2.0, 4.0),
            ("prrt", "national", "cp", 0.80, 6.0, 30.0),
        ],
        columns=["base", "region", "scenario", "utilisation", "wait_days_median", "waiting_mean"],
    )
    box = planner_box(util, "cp", ["cp", "x"], "scenarios/current_practice.toml")
    assert "North West: <b>97%</b> &#9888;" in box
    assert (
        "nenpath size scenarios/current_practice.toml --resource pet.north_west "
        "--kpi pet_wait_days_median__north_west --target 14 --scale 1"
    ) in box
    assert scale_caution(1.0) == "" and "biased" in scale_caution(0.1)
