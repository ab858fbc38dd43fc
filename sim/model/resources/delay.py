"""No capacity modelled: an exogenous wait (general CT/MRI and endoscopy)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import simpy

from sim.core.calendar import Calendar
from sim.core.events import ROW_PACK, EventLog
from sim.model.resources.base import (
    EV_LEFT_QUEUE,
    EV_QUEUE_JOIN,
    EV_SERVICE_START,
    INF,
    FailsAfter,
    ResourceKind,
)
from sim.scenario.schema import Delay


class DelayService:
    """No capacity: each case waits an exogenous time ``wait_ppf(u)`` and is served."""

    def __init__(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        wait_ppf: Callable[[float], float],
        rng: np.random.Generator,
    ):
        self.env = env
        self._log = log
        self.rid = rid
        self.name = name
        self._ppf = wait_ppf
        self._rng = rng

    def reconfigure(self, wait_ppf: Callable[[float], float]) -> None:
        """Waits of cases joining from now on follow ``wait_ppf`` (a policy start)."""
        self._ppf = wait_ppf

    def request(
        self,
        patient: int,
        case_class: int = 0,
        *,
        deadline: float = INF,
        leave_time: float = INF,
        u: float | None = None,
        died: type[Exception] | None = None,
    ) -> simpy.Event:
        now = self.env.now
        wait = self._ppf(u if u is not None else self._rng.random())
        self._log.write(ROW_PACK(now, patient, EV_QUEUE_JOIN, self.rid, case_class))
        if now + wait < leave_time:
            self._log.write(ROW_PACK(now + wait, patient, EV_SERVICE_START, self.rid, case_class))
            return self.env.timeout(wait, True if died is None else None)
        self._log.write(ROW_PACK(leave_time, patient, EV_LEFT_QUEUE, self.rid, case_class))
        if died is not None:
            return FailsAfter(self.env, max(leave_time - now, 0.0), died())
        return self.env.timeout(max(leave_time - now, 0.0), False)

    def flush(self, horizon: float) -> None:
        """Nothing waits in a delay: departures were recorded at request time."""


class DelayKind(ResourceKind):
    """``kind = "delay"``: no capacity modelled, an exogenous wait."""

    name = "delay"
    spec_class = Delay

    def build(
        self,
        env: simpy.Environment,
        log: EventLog,
        rid: int,
        name: str,
        calendar: Calendar,
        rng: np.random.Generator,
        spec: Delay,
        region: str | None,
        scale: float,
    ) -> DelayService:
        return DelayService(env, log, rid, name, spec.wait_days.sample1, rng)

    def reconfigure(self, res: DelayService, spec: Delay, region: str | None, scale: float) -> None:
        res.reconfigure(spec.wait_days.sample1)

    def describe(self, spec: Mapping[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
        return "delay", [("wait (days)", spec.get("wait_days"))]


DELAY = DelayKind()
