from __future__ import annotations

import pytest

from connectors.privacy.masking import is_valid_id_number, luhn_ok, mask_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证11010519491231002X", "身份证110105********002X"),
        ("身份证11010519491231002x。", "身份证110105********002x。"),
        ("电话13812345678", "电话138****5678"),
        ("电话 138-1234-5678 谢谢", "电话 138****5678 谢谢"),
        ("卡号 6222 0200 0000 0000 000", "卡号 6222***********0000"),
    ],
)
def test_masks(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "办件编码BJ20261015000123",          # case codes stay readable
        "身份证110105194912310021",           # wrong checksum: not an ID number
        "订单号 123456789012345678901234",    # a long number is not a phone
        "12345热线",
    ],
)
def test_leaves_non_pii_alone(text):
    assert mask_pii(text) == text


def test_checksums():
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")
    assert luhn_ok("6222020000000000000")
    assert not luhn_ok("6222020000000000006")
