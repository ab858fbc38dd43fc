"""The project's evidence table (docs/evidence.md) and the source tags that cite it.

Scenario and calibration files cite sources as ``[S14]`` in their comments; docs/evidence.md
has one table row per tag: ``| [S14] | what it gives the model | full reference |``. The report
lists, at the end of its methods, the references of the tags the compared scenarios cite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

EVIDENCE_FILE = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
"""docs/evidence.md of the repository this package runs from."""

TAG = re.compile(r"\[(S\d+[a-z]?)\]")
"""A source tag as cited: ``[S14]``, ``[S23b]`` (the group is the tag without brackets)."""

_ROW = re.compile(r"^\|\s*\[(S\d+[a-z]?)\]\s*\|(.*)\|(.*)\|\s*$")


class Source(NamedTuple):
    """One row of the evidence table."""

    tag: str
    summary: str
    reference: str


def tag_key(tag: str) -> tuple[int, str]:
    """Sort key of a tag: by number, then suffix (S2 < S10 < S23 < S23b)."""
    m = re.fullmatch(r"S(\d+)([a-z]?)", tag)
    return (int(m.group(1)), m.group(2)) if m else (10**9, tag)


def cited_tags(texts: Iterable[str]) -> list[str]:
    """The distinct tags cited in ``texts``, in tag order (``["S1", "S14", ...]``)."""
    found = {m.group(1) for text in texts for m in TAG.finditer(text)}
    return sorted(found, key=tag_key)


def read_evidence(path: Path = EVIDENCE_FILE) -> dict[str, Source]:
    """The rows of an evidence table, by tag ({} if the file is absent)."""
    if not path.is_file():
        return {}
    out: dict[str, Source] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            out[m.group(1)] = Source(m.group(1), m.group(2).strip(), m.group(3).strip())
    return out
