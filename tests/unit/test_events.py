"""The event log keeps every record, in time order, whatever its size or compaction."""

from __future__ import annotations

import numpy as np

from sim.core.events import (
    REFERRAL_TYPES,
    CaseClass,
    DeathCause,
    EventKind,
    EventLog,
    Referral,
    Route,
    Stage,
)
from sim.scenario.schema import CASE_CLASSES, ROUTES, STAGES


def test_order_and_compaction() -> None:
    log = EventLog()
    log.record(5.0, 1, EventKind.DIAGNOSIS, -1, 2)
    log.compact()
    log.record(2.0, 2, EventKind.PRESENTATION, -1, 0)
    log.record(5.0, 3, EventKind.DEATH, -1, 1)  # same time as the first: appended later
    log.compact()
    log.record(1.0, -1, EventKind.SESSION_START, 7, 40000)  # large slot counts fit
    assert len(log) == 4
    a = log.arrays()
    assert a["time"].tolist() == [1.0, 2.0, 5.0, 5.0]
    assert a["patient"].tolist() == [-1, 2, 1, 3]  # stable: equal times keep append order
    assert a["code"].tolist() == [40000, 0, 2, 1]
    assert a["kind"].dtype == np.int8


def test_code_vocabularies_are_the_schemas_in_order() -> None:
    """Each ``code`` vocabulary is defined once, as an IntEnum in sim.core.events, and names the
    schema's values in the same order (so a code indexes the schema's tuple)."""
    assert [r.name.lower() for r in Route] == list(ROUTES)
    assert [s.name.lower() for s in Stage] == list(STAGES)
    assert [c.name.lower() for c in CaseClass] == list(CASE_CLASSES)
    assert tuple(r.name.lower() for r in Referral) == REFERRAL_TYPES
    assert [int(c) for c in DeathCause] == [0, 1]
