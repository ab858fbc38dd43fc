"""The evidence table: every source tag a scenario or calibration file cites is in
docs/evidence.md, and the table's rows parse into tag, summary and reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.core.evidence import EVIDENCE_FILE, cited_tags, read_evidence, tag_key
from tests.helpers import ROOT

CITING_FILES = sorted(
    [*(ROOT / "scenarios").rglob("*.toml"), *(ROOT / "calibration").glob("*.toml")]
)


def test_the_evidence_table_is_the_repositorys() -> None:
    assert EVIDENCE_FILE == ROOT / "docs" / "evidence.md"


@pytest.mark.parametrize("path", CITING_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_tag_is_in_the_evidence_table(path: Path) -> None:
    table = read_evidence()
    missing = [t for t in cited_tags([path.read_text()]) if t not in table]
    assert not missing, f"{path.name} cites {missing}, absent from docs/evidence.md"


def test_the_scenarios_cite_sources_at_all() -> None:
    # guards the test above against a tag pattern that matches nothing
    tags = cited_tags(p.read_text() for p in CITING_FILES)
    assert {"S1", "S14", "S20"} <= set(tags)


def test_every_row_has_a_summary_and_a_reference() -> None:
    table = read_evidence()
    assert len(table) >= 181
    for tag, row in table.items():
        assert row.tag == tag and len(row.summary) > 20 and len(row.reference) > 20, tag
    text = EVIDENCE_FILE.read_text()
    for tag in table:  # one row each, greppable as [Sxx]
        assert text.count(f"| [{tag}] |") == 1, tag


def test_parser_and_tag_order_on_a_hand_written_table(tmp_path: Path) -> None:
    path = tmp_path / "evidence.md"
    path.write_text(
        "# Evidence\n\n| tag | what | reference |\n|---|---|---|\n"
        "| [S2] | two things | Author B. *Journal* 2020 |\n"
        "| [S23b] | a subset | Author C. Title |\n"
        "not a row [S9]\n"
    )
    table = read_evidence(path)
    assert set(table) == {"S2", "S23b"}
    assert (
        table["S2"].summary == "two things" and table["S2"].reference == "Author B. *Journal* 2020"
    )
    assert cited_tags(["see [S10], [S2] and [S23b]; [S2] again; S5 unbracketed"]) == [
        "S2",
        "S10",
        "S23b",
    ]
    assert sorted(["S23b", "S100", "S23", "S9"], key=tag_key) == ["S9", "S23", "S23b", "S100"]
    assert read_evidence(tmp_path / "absent.md") == {}
