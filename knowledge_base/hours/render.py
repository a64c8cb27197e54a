"""Chinese replies built from engine results — kept apart from the engine so wording can change
without touching the rules (and so the Rasa actions and HTTP API say the same thing)."""

from __future__ import annotations

import datetime as dt

from .calendars import Calendar
from .centers import Center, fmt_time
from .timeparse import TimeExpr
from .engine import (NEXT_OPEN_HORIZON_DAYS, OpenStatus, _search_next_open, check_open, day_schedule, fmt_day,
                     fmt_moment, mode_at, to_beijing)


def _next_label(center: Center, category: str, nxt: dt.datetime, calendar: Calendar, flexible_allowed: bool) -> str:
    label = fmt_moment(nxt)
    if mode_at(center, category, nxt, calendar, flexible_allowed) == "flexible_appointment":
        label += "（早晚弹性办，需提前预约）"
    return label


def _next_sentence(center: Center, category: str, after: dt.datetime, calendar: Calendar,
                   flexible_allowed: bool) -> str:
    nxt, blocked = _search_next_open(center, category, after, calendar, flexible_allowed, NEXT_OPEN_HORIZON_DAYS)
    if nxt is not None:
        return f"最近可办理时间：{_next_label(center, category, nxt, calendar, flexible_allowed)}。"
    if blocked is not None:
        return f"{blocked.year}年的节假日安排尚未发布，暂无法确定下次办公时间。"
    return ""


def describe_day(center: Center, category: str, day: dt.date, calendar: Calendar,
                 flexible_allowed: bool = False) -> str:
    """One-day summary, e.g. ``10月10日（周六）是调休工作日（国庆节调休），按工作日时间 9:00–17:00 办理，午间不间断。``"""
    sched = day_schedule(center, category, day, calendar, flexible_allowed)
    if not sched.known:
        return sched.closed_reason or ""
    if not sched.segments:
        after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0))
        return f"{sched.closed_reason}。{_next_sentence(center, category, to_beijing(after), calendar, flexible_allowed)}"
    hours = sched.hours.label() if sched.hours else ""
    info = sched.info
    if sched.exception is not None:
        text = f"{fmt_day(day)}特殊安排（{sched.exception.reason}），办公时间 {hours}"
    elif info.kind == "makeup_workday":
        name = f"（{info.holiday_name}调休）" if info.holiday_name else ""
        text = f"{fmt_day(day)}是调休工作日{name}，按工作日时间 {hours} 办理"
    elif info.is_working_day:
        text = f"{fmt_day(day)}是工作日，办公时间 {hours}"
    else:
        return f"{fmt_day(day)}周末不休息，{hours} 全天办理{category}业务。"
    lunch = center.lunch
    if sched.hours and lunch.start < sched.hours.end and lunch.end > sched.hours.start:
        text += "，午间不间断" if lunch.continuous else f"，{fmt_time(lunch.start)}–{fmt_time(lunch.end)} 午休暂停办理"
    flex = [s for s in sched.segments if s.mode == "flexible_appointment"]
    if flex:
        spans = "、".join(f"{fmt_time(s.start)}–{fmt_time(s.end)}" for s in flex)
        text += f"；早晚弹性办 {spans} 可预约办理"
    return text + "。"


def describe_status(center: Center, category: str, at: dt.datetime, status: OpenStatus) -> str:
    """Answer to “现在/那时能办吗”: the verdict, the specific reason, and the next opening if closed."""
    at = to_beijing(at)
    when = fmt_moment(at)
    if status.mode == "unknown":
        return status.reason
    if status.open:
        head = "可预约办理" if status.mode == "flexible_appointment" else "可以办理"
        return f"{center.name}{when}{head}{category}业务。{status.reason}。"
    text = f"{center.name}{when}不办理{category}业务：{status.reason}。"
    if status.next_open is not None:
        booking = "（早晚弹性办，需提前预约）" if status.next_mode == "flexible_appointment" else ""
        text += f"最近可办理时间：{fmt_moment(status.next_open)}{booking}。"
    return text


#: Longest range :func:`describe_time` lists day by day (a week plus a weekend).
_MAX_RANGE_DAYS = 9


def describe_time(center: Center, category: str, expr: TimeExpr, calendar: Calendar,
                  flexible_allowed: bool = False) -> str:
    """Answer a question about a parsed time expression (the glue a dialogue action needs).

    Moments (minute/hour) get :func:`describe_status`; days and parts of days get
    :func:`describe_day`; ranges (周末, a holiday) get one summary when closed throughout,
    otherwise one line per day; unpublished holidays get the “not published” answer.
    """
    if not expr.published or expr.start is None:
        name = expr.holiday or "该日期"
        end = calendar.coverage_end()
        tail = f"（当前数据覆盖至{end.year}年{end.month}月{end.day}日）" if end else ""
        return f"{name}的放假安排尚未发布{tail}，请以国务院办公厅公布的安排为准。"
    if expr.grain in ("minute", "hour"):
        st = check_open(center, category, expr.start, calendar, flexible_allowed)
        return describe_status(center, category, expr.start, st)
    first = expr.start.date()
    if expr.grain in ("day", "halfday") or expr.end is None:
        return describe_day(center, category, first, calendar, flexible_allowed)
    last = (expr.end - dt.timedelta(seconds=1)).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)][:_MAX_RANGE_DAYS]
    scheds = [day_schedule(center, category, d, calendar, flexible_allowed) for d in days]
    if all(s.known and not s.segments for s in scheds):
        label = f"{expr.holiday}假期期间，" if expr.holiday else "，"
        after = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(0, 0))
        return (f"{fmt_day(days[0])}至{fmt_day(days[-1])}{label}{center.name}不办理{category}业务。"
                f"{_next_sentence(center, category, to_beijing(after), calendar, flexible_allowed)}")
    return "\n".join(describe_day(center, category, d, calendar, flexible_allowed) for d in days)
