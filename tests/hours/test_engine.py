from __future__ import annotations

import datetime as dt

import pytest
from chinese_calendar import constants

from knowledge_base.hours import (CATEGORIES, UnknownCategoryError, check_open, describe_day, describe_status,
                                  next_open)

from .conftest import bj, make_center

SAT_CATS = CATEGORIES[:6]
HOLIDAYS_2026 = sorted(d for d in constants.holidays if d.year == 2026)
MAKEUPS_2026 = sorted(d for d in constants.workdays if d.year == 2026)
SATURDAYS_2026 = [dt.date(2026, 1, 3) + dt.timedelta(weeks=i) for i in range(52)]


def at(day: dt.date, h: int, m: int = 0) -> dt.datetime:
    return bj(day.year, day.month, day.day, h, m)


@pytest.mark.parametrize("day", HOLIDAYS_2026, ids=str)
def test_closed_on_every_2026_holiday(city, cal, day):
    for cat in CATEGORIES:
        st = check_open(city, cat, at(day, 10), cal, flexible_allowed=True)
        assert (st.open, st.mode) == (False, "closed")
        assert cal.day_kind(day).holiday_name in st.reason
        assert st.next_open is not None and st.next_open.date() > day
        assert cal.day_kind(st.next_open.date()).is_working_day
        assert st.next_open.time() == dt.time(8, 0)  # flexible allowed: earliest is the 8:00 window


@pytest.mark.parametrize("day", MAKEUPS_2026, ids=str)
def test_makeup_days_follow_workday_rules(city, cal, day):
    for cat in CATEGORIES:  # including 综合, which ordinary weekends do not serve
        st = check_open(city, cat, at(day, 10), cal)
        assert (st.open, st.mode) == (True, "regular") and "调休" in st.reason
    assert check_open(city, "综合", at(day, 12, 30), cal).mode == "lunch_service"
    assert check_open(city, "综合", at(day, 8, 30), cal, flexible_allowed=True).mode == "flexible_appointment"
    assert check_open(city, "综合", at(day, 17, 30), cal, flexible_allowed=True).mode == "flexible_appointment"
    assert check_open(city, "综合", at(day, 8, 30), cal, flexible_allowed=False).open is False
    assert check_open(city, "综合", at(day, 18, 0), cal, flexible_allowed=True).open is False


@pytest.mark.parametrize("day", SATURDAYS_2026, ids=str)
def test_every_2026_saturday(city, cal, day):
    kind = cal.day_kind(day).kind
    served = check_open(city, "社保", at(day, 10), cal)
    other = check_open(city, "综合", at(day, 10), cal)
    if kind == "weekend":
        assert (served.open, served.mode) == (True, "saturday_service")
        assert (other.open, other.mode) == (False, "closed") and "周六不办理" in other.reason
        # Saturday service is full day (no lunch break) but has no flexible windows
        assert check_open(city, "医保", at(day, 12, 30), cal).mode == "saturday_service"
        assert check_open(city, "医保", at(day, 8, 30), cal, flexible_allowed=True).open is False
        assert check_open(city, "医保", at(day, 17, 0), cal).open is False
    elif kind == "makeup_workday":
        assert served.mode == other.mode == "regular"
    else:
        assert kind == "holiday" and not served.open and not other.open


@pytest.mark.parametrize("cat", SAT_CATS)
def test_saturday_categories(city, cal, cat):
    st = check_open(city, cat, bj(2026, 11, 28, 16, 59), cal)
    assert st.open and st.mode == "saturday_service" and "周末不休息" in st.reason


def test_saturday_without_category_points_to_monday(city, cal):
    st = check_open(city, "综合", bj(2026, 11, 28, 10), cal)
    assert st.next_open == bj(2026, 11, 30, 9)


def test_sunday_closed(city, cal):
    st = check_open(city, "社保", bj(2026, 11, 29, 10), cal)
    assert not st.open and "休息" in st.reason and st.next_open == bj(2026, 11, 30, 9)


def test_center_without_saturday_service(cal):
    c = make_center(saturday=False)
    assert check_open(c, "社保", bj(2026, 11, 28, 10), cal).open is False


