"""办件编码 format: ``BJ`` + application date (YYYYMMDD) + 6-digit serial, e.g. ``BJ20261015000123``.

Citizens type codes with spaces, hyphens, full-width characters or lowercase letters; we accept
all of those and reject anything whose date part is not a real date, so a typo gets a precise hint.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

CODE_RE = re.compile(r"^BJ(\d{4})(\d{2})(\d{2})(\d{6})$")
# finds a code inside a sentence; separators users type between digit groups are allowed
CODE_IN_TEXT_RE = re.compile(r"[Bb][Jj][\s\-_]*(?:\d[\s\-_]*){13}\d")


@dataclass(frozen=True)
class CodeCheck:
    code: str | None
    problem: str | None  # Chinese explanation when ``code`` is None


def normalize_case_code(text: str) -> CodeCheck:
    """Extract and validate one 办件编码 from free text."""
    cleaned = unicodedata.normalize("NFKC", text or "").strip()
    found = CODE_IN_TEXT_RE.search(cleaned)
    candidate = re.sub(r"[\s\-_]", "", found.group(0)).upper() if found else ""
    if not candidate:
        compact = re.sub(r"[\s\-_]", "", cleaned).upper()
        if compact.startswith("BJ"):
            digits = len(compact) - 2
            return CodeCheck(None, f"办件编码应为 BJ 加 14 位数字，您输入的编码有 {digits} 位，请核对后重新输入。")
        return CodeCheck(None, "没有识别到办件编码。办件编码以 BJ 开头，后接 14 位数字，例如 BJ20261015000123。")
    match = CODE_RE.match(candidate)
    assert match is not None  # CODE_IN_TEXT_RE guarantees the shape
    year, month, day = (int(match.group(i)) for i in (1, 2, 3))
    try:
        date(year, month, day)
    except ValueError:
        return CodeCheck(None, f"办件编码 {candidate} 中的日期部分 {year}{month:02d}{day:02d} 无效，请核对后重新输入。")
    return CodeCheck(candidate, None)
