"""Static checks on the Rasa NLU data, run without Rasa (Python 3.11 venv).

Why: DIET silently drops entity annotations that do not align with jieba token boundaries,
a held-out set that leaks into training makes `make eval-nlu` meaningless, and an entity
value that no regex can match means the action server would reject what NLU extracted.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import jieba
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "training_data" / "nlu.yml"
TEST = ROOT / "tests" / "nlu" / "nlu_test.yml"
REGEXES = ROOT / "training_data" / "regexes.yml"
SYNONYMS = ROOT / "training_data" / "synonyms.yml"
LOOKUPS = ROOT / "training_data" / "lookups"
USERDICT = ROOT / "knowledge_base" / "data" / "jieba" / "userdict.txt"

INTENTS = {
    "greet", "goodbye", "thanks", "affirm", "deny", "ask_hours", "ask_acceptance", "ask_service",
    "query_case", "complain", "praise", "request_human", "contact_12345", "chitchat", "out_of_scope",
}
ENTITIES = {"matter", "department", "center", "case_code", "date", "phone", "id_number", "category"}
ANNOTATION = re.compile(r"\[([^\]]+)\]\(([a-z_0-9]+)\)")


def _examples(path: Path) -> dict[str, list[str]]:
    """Intent -> raw (annotated) example lines of a Rasa 3.1 NLU file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["version"] == "3.1"
    out: dict[str, list[str]] = {}
    for block in data["nlu"]:
        if "intent" in block:
            lines = [ln.strip() for ln in block["examples"].splitlines() if ln.strip()]
            assert all(ln.startswith("- ") for ln in lines), block["intent"]
            out.setdefault(block["intent"], []).extend(ln[2:].strip() for ln in lines)
    return out


