"""Center registry: opening hours and service policies of each 政务服务中心, loaded from YAML.

Why YAML with a ``defaults`` block: the 17 centers share one policy (Beijing's 早晚弹性办 /
午间不间断 / 周末不休息 rules) and differ only in details, so each center states only its
overrides. Validation errors name the offending field (``centers[3].lunch.start: ...``) because
the file is edited by operators, not developers.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .calendars import iso_date

#: Matter categories. The first six are the high-frequency personal matters that get Saturday
#: service under 周末不休息; 综合 covers every other matter.
CATEGORIES: tuple[str, ...] = ("社保", "医保", "民政", "公安", "残联", "住房保障", "综合")
SATURDAY_DEFAULT_CATEGORIES: tuple[str, ...] = CATEGORIES[:6]

DEFAULT_CENTERS_FILE = Path(__file__).resolve().parent.parent / "data" / "centers.yaml"

_WEEKDAY_KEYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4}


class CenterConfigError(ValueError):
    """The centers file is malformed; the message names the offending field."""


class UnknownCategoryError(ValueError):
    """A category outside :data:`CATEGORIES` was requested."""


class UnknownCenterError(KeyError):
    """A center id not present in the registry was requested."""


@dataclass(frozen=True)
class TimeRange:
    start: dt.time
    end: dt.time

    def label(self) -> str:
        return f"{fmt_time(self.start)}–{fmt_time(self.end)}"


@dataclass(frozen=True)
class LunchPolicy:
    """Lunch break; ``continuous`` = 午间不间断 (comprehensive windows keep serving)."""

    start: dt.time
    end: dt.time
    continuous: bool


@dataclass(frozen=True)
class FlexiblePolicy:
    """早晚弹性办: appointment-only windows before opening and after closing on working days."""

    before_minutes: int
    after_minutes: int


@dataclass(frozen=True)
class SaturdayPolicy:
    """周末不休息: Saturday service hours and the categories served (None = no Saturday service)."""

    hours: TimeRange | None
    categories: frozenset[str]


@dataclass(frozen=True)
class DateException:
    """A one-off change: closed all day, or special hours, on a given date."""

    date: dt.date
    closed: bool
    hours: TimeRange | None
    reason: str


@dataclass(frozen=True)
class Center:
    id: str
    name: str
    address: str
    workday_hours: dict[int, TimeRange]  # 0=Mon..4=Fri; key 7 = make-up working days on weekends
    lunch: LunchPolicy
    flexible: FlexiblePolicy
    saturday: SaturdayPolicy
    exceptions: dict[dt.date, DateException] = field(default_factory=dict)
    phone: str | None = None

    def hours_for_workday(self, day: dt.date) -> TimeRange:
        """Regular hours for a working day; weekend make-up days use the ``makeup`` hours."""
        wd = day.weekday()
        return self.workday_hours[wd] if wd < 5 else self.workday_hours[7]


def fmt_time(t: dt.time) -> str:
    """``9:00`` style (no leading zero on the hour), as Chinese notices write it."""
    return f"{t.hour}:{t.minute:02d}"


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise UnknownCategoryError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return category


# --------------------------------------------------------------------------- parsing helpers

def _time(value: Any, where: str) -> dt.time:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 09:00 as sexagesimal 540
        if 0 <= value < 24 * 60:
            return dt.time(value // 60, value % 60)
    if isinstance(value, str):
        try:
            h, m = value.strip().split(":")
            return dt.time(int(h), int(m))
        except ValueError:
            pass
    raise CenterConfigError(f"{where}: expected a time HH:MM, got {value!r}")


def _range(value: Any, where: str) -> TimeRange:
    if isinstance(value, str) and "-" in value:
        a, b = value.split("-", 1)
        tr = TimeRange(_time(a, where), _time(b, where))
    elif isinstance(value, Mapping):
        tr = TimeRange(_time(value.get("open"), f"{where}.open"), _time(value.get("close"), f"{where}.close"))
    else:
        raise CenterConfigError(f"{where}: expected 'HH:MM-HH:MM' or {{open, close}}, got {value!r}")
    if tr.end <= tr.start:
        raise CenterConfigError(f"{where}: closing time must be after opening time")
    return tr


def _date(value: Any, where: str) -> dt.date:
    if (day := iso_date(value, allow_datetime=False)) is not None:
        return day
    raise CenterConfigError(f"{where}: expected a date YYYY-MM-DD, got {value!r}")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CenterConfigError(f"{where}: required non-empty string")
    return value.strip()


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CenterConfigError(f"{where}: expected true/false, got {value!r}")
    return value


def _minutes(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 180:
        raise CenterConfigError(f"{where}: expected minutes between 0 and 180, got {value!r}")
    return value


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: the center's keys override the defaults key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _center(raw: Mapping[str, Any], where: str) -> Center:
    cid = _str(raw.get("id"), f"{where}.id")
    name = _str(raw.get("name"), f"{where}.name")
    address = _str(raw.get("address"), f"{where}.address")

    base = _range(raw.get("workday_hours"), f"{where}.workday_hours")
    hours = {i: base for i in range(5)}
    overrides = raw.get("weekday_overrides") or {}
    if not isinstance(overrides, Mapping):
        raise CenterConfigError(f"{where}.weekday_overrides: expected a mapping like {{fri: '09:00-16:00'}}")
    for key, val in overrides.items():
        if key not in _WEEKDAY_KEYS:
            raise CenterConfigError(f"{where}.weekday_overrides.{key}: expected one of {', '.join(_WEEKDAY_KEYS)}")
        hours[_WEEKDAY_KEYS[key]] = _range(val, f"{where}.weekday_overrides.{key}")
    hours[7] = _range(raw["makeup_hours"], f"{where}.makeup_hours") if raw.get("makeup_hours") else base

    lr = raw.get("lunch")
    if not isinstance(lr, Mapping):
        raise CenterConfigError(f"{where}.lunch: required mapping {{start, end, continuous}}")
    lunch = LunchPolicy(_time(lr.get("start"), f"{where}.lunch.start"), _time(lr.get("end"), f"{where}.lunch.end"),
                        _bool(lr.get("continuous"), f"{where}.lunch.continuous"))
    if lunch.end <= lunch.start:
        raise CenterConfigError(f"{where}.lunch.end: must be after lunch.start")

    fr = raw.get("flexible")
    if not isinstance(fr, Mapping):
        raise CenterConfigError(f"{where}.flexible: required mapping {{before_minutes, after_minutes}}")
    flexible = FlexiblePolicy(_minutes(fr.get("before_minutes"), f"{where}.flexible.before_minutes"),
                              _minutes(fr.get("after_minutes"), f"{where}.flexible.after_minutes"))

    sr = raw.get("saturday")
    if sr is None or sr is False:
        saturday = SaturdayPolicy(None, frozenset())
    elif isinstance(sr, Mapping):
        cats = sr.get("categories")
        if not isinstance(cats, list) or not cats:
            raise CenterConfigError(f"{where}.saturday.categories: required non-empty list")
        for j, c in enumerate(cats):
            if c not in CATEGORIES:
                raise CenterConfigError(f"{where}.saturday.categories[{j}]: unknown category {c!r}")
        saturday = SaturdayPolicy(_range(sr.get("hours"), f"{where}.saturday.hours"), frozenset(cats))
    else:
        raise CenterConfigError(f"{where}.saturday: expected a mapping {{hours, categories}} or false")

    exceptions: dict[dt.date, DateException] = {}
    for j, er in enumerate(raw.get("exceptions") or []):
        ew = f"{where}.exceptions[{j}]"
        if not isinstance(er, Mapping):
            raise CenterConfigError(f"{ew}: expected a mapping {{date, closed|hours, reason}}")
        day = _date(er.get("date"), f"{ew}.date")
        closed = bool(er.get("closed", False))
        special = _range(er["hours"], f"{ew}.hours") if er.get("hours") is not None else None
        if closed == (special is not None):
            raise CenterConfigError(f"{ew}: give exactly one of closed: true or hours")
        if day in exceptions:
            raise CenterConfigError(f"{ew}.date: duplicate exception for {day.isoformat()}")
        exceptions[day] = DateException(day, closed, special, _str(er.get("reason"), f"{ew}.reason"))

    phone = raw.get("phone")
    return Center(cid, name, address, hours, lunch, flexible, saturday, exceptions,
                  str(phone) if phone is not None else None)


def parse_centers(raw: Any, source: str = "centers.yaml") -> dict[str, Center]:
    """Build the registry from an already-parsed mapping (``defaults`` + ``centers`` list)."""
    if not isinstance(raw, Mapping):
        raise CenterConfigError(f"{source}: top level must be a mapping with defaults and centers")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise CenterConfigError(f"{source}: defaults: expected a mapping")
    items = raw.get("centers")
    if not isinstance(items, list) or not items:
        raise CenterConfigError(f"{source}: centers: required non-empty list")
    registry: dict[str, Center] = {}
    for i, item in enumerate(items):
        where = f"{source}: centers[{i}]"
        if not isinstance(item, Mapping):
            raise CenterConfigError(f"{where}: expected a mapping")
        center = _center(_merge(defaults, item), where)
        if center.id in registry:
            raise CenterConfigError(f"{where}.id: duplicate center id {center.id!r}")
        registry[center.id] = center
    return registry


def load_centers(path: str | os.PathLike[str] | None = None) -> dict[str, Center]:
    """Load the registry (default ``knowledge_base/data/centers.yaml`` or ``$GOVBOT_CENTERS_FILE``)."""
    p = Path(path or os.environ.get("GOVBOT_CENTERS_FILE") or DEFAULT_CENTERS_FILE)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CenterConfigError(f"{p}: invalid YAML: {exc}") from exc
    return parse_centers(raw, source=p.name)
