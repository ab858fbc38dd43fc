"""Simulation time and the weekly calendar.

Time is a float number of **days** since t=0, which is midnight at the start of a Monday (the
scenario's ``start_date``). Day ``d`` is the interval ``[d, d+1)``; its weekday is ``d mod 7``
(0 = Monday). England's bank holidays are computed from the calendar date so that weekly
sessions falling on one can be skipped.

This module owns all weekday arithmetic; nothing else in the package computes ``% 7``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

WEEKDAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _first_monday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, 1)
    return d + dt.timedelta(days=(7 - d.weekday()) % 7)


def _last_monday(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - dt.timedelta(days=1)
    return d - dt.timedelta(days=d.weekday())


def _substitute(d: dt.date, taken: set[dt.date]) -> dt.date:
    while d.weekday() >= 5 or d in taken:
        d += dt.timedelta(days=1)
    return d


def england_bank_holidays(year: int) -> list[dt.date]:
    """England and Wales bank holidays of ``year`` under the standing rules.

    New Year's Day, Good Friday, Easter Monday, early May, spring and summer bank holidays,
    Christmas Day and Boxing Day, with weekend substitution. One-off holidays (jubilees,
    coronations, state funerals) are not included.
    """
    easter = easter_sunday(year)
    taken: set[dt.date] = set()
    out = []
    for d in (
        _substitute(dt.date(year, 1, 1), taken),
        easter - dt.timedelta(days=2),
        easter + dt.timedelta(days=1),
        _first_monday(year, 5),
        _last_monday(year, 5),
        _last_monday(year, 8),
    ):
        taken.add(d)
        out.append(d)
    christmas = _substitute(dt.date(year, 12, 25), taken)
    taken.add(christmas)
    boxing = _substitute(dt.date(year, 12, 26), taken)
    out += [christmas, boxing]
    return sorted(out)


class Calendar:
    """Weekday and bank-holiday arithmetic for a simulation starting on a Monday.

    Parameters
    ----------
    start_date:
        Calendar date of t=0 (must be a Monday).
    """

    def __init__(self, start_date: dt.date):
        if start_date.weekday() != 0:
            raise ValueError(f"start_date must be a Monday, got {start_date}")
        self.start_date = start_date
        self._holiday_days: set[int] = set()
        self._years_done: set[int] = set()
        self._days_done = (0, 0)
        """Days (from t=0) of a year whose bank holidays, and its neighbours', are known."""

    def date_of(self, t: float) -> dt.date:
        """Calendar date of time ``t`` (days)."""
        return self.start_date + dt.timedelta(days=math.floor(t))

    @staticmethod
    def weekday(t: float) -> int:
        """Weekday of time ``t``: 0 = Monday ... 6 = Sunday."""
        return math.floor(t) % 7

    def is_bank_holiday(self, t: float) -> bool:
        """Whether the day containing ``t`` is an England bank holiday."""
        day = math.floor(t)
        if not self._days_done[0] <= day < self._days_done[1]:
            year = self.date_of(t).year
            for y in (year - 1, year, year + 1):
                if y not in self._years_done:
                    self._years_done.add(y)
                    for d in england_bank_holidays(y):
                        self._holiday_days.add((d - self.start_date).days)
            # Days of the year of ``t`` (its neighbours are done too): no look-up next time.
            first = (dt.date(year, 1, 1) - self.start_date).days
            self._days_done = (first, (dt.date(year + 1, 1, 1) - self.start_date).days)
        return day in self._holiday_days

    @staticmethod
    def week_offsets(sessions: Iterable[tuple[str, float]]) -> list[float]:
        """Sorted offsets (days from Monday 00:00) of weekly sessions ``(weekday, hour)``."""
        return sorted(WEEKDAY_INDEX[w] + h / 24.0 for w, h in sessions)

    @staticmethod
    def first_session_index(t: float, offsets: list[float]) -> int:
        """Index ``k`` of the first weekly session at or after ``t`` (see :meth:`session_time`).

        A case arriving after this week's last session waits for next week's first.
        """
        n = len(offsets)
        week = math.floor(t / 7.0)
        for j, off in enumerate(offsets):
            if 7.0 * week + off >= t:
                return week * n + j
        return (week + 1) * n

    @staticmethod
    def session_time(k: int, offsets: list[float]) -> float:
        """Time (days) of session number ``k`` (``k = week * len(offsets) + j``)."""
        week, j = divmod(k, len(offsets))
        return 7.0 * week + offsets[j]

    @classmethod
    def next_session(cls, t: float, offsets: list[float]) -> float:
        """The first session time at or after ``t``."""
        return cls.session_time(cls.first_session_index(t, offsets), offsets)
