from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from chinese_calendar import constants

from knowledge_base.hours import (Calendar, HolidayFileError, LayeredCalendar, OperatorCalendarFile,
                                  coverage_status, default_calendar)
from knowledge_base.hours.calendars import DEFAULT_HOLIDAYS_FILE

HOLIDAYS_2026 = sorted(d for d in constants.holidays if d.year == 2026)
MAKEUPS_2026 = sorted(d for d in constants.workdays if d.year == 2026)
ALL_2026 = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(365)]
NAMES = {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"}


def test_package_has_2026_data():
    assert len(HOLIDAYS_2026) >= 25 and len(MAKEUPS_2026) >= 4


def test_layered_calendar_satisfies_protocol(cal):
    assert isinstance(cal, Calendar)


@pytest.mark.parametrize("day", HOLIDAYS_2026, ids=str)
def test_every_2026_holiday_is_holiday_with_chinese_name(cal, day):
    info = cal.day_kind(day)
    assert info.kind == "holiday"
    assert info.holiday_name in NAMES
    assert not info.is_working_day


@pytest.mark.parametrize("day", MAKEUPS_2026, ids=str)
def test_every_2026_makeup_day_is_makeup_workday(cal, day):
    info = cal.day_kind(day)
    assert info.kind == "makeup_workday"
    assert info.is_working_day
    assert info.holiday_name in NAMES
    assert day.weekday() >= 5  # make-up days are weekend days


def test_every_2026_day_agrees_with_chinese_calendar(cal):
    for day in ALL_2026:
        info = cal.day_kind(day)
        assert info.is_working_day == chinese_calendar.is_workday(day), day
        if info.kind == "weekend":
            assert day.weekday() >= 5
        if info.kind == "workday":
            assert day.weekday() < 5


def test_holiday_periods_2026(cal):
    periods = {p.name: p for p in cal.holiday_periods(2026)}
    assert set(periods) == NAMES
    assert periods["国庆节"].start == dt.date(2026, 10, 1)
    assert periods["国庆节"].end == dt.date(2026, 10, 7)
    assert periods["春节"].start == min(d for d in HOLIDAYS_2026 if constants.holidays[d] == "Spring Festival")


@pytest.mark.parametrize("day", [dt.date(2027, 1, 1), dt.date(2027, 3, 3), dt.date(2003, 5, 1)], ids=str)
def test_outside_coverage_is_unknown(cal, day):
    info = cal.day_kind(day)
    assert info.kind == "unknown" and not info.known and not info.is_working_day


def test_coverage_end_package_only(cal):
    assert cal.coverage_end() == dt.date(2026, 12, 31)


def test_operator_file_extends_coverage(cal2027):
    assert cal2027.coverage_end() == dt.date(2027, 12, 31)
    assert cal2027.day_kind(dt.date(2027, 1, 1)).kind == "holiday"
    assert cal2027.day_kind(dt.date(2027, 2, 10)).holiday_name == "测试长假"
    assert cal2027.day_kind(dt.date(2027, 2, 6)).kind == "makeup_workday"
    assert cal2027.day_kind(dt.date(2027, 3, 3)).kind == "workday"  # declared year, plain Wednesday
    assert cal2027.day_kind(dt.date(2027, 3, 6)).kind == "weekend"
    assert cal2027.day_kind(dt.date(2028, 1, 3)).kind == "unknown"


def test_operator_entries_win_over_package(cal2027, cal):
    day = dt.date(2026, 12, 30)
    assert cal.day_kind(day).kind == "workday"
    info = cal2027.day_kind(day)
    assert (info.kind, info.holiday_name, info.source) == ("holiday", "运营方临时假日", "operator")
    # package answers remain for dates the operator does not mention
    assert cal2027.day_kind(dt.date(2026, 10, 1)).source == "chinese-calendar"


def test_coverage_gap_stops_at_first_missing_year(package_source):
    op = OperatorCalendarFile.from_mapping({"coverage": [2028], "years": {}})
    layered = LayeredCalendar(op, package_source)
    assert layered.coverage_end() == dt.date(2026, 12, 31)
    assert layered.day_kind(dt.date(2027, 6, 1)).kind == "unknown"
    assert layered.day_kind(dt.date(2028, 6, 1)).kind == "workday"


def test_operator_periods_used_for_holiday_lookup(cal2027):
    names = [p.name for p in cal2027.holiday_periods(2027)]
    assert names == ["元旦", "测试长假"]


@pytest.mark.parametrize("today,ok,days_left", [
    (dt.date(2026, 10, 1), True, 91),
    (dt.date(2026, 11, 1), False, 60),
    (dt.date(2026, 11, 26), False, 35),
    (dt.date(2027, 1, 5), False, -5),
])
def test_coverage_status_warns_60_days_ahead(cal, today, ok, days_left):
    st = coverage_status(cal, today)
    assert st["ok"] is ok and st["days_left"] == days_left and st["coverage_end"] == "2026-12-31"
    if not ok:
        assert "2027" in st["warning"] and "holidays.yaml" in st["warning"]
    else:
        assert st["warning"] is None


def test_coverage_status_with_operator_year(cal2027):
    assert coverage_status(cal2027, dt.date(2026, 11, 26))["ok"] is True


def test_shipped_operator_file_has_no_invented_dates():
    text = DEFAULT_HOLIDAYS_FILE.read_text(encoding="utf-8")
    assert "国务院" in text
    op = OperatorCalendarFile.load(DEFAULT_HOLIDAYS_FILE)
    assert op.coverage == frozenset() and not op.holidays and not op.makeup_workdays
    uncommented = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not any("2027" in ln for ln in uncommented)


def test_default_calendar_uses_env_file(monkeypatch, operator_file):
    monkeypatch.setenv("GOVBOT_HOLIDAYS_FILE", str(operator_file))
    assert default_calendar().day_kind(dt.date(2027, 1, 1)).kind == "holiday"
    monkeypatch.delenv("GOVBOT_HOLIDAYS_FILE")
    assert default_calendar().day_kind(dt.date(2027, 1, 1)).kind == "unknown"


@pytest.mark.parametrize("raw,field", [
    ({"coverage": "2027"}, "coverage"),
    ({"years": {2027: {"holidays": [{"dates": ["2027-01-01"]}]}}}, "years.2027.holidays[0].name"),
    ({"years": {2027: {"holidays": [{"name": "元旦", "dates": ["2027-13-01"]}]}}}, "years.2027.holidays[0].dates[0]"),
    ({"years": {2027: {"holidays": [{"name": "元旦"}]}}}, "years.2027.holidays[0].dates"),
    ({"years": {2027: {"holidays": [{"name": "X", "from": "2027-02-05", "to": "2027-02-01"}]}}}, "holidays[0].to"),
    ({"years": {2027: {"makeup_workdays": [{"date": "soon"}]}}}, "years.2027.makeup_workdays[0].date"),
    ({"years": {2027: {"holidays": [{"name": "X", "dates": ["2027-02-06"]}],
                       "makeup_workdays": [{"date": "2027-02-06"}]}}}, "2027-02-06"),
])
def test_operator_file_errors_name_the_field(raw, field):
    with pytest.raises(HolidayFileError, match=field.replace("[", r"\[").replace("]", r"\]")):
        OperatorCalendarFile.from_mapping(raw)


def test_operator_file_invalid_yaml(tmp_path: Path):
    p = tmp_path / "h.yaml"
    p.write_text("coverage: [2027\n", encoding="utf-8")
    with pytest.raises(HolidayFileError, match="invalid YAML"):
        OperatorCalendarFile.load(p)


def test_adjacent_holidays_form_one_period(cal):
    periods = cal.holiday_periods(2025)
    merged = [p for p in periods if "国庆" in p.name]
    assert len(merged) == 1
    assert (merged[0].start, merged[0].end) == (dt.date(2025, 10, 1), dt.date(2025, 10, 8))
    assert "中秋节" in merged[0].name
