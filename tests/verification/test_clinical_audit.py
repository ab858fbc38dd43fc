"""The clinical course of current practice against published series
(sim/measures/clinical_audit.py): every audited figure with a published range falls in it.

The ranges are wide (a clinically absurd course misses them, sampling noise does not); before
the clinical review of 2026-12-02 the model missed six of them: OS from the start of PRRT
(99 months), PRRT with SSA before it (61%), OS of NEC given platinum-etoposide (about 18
months), distant disease at diagnosis of rectal and gastric G1 NETs (17%, 28%), staging PET
after a local resection (50%). Rows flagged ``known_miss`` are reported, not checked
(docs/evidence.md says why the model misses them)."""

from __future__ import annotations

import math

from sim.measures.clinical_audit import clinical_audit
from sim.model.simulation import simulate
from tests.helpers import make_scenario


def test_the_course_after_diagnosis_falls_in_the_published_ranges() -> None:
    scenario, controls = make_scenario(None, scale=0.2, years=10.0, warmup_years=12.0, seed=1)
    rows = clinical_audit(simulate(scenario, 0, controls))
    checked = [r for r in rows if not math.isnan(r.low) and not r.known_miss]
    assert len(checked) >= 10
    for r in checked:
        assert r.n >= 50, r  # enough patients for the figure to mean something
    missed = [r for r in checked if not r.within]
    assert not missed, "\n".join(
        f"{r.label}: {r.value:.1f} not in {r.low}-{r.high}" for r in missed
    )
