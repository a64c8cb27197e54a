"""统一社会信用代码 (GB 32100-2015): 18 characters, the last one a mod-31 check character."""

from __future__ import annotations

import re

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, Z, S, V are never used
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def check_char(first17: str) -> str:
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def normalize_credit_code(value: str) -> str | None:
    """The code in upper case if it is well formed and its check character is right, else None."""
    code = re.sub(r"[\s-]", "", value or "").upper()
    if len(code) != 18 or not _SHAPE.match(code):
        return None
    return code if check_char(code[:17]) == code[17] else None
