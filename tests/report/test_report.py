"""`nenpath compare` and `nenpath report` end to end at tiny scale: the files, a self-contained
report whose every figure is a decodable PNG, methods that carry the run's facts and sources,
and a rebuild from stored results alone.

The headless-Chromium check (scripts/check_report.py) runs too where Chromium is installed.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sim.app.cli import main
from sim.measures.kpis import kpi_bounds
from sim.reporting.compare import COMPARISON_COLUMNS, REGION_COLUMNS, UTILISATION_COLUMNS
from sim.reporting.report import parse_comments, source_of
from sim.scenario.schema import REGIONS
from tests.helpers import BASELINE, ROOT, SCENARIOS, quick_run_options

IDEAL = SCENARIOS / "ideal_pathway.toml"
ARGS = [*quick_run_options(), "--workers", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "cmp"
    assert main(["compare", str(BASELINE), str(IDEAL), *ARGS, "--out", str(out)]) == 0
    return out


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


def test_writes_comparison_and_report(run: Path) -> None:
    for name in ("comparison.csv", "report.html", "scenario_sources.json", "manifest.json"):
        assert (run / name).is_file(), name
    table = pd.read_csv(run / "comparison.csv")
    assert list(table.columns) == COMPARISON_COLUMNS
    assert set(table["scenario"]) == {"current_practice", "ideal_pathway"}
    base = table[table["scenario"] == "current_practice"]
    estimated = base["mean"].notna()
    assert estimated.sum() > 100 and (base.loc[estimated, "diff_vs_base"] == 0).all()
    for kpi in ("diagnostic_interval_days_median", "distant_diagnosed_per_year", "rtt_62d_share"):
        assert kpi in set(table["kpi"]), kpi
    assert "rtt_62d_share__north_west" in set(table["kpi"])


def test_every_figure_is_an_embedded_png(run: Path) -> None:
    page = (run / "report.html").read_text()
    images = _images(page)
    assert page.count("<img") == len(images) >= 6
    for data in images:
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # raises on a truncated or corrupt image
            assert im.width > 200 and im.height > 150
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 100  # not a blank canvas


def test_report_loads_nothing_from_elsewhere(run: Path) -> None:
    page = (run / "report.html").read_text()
    assert "<script" not in page and "<link" not in page and "@import" not in page
    for ref in re.findall(r"(?:src|href)\s*=\s*['\"]([^'\"]*)", page):
        assert ref.startswith(("data:image/png;base64,", "data:text/csv;base64,", "#")), ref[:60]
    assert "url(" not in page


def test_methods_carry_the_run_and_its_sources(run: Path) -> None:
    page = (run / "report.html").read_text()
    for fact in ("STRESS-DES", "Warm-up 0.5 years", "2 replications per", "seed 20261123"):
        assert fact in page, fact
    assert "git commit" in page and "simpy" in page
    # the ideal pathway's levers with the comments of its file
    assert "mdt.specialist_referral_probability_by_region.london" in page
    assert "Ga-68 DOTATATE PET for every well-differentiated NET [S20]" in page
    # every baseline parameter with its source comment
    assert "population.female_share" in page and "[S1] 50.5% female" in page
    # the interval method, and the warning that 2 replications are too few for it
    assert "logit scale" in page and "log scale" in page
    assert "<b>only 2 replications</b>" in page and "<b>Only 2 replications:</b>" in page
    # headlines: one sentence per headline KPI, with a confidence interval or a no-change note
    assert "The Ideal Pathway would" in page and "95% CI" in page


def test_breach_attribution_gives_pathology_its_days(run: Path) -> None:
    """Every diagnosis here waits for specialist pathology (queue and reporting), so the step
    cannot show 0.0 days on the clock, as it did when the report did not read its milestones."""
    page = (run / "report.html").read_text()
    m = re.search(
        r"<td>Specialist pathology with Ki-67</td><td class='n'>([\d.]+) \(([\d.]+)\)", page
    )
    assert m is not None
    assert float(m.group(2)) > 0


def test_no_interval_leaves_its_kpis_bounds(run: Path) -> None:
    """Every KPI of a small comparison (2 replications, 2% of England: wide t-intervals, region
    shares of 0 and 1): each CI within the bounds of its kind, around its mean."""
    table = pd.read_csv(run / "comparison.csv")
    for col in ("mean", "ci_low", "ci_high", "diff_ci_low", "diff_ci_high"):
        table[col] = table[col].astype(float)
    est = table[table["ci_low"].notna()]
    assert len(est) > 500
    bounds = [kpi_bounds(k) for k in est["kpi"]]
    lower = np.array([b[0] for b in bounds])
    upper = np.array([b[1] for b in bounds])
    assert np.isfinite(lower).all()  # every KPI's kind is declared
    assert (est["ci_low"] >= lower).all() and (est["ci_high"] <= upper).all()
    assert (est["ci_low"] <= est["mean"]).all() and (est["mean"] <= est["ci_high"]).all()
    assert (est["diff_ci_low"] >= lower - upper).all()
    assert (est["diff_ci_high"] <= upper - lower).all()
    summary = pd.read_csv(run / "summary.csv").dropna(subset=["ci_low"])
    lo = np.array([kpi_bounds(k)[0] for k in summary["kpi"]])
    hi = np.array([kpi_bounds(k)[1] for k in summary["kpi"]])
    assert (summary["ci_low"] >= lo).all() and (summary["ci_high"] <= hi).all()


def test_methods_end_with_the_references_the_scenarios_cite(run: Path) -> None:
    page = (run / "report.html").read_text()
    refs = page[page.index("<h3>References</h3>") :]
    cited = set(re.findall(r"<li id='(S\d+[a-z]?)'>", refs))
    # the ideal pathway's own file cites [S20]; current practice cites [S14]; the report [S33]
    assert {"S14", "S20", "S33"} <= cited
    assert "Hooper J" in refs and "<i>J Neuroendocrinol</i>" in refs
    assert "not in docs/evidence.md" not in refs
    # only what is cited: these economics sources are cited by no scenario compared here
    assert "S151" not in cited and "S190" not in cited


def test_every_kpi_by_region_in_a_table_and_a_downloadable_csv(run: Path) -> None:
    regions = pd.read_csv(run / "regions.csv")
    assert list(regions.columns) == REGION_COLUMNS
    table = pd.read_csv(run / "comparison.csv").set_index(["kpi", "scenario"])
    places = ["england", *REGIONS]
    for kpi, g in regions.groupby("kpi"):
        # every place for every scenario, England first, each row as in comparison.csv
        assert list(g["region"]) == [p for p in places for _ in range(2)], kpi
        for _, r in g.iterrows():
            name = kpi if r["region"] == "england" else f"{kpi}__{r['region']}"
            expect = table.loc[(name, r["scenario"])]
            for col in ("mean", "ci_low", "ci_high", "diff_vs_base"):
                assert r[col] == pytest.approx(expect[col], nan_ok=True), (name, col)
    assert {"rtt_62d_share", "distant_diagnosed_per_year"} <= set(regions["kpi"])
    page = (run / "report.html").read_text()
    links = re.findall(r"download='regions.csv' href='data:text/csv;base64,([^']+)'", page)
    assert len(links) == 2  # in its section and in the contents
    for data in links:
        assert base64.b64decode(data) == (run / "regions.csv").read_bytes()
    assert page.count("every KPI by region</summary>") == 2


def test_utilisation_of_every_capacity_resource(run: Path) -> None:
    util = pd.read_csv(run / "utilisation.csv")
    assert list(util.columns) == UTILISATION_COLUMNS
    resources = pd.read_parquet(run / "resources.parquet")
    # every capacity resource instance, for both scenarios, over both replications
    assert set(util["resource"]) == set(resources["resource"])
    assert {"specialist_mdt", "pet", "histopathology", "surgery", "prrt"} <= set(util["base"])
    assert len(util) == 2 * resources["resource"].nunique() and (util["n"] == 2).all()
    est = util.dropna(subset=["ci_low"])
    assert (est["ci_low"] >= 0).all() and (est["ci_low"] <= est["utilisation"]).all()
    sessions = est[est["kind"] == "sessions"]
    assert (sessions["ci_high"] <= 1).all()
    # the specialist MDT rows are the regional utilisation KPI of comparison.csv
    table = pd.read_csv(run / "comparison.csv").set_index(["kpi", "scenario"])
    for _, r in util[util["base"] == "specialist_mdt"].iterrows():
        kpi = f"specialist_mdt_utilisation__{r['region']}"
        assert r["utilisation"] == pytest.approx(table.loc[(kpi, r["scenario"]), "mean"])
    page = (run / "report.html").read_text()
    links = re.findall(r"download='utilisation.csv' href='data:text/csv;base64,([^']+)'", page)
    assert len(links) == 2  # in its section and in the contents
    for data in links:
        assert base64.b64decode(data) == (run / "utilisation.csv").read_bytes()
    assert "<h4>histopathology (servers)</h4>" in page


def test_report_rebuilds_from_stored_results_alone(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "parts")  # no replication checkpoints: nothing to resume from
    (copy / "report.html").unlink()
    (copy / "comparison.csv").unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "comparison.csv").read_bytes() == (run / "comparison.csv").read_bytes()
    assert (copy / "report.html").read_text() == (run / "report.html").read_text()


def test_headings_and_headlines_use_the_files_titles(run: Path, tmp_path: Path) -> None:
    page = (run / "report.html").read_text()
    assert "<h3>The Ideal Pathway compared with Current practice</h3>" in page
    # retitle the stored scenario: the rebuilt report follows the title, not the file name
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for s in manifest["scenarios"]:
        if s["name"] == "ideal_pathway":
            s["resolved"].update(title="A zebra crossing plan", short_title="Zebra")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(copy)]) == 0
    page = (copy / "report.html").read_text()
    assert "<h3>A zebra crossing plan compared with Current practice</h3>" in page
    assert "A zebra crossing plan would" in page
    assert "<th>Zebra</th>" in page and "<th>Zebra &minus; base</th>" in page
    assert "The Ideal Pathway" not in page.split("<h2>Methods")[0].split("<p>A discrete")[1]


def test_report_of_an_empty_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no stored results" in err


def test_comment_parser_on_a_hand_written_file() -> None:
    text = (
        "# Title line\n#\n# second paragraph\n\n"
        'extends = "base.toml"\n'
        "[a]  # table a\n"
        'x = "has # inside"  # x source [S1]\n'
        "# note for y\n"
        "y = 2\n"
        "[a.t]\n"
        "# table t note\n"
        "p = 1  # p source\n"
        "default = 3  # fallback source\n"
        "[[rules]]\n"
        "choose = {q = 1.0}  # rule zero\n"
        "[[rules]]\n"
        "choose = {q = 1.0}  # rule one\n"
    )
    parsed = parse_comments(text)
    assert parsed["header"] == "Title line\n\nsecond paragraph"
    assert parsed["keys"]["a.x"] == "x source [S1]"
    assert parsed["keys"]["a.y"] == "note for y"
    assert parsed["tables"]["a"] == "table a"
    assert parsed["tables"]["a.t"] == "table t note"
    assert parsed["keys"]["rules[1].choose"] == "rule one"
    assert source_of("a.t.p", parsed) == "p source"
    assert source_of("a.t.other", parsed).startswith("fallback source")
    assert source_of("rules[0]", parsed) == "rule zero"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_every_figure_shows_in_headless_chromium(run: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_report.py"), str(run / "report.html")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^(\d+)/\1 images loaded$", done.stdout, re.M)


def test_outcomes_and_costs_section_headline_and_icer_file(run: Path) -> None:
    from sim.measures.economics import ICER_COLUMNS

    icers = pd.read_csv(run / "economics.csv")
    assert list(icers.columns) == ICER_COLUMNS
    assert list(icers["scenario"]) == ["current_practice", "ideal_pathway"]
    assert icers.loc[0, "icer_note"].startswith("identical")
    page = (run / "report.html").read_text()
    assert "<h2 id='economics'>Outcomes and costs</h2>" in page
    assert "Costs by category" in page and "CHEERS 2022" in page
    # the headline leads the Ideal Pathway's statements, with both thresholds
    assert re.search(r"would (gain|lose) [\d,.]+ QALYs a year", page)
    assert "GBP 25,000/QALY" in page and "GBP 35,000/QALY" in page
    # every economic input of the base is listed with a source or an assumption
    econ = json.loads((run / "manifest.json").read_text())["scenarios"][0]["resolved"]["economics"]
    section = page[page.index("id='economics'") :]
    for state in econ["utilities"]:
        assert f"<code>utilities.{state}</code>" in section, state
    rows = re.findall(
        r"<tr><td><code>([^<]+)</code></td><td>[^<]*</td><td class='small'>([^<]*)</td>", section
    )
    assert len(rows) > 40
    unsourced = [k for k, src in rows if not (re.search(r"\[S\d+", src) or "assumption" in src)]
    assert not unsourced, unsourced


def test_first_screen_answers_each_user_with_contents(run: Path) -> None:
    page = (run / "report.html").read_text()
    for box in ("For campaigners", "For NHS planners", "For policy analysts"):
        assert box in page
    assert page.index("At a glance") < page.index("id='headlines'")
    nav = re.search(r"<nav class='toc'.*?</nav>", page, re.S)
    assert nav is not None
    for anchor in re.findall(r"href='#([\w-]+)'", nav.group(0)):
        assert f"id='{anchor}'" in page, anchor
    assert "download='comparison.csv'" in page
    assert "nenpath size " in page  # the planner's next command


def test_costs_measured_from_a_policy_start_are_read_as_a_transition(run: Path) -> None:
    """A window that starts at the policy start counts a change's costs from its first day but
    censors most of its benefit: the report says so, and says nothing for steady states."""
    from sim.reporting.report import TRANSITION_CAVEAT, _transition_caveat

    manifest = json.loads((run / "manifest.json").read_text())
    assert float(manifest["controls"]["policy_start_days"]) > 0  # the default: a policy start
    page = (run / "report.html").read_text()
    assert TRANSITION_CAVEAT in page
    assert html.escape("These are a transition's figures") in page
    assert _transition_caveat({"policy_start_days": 0.0}) == ""
    assert _transition_caveat({"policy_start_days": 100.0, "measure_start_days": 100.0})