@pytest.mark.parametrize("continuous,t,mode,is_open", [
    (True, (11, 59), "regular", True),
    (True, (12, 0), "lunch_service", True),
    (True, (12, 59), "lunch_service", True),
    (True, (13, 0), "regular", True),
    (False, (12, 0), "closed", False),
    (False, (12, 30), "closed", False),
    (False, (13, 0), "regular", True),
])
def test_lunch_on_workday(cal, continuous, t, mode, is_open):
    c = make_center(lunch={"continuous": continuous})
    st = check_open(c, "综合", bj(2026, 11, 26, *t), cal)
    assert (st.open, st.mode) == (is_open, mode)
    if not is_open:
        assert "午休" in st.reason and st.next_open == bj(2026, 11, 26, 13)


@pytest.mark.parametrize("t,allowed,mode", [
    ((7, 59), True, "closed"),
    ((8, 0), True, "flexible_appointment"),
    ((8, 59), True, "flexible_appointment"),
    ((9, 0), True, "regular"),
    ((16, 59), True, "regular"),
    ((17, 0), True, "flexible_appointment"),
    ((17, 59), True, "flexible_appointment"),
    ((18, 0), True, "closed"),
    ((8, 0), False, "closed"),
    ((8, 30), False, "closed"),
    ((17, 0), False, "closed"),
    ((17, 30), False, "closed"),
])
def test_flexible_windows(city, cal, t, allowed, mode):
    st = check_open(city, "综合", bj(2026, 11, 26, *t), cal, flexible_allowed=allowed)
    assert st.mode == mode and st.open == (mode != "closed")
    if mode == "flexible_appointment":
        assert "预约" in st.reason
    if not allowed and mode == "closed":
        assert "预约" in st.reason  # explains that the window exists only for bookable matters


def test_flexible_closed_next_open(city, cal):
    assert check_open(city, "综合", bj(2026, 11, 26, 8, 30), cal).next_open == bj(2026, 11, 26, 9)
    assert check_open(city, "综合", bj(2026, 11, 26, 7, 0), cal, True).next_open == bj(2026, 11, 26, 8)
    late = check_open(city, "综合", bj(2026, 11, 26, 20, 0), cal, True)
    assert late.next_open == bj(2026, 11, 27, 8) and late.next_mode == "flexible_appointment"


def test_custom_hours_and_flexible_minutes(cal):
    c = make_center(weekday_overrides={"fri": "09:00-16:00"}, flexible={"before_minutes": 30, "after_minutes": 0})
    assert check_open(c, "综合", bj(2026, 11, 27, 16, 30), cal).open is False  # Friday closes at 16:00
    assert check_open(c, "综合", bj(2026, 11, 26, 16, 30), cal).open is True
    assert check_open(c, "综合", bj(2026, 11, 26, 8, 30), cal, True).mode == "flexible_appointment"
    assert check_open(c, "综合", bj(2026, 11, 26, 8, 29), cal, True).open is False
    assert check_open(c, "综合", bj(2026, 11, 26, 17, 10), cal, True).open is False


def test_exceptions(cal):
    c = make_center(exceptions=[{"date": "2026-12-18", "closed": True, "reason": "系统升级"},
                                {"date": "2026-12-24", "hours": "09:00-12:00", "reason": "内部培训"}])
    st = check_open(c, "社保", bj(2026, 12, 18, 10), cal)
    assert not st.open and "系统升级" in st.reason and st.next_open == bj(2026, 12, 19, 9)  # Saturday service
    assert check_open(c, "综合", bj(2026, 12, 18, 10), cal).next_open == bj(2026, 12, 21, 9)
    assert check_open(c, "社保", bj(2026, 12, 24, 11), cal).open
    st = check_open(c, "社保", bj(2026, 12, 24, 14), cal)
    assert not st.open and st.next_open == bj(2026, 12, 25, 9)


def test_holiday_eve_next_open_after_holiday(city, cal):
    st = check_open(city, "综合", bj(2026, 9, 30, 18), cal)
    assert not st.open and st.next_open == bj(2026, 10, 8, 9)
    assert next_open(city, "综合", bj(2026, 10, 1, 0), cal) == bj(2026, 10, 8, 9)


def test_next_open_when_open_is_now(city, cal):
    assert next_open(city, "综合", bj(2026, 11, 26, 10, 15), cal) == bj(2026, 11, 26, 10, 15)


def test_beyond_coverage_without_operator_file(city, cal):
    st = check_open(city, "综合", bj(2027, 1, 4, 10), cal)
    assert (st.open, st.mode, st.next_open) == (False, "unknown", None)
    assert "尚未发布" in st.reason
    last = check_open(city, "综合", bj(2026, 12, 31, 18), cal)
    assert last.mode == "closed" and last.next_open is None and "尚未发布" in last.reason
    assert next_open(city, "综合", bj(2026, 12, 31, 18), cal) is None


