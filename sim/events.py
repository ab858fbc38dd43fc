"""The event log: what happened, to whom, when, where. Facts only.

The model appends one compact record per fact; nothing is aggregated during the run. KPIs are
pure functions of the log (:mod:`sim.kpis`). The vocabulary is closed (:class:`EventKind`); each
kind documents what its ``resource`` and ``code`` fields mean.

Storage is five typed ``array.array`` columns (time, patient, kind, resource, code): about 19
bytes per event, appended at list speed and handed to numpy without copying. The log becomes a
DataFrame once, at the end (:meth:`EventLog.to_frame`), with columns compatible with the vidigi
event-log convention (``entity_id``, ``event``, ``time``, ``resource_id``) plus ``code``.
"""

from __future__ import annotations

from array import array
from enum import IntEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray

NO_PATIENT = -1
"""``patient`` of events that belong to a resource, not a patient (sessions)."""


class EventKind(IntEnum):
    """Every kind of fact the model records. ``code`` meanings are given per kind."""

    PRESENTATION = 1
    """A presentation to health services; code = route index (config.ROUTES)."""
    GP_CONSULTATION = 2
    """A GP consultation about the symptoms; code = outcome index (config.GP_OUTCOMES),
    resource = misattribution label index (config.MISATTRIBUTIONS) or -1."""
    PRIMARY_CARE_TEST = 3
    """Primary-care test results back; code = 1 if they prompt urgent referral, else 0."""
    REFERRAL = 4
    """Referred to secondary care; code = referral type index (kpis.REFERRAL_TYPES)."""
    FIRST_SEEN = 5
    """First seen in secondary care (first appointment or test)."""
    WORKUP_NEGATIVE = 6
    """Secondary-care tests found nothing; the patient returns to primary care."""
    BIOPSY = 7
    """Biopsy taken; code = 1 if diagnostic, 0 if non-diagnostic (repeat needed)."""
    DIAGNOSIS = 8
    """Histological diagnosis with Ki-67 grade; code = stage index at diagnosis."""
    DECISION_TO_TREAT = 9
    """Decision to treat agreed; code = treatment index (config.TREATMENTS)."""
    TREATMENT_START = 10
    """Treatment line starts; code = treatment index."""
    TREATMENT_CYCLE = 11
    """A further cycle of a multi-cycle treatment (e.g. PRRT cycles 2-4); code = treatment."""
    PROGRESSION = 12
    """Progression (or recurrence) found at a surveillance scan; code = line that progressed."""
    DEATH = 13
    """Death; code = 0 NEN death, 1 other cause."""
    QUEUE_JOIN = 20
    """Case listed for / queued at a resource; resource = resource id; code = case class."""
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


EVENT_NAMES = {int(k): k.name.lower() for k in EventKind}


class EventLog:
    """Append-only, compact event storage for one replication."""

    __slots__ = ("_code", "_kind", "_patient", "_resource", "_time")

    def __init__(self) -> None:
        self._time = array("d")
        self._patient = array("i")
        self._kind = array("b")
        self._resource = array("h")
        self._code = array("h")

    def record(
        self, time: float, patient: int, kind: EventKind, resource: int = -1, code: int = -1
    ) -> None:
        """Append one fact. ``time`` in days."""
        self._time.append(time)
        self._patient.append(patient)
        self._kind.append(kind)
        self._resource.append(resource)
        self._code.append(code)

    def __len__(self) -> int:
        return len(self._time)

    def arrays(self) -> dict[str, NDArray[np.generic]]:
        """The log as numpy arrays, stably sorted by time (records with equal times keep
        the order in which they were appended)."""
        cols: dict[str, NDArray[np.generic]] = {
            "time": np.frombuffer(self._time, dtype=np.float64),
            "patient": np.frombuffer(self._patient, dtype=np.int32),
            "kind": np.frombuffer(self._kind, dtype=np.int8),
            "resource": np.frombuffer(self._resource, dtype=np.int16),
            "code": np.frombuffer(self._code, dtype=np.int16),
        }
        order = np.argsort(cols["time"], kind="stable")
        return {k: v[order] for k, v in cols.items()}


def events_frame(
    arrays: dict[str, NDArray[np.generic]],
    resource_names: list[str] | None = None,
    run_number: int | None = None,
) -> pd.DataFrame:
    """Event arrays as a DataFrame in the vidigi convention.

    Columns: ``entity_id`` (patient, -1 for resource events), ``event`` (lower-case kind name),
    ``time`` (days), ``resource_id`` (int, -1 if none), ``resource`` (name, if
    ``resource_names`` is given), ``code`` and, if given, ``run_number``.
    """
    df = pd.DataFrame(
        {
            "entity_id": arrays["patient"],
            "event": pd.Categorical.from_codes(
                np.searchsorted(sorted(EVENT_NAMES), arrays["kind"]),
                categories=[EVENT_NAMES[k] for k in sorted(EVENT_NAMES)],
            ),
            "time": arrays["time"],
            "resource_id": arrays["resource"],
            "code": arrays["code"],
        }
    )
    if resource_names is not None:
        names = np.array([*resource_names, ""], dtype=object)
        df["resource"] = names[np.where(df["resource_id"] >= 0, df["resource_id"], -1)]
    if run_number is not None:
        df["run_number"] = run_number
    return df
