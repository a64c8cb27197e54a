from __future__ import annotations

import datetime as dt

import pytest

from knowledge_base.hours import CalendarNotPublished, acceptance_deadline, processing_deadline

from .conftest import bj


@pytest.mark.parametrize("submitted,expected", [
    (bj(2026, 11, 25, 10, 0), bj(2026, 11, 26, 17)),   # Wednesday, office hours -> Thursday close
    (bj(2026, 11, 26, 16, 59), bj(2026, 11, 27, 17)),  # just before close
    (bj(2026, 11, 26, 18, 30), bj(2026, 11, 27, 17)),  # after hours: same rule, not penalised twice
    (bj(2026, 11, 27, 23, 59), bj(2026, 11, 30, 17)),  # Friday 23:59 -> Monday
    (bj(2026, 11, 28, 0, 0), bj(2026, 11, 30, 17)),    # Saturday 00:00
    (bj(2026, 11, 29, 10, 0), bj(2026, 11, 30, 17)),   # Sunday
    (bj(2026, 11, 30, 0, 0), bj(2026, 12, 1, 17)),     # Monday 00:00: Monday is the start day
    (bj(2026, 9, 24, 15, 0), bj(2026, 9, 28, 17)),     # before the 中秋节 break (9/25-27)
    (bj(2026, 9, 30, 16, 0), bj(2026, 10, 8, 17)),     # last day before 国庆节
    (bj(2026, 10, 3, 10, 0), bj(2026, 10, 8, 17)),     # during the holiday
    (bj(2026, 10, 9, 10, 0), bj(2026, 10, 10, 17)),    # Friday -> make-up Saturday counts
    (bj(2026, 10, 10, 10, 0), bj(2026, 10, 12, 17)),   # on a make-up Saturday -> Monday
    (bj(2026, 1, 3, 12, 0), bj(2026, 1, 4, 17)),       # 元旦 holiday -> make-up Sunday
    (bj(2026, 2, 14, 11, 0), bj(2026, 2, 24, 17)),     # make-up Saturday before 春节 -> after the break
    (bj(2026, 12, 30, 9, 0), bj(2026, 12, 31, 17)),    # last covered working day is reachable
])
def test_online_acceptance_deadline(cal, submitted, expected):
    d = acceptance_deadline(submitted, cal)
    assert d.deadline == expected
    assert "1个工作日" in d.basis and "提交当日不计入" in d.basis
    assert d.to_dict()["deadline"] == expected.isoformat()


def test_utc_input_is_converted(cal):
    submitted = dt.datetime(2026, 11, 26, 16, 30, tzinfo=dt.timezone.utc)  # Friday 00:30 in Beijing
    assert acceptance_deadline(submitted, cal).deadline == bj(2026, 11, 30, 17)


def test_offline_is_on_the_spot(cal):
    t = bj(2026, 11, 26, 10, 5)
    d = acceptance_deadline(t, cal, channel="offline")
    assert d.deadline == t and "当场" in d.basis
    with pytest.raises(ValueError):
        acceptance_deadline(t, cal, channel="fax")  # type: ignore[arg-type]


def test_beyond_coverage_is_not_guessed(cal, cal2027):
    with pytest.raises(CalendarNotPublished, match="尚未发布"):
        acceptance_deadline(bj(2026, 12, 31, 10), cal)
    # with the operator's 2027 data: 1/1 holiday, 1/2-3 weekend
    assert acceptance_deadline(bj(2026, 12, 31, 10), cal2027).deadline == bj(2027, 1, 4, 17)
    # the operator marks 2026-12-30 a holiday, so a 12/29 submission is due on 12/31
    assert acceptance_deadline(bj(2026, 12, 29, 10), cal2027).deadline == bj(2026, 12, 31, 17)


@pytest.mark.parametrize("start,n,expected", [
    (bj(2026, 9, 28, 10), 5, bj(2026, 10, 10, 17)),   # 9/29 9/30 10/8 10/9 10/10(make-up)
    (bj(2026, 2, 13, 10), 3, bj(2026, 2, 25, 17)),    # 2/14(make-up) 2/24 2/25
    (bj(2026, 11, 2, 10), 10, bj(2026, 11, 16, 17)),
    (bj(2026, 4, 30, 10), 2, bj(2026, 5, 7, 17)),     # 劳动节 5/1-5/5
    (bj(2026, 5, 8, 10), 1, bj(2026, 5, 9, 17)),      # make-up Saturday 5/9
])
def test_processing_deadline(cal, start, n, expected):
    d = processing_deadline(start, n, cal)
    assert d.deadline == expected and f"{n}个工作日" in d.basis


def test_processing_deadline_edge_cases(cal):
    t = bj(2026, 11, 26, 10)
    assert processing_deadline(t, 0, cal).deadline == t
    with pytest.raises(ValueError):
        processing_deadline(t, -1, cal)
    with pytest.raises(CalendarNotPublished):
        processing_deadline(bj(2026, 12, 1, 10), 30, cal)
