"""PII masking for transcripts, logs and everything sent to Rasa.

Only numbers that really are what they look like are masked: a 身份证号 must pass the GB 11643
checksum, a bank card the Luhn check, so 办件编码 and other long codes stay readable. Masks keep the
shape (length, first and last digits) so a person or a regex can still tell what was there.

Addresses are masked where they can be told apart from other text: a place word (…路/街/巷/胡同/
小区/村/院/大厦…) directly followed by house numbers (…号/号楼/栋/单元/层/室…). The province, city,
district and street names stay (an agent or 12345 still knows where to send the matter, and
statistics by district keep working); the numbers that lead to one door are replaced by ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
BANK_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")

# a place name ending in a word that is followed by house numbers only in addresses
_PLACE = r"[\u4e00-\u9fa5A-Za-z0-9]{0,15}?(?:大街|大道|路|街|巷|胡同|弄|里|村|小区|社区|花园|家园|公寓|大厦|苑|庄|院|[东西南北中]区)"
_NUMBER = r"[0-9０-９一二三四五六七八九十百零〇两]{1,6}"
_UNIT = r"(?:号院|号楼|号|栋|幢|座|单元|层|楼|室|户)"
ADDRESS_RE = re.compile(
    rf"(?P<place>{_PLACE})(?P<numbers>(?:{_NUMBER}{_UNIT})+"
    rf"(?:[-－]?[0-9０-９]{{1,5}}(?:[-－][0-9０-９]{{1,5}}){{0,3}}(?![0-9０-９])[室户]?)?)"
)
_ADDRESS_DIGIT_RE = re.compile(r"[0-9０-９一二三四五六七八九十百零〇两]")


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


def _mask_address(match: re.Match[str]) -> str:
    return match.group("place") + _ADDRESS_DIGIT_RE.sub("*", match.group("numbers"))


def mask_address(text: str) -> str:
    """Mask the house numbers of every detectable address, keeping district and street."""
    return ADDRESS_RE.sub(_mask_address, text)


# order matters: an 18-digit 身份证号 must be masked before the card pattern sees it
_MASKERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (ID_NUMBER_RE, _mask_id),
    (BANK_CARD_RE, _mask_card),
    (MOBILE_RE, _mask_mobile),
    (ADDRESS_RE, _mask_address),
)


def mask_pii(text: str) -> str:
    """Return ``text`` with 身份证号, bank card and mobile numbers and house numbers masked."""
    for pattern, masker in _MASKERS:
        text = pattern.sub(masker, text)
    return text
