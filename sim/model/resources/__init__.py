"""Capacity as the NHS runs it: weekly slotted sessions, server pools and plain delays.

Every resource offers one call, ``request(patient, case_class, ...) -> simpy.Event``; the event
succeeds with ``True`` when the case has been served (discussed at the meeting, scanned,
reported) or ``False`` if the patient left the queue unserved (died while waiting).

* :class:`SlottedService` - an MDT meeting, a PET list, a PRRT treatment day. A weekly calendar
  of sessions, each with a number of case slots. A case is *listed* when requested; it is
  eligible for a session only if listed at least ``results_cutoff_days`` before it (results
  must be back). At each session the eligible cases are ordered by the priority rule and the
  first ``slots`` are served; the rest roll to the next session. Sessions on bank holidays and
  randomly cancelled sessions are skipped. A session is held after everything else that
  happens at its instant, so a case listed at the very time of the meeting with no cut-off is
  taken at it, whatever the order in which SimPy processes simultaneous events. (Ciw's
  ``Slotted`` schedules, one process per resource rather than per case.)
* :class:`ServerPool` - ``c`` parallel servers with a service time (pathologists reporting
  biopsies with Ki-67); the M/M/c queue of Erlang C when arrivals are Poisson and service
  exponential.
* :class:`DelayService` - no capacity modelled: an exogenous wait (general CT/MRI and
  endoscopy, where NEN patients are a tiny share of demand).

Monitoring goes through the event log only (``_log``): queue joins, service starts and ends,
session starts, ends and cancellations. Queue length, backlog and utilisation over time are
rebuilt from the log (:mod:`sim.measures.kpis`); nothing is tallied here.

Priority rules (``priority``):

``fifo``
    in order of listing.
``class``
    by case class in ``class_order`` (default new diagnoses, then progressions, then routine
    reviews), then by listing time; with ``escalation_days`` set, cases within that many days
    of their 62-day breach date go first.
``deadline``
    earliest breach date first (cases without a deadline last), then listing time.
"""

from typing import Any

from sim.model.resources.base import INF, Resource, ResourceKind
from sim.model.resources.delay import DELAY, DelayService
from sim.model.resources.servers import SERVERS, ServerPool
from sim.model.resources.sessions import SESSIONS, SlottedService

KINDS: dict[str, ResourceKind] = {k.name: k for k in (SESSIONS, SERVERS, DELAY)}
"""Every resource kind, by the scenario's ``kind`` value: the one list a new kind joins."""


def kind_of(spec: Any) -> ResourceKind:
    """The kind of a resource's scenario specification (a schema object)."""
    return KINDS[spec.kind]


def has_capacity(spec: Any) -> bool:
    """Whether the resource has a capacity (so ``nenpath size`` can size it)."""
    return kind_of(spec).capacity_key is not None


__all__ = [
    "INF",
    "KINDS",
    "DelayService",
    "Resource",
    "ResourceKind",
    "ServerPool",
    "SlottedService",
    "has_capacity",
    "kind_of",
]
