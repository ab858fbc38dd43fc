"""Weekday arithmetic and England bank holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from sim.core.calendar import Calendar, easter_sunday, england_bank_holidays

TUE_13 = [("tue", 13.0)]


def test_time_zero_is_monday_midnight() -> None:
    cal = Calendar(dt.date(2025, 1, 6))
    assert cal.weekday(0.0) == 0 and cal.weekday(6.99) == 6 and cal.weekday(7.0) == 0
    assert cal.date_of(8.5) == dt.date(2025, 1, 14)


def test_case_before_this_weeks_meeting_gets_it() -> None:
    offs = Calendar.week_offsets(TUE_13)
    assert Calendar.next_session(0.0, offs) == pytest.approx(1 + 13 / 24)
    assert Calendar.next_session(1.5, offs) == pytest.approx(1 + 13 / 24)


def test_case_after_this_weeks_meeting_waits_for_next_week() -> None:
    offs = Calendar.week_offsets(TUE_13)
    assert Calendar.next_session(1 + 14 / 24, offs) == pytest.approx(8 + 13 / 24)
    assert Calendar.next_session(6.9, offs) == pytest.approx(8 + 13 / 24)


def test_arrival_exactly_at_session_start_is_in_time() -> None:
    offs = Calendar.week_offsets(TUE_13)
    t = 7 * 3 + 1 + 13 / 24
    assert Calendar.next_session(t, offs) == t


def test_several_sessions_a_week_in_order() -> None:
    offs = Calendar.week_offsets([("fri", 9.0), ("wed", 9.0)])
    k = Calendar.first_session_index(0.0, offs)
    times = [Calendar.session_time(k + i, offs) for i in range(4)]
    assert times == pytest.approx([2.375, 4.375, 9.375, 11.375])


def test_easter_known_dates() -> None:
    assert easter_sunday(2025) == dt.date(2025, 4, 20)
    assert easter_sunday(2026) == dt.date(2026, 4, 5)
    assert easter_sunday(2038) == dt.date(2038, 4, 25)


def test_england_bank_holidays_published_lists() -> None:
    # gov.uk published lists for England and Wales.
    assert england_bank_holidays(2025) == [
        dt.date(2025, m, d)
        for m, d in ((1, 1), (4, 18), (4, 21), (5, 5), (5, 26), (8, 25), (12, 25), (12, 26))
    ]
    assert england_bank_holidays(2026) == [
        dt.date(2026, m, d)
        for m, d in ((1, 1), (4, 3), (4, 6), (5, 4), (5, 25), (8, 31), (12, 25), (12, 28))
    ]
    assert dt.date(2027, 12, 27) in england_bank_holidays(2027)
    assert dt.date(2027, 12, 28) in england_bank_holidays(2027)


def test_is_bank_holiday_in_simulation_time() -> None:
    cal = Calendar(dt.date(2025, 1, 6))
    christmas = (dt.date(2025, 12, 25) - dt.date(2025, 1, 6)).days
    assert cal.is_bank_holiday(christmas + 0.5)
    assert not cal.is_bank_holiday(christmas - 1 + 0.5)