def _parse(example: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """Plain text plus (start, end, entity, value) spans, like Rasa's markdown-entity parser."""
    text, spans, pos = "", [], 0
    for m in ANNOTATION.finditer(example):
        text += example[pos:m.start()]
        start = len(text)
        text += m.group(1)
        spans.append((start, len(text), m.group(2), m.group(1)))
        pos = m.end()
    return text + example[pos:], spans


def _normalise(text: str) -> str:
    """Strip punctuation and modal particles so trivial re-wordings compare equal."""
    return re.sub(r"[\s，。,.！!？?、~啊呀吧呢哦哈嘛了的]", "", text).lower()


@pytest.fixture(scope="module")
def train() -> dict[str, list[str]]:
    return _examples(TRAIN)


@pytest.fixture(scope="module")
def test_set() -> dict[str, list[str]]:
    return _examples(TEST)


def _regex_blocks(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for block in data.get("nlu") or []:
        if "regex" in block:
            lines = [ln.strip()[2:] for ln in block["examples"].splitlines() if ln.strip()]
            out.setdefault(block["regex"], []).extend(lines)
    return out


@pytest.fixture(scope="module")
def regexes() -> dict[str, str]:
    """Full-form patterns from regexes.yml (one per entity)."""
    return {name: pats[0] for name, pats in _regex_blocks(REGEXES).items()}


@pytest.fixture(scope="module")
def all_regexes() -> dict[str, list[str]]:
    """Every regex feature under training_data/, e.g. masked-PII variants next to the full forms."""
    merged: dict[str, list[str]] = {}
    for path in sorted((ROOT / "training_data").glob("*.yml")):
        for name, pats in _regex_blocks(path).items():
            merged.setdefault(name, []).extend(pats)
    return merged


@pytest.fixture(scope="module")
def tokenizer() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.load_userdict(str(USERDICT))
    return tok


def test_intents_and_sizes(train: dict[str, list[str]], test_set: dict[str, list[str]]) -> None:
    assert set(train) == INTENTS
    assert set(test_set) == INTENTS
    assert all(len(v) >= 55 for v in train.values()), {k: len(v) for k, v in train.items()}
    assert all(len(v) >= 12 for v in test_set.values()), {k: len(v) for k, v in test_set.items()}


def test_no_duplicates_and_no_leak(train: dict[str, list[str]], test_set: dict[str, list[str]]) -> None:
    train_plain = [_parse(e)[0] for v in train.values() for e in v]
    dups = [t for t, n in Counter(train_plain).items() if n > 1]
    assert not dups
    seen = {_normalise(t) for t in train_plain}
    leaked = [e for v in test_set.values() for e in v if _normalise(_parse(e)[0]) in seen]
    assert not leaked


def test_entity_counts(train: dict[str, list[str]]) -> None:
    counts = Counter(s[2] for v in train.values() for e in v for s in _parse(e)[1])
    assert set(counts) == ENTITIES
    assert counts["matter"] >= 30
    assert all(counts[name] >= 15 for name in ENTITIES), counts


def test_annotations_align_with_jieba_tokens(
    train: dict[str, list[str]], test_set: dict[str, list[str]], tokenizer: jieba.Tokenizer
) -> None:
    misaligned = []
    for data in (train, test_set):
        for examples in data.values():
            for example in examples:
                text, spans = _parse(example)
                tokens = list(tokenizer.tokenize(text))
                starts, ends = {t[1] for t in tokens}, {t[2] for t in tokens}
                misaligned += [(text, v) for s, e, _, v in spans if s not in starts or e not in ends]
    assert not misaligned


def test_regexes_match_annotations_and_nothing_unannotated(
    train: dict[str, list[str]], test_set: dict[str, list[str]], regexes: dict[str, str],
    all_regexes: dict[str, list[str]],
) -> None:
    assert set(regexes) == {"case_code", "phone", "id_number"}
    for data in (train, test_set):
        for examples in data.values():
            for example in examples:
                text, spans = _parse(example)
                for _, _, entity, value in spans:
                    if entity in all_regexes:
                        assert any(re.fullmatch(p, value) for p in all_regexes[entity]), (entity, value)
                annotated = {(s, e, n) for s, e, n, _ in spans}
                for name, patterns in all_regexes.items():
                    for pattern in patterns:
                        for m in re.finditer(pattern, text):
                            assert (m.start(), m.end(), name) in annotated, (name, example)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("case_code", "编码BJ20261015000123查下", "BJ20261015000123"),
        ("case_code", "bj-20261015-000123", "bj-20261015-000123"),
        ("case_code", "BJ2026101500012", None),
        ("phone", "电话13812345678。", "13812345678"),
        ("phone", "电话23812345678", None),
        ("id_number", "身份证11010519900307451X", "11010519900307451X"),
        ("id_number", "110105199013074512", None),
    ],
)
def test_regex_behaviour(regexes: dict[str, str], name: str, text: str, expected: str | None) -> None:
    m = re.search(regexes[name], text)
    assert (m.group(0) if m else None) == expected


def test_synonyms_are_unambiguous() -> None:
    data = yaml.safe_load(SYNONYMS.read_text(encoding="utf-8"))
    target: dict[str, str] = {}
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            variant = line.strip()[2:].strip()
            assert target.setdefault(variant, block["synonym"]) == block["synonym"], variant
    assert {"社保卡丢了", "补办社保卡", "身份证丢了"} <= set(target)
    assert target["社保卡丢了"] == "社保卡补办"


def test_lookups_cover_all_districts() -> None:
    names = {p.stem for p in LOOKUPS.glob("*.yml")}
    assert {"matter", "department", "center"} <= names
    centers = (LOOKUPS / "center.yml").read_text(encoding="utf-8")
    for district in ("东城", "西城", "朝阳", "海淀", "丰台", "石景山", "门头沟", "房山",
                     "通州", "顺义", "昌平", "大兴", "怀柔", "平谷", "密云", "延庆"):
        assert f"{district}区政务服务中心" in centers


def test_userdict_format_and_terms() -> None:
    rows = [ln.split(" ") for ln in USERDICT.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert len(rows) >= 300
    assert all(len(r) == 3 and r[1].isdigit() for r in rows)
    words = {r[0] for r in rows}
    assert {"办件编码", "一企一事一码", "容缺受理", "补齐补正", "早晚弹性办", "统一社会信用代码",
            "朝阳区政务服务中心", "北京市政务服务中心"} <= words
