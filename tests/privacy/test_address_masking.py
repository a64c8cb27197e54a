"""Addresses: the district and street stay readable, the numbers that lead to one door do not."""

from __future__ import annotations

import pytest

from connectors.privacy import mask_address, mask_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我住在北京市朝阳区建国路88号院3号楼2单元1502室", "我住在北京市朝阳区建国路**号院*号楼*单元****室"),
        ("海淀区中关村大街27号", "海淀区中关村大街**号"),
        ("望京花园西区二号楼三单元402", "望京花园西区*号楼*单元***"),
        ("丰台区马家堡东路121号1-1-201", "丰台区马家堡东路***号*-*-***"),
        ("幸福里小区5栋1203楼下噪音", "幸福里小区*栋****楼下噪音"),
        ("东城区南锣鼓巷12号", "东城区南锣鼓巷**号"),
    ],
)
def test_masks_house_numbers_keeps_district_and_street(text: str, expected: str) -> None:
    assert mask_address(text) == expected
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我想表扬3号窗口的王老师",  # a service window is not an address
        "东城区政务服务中心3楼",  # nor a floor of a public building
        "12月3号去办可以吗",  # dates stay
        "朝阳区3号能办吗",
        "办件编码BJ20261015000123",
        "12345热线",
        "朝阳区",
    ],
)
def test_leaves_non_addresses_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_address_with_other_pii() -> None:
    text = "地址海淀区学院路30号，电话13812345678，身份证11010519491231002X"
    assert mask_pii(text) == "地址海淀区学院路**号，电话138****5678，身份证110105********002X"
