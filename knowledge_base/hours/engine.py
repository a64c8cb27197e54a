"""Is a center open for a category at a moment, and when does it next open?

Pure functions over a :class:`~knowledge_base.hours.centers.Center` and a
:class:`~knowledge_base.hours.calendars.Calendar`; no clock, no I/O, so every answer is testable.

Rules implemented (Beijing draft 《政务服务标准化管理办法》):

* legal working days (weekdays that are not holidays, plus 调休 make-up working days) follow the
  center's regular hours (default 9:00–17:00);
* 午间不间断: with ``lunch.continuous`` the comprehensive windows keep serving during the lunch
  break (mode ``lunch_service``); otherwise the lunch break is closed;
* 早晚弹性办: on legal working days, the hour before opening and the hour after closing are open
  *by appointment only* and only for matters that allow it (``flexible_allowed=True``);
* 周末不休息: ordinary Saturdays offer full-day service (no lunch break) for the high-frequency
  personal categories configured for the center; Saturdays inside a holiday period are closed;
* Sundays and legal holidays are closed; per-center date exceptions (closed / special hours)
  override everything; a date no calendar source covers yields mode ``unknown`` — never a guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from .calendars import Calendar, DayInfo, not_published_message
from .centers import CATEGORIES, Center, DateException, TimeRange, check_category, fmt_time

TZ = ZoneInfo("Asia/Shanghai")

Mode = Literal["regular", "lunch_service", "flexible_appointment", "saturday_service", "closed", "unknown"]

WEEKDAY_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

#: How far :func:`next_open` looks ahead (the longest closure is the Spring Festival week).
NEXT_OPEN_HORIZON_DAYS = 45


def to_beijing(moment: dt.datetime) -> dt.datetime:
    """Aware datetime in Asia/Shanghai; naive input is taken to already be Beijing time."""
    return moment.replace(tzinfo=TZ) if moment.tzinfo is None else moment.astimezone(TZ)


def fmt_day(day: dt.date) -> str:
    """``10月10日（周六）``."""
    return f"{day.month}月{day.day}日（{WEEKDAY_ZH[day.weekday()]}）"


def mode_at(center: Center, category: str, moment: dt.datetime, calendar: Calendar,
            flexible_allowed: bool = False) -> Mode:
    """Service mode at ``moment`` (``closed``/``unknown`` when not served)."""
    moment = to_beijing(moment)
    sched = day_schedule(center, category, moment.date(), calendar, flexible_allowed)
    if not sched.known:
        return "unknown"
    t = moment.time()
    return next((seg.mode for seg in sched.segments if seg.start <= t < seg.end), "closed")


def fmt_moment(moment: dt.datetime) -> str:
    """``10月8日（周四）9:00``."""
    return f"{fmt_day(moment.date())}{fmt_time(moment.time())}"


@dataclass(frozen=True)
class Segment:
    """A half-open interval [start, end) of one day during which the category is served."""

    start: dt.time
    end: dt.time
    mode: Mode


@dataclass(frozen=True)
class DaySchedule:
    """The whole day for one center and category: why it is open or closed, and when."""

    day: dt.date
    info: DayInfo
    segments: tuple[Segment, ...]
    hours: TimeRange | None  # the day's opening hours for this category (None when closed)
    closed_reason: str | None  # set when the category is not served at all that day
    exception: DateException | None = None

    @property
    def known(self) -> bool:
        return self.info.known or self.exception is not None


@dataclass(frozen=True)
class OpenStatus:
    open: bool
    mode: Mode
    reason: str
    next_open: dt.datetime | None
    day: DayInfo | None = None
    next_mode: Mode | None = None  # mode at ``next_open`` (e.g. flexible_appointment = needs booking)

    def to_dict(self) -> dict:
        """JSON shape of ``GET /api/v1/hours/check``."""
        return {
            "open": self.open,
            "mode": self.mode,
            "reason": self.reason,
            "next_open": self.next_open.isoformat() if self.next_open else None,
        }


def _shift(t: dt.time, minutes: int) -> dt.time:
    """Add minutes to a time of day, clamped to the same day (flexible windows never cross midnight)."""
    total = max(0, min(t.hour * 60 + t.minute + minutes, 24 * 60 - 1))
    return dt.time(total // 60, total % 60)


def _workday_segments(center: Center, hours: TimeRange, flexible: bool) -> list[Segment]:
    segs: list[Segment] = []
    fx = center.flexible
    if flexible and fx.before_minutes:
        segs.append(Segment(_shift(hours.start, -fx.before_minutes), hours.start, "flexible_appointment"))
    segs.extend(_lunch_split(center, hours, "regular"))
    if flexible and fx.after_minutes:
        segs.append(Segment(hours.end, _shift(hours.end, fx.after_minutes), "flexible_appointment"))
    return segs


def _lunch_split(center: Center, hours: TimeRange, mode: Mode) -> list[Segment]:
    lunch = center.lunch
    if not (lunch.start < hours.end and lunch.end > hours.start):
        return [Segment(hours.start, hours.end, mode)]
    segs: list[Segment] = []
    if hours.start < lunch.start:
        segs.append(Segment(hours.start, lunch.start, mode))
    if lunch.continuous:
        segs.append(Segment(max(lunch.start, hours.start), min(lunch.end, hours.end), "lunch_service"))
    if lunch.end < hours.end:
        segs.append(Segment(lunch.end, hours.end, mode))
    return segs


def day_schedule(center: Center, category: str, day: dt.date, calendar: Calendar,
                 flexible_allowed: bool = False) -> DaySchedule:
    """Build the schedule of ``day`` for ``category`` at ``center``."""
    check_category(category)
    info = calendar.day_kind(day)
    exc = center.exceptions.get(day)
    if exc is not None:
        if exc.closed:
            return DaySchedule(day, info, (), None, f"{exc.reason}（{fmt_day(day)}暂停服务）", exc)
        segs = _workday_segments(center, exc.hours, flexible_allowed and info.is_working_day)
        return DaySchedule(day, info, tuple(segs), exc.hours, None, exc)
    if not info.known:
        return DaySchedule(day, info, (), None, not_published_message(day, calendar.coverage_end()))
    if info.is_working_day:
        hours = center.hours_for_workday(day)
        return DaySchedule(day, info, tuple(_workday_segments(center, hours, flexible_allowed)), hours, None)
    if info.kind == "holiday":
        return DaySchedule(day, info, (), None, f"{fmt_day(day)}是{info.holiday_name}假期（法定节假日），不办公")
    # ordinary weekend day
    sat = center.saturday
    if day.weekday() == 5 and sat.hours is not None:
        if category in sat.categories:
            seg = Segment(sat.hours.start, sat.hours.end, "saturday_service")
            return DaySchedule(day, info, (seg,), sat.hours, None)
        served = "、".join(c for c in CATEGORIES if c in sat.categories)
        return DaySchedule(day, info, (), None,
                           f"{fmt_day(day)}周末不休息服务仅办理{served}等高频个人事项，{category}类事项周六不办理")
    return DaySchedule(day, info, (), None, f"{fmt_day(day)}休息，不办公")


def _search_next_open(center: Center, category: str, after: dt.datetime, calendar: Calendar,
                      flexible_allowed: bool, horizon_days: int) -> tuple[dt.datetime | None, dt.date | None]:
    """Earliest served moment >= ``after``; second item = first unknown date that stopped the search."""
    after = to_beijing(after)
    day = after.date()
    for _ in range(horizon_days + 1):
        sched = day_schedule(center, category, day, calendar, flexible_allowed)
        if not sched.known:
            return None, day
        for seg in sched.segments:
            start = dt.datetime.combine(day, seg.start, TZ)
            end = dt.datetime.combine(day, seg.end, TZ)
            if end > after:
                return max(start, after), None
        day += dt.timedelta(days=1)
    return None, None


def next_open(center: Center, category: str, after: dt.datetime, calendar: Calendar,
              flexible_allowed: bool = False, horizon_days: int = NEXT_OPEN_HORIZON_DAYS) -> dt.datetime | None:
    """Earliest moment at or after ``after`` when ``category`` is served (``after`` itself if open now).

    Flexible (appointment-only) windows count only when ``flexible_allowed``. Returns ``None`` when
    the search reaches a date whose holiday arrangement is not published, or nothing opens within
    ``horizon_days``.
    """
    return _search_next_open(center, category, after, calendar, flexible_allowed, horizon_days)[0]


def _open_reason(sched: DaySchedule, seg: Segment, center: Center, category: str) -> str:
    hours = sched.hours.label() if sched.hours else ""
    if sched.exception is not None:
        base = f"特殊安排（{sched.exception.reason}），当日办公时间 {hours}"
    elif sched.info.kind == "makeup_workday":
        name = f"（{sched.info.holiday_name}调休）" if sched.info.holiday_name else ""
        base = f"{fmt_day(sched.day)}是调休工作日{name}，按工作日时间 {hours} 办公"
    else:
        base = f"工作日正常办公时间 {hours}"
    if seg.mode == "lunch_service":
        lunch = center.lunch
        return f"午间不间断：{fmt_time(lunch.start)}–{fmt_time(lunch.end)} 午休时段综合窗口照常办理（{base}）"
    if seg.mode == "flexible_appointment":
        return f"早晚弹性办：{fmt_time(seg.start)}–{fmt_time(seg.end)} 仅限预约办理，请先预约（{base}）"
    if seg.mode == "saturday_service":
        return f"周末不休息：周六 {hours} 全天办理{category}等高频个人事项"
    return base


def _closed_reason(sched: DaySchedule, t: dt.time, center: Center, flexible_allowed: bool) -> str:
    if not sched.segments:
        return sched.closed_reason or "不办公"
    hours = sched.hours
    label = hours.label() if hours else ""
    fx = center.flexible
    if hours and sched.info.is_working_day and not flexible_allowed:
        before = _shift(hours.start, -fx.before_minutes)
        after = _shift(hours.end, fx.after_minutes)
        if before <= t < hours.start or hours.end <= t < after:
            return (f"非办公时间（办公时间 {label}）；早晚弹性办时段仅限支持预约的事项，"
                    "该事项请在正常办公时间办理")
    first, last = sched.segments[0], sched.segments[-1]
    if t < first.start:
        return f"尚未到办公时间（当日办公时间 {label}）"
    if t >= last.end:
        return f"已过办公时间（当日办公时间 {label}）"
    lunch = center.lunch
    return f"午休时间 {fmt_time(lunch.start)}–{fmt_time(lunch.end)} 暂停办理，{fmt_time(lunch.end)} 恢复"


def check_open(center: Center, category: str, at: dt.datetime, calendar: Calendar,
               flexible_allowed: bool = False) -> OpenStatus:
    """Whether ``category`` is served at ``center`` at moment ``at`` (Beijing time).

    ``flexible_allowed`` says whether the matter supports 早晚弹性办 appointments; when it is
    False the flexible windows count as closed.
    """
    at = to_beijing(at)
    sched = day_schedule(center, category, at.date(), calendar, flexible_allowed)
    if not sched.known:
        return OpenStatus(False, "unknown", sched.closed_reason or "", None, sched.info)
    t = at.time()
    for seg in sched.segments:
        if seg.start <= t < seg.end:
            return OpenStatus(True, seg.mode, _open_reason(sched, seg, center, category), None, sched.info)
    reason = _closed_reason(sched, t, center, flexible_allowed)
    nxt, blocked = _search_next_open(center, category, at, calendar, flexible_allowed, NEXT_OPEN_HORIZON_DAYS)
    if nxt is None and blocked is not None:
        reason += f"；此后{blocked.year}年起的节假日安排尚未发布，暂无法确定下次办公时间"
    nmode = mode_at(center, category, nxt, calendar, flexible_allowed) if nxt is not None else None
    return OpenStatus(False, "closed", reason, nxt, sched.info, nmode)
