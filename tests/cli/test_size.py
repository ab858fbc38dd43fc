"""`nenpath size`: the search, the capacity curve, the infeasible case and bad input.

Small scale (5% of England, half a year of warm-up, one measured year, three replications), so
capacities move in steps of 20 England slots (one slot a session in the run); the curve's shape,
not its values, is tested.
Independent truths: the search against brute force over every monotone threshold; common random
numbers (KPIs that capacity cannot touch are identical at every capacity); and the ceiling in
the infeasible message is an upper bound (no case can be discussed before the first session
after its listing plus the results cut-off).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.app.cli import main
from sim.core.errors import RunControlError
from sim.experiment import sizing
from sim.experiment.sizing import (
    AT_LEAST,
    AT_MOST,
    MAX_UTILISATION,
    Candidate,
    bracket_and_bisect,
    default_direction,
    parse_resource,
    search_in_rounds,
    size_resource,
    with_capacity,
)
from sim.scenario.schema import Sessions
from tests.helpers import BASELINE, fixed, make_scenario

RUN = [
    "--scale",
    "0.05",
    "--years",
    "1",
    "--warmup-years",
    "0.5",
    "--replications",
    "3",
    "--workers",
    "1",
    "--no-progress",
]
BISECT = ["--per-round", "1"]
"""The one-at-a-time search, whose candidates each have their own folder (most tests here)."""
NW = ["--resource", "specialist_mdt.north_west"]
BACKLOG = "specialist_mdt_backlog_mean__north_west"


def size(out: Path, *args: str) -> int:
    rounds = {"--candidates", "--per-round"} & set(args)
    return main(
        ["size", str(BASELINE), *NW, *RUN, *([] if rounds else BISECT), "--out", str(out), *args]
    )


@pytest.fixture(scope="module")
def curve(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Least North West slots for a mean backlog after meetings of at most 7 cases (England;
    with 3 replications the log-scale interval of a backlog is wide: 5 is not reachable)."""
    out = tmp_path_factory.mktemp("size") / "nw"
    assert size(out, "--kpi", BACKLOG, "--target", "7") == 0
    return out, (out / "manifest.json").read_text()


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sizing.csv")


def test_writes_table_plot_and_one_run_per_capacity(curve: tuple[Path, str]) -> None:
    out, _ = curve
    t = _table(out)
    assert list(t.columns) == [
        "slots_per_session",
        "slots_per_week",
        "run_slots_per_session",
        "mean",
        "ci_low",
        "ci_high",
        "n",
        "kpi_met",
        "utilisation",
        "saturated",
        "meets_target",
    ]
    assert (t["n"] == 3).all()
    assert ((t["utilisation"] > 0) & (t["utilisation"] <= 1)).all()
    assert t.sort_values("slots_per_week")["utilisation"].is_monotonic_decreasing
    assert (out / "sizing.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for cap in t["slots_per_session"]:
        assert (out / f"slots_per_session_{cap:04d}" / "summary.csv").is_file()


def test_curve_is_monotone_and_the_answer_is_least(curve: tuple[Path, str]) -> None:
    out, manifest = curve
    t = _table(out).sort_values("slots_per_session")
    assert len(t) >= 2
    assert t["slots_per_session"].is_unique
    assert (t["run_slots_per_session"] == t["slots_per_session"] * 0.05).all()
    # Backlog falls as slots rise (same patients at every capacity) ...
    assert t["mean"].is_monotonic_decreasing
    # ... the verdict flips once, from missing to meeting the target ...
    meets = t["meets_target"].tolist()
    assert meets == sorted(meets) and any(meets)
    # ... and the recommendation is the first capacity that meets it, with the one just below
    # it (one step, 20 England slots, fewer) evaluated and failing.
    best = t[t["meets_target"]].iloc[0]
    assert best["ci_high"] <= 7  # the CI bound, not the mean, meets the target
    below = t[t["slots_per_session"] == best["slots_per_session"] - 20]
    assert len(below) == 1 and not below["meets_target"].iloc[0]
    assert f'"recommended": {int(best["slots_per_session"])}' in manifest
    assert '"monotone": true' in manifest


def test_common_random_numbers_across_capacities(curve: tuple[Path, str]) -> None:
    out, _ = curve
    cols = ["diagnosed_per_year__north_west", "diagnosed_per_year__london", "female_share"]
    frames = [
        pd.read_csv(f / "replications.csv")[cols] for f in sorted(out.glob("slots_per_session_*"))
    ]
    assert len(frames) >= 2
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)


