"""Time limits counted in working days: online acceptance (1 working day) and processing limits.

The rule (one rule for every working-day limit, after 《中华人民共和国民法典》第二百零一条 and
第二百零三条):

1. **The day of submission is never counted** (“开始的当日不计入，自下一日开始计算”), whatever the
   hour and whatever kind of day it is. Counting starts on the next calendar day.
2. **Only legal working days count**: ordinary weekdays that are not holidays, plus 调休 make-up
   working days (including make-up Saturdays/Sundays). Weekends and legal holidays are skipped.
3. **A limit of N working days ends at the close of business (17:00) of the N-th working day**
   after the submission date (“有业务时间的，停止业务活动的时间为截止时间”).

So an online application (受理时限: 1 working day) submitted at 10:00 on a Wednesday must be
decided by Thursday 17:00; one submitted Friday 23:59, on Saturday or on Sunday by Monday 17:00;
one submitted on a make-up Saturday by the following Monday 17:00 (the make-up day itself is the
start day, not counted); one submitted on the last working day before the National Day holiday by
17:00 on the first working day after it. The rule always leaves the department at least one full
office day and gives the citizen a single, predictable cut-off; it never depends on the hour of
submission, so after-hours submissions are not penalised twice.

Offline (窗口) applications are accepted or refused on the spot (当场受理), so their "deadline" is
the submission moment itself.

If any day the count must cross lies in a year whose holiday arrangement is not published, a
:class:`~knowledge_base.hours.calendars.CalendarNotPublished` error is raised rather than guessing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from .calendars import Calendar, CalendarNotPublished
from .engine import TZ, fmt_day, fmt_moment, to_beijing

#: Close of business used for working-day deadlines (the standard 9:00–17:00 day).
OFFICE_CLOSE = dt.time(17, 0)

#: Safety bound: no real arrangement has more than this many consecutive non-working days.
_MAX_GAP_DAYS = 30


@dataclass(frozen=True)
class Deadline:
    deadline: dt.datetime
    basis: str
    working_days: int = 0

    def to_dict(self) -> dict:
        """JSON shape of ``GET /api/v1/hours/deadline``."""
        return {"deadline": self.deadline.isoformat(), "basis": self.basis}


def nth_working_day_after(day: dt.date, n: int, calendar: Calendar) -> dt.date:
    """The n-th legal working day strictly after ``day`` (n >= 1)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    current, found, gap = day, 0, 0
    while found < n:
        current += dt.timedelta(days=1)
        info = calendar.day_kind(current)
        if not info.known:
            raise CalendarNotPublished(current, calendar.coverage_end())
        if info.is_working_day:
            found, gap = found + 1, 0
        else:
            gap += 1
            if gap > _MAX_GAP_DAYS:
                raise RuntimeError(f"no working day within {_MAX_GAP_DAYS} days after {current}")
    return current


def processing_deadline(start: dt.datetime, working_days: int, calendar: Calendar,
                        close: dt.time = OFFICE_CLOSE) -> Deadline:
    """Deadline of a limit of ``working_days`` working days starting at ``start`` (see module rule).

    ``working_days == 0`` means an on-the-spot matter (即办件): the deadline is ``start`` itself.
    """
    start = to_beijing(start)
    if working_days < 0:
        raise ValueError("working_days must be >= 0")
    if working_days == 0:
        return Deadline(start, "即办件：当场办结", 0)
    end_day = nth_working_day_after(start.date(), working_days, calendar)
    deadline = dt.datetime.combine(end_day, close, TZ)
    basis = (f"自{fmt_day(start.date())}的次日起计算，只计法定工作日（含调休上班日，不含周末和法定节假日），"
             f"{working_days}个工作日截至{fmt_day(end_day)}{close.hour}:{close.minute:02d}")
    return Deadline(deadline, basis, working_days)


def acceptance_deadline(submitted_at: dt.datetime, calendar: Calendar,
                        channel: Literal["online", "offline"] = "online",
                        close: dt.time = OFFICE_CLOSE) -> Deadline:
    """When the acceptance decision (受理/不予受理) is due for an application.

    Online: within 1 working day, by the rule in the module docstring. Offline: on the spot.
    """
    submitted_at = to_beijing(submitted_at)
    if channel == "offline":
        return Deadline(submitted_at, "窗口申请：当场作出是否受理的决定", 0)
    if channel != "online":
        raise ValueError("channel must be 'online' or 'offline'")
    d = processing_deadline(submitted_at, 1, calendar, close)
    basis = (f"网上申请于{fmt_moment(submitted_at)}提交，应在1个工作日内作出是否受理的决定："
             f"提交当日不计入，自次日起的第一个工作日即{fmt_day(d.deadline.date())}"
             f"{close.hour}:{close.minute:02d}前答复")
    return Deadline(d.deadline, basis, 1)
