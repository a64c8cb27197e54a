from __future__ import annotations

import datetime as dt

import pytest

from knowledge_base.hours import parse_time

from .conftest import bj

NOW = bj(2026, 3, 10, 10, 0)  # Tuesday


def day(y, m, d):
    return bj(y, m, d), bj(y, m, d) + dt.timedelta(days=1)


CASES = [
    # text, start, end, grain
    ("现在", NOW, None, "minute"),
    ("现在能办吗", NOW, None, "minute"),
    ("今天", *day(2026, 3, 10), "day"),
    ("今天开门吗", *day(2026, 3, 10), "day"),
    ("明天", *day(2026, 3, 11), "day"),
    ("明天下午三点", bj(2026, 3, 11, 15), None, "hour"),
    ("明天下午3点半去办社保", bj(2026, 3, 11, 15, 30), None, "minute"),
    ("后天上午", bj(2026, 3, 12, 8), bj(2026, 3, 12, 12), "halfday"),
    ("大后天", *day(2026, 3, 13), "day"),
    ("这周六", *day(2026, 3, 14), "day"),
    ("本周日", *day(2026, 3, 15), "day"),
    ("这个星期天", *day(2026, 3, 15), "day"),
    ("周一", *day(2026, 3, 16), "day"),            # bare weekday: the coming one
    ("周二", *day(2026, 3, 10), "day"),            # today is Tuesday
    ("本周一", *day(2026, 3, 9), "day"),           # this calendar week, even if past
    ("下周一上午", bj(2026, 3, 16, 8), bj(2026, 3, 16, 12), "halfday"),
    ("下周五下午两点", bj(2026, 3, 20, 14), None, "hour"),
    ("下下周三", *day(2026, 3, 25), "day"),
    ("礼拜五", *day(2026, 3, 13), "day"),
    ("星期天下午", bj(2026, 3, 15, 13), bj(2026, 3, 15, 18), "halfday"),
    ("周日上午10点", bj(2026, 3, 15, 10), None, "hour"),
    ("国庆节", bj(2026, 10, 1), bj(2026, 10, 8), "range"),
    ("十一黄金周", bj(2026, 10, 1), bj(2026, 10, 8), "range"),
    ("国庆节后第一天上午9点", bj(2026, 10, 8, 9), None, "hour"),
    ("劳动节", bj(2026, 5, 1), bj(2026, 5, 6), "range"),
    ("五一", bj(2026, 5, 1), bj(2026, 5, 6), "range"),
    ("端午节", bj(2026, 6, 19), bj(2026, 6, 22), "range"),
    ("中秋节", bj(2026, 9, 25), bj(2026, 9, 28), "range"),
    ("清明节", bj(2026, 4, 4), bj(2026, 4, 7), "range"),
    ("节后第一天", *day(2026, 4, 7), "day"),       # next holiday is 清明 (4/4-4/6)
    ("10月10号12点半", bj(2026, 10, 10, 12, 30), None, "minute"),
    ("10月10日", *day(2026, 10, 10), "day"),
    ("十月一日", *day(2026, 10, 1), "day"),
    ("3月1日", *day(2027, 3, 1), "day"),          # passed this year -> next year
    ("12点半", bj(2026, 3, 10, 12, 30), None, "minute"),
    ("中午", bj(2026, 3, 10, 12), bj(2026, 3, 10, 13), "halfday"),
    ("中午12点半", bj(2026, 3, 10, 12, 30), None, "minute"),
    ("中午1点", bj(2026, 3, 10, 13), None, "hour"),
    ("晚上7点", bj(2026, 3, 10, 19), None, "hour"),
    ("下午3:30", bj(2026, 3, 10, 15, 30), None, "minute"),
    ("下午３：３０", bj(2026, 3, 10, 15, 30), None, "minute"),   # full-width
    ("早上八点", bj(2026, 3, 10, 8), None, "hour"),
    ("上午十一点", bj(2026, 3, 10, 11), None, "hour"),
    ("3点", bj(2026, 3, 10, 15), None, "hour"),                # bare 1-6 o'clock = afternoon
    ("9点", bj(2026, 3, 10, 9), None, "hour"),
    ("三点一刻", bj(2026, 3, 10, 15, 15), None, "minute"),
    ("下午三点十五", bj(2026, 3, 10, 15, 15), None, "minute"),
    ("8:45", bj(2026, 3, 10, 8, 45), None, "minute"),
    ("2026年12月31日", *day(2026, 12, 31), "day"),
    ("二〇二六年十二月三十一日", *day(2026, 12, 31), "day"),
    ("2026-12-31", *day(2026, 12, 31), "day"),
    ("12/31", *day(2026, 12, 31), "day"),
    ("周末", bj(2026, 3, 14), bj(2026, 3, 16), "range"),
    ("下周末", bj(2026, 3, 21), bj(2026, 3, 23), "range"),
    ("下周", bj(2026, 3, 16), bj(2026, 3, 23), "range"),
    ("月底", *day(2026, 3, 31), "day"),
    ("下个月底", *day(2026, 4, 30), "day"),
    ("15号", *day(2026, 3, 15), "day"),
    ("5号", *day(2026, 4, 5), "day"),             # passed this month -> next month
    ("3天后", *day(2026, 3, 13), "day"),
    ("今晚", bj(2026, 3, 10, 18), bj(2026, 3, 11), "halfday"),
    ("明早", bj(2026, 3, 11, 6), bj(2026, 3, 11, 9), "halfday"),
]


