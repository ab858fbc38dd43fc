"""The event log: what happened, to whom, when, where. Facts only.

The model appends one compact record per fact; nothing is aggregated during the run. KPIs are
pure functions of the log (:mod:`sim.measures.kpis`). The vocabulary is closed
(:class:`EventKind`); each kind documents what its ``resource`` and ``code`` fields mean.

Storage is a byte buffer of packed records (19 bytes a fact, in the layout of the numpy row
type): packing one with :func:`struct.Struct.pack` and extending the buffer costs about 150 ns,
less than appending a tuple and converting it to numpy later, and a national run's log stays
small. :meth:`EventLog.compact`, called every simulated quarter, moves the buffer into a numpy
chunk; :meth:`EventLog.arrays` joins the chunks at the end.
As a DataFrame (:func:`sim.measures.event_table.events_frame`) the columns follow the vidigi
event-log convention (``entity_id``, ``event``, ``time``, ``resource_id``) plus ``code``.
"""

from __future__ import annotations

import struct
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

NO_PATIENT = -1
"""``patient`` of events that belong to a resource, not a patient (sessions)."""


class EventKind(IntEnum):
    """Every kind of fact the model records. ``code`` meanings are given per kind."""

    PRESENTATION = 1
    """A presentation to health services; code = :class:`Route`."""
    GP_CONSULTATION = 2
    """A GP consultation about the symptoms; code = outcome index (config.GP_OUTCOMES),
    resource = misattribution label index (config.MISATTRIBUTIONS) or -1."""
    PRIMARY_CARE_TEST = 3
    """Primary-care test results back; code = 1 if they prompt urgent referral, else 0."""
    REFERRAL = 4
    """Referred to secondary care; code = :class:`Referral`."""
    FIRST_SEEN = 5
    """First seen in secondary care (first appointment or test)."""
    TESTS_REPORTED = 6
    """Secondary-care tests (imaging, bloods, endoscopy) reported; code = 1 if they show a
    tumour (the patient is told a NEN is likely: a clinical diagnosis, biopsy to follow), 0 if
    they found nothing (the patient returns to primary care)."""
    BIOPSY = 7
    """Biopsy taken; code = 1 if diagnostic, 0 if non-diagnostic (repeat needed)."""
    DIAGNOSIS = 8
    """Histological diagnosis with Ki-67 grade; code = :class:`Stage` recorded at diagnosis
    (CT/MRI may miss spread), resource = the true :class:`Stage` then."""
    DECISION_TO_TREAT = 9
    """Decision to treat agreed; code = treatment index (config.TREATMENTS)."""
    TREATMENT_START = 10
    """Treatment line starts; code = treatment index."""
    TREATMENT_CYCLE = 11
    """A further cycle of a multi-cycle treatment (e.g. PRRT cycles 2-4); code = treatment."""
    PROGRESSION = 12
    """Progression (or recurrence) found at a surveillance scan; code = line that progressed."""
    DEATH = 13
    """Death; code = :class:`DeathCause` (0 NEN death, 1 other cause)."""
    DISCHARGED = 14
    """Discharged from follow-up after curative treatment; code = 1 if the disease was
    removed, 0 if it will recur (found later, after the patient presents again)."""
    RECURRENCE = 15
    """Disease left behind by curative treatment becomes distant (the disease event itself,
    recorded arithmetically; the PROGRESSION that follows is when a scan finds it); code = 1,
    or 0 if the disease had already spread when it was resected (recorded at the resection)."""
    RESTAGED = 16
    """Staging PET found distant spread that CT/MRI missed; code = the new stage index (the
    stage at diagnosis a registry records, from all staging investigations)."""
    QUEUE_JOIN = 20
    """Case listed for / queued at a resource; resource = resource id; code = :class:`CaseClass`."""
    SERVICE_START = 21
    """Case served (discussed at the MDT, scanned, reporting starts); resource, code as above."""
    SERVICE_END = 22
    """Service finished (servers only); resource, code as above."""
    LEFT_QUEUE = 23
    """Case left a queue unserved (patient died while waiting); resource, code as above."""
    SESSION_START = 30
    """A session is held; resource = resource id; code = slots offered (-1 = unlimited)."""
    SESSION_END = 31
    """A session ends; code = slots used."""
    SESSION_CANCELLED = 32
    """A session was cancelled (bank holiday or random cancellation); code = 1 if bank holiday."""
    CAPACITY_CHANGE = 33
    """Servers on duty change (a scheduled server pool); code = servers now on duty."""


