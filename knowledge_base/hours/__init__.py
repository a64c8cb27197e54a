"""Opening hours, holidays and working-day time limits of Beijing 政务服务中心.

Public API (everything else is an implementation detail)::

    centers = load_centers()                      # dict[id, Center] from data/centers.yaml
    cal = default_calendar()                      # holidays.yaml over chinese-calendar
    st = check_open(centers["haidian"], "社保", at, cal, flexible_allowed=False)
    st.open, st.mode, st.reason, st.next_open    # mode: regular | lunch_service |
                                                  #   flexible_appointment | saturday_service |
                                                  #   closed | unknown (date not published)
    st.to_dict()                                  # JSON for GET /api/v1/hours/check
    next_open(center, category, after, cal, flexible_allowed=False) -> datetime | None
    acceptance_deadline(submitted_at, cal, channel="online") -> Deadline(deadline, basis)
    processing_deadline(start, working_days, cal) -> Deadline   # .to_dict() for /hours/deadline
    parse_time("明天下午三点", now, cal) -> TimeExpr | None
    describe_status(center, category, at, st) / describe_day(center, category, day, cal) -> str
    describe_time(center, category, parse_time(...), cal) -> str   # answer for any parsed expression
    coverage_status(cal, today) -> dict            # /healthz fragment, warns 60 days ahead

All datetimes are Asia/Shanghai (:data:`TZ`); naive inputs are taken to be Beijing time.
Dates no calendar source covers are answered as “not published” (mode ``unknown`` /
:class:`CalendarNotPublished`), never guessed. Rules are documented in ``README.md`` here.
"""

from __future__ import annotations

from .calendars import (Calendar, CalendarNotPublished, ChineseCalendarSource, DayInfo, HolidayFileError,
                       HolidayPeriod, LayeredCalendar, OperatorCalendarFile, coverage_status, default_calendar)
from .centers import (CATEGORIES, Center, CenterConfigError, UnknownCategoryError, UnknownCenterError,
                      load_centers, parse_centers)
from .deadlines import Deadline, acceptance_deadline, processing_deadline
from .engine import TZ, DaySchedule, OpenStatus, check_open, day_schedule, next_open, to_beijing
from .render import describe_day, describe_status, describe_time
from .timeparse import TimeExpr, parse_time

__all__ = [
    "CATEGORIES", "TZ", "Calendar", "CalendarNotPublished", "Center", "CenterConfigError",
    "ChineseCalendarSource", "DayInfo", "DaySchedule", "Deadline", "HolidayFileError", "HolidayPeriod",
    "LayeredCalendar", "OpenStatus", "OperatorCalendarFile", "TimeExpr", "UnknownCategoryError",
    "UnknownCenterError", "acceptance_deadline", "check_open", "coverage_status", "day_schedule",
    "default_calendar", "describe_day", "describe_status", "describe_time", "get_center", "load_centers", "next_open",
    "parse_centers", "parse_time", "processing_deadline", "to_beijing",
]


def get_center(centers: dict[str, Center], center_id: str) -> Center:
    """Look up a center by id, raising :class:`UnknownCenterError` (a KeyError) with the known ids."""
    try:
        return centers[center_id]
    except KeyError:
        raise UnknownCenterError(f"unknown center {center_id!r}; known: {', '.join(sorted(centers))}") from None