@pytest.mark.parametrize("text,start,end,grain", CASES, ids=[c[0] for c in CASES])
def test_phrasings(cal, text, start, end, grain):
    expr = parse_time(text, NOW, cal)
    assert expr is not None, text
    assert (expr.start, expr.end, expr.grain) == (start, end, grain)
    assert expr.published and expr.text


@pytest.mark.parametrize("text", ["你好", "我要办社保", "营业执照怎么办", "2月30日", "", "第一个问题",
                                  "能快一点吗", "说详细一点", "需要5个工作日"])
def test_no_time_expression(cal, text):
    assert parse_time(text, NOW, cal) is None


def test_spring_festival_published(cal):
    now = bj(2026, 1, 5, 9)
    fest = parse_time("春节", now, cal)
    assert fest.holiday == "春节" and fest.start == bj(2026, 2, 15) and fest.end == bj(2026, 2, 24)
    after = parse_time("春节后第一天", now, cal)
    assert after.start == bj(2026, 2, 24) and after.grain == "day" and after.holiday == "春节"
    assert parse_time("元旦", now, cal).start is None  # 2026 元旦 is over, 2027 not published


@pytest.mark.parametrize("text", ["春节", "元旦", "春节后第一天", "过年"])
def test_unpublished_holiday_is_not_guessed(cal, text):
    expr = parse_time(text, bj(2026, 11, 26, 10), cal)
    assert expr is not None and expr.published is False and expr.start is None and expr.holiday


def test_holiday_from_operator_file(cal2027):
    expr = parse_time("元旦", bj(2026, 11, 26, 10), cal2027)
    assert expr.published and expr.start == bj(2027, 1, 1) and expr.grain == "day"
    assert parse_time("元旦后第一天", bj(2026, 11, 26, 10), cal2027).start == bj(2027, 1, 4)


def test_during_holiday_refers_to_current_period(cal):
    now = bj(2026, 10, 3, 11)
    assert parse_time("国庆节", now, cal).start == bj(2026, 10, 1)
    assert parse_time("节后第一天", now, cal).start == bj(2026, 10, 8)
    assert parse_time("节后第一天", bj(2026, 9, 26, 11), cal).start == bj(2026, 9, 28)  # after 中秋


def test_weekend_on_a_sunday(cal):
    expr = parse_time("周末", bj(2026, 3, 15, 10), cal)
    assert expr.start == bj(2026, 3, 14) and expr.end == bj(2026, 3, 16)


def test_year_rollover(cal):
    now = bj(2026, 12, 20, 10)
    assert parse_time("1月5日", now, cal).start == bj(2027, 1, 5)
    assert parse_time("下个月3号", now, cal).start == bj(2027, 1, 3)
    assert parse_time("月底", now, cal).start == bj(2026, 12, 31)


def test_without_calendar_holidays_are_not_recognised():
    assert parse_time("国庆节", NOW) is None
    assert parse_time("明天", NOW).start == bj(2026, 3, 11)


def test_naive_now_is_beijing(cal):
    assert parse_time("现在", dt.datetime(2026, 3, 10, 10, 0), cal).start == NOW


def test_merged_holiday_break(cal):
    now = bj(2025, 9, 1, 10)
    for text in ("国庆节", "中秋节"):
        expr = parse_time(text, now, cal)
        assert (expr.start, expr.end) == (bj(2025, 10, 1), bj(2025, 10, 9))
    assert parse_time("节后第一天", now, cal).start == bj(2025, 10, 9)
