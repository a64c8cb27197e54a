"""Shared fixtures: the package-only calendar (independent of the shipped operator file), the
shipped center registry, and a factory for tmp operator files / center files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from knowledge_base.hours import TZ, ChineseCalendarSource, LayeredCalendar, OperatorCalendarFile, load_centers
from knowledge_base.hours.centers import parse_centers


@pytest.fixture(scope="session")
def package_source() -> ChineseCalendarSource:
    return ChineseCalendarSource()


@pytest.fixture(scope="session")
def cal(package_source) -> LayeredCalendar:
    """chinese-calendar only: covers up to 2026, nothing from an operator."""
    return LayeredCalendar(OperatorCalendarFile(), package_source)


@pytest.fixture(scope="session")
def centers():
    return load_centers()


@pytest.fixture(scope="session")
def city(centers):
    return centers["city"]


# A test-only 2027 arrangement. These dates are fixtures for the layering logic, NOT the real
# 2027 arrangement (which the State Council had not published when this was written).
TEST_2027 = {
    "coverage": [2027],
    "years": {
        2027: {
            "holidays": [
                {"name": "元旦", "dates": ["2027-01-01"]},
                {"name": "测试长假", "from": "2027-02-08", "to": "2027-02-12"},
            ],
            "makeup_workdays": [{"date": "2027-02-06", "for": "测试长假"}],
        },
        2026: {"holidays": [{"name": "运营方临时假日", "dates": ["2026-12-30"]}]},
    },
}


@pytest.fixture()
def operator_file(tmp_path: Path) -> Path:
    p = tmp_path / "holidays.yaml"
    p.write_text(yaml.safe_dump(TEST_2027, allow_unicode=True), encoding="utf-8")
    return p


@pytest.fixture()
def cal2027(operator_file, package_source) -> LayeredCalendar:
    return LayeredCalendar(OperatorCalendarFile.load(operator_file), package_source)


BASE_DEFAULTS = {
    "workday_hours": "09:00-17:00",
    "lunch": {"start": "12:00", "end": "13:00", "continuous": True},
    "flexible": {"before_minutes": 60, "after_minutes": 60},
    "saturday": {"hours": "09:00-17:00", "categories": ["社保", "医保", "民政", "公安", "残联", "住房保障"]},
}


def make_center(**overrides):
    """One center built from the production defaults plus ``overrides`` (tests of variants)."""
    item = {"id": "t", "name": "测试区政务服务中心", "address": "北京市测试区", **overrides}
    return parse_centers({"defaults": BASE_DEFAULTS, "centers": [item]})["t"]


def bj(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)
