"""Calendar seam: is a date a working day, a weekend, a legal holiday or a 调休 make-up working day?

Why a seam: the legal-holiday arrangement is published by the State Council (国务院办公厅) once a
year, usually in November/December for the following year. The ``chinese-calendar`` package ships
that data but only up to the last year it knows about; operators must be able to add (or correct)
a year without waiting for a new package release. So the answer comes from layered sources:

1. the operator YAML file (``knowledge_base/data/holidays.yaml``) — its explicit entries win;
2. the ``chinese-calendar`` package;
3. for a year covered by neither, the answer is ``"unknown"`` — never a guess, because a weekday
   in an unpublished year may well turn out to be a holiday (and a Sunday a make-up working day).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Protocol, runtime_checkable

import yaml

DayKind = Literal["workday", "weekend", "holiday", "makeup_workday", "unknown"]

#: Default location of the operator holiday file (overridable with ``GOVBOT_HOLIDAYS_FILE``).
DEFAULT_HOLIDAYS_FILE = Path(__file__).resolve().parent.parent / "data" / "holidays.yaml"

#: Warn on /healthz when the calendar data ends within this many days.
COVERAGE_WARN_DAYS = 60

# chinese-calendar stores English names; users read Chinese ones. The package's own Chinese
# labels are short forms ("清明", "端午", "中秋"), so we use the customary full names.
_PACKAGE_NAME_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


class CalendarNotPublished(LookupError):
    """Raised when a computation needs a date for which no holiday arrangement is published."""

    def __init__(self, day: dt.date, coverage_end: dt.date | None) -> None:
        self.day = day
        self.coverage_end = coverage_end
        super().__init__(not_published_message(day, coverage_end))


class HolidayFileError(ValueError):
    """The operator holiday file is malformed; the message names the offending field."""


@dataclass(frozen=True)
class DayInfo:
    """What kind of day a date is, and for holidays / make-up days which holiday it belongs to."""

    kind: DayKind
    holiday_name: str | None = None
    source: str | None = None  # "operator" | "chinese-calendar" | None (unknown)

    @property
    def is_working_day(self) -> bool:
        """Legal working day: an ordinary weekday or a 调休 make-up working day."""
        return self.kind in ("workday", "makeup_workday")

    @property
    def known(self) -> bool:
        return self.kind != "unknown"


@dataclass(frozen=True)
class HolidayPeriod:
    """One official holiday period (consecutive days off, weekends inside it included)."""

    name: str
    start: dt.date
    end: dt.date  # inclusive

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@runtime_checkable
class Calendar(Protocol):
    """The seam the hours engine depends on. Implementations must never guess."""

    def day_kind(self, day: dt.date) -> DayInfo:
        """Classify ``day``; ``kind == "unknown"`` when no source covers it."""

    def coverage_end(self) -> dt.date | None:
        """Last date for which the answer is known (``None`` if nothing is covered)."""

    def holiday_periods(self, year: int) -> list[HolidayPeriod]:
        """Official holiday periods whose first day falls in ``year`` (empty if unpublished)."""


def not_published_message(day: dt.date, coverage_end: dt.date | None) -> str:
    """Chinese explanation used whenever a date lies outside every calendar source."""
    tail = f"（当前节假日数据覆盖至{coverage_end.year}年{coverage_end.month}月{coverage_end.day}日）" if coverage_end else ""
    return (
        f"{day.year}年{day.month}月{day.day}日所在年度的节假日安排尚未发布{tail}，"
        "暂无法确定当天是否为工作日，请以国务院办公厅公布的放假安排为准。"
    )


def _plain_day(day: dt.date, source: str) -> DayInfo:
    return DayInfo("weekend" if day.weekday() >= 5 else "workday", None, source)


def _periods_from_days(named_days: Iterable[tuple[dt.date, str]]) -> list[HolidayPeriod]:
    """Group holiday dates into periods of consecutive days.

    Adjacent holidays form one break (e.g. 2025: 国庆节 and 中秋节 ran 10/1–10/8 together); such a
    period is named “国庆节、中秋节” so a lookup by either name finds the whole break.
    """
    periods: list[tuple[dt.date, dt.date, list[str]]] = []
    for day, name in sorted(named_days):
        if periods and (day - periods[-1][1]).days == 1:
            start, _, names = periods[-1]
            periods[-1] = (start, day, names if name in names else names + [name])
        else:
            periods.append((day, day, [name]))
    return [HolidayPeriod("、".join(names), start, end) for start, end, names in periods]


class ChineseCalendarSource:
    """Adapter over the ``chinese-calendar`` package (data published up to its last year)."""

    name = "chinese-calendar"

    def __init__(self) -> None:
        from chinese_calendar import constants

        self._holidays = {d: _PACKAGE_NAME_ZH.get(n, n) for d, n in constants.holidays.items()}
        self._workdays = {d: _PACKAGE_NAME_ZH.get(n, n) for d, n in constants.workdays.items()}
        years = {d.year for d in constants.holidays}
        self.years: frozenset[int] = frozenset(range(min(years), max(years) + 1))

    def covers(self, day: dt.date) -> bool:
        return day.year in self.years

    def explicit(self, day: dt.date) -> DayInfo | None:
        if day in self._workdays:
            return DayInfo("makeup_workday", self._workdays[day], self.name)
        if day in self._holidays:
            return DayInfo("holiday", self._holidays[day], self.name)
        return None

    def day_kind(self, day: dt.date) -> DayInfo:
        if not self.covers(day):
            return DayInfo("unknown")
        return self.explicit(day) or _plain_day(day, self.name)

    def coverage_end(self) -> dt.date | None:
        return dt.date(max(self.years), 12, 31) if self.years else None

    def holiday_days(self) -> dict[dt.date, str]:
        return dict(self._holidays)

    def holiday_periods(self, year: int) -> list[HolidayPeriod]:
        return [p for p in _periods_from_days(self._holidays.items()) if p.start.year == year]


@dataclass
class OperatorCalendarFile:
    """Parsed operator holiday file (``holidays.yaml``).

    Format::

        coverage: [2027]            # years whose arrangement is completely entered below
        years:
          2027:
            holidays:
              - name: 春节
                dates: [2027-02-..., ...]          # or: from: 2027-02-..  to: 2027-02-..
            makeup_workdays:
              - date: 2027-02-..
                for: 春节
    """

    coverage: frozenset[int] = frozenset()
    holidays: dict[dt.date, str] = field(default_factory=dict)
    makeup_workdays: dict[dt.date, str] = field(default_factory=dict)
    path: Path | None = None

    name = "operator"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "OperatorCalendarFile":
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise HolidayFileError(f"{p}: invalid YAML: {exc}") from exc
        return cls.from_mapping(raw or {}, source=str(p), path=p)

    @classmethod
    def from_mapping(cls, raw: object, source: str = "holidays.yaml", path: Path | None = None) -> "OperatorCalendarFile":
        if not isinstance(raw, dict):
            raise HolidayFileError(f"{source}: top level must be a mapping")
        cov_raw = raw.get("coverage") or []
        if not isinstance(cov_raw, list) or not all(isinstance(y, int) for y in cov_raw):
            raise HolidayFileError(f"{source}: coverage: expected a list of years, got {cov_raw!r}")
        years_raw = raw.get("years") or {}
        if not isinstance(years_raw, dict):
            raise HolidayFileError(f"{source}: years: expected a mapping year -> entries")
        holidays: dict[dt.date, str] = {}
        makeups: dict[dt.date, str] = {}
        for year, entry in years_raw.items():
            where = f"{source}: years.{year}"
            if not isinstance(year, int):
                raise HolidayFileError(f"{where}: year key must be an integer")
            entry = entry or {}
            if not isinstance(entry, dict):
                raise HolidayFileError(f"{where}: expected a mapping with holidays/makeup_workdays")
            for i, h in enumerate(entry.get("holidays") or []):
                hw = f"{where}.holidays[{i}]"
                if not isinstance(h, dict) or not isinstance(h.get("name"), str) or not h["name"].strip():
                    raise HolidayFileError(f"{hw}.name: required non-empty string")
                for d in _entry_dates(h, hw):
                    holidays[d] = h["name"].strip()
            for i, m in enumerate(entry.get("makeup_workdays") or []):
                mw = f"{where}.makeup_workdays[{i}]"
                if not isinstance(m, dict):
                    raise HolidayFileError(f"{mw}: expected a mapping with date and for")
                d = _as_date(m.get("date"), f"{mw}.date")
                label = m.get("for")
                if label is not None and not isinstance(label, str):
                    raise HolidayFileError(f"{mw}.for: expected the holiday name as a string")
                makeups[d] = label or ""
        clash = sorted(set(holidays) & set(makeups))
        if clash:
            raise HolidayFileError(f"{source}: {clash[0].isoformat()} is listed both as holiday and make-up workday")
        return cls(frozenset(cov_raw), holidays, makeups, path)

    def covers(self, day: dt.date) -> bool:
        return day.year in self.coverage

    def explicit(self, day: dt.date) -> DayInfo | None:
        if day in self.makeup_workdays:
            return DayInfo("makeup_workday", self.makeup_workdays[day] or None, self.name)
        if day in self.holidays:
            return DayInfo("holiday", self.holidays[day], self.name)
        return None


def iso_date(value: object, allow_datetime: bool = True) -> dt.date | None:
    """A date from YAML: a date, an ISO ``YYYY-MM-DD`` string or (if allowed) a datetime; else None."""
    if isinstance(value, dt.datetime):
        return value.date() if allow_datetime else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _as_date(value: object, where: str) -> dt.date:
    if (day := iso_date(value)) is not None:
        return day
    raise HolidayFileError(f"{where}: expected a date YYYY-MM-DD, got {value!r}")


def _entry_dates(h: dict, where: str) -> list[dt.date]:
    if "dates" in h:
        if not isinstance(h["dates"], list) or not h["dates"]:
            raise HolidayFileError(f"{where}.dates: expected a non-empty list of dates")
        return [_as_date(v, f"{where}.dates[{j}]") for j, v in enumerate(h["dates"])]
    if "from" in h or "to" in h:
        start = _as_date(h.get("from"), f"{where}.from")
        end = _as_date(h.get("to"), f"{where}.to")
        if end < start:
            raise HolidayFileError(f"{where}.to: ends before from")
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    raise HolidayFileError(f"{where}.dates: required (or from/to)")


class LayeredCalendar:
    """Operator file over ``chinese-calendar``: operator entries win; uncovered years are unknown.

    A date's answer: an explicit operator entry (holiday / make-up day) if any; otherwise the
    package's answer if the package covers the year; otherwise a plain weekday/weekend answer if
    the operator declared the year in ``coverage``; otherwise ``unknown``.
    """

    def __init__(self, operator: OperatorCalendarFile | None = None, package: ChineseCalendarSource | None = None) -> None:
        self.operator = operator or OperatorCalendarFile()
        self.package = package

    def day_kind(self, day: dt.date) -> DayInfo:
        if isinstance(day, dt.datetime):
            day = day.date()
        hit = self.operator.explicit(day)
        if hit is not None:
            return hit
        if self.package is not None and self.package.covers(day):
            return self.package.day_kind(day)
        if self.operator.covers(day):
            return _plain_day(day, self.operator.name)
        return DayInfo("unknown")

    def covered_years(self) -> frozenset[int]:
        pkg = self.package.years if self.package else frozenset()
        return frozenset(pkg | self.operator.coverage)

    def coverage_end(self) -> dt.date | None:
        """Last day of the last year in the contiguous run of covered years."""
        years = self.covered_years()
        if not years:
            return None
        y = min(years)
        while y + 1 in years:
            y += 1
        return dt.date(y, 12, 31)

    def _holiday_days(self) -> dict[dt.date, str]:
        days = self.package.holiday_days() if self.package else {}
        for d in list(days):
            if d in self.operator.makeup_workdays:
                del days[d]
        days.update(self.operator.holidays)
        return days

    def holiday_periods(self, year: int) -> list[HolidayPeriod]:
        return [p for p in _periods_from_days(self._holiday_days().items()) if p.start.year == year]


def default_calendar(operator_file: str | os.PathLike[str] | None = None) -> LayeredCalendar:
    """The production calendar: ``holidays.yaml`` (or ``$GOVBOT_HOLIDAYS_FILE``) over chinese-calendar."""
    path = Path(operator_file or os.environ.get("GOVBOT_HOLIDAYS_FILE") or DEFAULT_HOLIDAYS_FILE)
    operator = OperatorCalendarFile.load(path) if path.exists() else OperatorCalendarFile()
    return LayeredCalendar(operator, ChineseCalendarSource())


def coverage_status(calendar: Calendar, today: dt.date, warn_days: int = COVERAGE_WARN_DAYS) -> dict:
    """Fragment for ``/healthz``: when the holiday data ends and whether operators must act.

    ``ok`` is False when the data ends within ``warn_days`` days (or has already ended), so the
    next year's State Council arrangement gets entered into ``holidays.yaml`` before it is needed.
    """
    end = calendar.coverage_end()
    if end is None:
        return {"ok": False, "coverage_end": None, "days_left": None,
                "warning": "没有任何节假日数据，无法判断工作日。"}
    days_left = (end - today).days
    ok = days_left > warn_days
    warning = None
    if not ok:
        nxt = end.year + 1
        warning = (
            f"节假日数据仅覆盖至{end.isoformat()}（剩余{max(days_left, 0)}天），"
            f"请在国务院办公厅发布{nxt}年放假安排后录入 knowledge_base/data/holidays.yaml。"
        )
    return {"ok": ok, "coverage_end": end.isoformat(), "days_left": days_left, "warning": warning}
