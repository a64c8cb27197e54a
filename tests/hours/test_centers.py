from __future__ import annotations

import datetime as dt

import pytest

from knowledge_base.hours import CATEGORIES, CenterConfigError, UnknownCenterError, get_center, load_centers
from knowledge_base.hours.centers import DEFAULT_CENTERS_FILE, parse_centers

from .conftest import BASE_DEFAULTS, make_center

DISTRICTS = ("dongcheng xicheng chaoyang haidian fengtai shijingshan mentougou fangshan tongzhou shunyi "
             "changping daxing huairou pinggu miyun yanqing").split()


def test_shipped_registry(centers):
    assert set(centers) == {"city", *DISTRICTS}
    assert centers["city"].name == "北京市政务服务中心"
    assert centers["city"].address == "北京市丰台区西三环南路1号"
    assert centers["haidian"].name == "海淀区政务服务中心"
    assert centers["haidian"].address == "北京市海淀区"
    assert DEFAULT_CENTERS_FILE.read_text(encoding="utf-8").startswith("# 示例数据 (sample content)")


def test_shipped_defaults(city):
    assert all(city.workday_hours[i].start == dt.time(9) and city.workday_hours[i].end == dt.time(17)
               for i in (0, 1, 2, 3, 4, 7))
    assert city.lunch.continuous and city.lunch.start == dt.time(12) and city.lunch.end == dt.time(13)
    assert (city.flexible.before_minutes, city.flexible.after_minutes) == (60, 60)
    assert city.saturday.categories == frozenset(CATEGORIES[:6])
    assert "综合" not in city.saturday.categories


def test_categories():
    assert CATEGORIES == ("社保", "医保", "民政", "公安", "残联", "住房保障", "综合")


def test_overrides_merge_with_defaults():
    c = make_center(weekday_overrides={"fri": "09:00-16:30"}, makeup_hours="09:30-16:00",
                    lunch={"continuous": False},
                    exceptions=[{"date": "2026-12-18", "closed": True, "reason": "系统升级"},
                                {"date": dt.date(2026, 12, 24), "hours": "09:00-12:00", "reason": "内部培训"}])
    assert c.workday_hours[4].end == dt.time(16, 30)
    assert c.workday_hours[0].end == dt.time(17)
    assert c.workday_hours[7].start == dt.time(9, 30)
    assert c.lunch.continuous is False and c.lunch.start == dt.time(12)  # merged key by key
    assert c.exceptions[dt.date(2026, 12, 18)].closed
    assert c.exceptions[dt.date(2026, 12, 24)].hours.end == dt.time(12)


def test_unquoted_yaml_times_are_accepted(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("defaults:\n  workday_hours: {open: 9:00, close: 17:30}\n"
                 "  lunch: {start: 12:00, end: 13:00, continuous: true}\n"
                 "  flexible: {before_minutes: 60, after_minutes: 60}\n  saturday: false\n"
                 "centers:\n  - {id: a, name: A中心, address: 北京市}\n", encoding="utf-8")
    c = load_centers(p)["a"]
    assert c.workday_hours[0].end == dt.time(17, 30) and c.saturday.hours is None


def test_get_center_unknown(centers):
    with pytest.raises(UnknownCenterError, match="nowhere"):
        get_center(centers, "nowhere")
    assert get_center(centers, "city").id == "city"


@pytest.mark.parametrize("override,field", [
    ({"name": ""}, "centers[0].name"),
    ({"workday_hours": "9点到5点"}, "centers[0].workday_hours"),
    ({"workday_hours": "17:00-09:00"}, "centers[0].workday_hours"),
    ({"weekday_overrides": {"sat": "09:00-12:00"}}, "centers[0].weekday_overrides.sat"),
    ({"lunch": {"start": "13:00", "end": "12:00"}}, "centers[0].lunch.end"),
    ({"lunch": {"continuous": "yes"}}, "centers[0].lunch.continuous"),
    ({"flexible": {"before_minutes": -5}}, "centers[0].flexible.before_minutes"),
    ({"saturday": {"categories": ["社保", "护照"]}}, r"centers[0].saturday.categories[1]"),
    ({"exceptions": [{"date": "2026-02-30", "closed": True, "reason": "x"}]}, "centers[0].exceptions[0].date"),
    ({"exceptions": [{"date": "2026-12-01", "reason": "x"}]}, "centers[0].exceptions[0]"),
    ({"exceptions": [{"date": "2026-12-01", "closed": True}]}, "centers[0].exceptions[0].reason"),
])
def test_validation_errors_name_the_field(override, field):
    with pytest.raises(CenterConfigError) as err:
        make_center(**override)
    assert field in str(err.value)


def test_duplicate_ids_rejected():
    items = [{"id": "a", "name": "A", "address": "B"}, {"id": "a", "name": "A2", "address": "B"}]
    with pytest.raises(CenterConfigError, match=r"centers\[1\]\.id"):
        parse_centers({"defaults": BASE_DEFAULTS, "centers": items})
