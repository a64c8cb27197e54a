"""PII masking for transcripts, logs and everything sent to Rasa.

Only numbers that really are what they look like are masked: a 身份证号 must pass the GB 11643
checksum, a bank card the Luhn check, so 办件编码 and other long codes stay readable. Masks keep the
shape (length, first and last digits) so a person or a regex can still tell what was there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
BANK_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")


def is_valid_id_number(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _mask_id(match: re.Match[str]) -> str:
    value = match.group(0)
    return value[:6] + "*" * 8 + value[14:] if is_valid_id_number(value) else value


def _mask_mobile(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)[-11:]
    return digits[:3] + "****" + digits[7:]


def _mask_card(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if not luhn_ok(digits):
        return raw
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


# order matters: an 18-digit 身份证号 must be masked before the card pattern sees it
_MASKERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (ID_NUMBER_RE, _mask_id),
    (BANK_CARD_RE, _mask_card),
    (MOBILE_RE, _mask_mobile),
)


def mask_pii(text: str) -> str:
    """Return ``text`` with 身份证号, bank card and mobile numbers masked."""
    for pattern, masker in _MASKERS:
        text = pattern.sub(masker, text)
    return text