EVENT_NAMES = {int(k): k.name.lower() for k in EventKind}


# ---------------------------------------------------------------------------------------------
# The vocabularies of ``code``: one IntEnum each, defined here once. The names (lower case) are
# the schema's vocabularies in the same order (tests/unit/test_events.py checks it).
# ---------------------------------------------------------------------------------------------


class Route(IntEnum):
    """``code`` of :attr:`EventKind.PRESENTATION`: how the patient first presented (the order
    of ``sim.scenario.schema.ROUTES``)."""

    GP = 0
    EMERGENCY = 1
    INCIDENTAL = 2
    SURVEILLANCE = 3


class Referral(IntEnum):
    """``code`` of :attr:`EventKind.REFERRAL`: the type of referral to secondary care."""

    URGENT = 0
    ROUTINE = 1
    EMERGENCY = 2
    INCIDENTAL = 3
    SURVEILLANCE = 4


REFERRAL_TYPES: tuple[str, ...] = tuple(r.name.lower() for r in Referral)
"""Names of :class:`Referral` codes, in code order."""


class Stage(IntEnum):
    """``code`` of :attr:`EventKind.DIAGNOSIS` and :attr:`EventKind.RESTAGED`: the tumour's stage
    (the order of ``sim.scenario.schema.STAGES``)."""

    LOCALISED = 0
    REGIONAL = 1
    DISTANT = 2


class CaseClass(IntEnum):
    """``code`` of the queue and service events: why a case is listed (the order of
    ``sim.scenario.schema.CASE_CLASSES``)."""

    NEW = 0
    PROGRESSION = 1
    REVIEW = 2


class DeathCause(IntEnum):
    """``code`` of :attr:`EventKind.DEATH`."""

    NEN = 0
    OTHER = 1


_ROW = np.dtype(
    [("time", "f8"), ("patient", "i4"), ("kind", "i1"), ("resource", "i2"), ("code", "i4")]
)


ROW_PACK = struct.Struct("=dibhi").pack
"""Pack one ``(time, patient, kind, resource, code)`` record in the layout of ``_ROW`` (packed,
native byte order); the fast path of the model is ``log.write(ROW_PACK(...))``."""
assert struct.calcsize("=dibhi") == _ROW.itemsize


class EventLog:
    """Append-only event storage for one replication."""

    __slots__ = ("_buf", "_chunks", "write")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._chunks: list[NDArray[np.void]] = []
        self.write = self._buf.extend
        """Append records packed by :data:`ROW_PACK` (the fast path)."""

    def record(
        self, time: float, patient: int, kind: EventKind, resource: int = -1, code: int = -1
    ) -> None:
        """Append one fact. ``time`` in days."""
        self._buf += ROW_PACK(time, patient, kind, resource, code)

    def __len__(self) -> int:
        return len(self._buf) // _ROW.itemsize + sum(len(c) for c in self._chunks)

    def compact(self) -> None:
        """Move the records appended so far into a numpy chunk (order kept)."""
        if self._buf:
            self._chunks.append(np.frombuffer(bytes(self._buf), dtype=_ROW))
            del self._buf[:]  # in place: ``write`` is bound to this buffer

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        """The log as numpy arrays, stably sorted by time (records with equal times keep
        the order in which they were appended)."""
        self.compact()
        table = np.concatenate(self._chunks) if self._chunks else np.empty(0, dtype=_ROW)
        table = table[np.argsort(table["time"], kind="stable")]
        return {name: np.ascontiguousarray(table[name]) for name in _ROW.names or ()}
