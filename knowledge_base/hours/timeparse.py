"""Rule-based Chinese time-expression parser for questions like “明天下午三点开门吗”.

Why our own rules rather than a general NLU library: the bot only needs the expressions people
use when asking about office hours, the answers must be predictable and testable, and holiday
dates must come from the same :class:`~knowledge_base.hours.calendars.Calendar` the engine uses
(so an unpublished holiday is reported as such instead of guessed).

Conventions (all relative to ``now``, an aware Asia/Shanghai datetime):

* ``grain="day"``: [00:00, next day 00:00); ``"halfday"``: a part of the day — 凌晨 0–6,
  早上 6–9, 上午 8–12, 中午 12–13, 下午 13–18, 傍晚 17–19, 晚上 18–24;
  ``"hour"`` / ``"minute"``: a moment (``end`` is None); ``"range"``: several days (周末, 下周,
  a holiday period).
* A bare hour 1–6 without 上午/早上/凌晨 is read as afternoon (“3点” → 15:00), because people ask
  about office hours, not about 3 a.m.
* A month/day without a year means its next occurrence (today or later); a bare “15号” means the
  15th of this month, or of next month if that has passed; a bare “周六” means the coming Saturday
  (today if today is Saturday), whereas “这周六/本周六” is this calendar week's (Monday-based).
* A time without a date means today.
* Holidays (元旦 春节 清明节 劳动节 端午节 中秋节 国庆节) resolve to the official holiday period that
  is current or next; “春节后第一天 / 节后第一天” to the first working day after it. If that
  period is not published yet, the result has ``published=False`` and ``start=None``.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from .calendars import Calendar, HolidayPeriod
from .engine import TZ, to_beijing

Grain = Literal["minute", "hour", "halfday", "day", "range"]


@dataclass(frozen=True)
class TimeExpr:
    """A resolved time expression; ``text`` is the matched span after normalisation (三点 → 3点)."""

    start: dt.datetime | None
    end: dt.datetime | None
    grain: Grain
    text: str
    holiday: str | None = None  # holiday name when the expression referred to one
    published: bool = True  # False: the referenced holiday arrangement is not published yet


# --------------------------------------------------------------------------- normalisation

_FULLWIDTH = str.maketrans("０１２３４５６７８９：／－．", "0123456789:/-.")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = re.compile(r"[零〇一二两三四五六七八九十]+")


def _cn_to_int(s: str) -> int | None:
    if "十" not in s:
        return int("".join(str(_CN_DIGITS[c]) for c in s)) if all(c in _CN_DIGITS for c in s) else None
    head, _, tail = s.partition("十")
    if len(head) > 1 or len(tail) > 1 or "十" in tail:
        return None
    tens = _CN_DIGITS.get(head, None) if head else 1
    ones = _CN_DIGITS.get(tail, None) if tail else 0
    return None if tens is None or ones is None else tens * 10 + ones


_A_BIT_BEFORE = "快慢早晚多少好大小稍再些差高低近远简便详细清"


def _normalise(text: str) -> str:
    """Full-width → ASCII, and Chinese numerals → digits where they are clearly numbers.

    A numeral is converted when followed by 点/时/分/月/日/号/天/年/个 or preceded by 点 (三点十五);
    that leaves 周一, 星期三, 五一 and 十一黄金周 untouched.
    """
    s = text.translate(_FULLWIDTH).replace(" ", "")

    def repl(m: re.Match[str]) -> str:
        before = s[m.start() - 1] if m.start() > 0 else ""
        after = s[m.end()] if m.end() < len(s) else ""
        if before and before in "周期拜第" and len(m.group()) == 1:
            return m.group()  # 周一 / 星期三 / 礼拜五 / 第一天
        if m.group() == "一" and after == "点" and before and before in _A_BIT_BEFORE:
            return m.group()  # 快一点 / 早一点 / 多一点: "a bit", not one o'clock
        if (after and after in "点时分月日号天年个刻") or before == "点":
            if m.group() in ("一", "三") and after == "刻":
                return m.group()  # 一刻 / 三刻 are quarter hours, handled by the time rule
            n = _cn_to_int(m.group())
            return str(n) if n is not None else m.group()
        return m.group()

    return _CN_NUM.sub(repl, s)


# --------------------------------------------------------------------------- helpers

_PERIODS: dict[str, tuple[int, int]] = {
    "凌晨": (0, 6), "早上": (6, 9), "早晨": (6, 9), "清早": (6, 9), "一早": (6, 9), "上午": (8, 12),
    "中午": (12, 13), "午间": (12, 13), "下午": (13, 18), "傍晚": (17, 19), "晚上": (18, 24),
    "夜里": (18, 24), "晚间": (18, 24),
}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
            "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_HOLIDAYS: dict[str, tuple[str, ...]] = {
    "国庆节": ("国庆节", "国庆", "十一黄金周", "十一假期", "十一长假"),
    "春节": ("春节", "过年"),
    "元旦": ("元旦",),
    "劳动节": ("劳动节", "五一"),
    "端午节": ("端午节", "端午"),
    "中秋节": ("中秋节", "中秋"),
    "清明节": ("清明节", "清明"),
}
_HOLIDAY_CORE = {"国庆节": "国庆", "春节": "春节", "元旦": "元旦", "劳动节": "劳动", "端午节": "端午",
                 "中秋节": "中秋", "清明节": "清明"}


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), TZ)


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _next_month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    cand = _safe_date(today.year, month, day)
    if cand is not None and cand >= today:
        return cand
    return _safe_date(today.year + 1, month, day)


def _periods_named(calendar: Calendar, name: str, years: range) -> list[HolidayPeriod]:
    core = _HOLIDAY_CORE.get(name, name)
    out: list[HolidayPeriod] = []
    for y in years:
        out.extend(p for p in calendar.holiday_periods(y) if core in p.name)
    return sorted(out, key=lambda p: p.start)


def _first_workday_after(day: dt.date, calendar: Calendar) -> dt.date | None:
    for i in range(1, 31):
        info = calendar.day_kind(day + dt.timedelta(days=i))
        if not info.known:
            return None
        if info.is_working_day:
            return day + dt.timedelta(days=i)
    return None


# --------------------------------------------------------------------------- the parser

@dataclass
class _State:
    s: str
    spans: list[tuple[int, int]]

    def take(self, pattern: str) -> re.Match[str] | None:
        m = re.search(pattern, self.s)
        if m:
            self.spans.append(m.span())
            self.s = self.s[: m.start()] + "\0" * (m.end() - m.start()) + self.s[m.end():]
        return m


def parse_time(text: str, now: dt.datetime, calendar: Calendar | None = None) -> TimeExpr | None:
    """Parse the first time expression in ``text`` relative to ``now``; None if there is none.

    ``calendar`` is needed only for holiday expressions (国庆节, 春节后第一天 …); without it those
    are not recognised.
    """
    now = to_beijing(now)
    today = now.date()
    norm = _normalise(text)
    st = _State(norm, [])

    def result(start: dt.datetime | None, end: dt.datetime | None, grain: Grain, **kw: object) -> TimeExpr:
        lo = min(a for a, _ in st.spans)
        hi = max(b for _, b in st.spans)
        return TimeExpr(start, end, grain, norm[lo:hi], **kw)  # type: ignore[arg-type]

    if st.take(r"现在|此刻|目前|这会儿?|当前"):
        return result(now, None, "minute")

    # ---- holiday-relative expressions (need the calendar)
    if calendar is not None:
        hol = _parse_holiday(st, today, calendar)
        if hol is not None:
            name, kind, period = hol
            if period is None:
                return result(None, None, "day" if kind == "after" else "range", holiday=name, published=False)
            if kind == "after":
                first = _first_workday_after(period.end, calendar)
                if first is None:
                    return result(None, None, "day", holiday=period.name, published=False)
                return _with_time(st, first, result, default_grain="day", holiday=period.name)
            start, end = _midnight(period.start), _midnight(period.end + dt.timedelta(days=1))
            if period.start == period.end:
                return _with_time(st, period.start, result, default_grain="day", holiday=period.name)
            return result(start, end, "range", holiday=period.name)

    # ---- day / date-range expressions
    day: dt.date | None = None
    period: str | None = None
    if m := st.take(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?"):
        day = _safe_date(int(m[1]), int(m[2]), int(m[3]))
    elif m := st.take(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"):
        day = _safe_date(int(m[1]), int(m[2]), int(m[3]))
    elif m := st.take(r"(\d{1,2})月(\d{1,2})[日号]?"):
        day = _next_month_day(today, int(m[1]), int(m[2]))
    elif m := st.take(r"(?<![\d:])(\d{1,2})/(\d{1,2})(?![\d/])"):
        day = _next_month_day(today, int(m[1]), int(m[2]))
    elif m := st.take(r"(今|明|大后|后|昨|前)(?:天|日|儿)|(今|明)(早|晚)"):
        if m[3]:
            offset = {"今": 0, "明": 1}[m[2]]
            period = "早上" if m[3] == "早" else "晚上"
        else:
            offset = {"今": 0, "明": 1, "后": 2, "大后": 3, "昨": -1, "前": -2}[m[1]]
        day = today + dt.timedelta(days=offset)
    elif m := st.take(r"(\d{1,3})天(?:以?后|之后)"):
        day = today + dt.timedelta(days=int(m[1]))
    elif m := st.take(r"(下下|下|上|这|本)?(?:个)?(?:周|星期|礼拜)末"):
        monday = today - dt.timedelta(days=today.weekday())
        monday += dt.timedelta(days={"下下": 14, "下": 7, "上": -7}.get(m[1] or "", 0))
        sat = monday + dt.timedelta(days=5)
        return _range(st, result, sat, sat + dt.timedelta(days=2))
    elif m := st.take(r"(下下|下|上|这|本)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天1-7])"):
        target = _WEEKDAY[m[2]]
        if m[1] is None:
            day = today + dt.timedelta(days=(target - today.weekday()) % 7)
        else:
            monday = today - dt.timedelta(days=today.weekday())
            monday += dt.timedelta(days={"下下": 14, "下": 7, "上": -7}.get(m[1], 0))
            day = monday + dt.timedelta(days=target)
    elif m := st.take(r"(下下|下|这|本)(?:个)?(?:周|星期|礼拜)"):
        monday = today - dt.timedelta(days=today.weekday())
        monday += dt.timedelta(days={"下下": 14, "下": 7}.get(m[1], 0))
        return _range(st, result, monday, monday + dt.timedelta(days=7))
    elif m := st.take(r"(下个?|本|这个?)?月(?:底|末)"):
        y, mo = today.year, today.month
        if m[1] and m[1].startswith("下"):
            y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
        day = dt.date(y, mo, _cal.monthrange(y, mo)[1])
    elif m := st.take(r"(下个?月|本月|这个?月)?(\d{1,2})[日号]"):
        d = int(m[2])
        if m[1] and m[1].startswith("下"):
            y, mo = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            day = _safe_date(y, mo, d)
        else:
            day = _safe_date(today.year, today.month, d)
            if day is None or (day < today and not m[1]):
                y, mo = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
                day = _safe_date(y, mo, d)
    if st.spans and day is None:
        return None  # a date-like expression that is not a real date (e.g. 2月30日)

    return _with_time(st, day, result, default_grain="day", period=period, today=today)


def _range(st: _State, result, first: dt.date, end_exclusive: dt.date) -> TimeExpr:
    return result(_midnight(first), _midnight(end_exclusive), "range")


def _parse_holiday(st: _State, today: dt.date, calendar: Calendar):
    """Return (name, "period"|"after", period or None) for a holiday expression, else None."""
    alias_re = "|".join(sorted((a for al in _HOLIDAYS.values() for a in al), key=len, reverse=True))
    m = st.take(rf"({alias_re})(?:假期|长假|期间)?(?:结束)?后(?:的)?(?:第一天|第一个工作日|首个工作日|上班第一天|上班)"
                rf"|({alias_re})(?:假期|长假|期间)?")
    kind = "period"
    if m:
        alias = m[1] or m[2]
        kind = "after" if m[1] else "period"
        name = next(n for n, al in _HOLIDAYS.items() if alias in al)
    elif st.take(r"节后(?:的)?(?:第一天|第一个工作日|首个工作日|上班第一天|上班)?|假期结束后(?:第一天)?"):
        name, kind = "", "after"
    else:
        return None
    years = range(today.year - 1, today.year + 2)
    if name:
        periods = _periods_named(calendar, name, years)
    else:
        periods = sorted((p for y in years for p in calendar.holiday_periods(y)), key=lambda p: p.start)
    for p in periods:
        if p.end >= today:
            return (name or p.name, kind, p)
    return (name or "节假日", kind, None)


def _with_time(st: _State, day: dt.date | None, result, default_grain: Grain, period: str | None = None,
               today: dt.date | None = None, holiday: str | None = None) -> TimeExpr | None:
    """Attach 上午/下午 and a clock time to ``day`` (today when absent)."""
    extra = {"holiday": holiday} if holiday else {}
    pm = st.take("|".join(_PERIODS))
    if pm:
        period = pm.group()
    tm = (st.take(r"(\d{1,2})[:：](\d{2})")
          or st.take(r"(\d{1,2})[点时](?:(半)|(一刻)|(三刻)|(\d{1,2})分?)?")
          or None)
    if day is None:
        if tm is None and period is None:
            return None
        assert today is not None, "a time without a date needs today's date"
        day = today
    if tm is None:
        if period is None:
            return result(_midnight(day), _midnight(day + dt.timedelta(days=1)), default_grain, **extra)
        a, b = _PERIODS[period]
        start = _midnight(day) + dt.timedelta(hours=a)
        return result(start, _midnight(day) + dt.timedelta(hours=b), "halfday", **extra)
    hour = int(tm[1])
    groups = tm.groups()
    if tm.re.pattern.startswith(r"(\d{1,2})[:："):
        minute, grain = int(tm[2]), "minute"
    else:
        half, q1, q3, mins = groups[1], groups[2], groups[3], groups[4]
        minute = 30 if half else 15 if q1 else 45 if q3 else int(mins) if mins else 0
        grain = "minute" if (half or q1 or q3 or mins) else "hour"
    if period in ("下午", "傍晚", "晚上", "夜里", "晚间") and hour < 12:
        hour += 12
    elif period in ("中午", "午间") and hour <= 2:
        hour += 12
    elif period is None and 1 <= hour <= 6:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    start = dt.datetime.combine(day, dt.time(hour, minute), TZ)
    return result(start, None, grain, **extra)