def test_beyond_coverage_with_operator_file(city, cal2027):
    assert check_open(city, "综合", bj(2027, 1, 4, 10), cal2027).mode == "regular"
    st = check_open(city, "综合", bj(2027, 1, 1, 10), cal2027)
    assert st.mode == "closed" and "元旦" in st.reason and st.next_open == bj(2027, 1, 4, 9)
    assert check_open(city, "综合", bj(2027, 2, 6, 10), cal2027).mode == "regular"  # make-up Saturday
    assert check_open(city, "综合", bj(2026, 12, 30, 10), cal2027).mode == "closed"  # operator override
    assert next_open(city, "综合", bj(2027, 2, 7, 10), cal2027) == bj(2027, 2, 15, 9)
    assert check_open(city, "综合", bj(2028, 1, 4, 10), cal2027).mode == "unknown"


def test_timezone_handling(city, cal):
    utc = dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.timezone.utc)  # 9:30 Beijing
    assert check_open(city, "综合", utc, cal).mode == "regular"
    naive = dt.datetime(2026, 11, 26, 12, 30)  # naive = Beijing time
    assert check_open(city, "综合", naive, cal).mode == "lunch_service"
    late_utc = dt.datetime(2026, 11, 26, 16, 30, tzinfo=dt.timezone.utc)  # 00:30 Friday Beijing
    assert check_open(city, "综合", late_utc, cal).next_open == bj(2026, 11, 27, 9)


def test_unknown_category(city, cal):
    with pytest.raises(UnknownCategoryError):
        check_open(city, "护照", bj(2026, 11, 26, 10), cal)


def test_to_dict(city, cal):
    d = check_open(city, "综合", bj(2026, 11, 29, 10), cal).to_dict()
    assert set(d) == {"open", "mode", "reason", "next_open"}
    assert d["open"] is False and d["next_open"] == "2026-11-30T09:00:00+08:00"


def test_describe_day_makeup_saturday(city, cal):
    assert describe_day(city, "综合", dt.date(2026, 10, 10), cal) == \
        "10月10日（周六）是调休工作日（国庆节调休），按工作日时间 9:00–17:00 办理，午间不间断。"
    text = describe_day(city, "综合", dt.date(2026, 10, 10), cal, flexible_allowed=True)
    assert "8:00–9:00、17:00–18:00" in text


def test_describe_day_variants(city, cal):
    assert "午休暂停办理" in describe_day(make_center(lunch={"continuous": False}), "综合", dt.date(2026, 11, 26), cal)
    hol = describe_day(city, "社保", dt.date(2026, 10, 3), cal)
    assert "国庆节" in hol and "10月8日（周四）9:00" in hol
    assert "全天办理社保" in describe_day(city, "社保", dt.date(2026, 11, 28), cal)
    assert "尚未发布" in describe_day(city, "社保", dt.date(2027, 3, 1), cal)


def test_describe_status(city, cal):
    t = bj(2026, 10, 3, 10)
    text = describe_status(city, "社保", t, check_open(city, "社保", t, cal))
    assert text.startswith("北京市政务服务中心10月3日（周六）10:00不办理社保业务") and "10月8日（周四）9:00" in text
    t = bj(2026, 11, 26, 8, 30)
    assert "可预约办理" in describe_status(city, "综合", t, check_open(city, "综合", t, cal, True))
    t = bj(2026, 11, 26, 20)
    assert "需提前预约" in describe_status(city, "综合", t, check_open(city, "综合", t, cal, True))


def test_describe_time_for_each_grain(city, cal):
    from knowledge_base.hours import describe_time, parse_time

    now = bj(2026, 3, 10, 10)

    def say(text, cat="综合", n=now):
        return describe_time(city, cat, parse_time(text, n, cal), cal)

    assert say("国庆节") == ("10月1日（周四）至10月7日（周三）国庆节假期期间，北京市政务服务中心不办理综合业务。"
                          "最近可办理时间：10月8日（周四）9:00。")
    assert say("明天下午三点").startswith("北京市政务服务中心3月11日（周三）15:00可以办理综合业务")
    assert say("后天上午") == "3月12日（周四）是工作日，办公时间 9:00–17:00，午间不间断。"
    weekend = say("周末", "社保").split("\n")
    assert len(weekend) == 2 and "全天办理社保" in weekend[0] and "休息" in weekend[1]
    assert "尚未发布" in say("春节", n=bj(2026, 11, 26, 10))
