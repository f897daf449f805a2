"""The Chinese working calendar, against dates checked by hand.

The arrangements used below, as the State Council published them:
- National Day 2025 (国办发明电〔2024〕12号): 1-8 October off (Mid-autumn falls on 6 October),
  Sunday 28 September and Saturday 11 October worked.
- 2026 (国办发明电〔2025〕7号), as the package has it: Spring Festival 15-23 February off,
  Saturday 14 and Saturday 28 February worked; National Day 1-7 October off, Sunday
  20 September and Saturday 10 October worked; Mid-autumn 25-27 September off.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_es import workdays
from crm_es.workdays import add_working_days, add_working_hours, is_working_day, working_days_between

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_the_calendar_covers_2004_to_2026_and_refuses_nothing_beyond() -> None:
    assert (workdays.FIRST_YEAR, workdays.LAST_YEAR) == (2004, 2026)
    assert workdays.covers(date(2026, 12, 31)) and not workdays.covers(date(2027, 1, 1))
    assert not workdays.covers(date(2003, 12, 31))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 26), True),   # Friday
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),   # Sunday, make-up working day for National Day
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 6), False),  # Mid-autumn, inside the National Day holiday
        (date(2025, 10, 8), False),  # last day of the holiday, a Wednesday
        (date(2025, 10, 9), True),   # Thursday, back to work
        (date(2025, 10, 11), True),  # Saturday, make-up working day
        (date(2025, 10, 12), False),  # Sunday
        (date(2026, 2, 14), True),   # Saturday, make-up working day for the Spring Festival
        (date(2026, 2, 16), False),  # Monday, Spring Festival
        (date(2026, 2, 23), False),  # Monday, the holiday's last day
        (date(2026, 2, 28), True),   # Saturday, make-up working day
        (date(2026, 9, 20), True),   # Sunday, make-up working day for National Day
        (date(2026, 9, 25), False),  # Friday, Mid-autumn
        (date(2026, 10, 7), False),  # Wednesday, National Day
        (date(2026, 10, 10), True),  # Saturday, make-up working day
        (date(2027, 1, 1), True),    # Friday beyond the calendar: weekends only, New Year unknown
        (date(2027, 1, 2), False),   # Saturday beyond the calendar
        (date(2003, 10, 1), True),   # Wednesday before the calendar: weekends only
    ],
)
def test_working_days_follow_the_published_arrangement(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_three_working_days_across_a_weekend() -> None:
    # Thursday 13 November 2025 10:00: Friday 14, Monday 17, Tuesday 18.
    due = add_working_days(at("2025-11-13 10:00"), 3, SHANGHAI)
    assert due.at == at("2025-11-18 10:00") and due.covered


def test_three_working_days_across_the_national_day_holiday() -> None:
    # Tuesday 30 September 2025 15:30: 1-8 October off; Thursday 9, Friday 10, Saturday 11 (worked).
    due = add_working_days(at("2025-09-30 15:30"), 3, SHANGHAI)
    assert due.at == at("2025-10-11 15:30") and due.covered


def test_three_working_days_across_a_make_up_working_day() -> None:
    # Friday 26 September 2025 10:00: Sunday 28 (worked), Monday 29, Tuesday 30.
    assert add_working_days(at("2025-09-26 10:00"), 3, SHANGHAI).at == at("2025-09-30 10:00")
    # Friday 13 February 2026 09:00: Saturday 14 (worked), then the Spring Festival to the 23rd;
    # Tuesday 24, Wednesday 25.
    assert add_working_days(at("2026-02-13 09:00"), 3, SHANGHAI).at == at("2026-02-25 09:00")


def test_a_ticket_opened_on_a_day_off_counts_from_the_next_working_day() -> None:
    # Saturday 27 September 2025: the clock starts on Sunday 28 (a make-up working day) at 00:00;
    # 28, 29, 30 are the three days: due at the end of Tuesday 30 September.
    assert add_working_days(at("2025-09-27 11:00"), 3, SHANGHAI).at == at("2025-10-01 00:00")
    # Thursday 2 October 2025 (National Day): the clock starts on Thursday 9 October.
    assert add_working_days(at("2025-10-02 11:00"), 1, SHANGHAI).at == at("2025-10-10 00:00")


def test_working_hours_stop_on_days_off() -> None:
    # Tuesday 30 September 2025 20:00 + 8 hours: 4 that evening, then 4 on Thursday 9 October.
    assert add_working_hours(at("2025-09-30 20:00"), 8, SHANGHAI).at == at("2025-10-09 04:00")
    # Monday 17 November 2025 09:00 + 8 hours: the same day.
    assert add_working_hours(at("2025-11-17 09:00"), 8, SHANGHAI).at == at("2025-11-17 17:00")
    # Saturday 15 November 2025 + 8 hours: Monday 17 November 08:00.
    assert add_working_hours(at("2025-11-15 12:00"), 8, SHANGHAI).at == at("2025-11-17 08:00")


def test_moments_in_another_offset_count_in_the_company_time_zone() -> None:
    # 2025-09-26 23:30 UTC is Saturday 27 September 07:30 in Shanghai: a day off.
    utc = datetime.fromisoformat("2025-09-26T23:30:00+00:00")
    assert add_working_days(utc, 3, SHANGHAI).at == at("2025-10-01 00:00")


def test_beyond_the_calendars_years_the_count_falls_back_to_weekends_and_says_so() -> None:
    # Wednesday 30 December 2026: Thursday 31 December (known), then 2027 by weekends only:
    # Friday 1 January 2027 counts as a working day, Monday 4 January is the third.
    due = add_working_days(at("2026-12-30 10:00"), 3, SHANGHAI)
    assert due.at == at("2027-01-04 10:00") and not due.covered
    within = add_working_days(at("2026-12-28 10:00"), 3, SHANGHAI)
    assert within.at == at("2026-12-31 10:00") and within.covered
    assert workdays.coverage_note(True) is None
    assert "2004 to 2026" in (workdays.coverage_note(False) or "")


def test_working_days_between_two_moments() -> None:
    # Friday 26 September 2025 10:00 → Thursday 9 October 10:00: 14 h + 28, 29, 30 September + 10 h.
    span = working_days_between(at("2025-09-26 10:00"), at("2025-10-09 10:00"), SHANGHAI)
    assert span.days == Decimal("4.00") and span.covered
    assert working_days_between(at("2025-09-22 10:00"), at("2025-09-23 16:00"), SHANGHAI).days == Decimal("1.25")
    assert working_days_between(at("2025-10-01 10:00"), at("2025-10-05 10:00"), SHANGHAI).days == Decimal("0.00")
    assert working_days_between(at("2025-10-05 10:00"), at("2025-10-01 10:00"), SHANGHAI).days == Decimal("0.00")
    assert not working_days_between(at("2026-12-31 10:00"), at("2027-01-04 10:00"), SHANGHAI).covered


@pytest.mark.parametrize("start", ["2025-09-24 13:15", "2025-09-24 00:00", "2025-09-27 10:00", "2026-02-13 00:00"])
def test_adding_and_measuring_agree(start: str) -> None:
    for days in range(0, 30):
        due = add_working_days(at(start), days, SHANGHAI).at
        assert working_days_between(at(start), due, SHANGHAI).days == Decimal(days)
        if days:  # the first such moment: a minute earlier, a whole day had not passed yet
            assert working_days_between(at(start), due - timedelta(hours=1), SHANGHAI).days < Decimal(days)
    for hours in range(0, 100, 7):
        due = add_working_hours(at(start), hours, SHANGHAI).at
        assert working_days_between(at(start), due, SHANGHAI).days == (Decimal(hours) / 24).quantize(Decimal("0.01"))


def test_naive_moments_and_absurd_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        add_working_days(datetime(2025, 9, 26, 10), 3, SHANGHAI)
    with pytest.raises(ValueError):
        add_working_days(at("2025-09-26 10:00"), -1, SHANGHAI)
    with pytest.raises(ValueError):
        working_days_between(at("2025-09-26 10:00"), at("2025-09-26 10:00") + timedelta(days=366 * 60), SHANGHAI)
