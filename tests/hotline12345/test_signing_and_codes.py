"""Signatures both ways and the 统一社会信用代码 check."""

from __future__ import annotations

import pytest

from connectors.hotline12345.credit_code import check_char, normalize_credit_code
from connectors.hotline12345.signing import sign, verify


def test_signature_round_trip_and_tampering():
    body = '{"order_no":"GD1","summary":"噪音扰民"}'.encode()
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify("s3cret", body, header)
    assert not verify("s3cret", body + b" ", header)  # body changed
    assert not verify("other", body, header)  # wrong secret
    assert not verify("s3cret", body, header.removeprefix("sha256="))  # no scheme
    assert not verify("s3cret", body, None)
    assert not verify("", body, sign("", body))  # an empty secret verifies nothing


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000802100433B", "911100007109288314"])
def test_valid_credit_codes(code):
    assert normalize_credit_code(code) == code
    assert normalize_credit_code(code.lower()) == code
    assert normalize_credit_code(f" {code[:6]}-{code[6:]} ") == code


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "91350100MO00100Y43",  # O is not in the GB 32100 character set
        "913501A0M000100Y43",  # 行政区划码 must be digits
        "",
    ],
)
def test_invalid_credit_codes(code):
    assert normalize_credit_code(code) is None


def test_check_char_detects_every_single_substitution():
    code = "91350100M000100Y43"
    for i in range(17):
        for ch in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if ch != code[i]:
                changed = code[:i] + ch + code[i + 1:]
                assert check_char(changed[:17]) != code[17] or normalize_credit_code(changed) is None