def test_infeasible_target_is_reported_plainly(
    curve: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = curve
    before = {p: p.stat().st_mtime_ns for p in out.glob("slots_per_session_*/parts/*/*.json")}
    kpi = "specialist_mdt_within_14d_share__north_west"
    assert size(out, "--kpi", kpi, "--target", "0.95", "--resume") == 0
    printed = capsys.readouterr().out
    # --resume with another KPI reuses the runs already made for these capacities.
    for p, mtime in before.items():
        assert p.stat().st_mtime_ns == mtime
    t = _table(out)
    assert not t["meets_target"].any()
    # Up to the default --max, 4 x the scenario's slots, in steps of 20 England slots.
    mdt = make_scenario()[0].resources.specialist_mdt
    assert isinstance(mdt, Sessions) and isinstance(mdt.slots_per_session, dict)
    top = 4 * mdt.slots_per_session["north_west"] // 20 * 20  # --max rounded down to a step
    assert t["slots_per_session"].max() == top
    assert t["run_slots_per_session"].max() == pytest.approx(top * 0.05)
    assert "Not achievable by specialist_mdt capacity in north_west alone" in printed
    m = re.search(r"Even unlimited slots could discuss at most (\d+)% within 14 days", printed)
    assert m is not None, printed
    ceiling = int(m.group(1)) / 100
    assert t["mean"].max() <= ceiling + 0.005


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resource", "specialist_mdt.north_wst"], "did you mean 'specialist_mdt.north_west'"),
        (["--resource", "specialst_mdt.north_west"], "did you mean 'specialist_mdt.north_west'"),
        (["--resource", "specialist_mdt"], "is regional; name one region's instance"),
        (["--resource", "prrt.north_west"], "is national (one for England)"),
        (["--kpi", "specialist_mdt_within_14d_shares"], "did you mean"),
        (["--kpi", "specialist_mdt_utilisation"], "give --direction at_least or"),
        (["--target", "1.5"], "is a share; give a value in [0, 1]"),
        (["--replications", "1"], "must be at least 2"),
        (["--min", "50", "--max", "40"], "--max 40 is below --min 50"),
        (["--precision", "0.05"], "--precision does not apply to size"),
        (["--max-utilisation", "1.2"], "give a share in (0, 1]"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {
        "--resource": "specialist_mdt.north_west",
        "--kpi": "specialist_mdt_within_14d_share__north_west",
        "--target": "0.9",
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["size", str(BASELINE), *RUN, "--out", str(tmp_path / "x")]
    argv += [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_delay_resource_cannot_be_sized() -> None:
    scenario, _ = make_scenario({"resources": {"pet": {"kind": "delay", "wait_days": fixed(6)}}})
    with pytest.raises(RunControlError, match="plain delay"):
        parse_resource(scenario, "pet.north_west")


# ---------------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------------


def test_search_finds_the_brute_force_answer_with_few_evaluations() -> None:
    for lo in (0, 1, 3):
        for hi in range(lo, 41):
            for start in range(lo, hi + 1, 3):
                for threshold in range(lo, hi + 2):  # hi + 1: never met
                    calls: list[int] = []

                    def meets(k: int, threshold: int = threshold, calls: list[int] = calls) -> bool:
                        calls.append(k)
                        return k >= threshold

                    got = bracket_and_bisect(meets, start, lo, hi)
                    assert got == (threshold if threshold <= hi else None)
                    assert all(lo <= k <= hi for k in calls)
                    assert len(set(calls)) == len(calls)  # never the same capacity twice
                    assert len(calls) <= 2 * math.ceil(math.log2(hi - lo + 2)) + 1


def test_rounds_find_the_brute_force_answer_in_few_rounds() -> None:
    """The search in rounds (several capacities per run) finds the same least capacity as
    trying every one, never tries a capacity twice or outside [lo, hi], tries at most
    ``per_round`` at once, and needs about log(range) / log(per_round + 1) rounds."""
    for per_round in (1, 2, 4, 6):
        for lo in (0, 1, 3):
            for hi in range(lo, 61, 3):
                for start in range(lo, hi + 1, 4):
                    for threshold in range(lo, hi + 2):  # hi + 1: never met
                        rounds: list[list[int]] = []

                        def meets_all(
                            ks: list[int], threshold: int = threshold, rounds: list = rounds
                        ) -> dict[int, bool]:
                            rounds.append(ks)
                            return {k: k >= threshold for k in ks}

                        got = search_in_rounds(meets_all, start, lo, hi, per_round)
                        assert got == (threshold if threshold <= hi else None)
                        tried = [k for r in rounds for k in r]
                        assert all(lo <= k <= hi for k in tried)
                        assert len(set(tried)) == len(tried)
                        assert all(1 <= len(r) <= per_round for r in rounds)
                        bound = 2 + math.ceil(math.log(hi - lo + 2) / math.log(per_round + 1))
                        assert len(rounds) <= bound, (per_round, lo, hi, start, threshold, rounds)


def test_per_round_and_candidates_are_one_or_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = size(tmp_path / "s", "--kpi", BACKLOG, "--target", "7", "--per-round", "2",
                "--candidates", "10,12")  # fmt: skip
    assert code == 2
    assert "give one or the other" in capsys.readouterr().err


def test_direction_from_kpi_name() -> None:
    assert default_direction("specialist_mdt_within_14d_share__north_west") == AT_LEAST
    assert default_direction("fds_28d_share") == AT_LEAST
    assert default_direction("diagnosis_to_specialist_mdt_days_p90") == AT_MOST
    assert default_direction("prrt_wait_days_median__london") == AT_MOST
    assert default_direction("specialist_mdt_backlog_mean") == AT_MOST
    assert default_direction("specialist_mdt_utilisation") is None
    assert default_direction("diagnosed_per_year") is None


def test_variant_changes_only_the_named_region() -> None:
    scenario, _ = make_scenario()
    res = parse_resource(scenario, "specialist_mdt.north_west")
    mdt = scenario.resources.specialist_mdt
    assert isinstance(mdt, Sessions) and isinstance(mdt.slots_per_session, dict)
    assert res.current == mdt.slots_per_session["north_west"]
    assert (res.per_week, res.spec) == (len(mdt.sessions), mdt)
    variant = with_capacity(scenario, res, 33, "v").resources.specialist_mdt
    assert isinstance(variant, Sessions)
    old, new = mdt.slots_per_session, variant.slots_per_session
    assert new == {**old, "north_west": 33}
    assert with_capacity(scenario, res, 33, "v").resources.prrt == scenario.resources.prrt
    prrt = parse_resource(scenario, "prrt")
    spec = scenario.resources.prrt
    assert isinstance(spec, Sessions) and isinstance(spec.slots_per_session, int)
    assert (prrt.region, prrt.current) == (None, spec.slots_per_session)
    assert prrt.per_week == len(spec.sessions)
    national = with_capacity(scenario, prrt, 12, "p").resources.prrt
    assert isinstance(national, Sessions) and national.slots_per_session == 12


DEMAND = 16.0
"""Slots a week the synthetic curve's demand needs: utilisation is min(1, DEMAND / capacity)."""


def _synthetic(evaluated: list[int]):  # type: ignore[no-untyped-def]
    """A stand-in for one capacity's runs (no simulation): the KPI's CI bound meets the target
    from 3 slots a week; utilisation is DEMAND / capacity."""

    def fake(scenario, controls, q, k, out, **run):  # type: ignore[no-untyped-def]
        evaluated.append(k)
        util = min(1.0, DEMAND / k)
        met, saturated = k >= 3, util > q.max_utilisation
        values = pd.Series([10.0, 11.0, 12.0])
        return Candidate(k, k, values, 11.0, 9.0, 13.0, 3, met, out / f"k{k}", util, saturated)

    return fake


def test_a_saturated_capacity_does_not_meet_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a priority rule, new patients can be discussed on time by slots too few for the
    whole demand while re-discussions queue without limit. On the synthetic curve the KPI is met
    from 3 slots a week, but the resource runs above 95% utilisation below 17 slots; the answer
    is 17, not 3."""
    evaluated: list[int] = []
    monkeypatch.setattr(sizing, "_evaluate", _synthetic(evaluated))
    scenario, controls = make_scenario(scale=1.0, replications=3)  # run slots = England slots
    kpi = "diagnosis_to_specialist_mdt_days_p90__north_west"
    result = size_resource(
        scenario, controls, "specialist_mdt.north_west", kpi, 28.0, tmp_path / "s", lo=1, hi=80,
        per_round=1,
    )  # fmt: skip
    assert result.recommended == 17
    assert DEMAND / 17 <= MAX_UTILISATION < DEMAND / 16
    assert evaluated == [19, 9, 14, 16, 17]  # a search from the scenario's 19, not every value
    t = pd.read_csv(tmp_path / "s" / "sizing.csv").set_index("slots_per_session")
    assert t.loc[16, "kpi_met"] and t.loc[16, "saturated"] and not t.loc[16, "meets_target"]
    assert t.loc[17, "meets_target"] and not t.loc[17, "saturated"]
    assert "The KPI alone is already met at 9 slots a week" in result.message
    assert "With 16 slots a week the resource runs at utilisation 1.00." in result.message
    assert "queue without limit" in result.message


def test_max_utilisation_1_accepts_a_saturated_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same synthetic curve through the command line, with the ceiling lifted: the least
    capacity is then the KPI's own threshold."""
    monkeypatch.setattr(sizing, "_evaluate", _synthetic([]))
    args = ["--scale", "1", "--replications", "3", "--no-progress", "--max", "80", *BISECT]
    kpi = ["--kpi", "diagnosis_to_specialist_mdt_days_p90__north_west", "--target", "28"]
    out = str(tmp_path / "s")
    assert main(["size", str(BASELINE), *NW, *kpi, *args, "--out", out]) == 0
    assert "Least capacity meeting" in capsys.readouterr().out
    assert '"recommended": 17' in (tmp_path / "s" / "manifest.json").read_text()
    lifted = [*args, "--max-utilisation", "1", "--force"]
    assert main(["size", str(BASELINE), *NW, *kpi, *lifted, "--out", out]) == 0
    assert '"recommended": 3' in (tmp_path / "s" / "manifest.json").read_text()


def test_utilisation_of_a_sessions_resource_agrees_with_its_kpi(curve: tuple[Path, str]) -> None:
    """The saturation check reads every resource's use from resources.parquet; for the
    specialist MDT it must agree with the KPI computed separately from the session events."""
    out, _ = curve
    t = _table(out)
    for _, row in t.iterrows():
        reps = pd.read_csv(
            out / f"slots_per_session_{int(row['slots_per_session']):04d}" / "replications.csv"
        )
        kpi = reps["specialist_mdt_utilisation__north_west"].mean()
        assert row["utilisation"] == pytest.approx(kpi, rel=1e-12)


@pytest.mark.parametrize(
    ("resource", "kpi", "target", "unit", "run"),
    [
        # PRRT comes after progression on SSA, years after diagnosis: a longer warm-up
        ("prrt", "prrt_wait_days_median", "60", "slots_per_session", ["--warmup-years", "4"]),
        ("histopathology.north_west", "histology_28d_share__north_west", "0.01", "servers", []),
    ],
)
def test_every_capacity_resource_reports_its_utilisation(
    tmp_path: Path, resource: str, kpi: str, target: str, unit: str, run: list[str]
) -> None:
    """Sizing PRRT (national sessions) or pathology (a regional server pool) reports the
    utilisation of each candidate and flags a saturated one: before, only the specialist MDT
    had a utilisation KPI, so any other sizing could recommend a saturated capacity."""
    out = tmp_path / "sized"
    args = ["size", str(BASELINE), "--resource", resource, "--kpi", kpi, "--target", target]
    assert main([*args, "--min", "1", "--max", "40", *RUN, *run, "--out", str(out)]) == 0
    t = _table(out)
    assert t["utilisation"].notna().all() and (t["utilisation"] > 0).all()
    assert t.sort_values(unit)["utilisation"].is_monotonic_decreasing
    assert (t["saturated"] == (t["utilisation"] > 0.95)).all()


def test_candidates_share_the_history_and_match_the_search(
    curve: tuple[Path, str], tmp_path: Path
) -> None:
    """``--candidates`` runs the listed capacities in one branched run: each gives the KPIs
    the search's own run of that capacity gave (the same branch of the same history)."""
    out, _ = curve
    folders = sorted(out.glob("slots_per_session_*"))[:3]
    caps = [int(f.name.rpartition("_")[2]) for f in folders]
    grid = tmp_path / "grid"
    assert size(grid, "--kpi", BACKLOG, "--target", "5", "--candidates",
                ",".join(map(str, caps))) == 0  # fmt: skip
    t = _table(grid)
    assert sorted(t["slots_per_session"]) == sorted(caps)
    # each candidate's own utilisation, not the run's mixture: as the search measured it
    searched_table = _table(out).set_index("slots_per_session")["utilisation"]
    for _, row in t.iterrows():
        assert row["utilisation"] == pytest.approx(
            searched_table[row["slots_per_session"]], rel=1e-12
        )
    reps = pd.read_csv(grid / "candidates" / "replications.csv")
    assert sorted(set(reps["scenario"])) == [f"slots_per_session_{c:04d}" for c in sorted(caps)]
    for c, folder in zip(caps, folders, strict=True):
        searched = pd.read_csv(folder / "replications.csv").drop(columns="scenario")
        mine = reps[reps["scenario"] == f"slots_per_session_{c:04d}"].drop(columns="scenario")
        pd.testing.assert_frame_equal(
            mine.reset_index(drop=True), searched.reset_index(drop=True), check_exact=True
        )


def test_the_search_in_rounds_agrees_with_the_bisection(
    curve: tuple[Path, str], tmp_path: Path
) -> None:
    """The default search (4 capacities a round, each round one run sharing each replication's
    history) recommends what the one-at-a-time bisection did, and every capacity both tried
    has the same KPI in every replication (the same branch of the same history)."""
    out, manifest = curve  # as the fixture left it (later tests reuse the folder)
    rounds = tmp_path / "rounds"
    assert size(rounds, "--kpi", BACKLOG, "--target", "7", "--per-round", "4") == 0
    mine = json.loads((rounds / "manifest.json").read_text())
    assert mine["recommended"] == json.loads(manifest)["recommended"] is not None
    tried = pd.concat(pd.read_csv(f) for f in sorted(rounds.glob("round_*/replications.csv")))
    shared = 0
    for folder in sorted(out.glob("slots_per_session_*")):
        mine_reps = tried[tried["scenario"] == folder.name]
        if mine_reps.empty:
            continue
        shared += 1
        searched = pd.read_csv(folder / "replications.csv").set_index("replication")
        mine_reps = mine_reps.set_index("replication").loc[searched.index]
        assert np.array_equal(mine_reps[BACKLOG], searched[BACKLOG]), folder.name
    assert shared >= 2
