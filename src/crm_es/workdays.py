"""The Chinese working calendar (工作日): which days people work, and working time between moments.

A working day is a Monday to Friday that is not a public holiday, or a Saturday or Sunday that
the State Council's arrangement makes a working day in exchange for a bridged holiday (调休).
The arrangement of each year comes from the ``chinesecalendar`` package, which covers the years
``FIRST_YEAR`` to ``LAST_YEAR`` (2004-2026 in version 1.11). A day outside those years counts
by the weekends alone (Monday to Friday work), and every answer says whether it needed to:
``covered`` is False when a day it counted lies beyond the package's years.

Working time runs on whole working days: from midnight to midnight of each working day, in the
company's time zone; non-working days stop the clock. crm-es does not model office hours.

- ``add_working_days(t, n)``: the same time of day on the ``n``-th working day after ``t``'s
  day. A moment on a non-working day starts the clock at the beginning of the next working day,
  so Saturday + 3 working days is the end of Wednesday (Thursday 00:00); when the third
  working day is followed by a holiday, it is still the end of that day, never the start of
  the next working day.
- ``add_working_hours(t, h)``: ``h`` hours of working days after ``t``.
- ``working_days_between(a, b)``: the working time from ``a`` to ``b``, in working days (24
  hours of a working day is one).

Used by the SLA of service tickets, and meant for anything else that counts working days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants as _calendar

FIRST_YEAR: int = min(_calendar.holidays).year
LAST_YEAR: int = max(max(_calendar.holidays), max(_calendar.workdays)).year
"""The years whose arrangement of holidays and make-up working days crm-es knows."""

_DAY = timedelta(days=1)
_MAX_DAYS = 50 * 366
"""A count beyond this many days is refused: it means a mistake, not an SLA."""


def covers(day: date) -> bool:
    """Whether the holiday arrangement of ``day``'s year is known."""
    return FIRST_YEAR <= day.year <= LAST_YEAR


@lru_cache(maxsize=8192)
def is_working_day(day: date) -> bool:
    """Whether people work on ``day``: the published arrangement where known, else Monday to Friday."""
    if covers(day):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


@dataclass(frozen=True)
class Moment:
    """A moment the calendar computed, and whether every day it counted was a known year's."""

    at: datetime
    covered: bool


@dataclass(frozen=True)
class Span:
    """Working time between two moments, in working days, and whether every day was known."""

    days: Decimal
    covered: bool


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the moment needs a time zone")
    return moment.astimezone(zone)


def _start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), zone)


def _next_working_day(day: date) -> tuple[date, bool]:
    """The first working day after ``day``, and whether every day passed was covered."""
    covered = True
    for _ in range(_MAX_DAYS):
        day += _DAY
        covered &= covers(day)
        if is_working_day(day):
            return day, covered
    raise ValueError("no working day found")  # pragma: no cover - every week has one


def _clock_start(moment: datetime, zone: tzinfo) -> tuple[datetime, bool]:
    """Where the working clock starts for ``moment``: itself on a working day, else the
    beginning of the next working day."""
    local = _local(moment, zone)
    covered = covers(local.date())
    if is_working_day(local.date()):
        return local, covered
    day, rest = _next_working_day(local.date())
    return _start(day, zone), covered and rest


def add_working_days(moment: datetime, days: int, zone: tzinfo) -> Moment:
    """The first moment at which ``days`` working days have passed since ``moment``: the same
    time of day on the ``days``-th working day after its day; from the start of the next
    working day if ``moment`` is on a day off, which makes it the end of a working day."""
    if not 0 <= days <= _MAX_DAYS // 2:
        raise ValueError(f"days must be from 0 to {_MAX_DAYS // 2}")
    start, covered = _clock_start(moment, zone)
    if days == 0:
        return Moment(start, covered)
    day = start.date()
    midnight = start == _start(day, zone)
    for _ in range(days - 1 if midnight else days):
        day, known = _next_working_day(day)
        covered &= known
    if midnight:  # whole days from the start of ``start``'s day: due when the last one ends
        return Moment(_start(day + _DAY, zone), covered)
    return Moment(datetime.combine(day, start.timetz()).astimezone(zone), covered)


def add_working_hours(moment: datetime, hours: int, zone: tzinfo) -> Moment:
    """``hours`` hours of working days after ``moment`` (days off stop the clock)."""
    if not 0 <= hours <= _MAX_DAYS * 24 // 2:
        raise ValueError("hours out of range")
    at, covered = _clock_start(moment, zone)
    remaining = timedelta(hours=hours)
    while True:
        day_end = _start(at.date() + _DAY, zone)
        if remaining <= day_end - at:
            return Moment(at + remaining, covered)
        remaining -= day_end - at
        day, known = _next_working_day(at.date())
        covered &= known
        at = _start(day, zone)


def working_days_between(start: datetime, end: datetime, zone: tzinfo) -> Span:
    """The working time from ``start`` to ``end`` in working days (two places), zero if ``end``
    is not after ``start``."""
    first, last = _local(start, zone), _local(end, zone)
    if last <= first:
        return Span(Decimal("0.00"), covers(first.date()))
    if (last.date() - first.date()).days > _MAX_DAYS:
        raise ValueError("the span is too long")
    seconds = 0.0
    covered = True
    day = first.date()
    while day <= last.date():
        covered &= covers(day)
        if is_working_day(day):
            begin = max(first, _start(day, zone))
            finish = min(last, _start(day + _DAY, zone))
            if finish > begin:
                seconds += (finish - begin).total_seconds()
        day += _DAY
    return Span((Decimal(seconds) / Decimal(86400)).quantize(Decimal("0.01")), covered)


def coverage_note(covered: bool) -> str | None:
    """What an answer says when a day it counted lay beyond the known years (None otherwise)."""
    if covered:
        return None
    return (
        f"the Chinese holiday calendar crm-es has covers {FIRST_YEAR} to {LAST_YEAR}; days outside those "
        "years were counted by weekends only (Monday to Friday as working days, no public holidays)"
    )
