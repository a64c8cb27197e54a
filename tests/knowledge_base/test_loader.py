"""Tests for the knowledge-base model, loader, tabular import/export and the shipped sample data."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from knowledge_base.io_tabular import HEADERS
from knowledge_base.loader import DEFAULT_KB_PATH, YAML_HEADER, KBValidationError, export_kb, load_kb
from knowledge_base.models import TOPICS, Entry, KnowledgeBase, Matter, render_matter

FIXTURES = Path(__file__).parent / "fixtures"
ALLOWED_URLS = {"https://banshi.beijing.gov.cn", "https://www.beijing.gov.cn", "https://www.gjzwfw.gov.cn"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(DEFAULT_KB_PATH)


def _problems(path: Path) -> list[str]:
    with pytest.raises(KBValidationError) as info:
        load_kb(path)
    assert isinstance(info.value, ValueError)
    return [str(p) for p in info.value.problems]


# --- the shipped sample knowledge base ---------------------------------------------------------
def test_sample_kb_size_topics_and_ids(kb: KnowledgeBase) -> None:
    assert len(kb) >= 170
    assert len(kb.matters()) >= 60
    assert {e.topic for e in kb} == set(TOPICS)
    ids = [e.id for e in kb]
    assert len(ids) == len(set(ids))
    assert kb["shebao-card-reissue"].matter is not None
    assert kb.get("no-such-entry") is None
    assert re.fullmatch(r"[0-9a-f]{16}", kb.version)


def test_sample_kb_content_policy(kb: KnowledgeBase) -> None:
    """3–6 similar questions each, only the allowed URLs and phone numbers, sample-data header."""
    for entry in kb:
        assert 3 <= len(entry.similar) <= 6, entry.id
        for link in entry.links:
            assert link.url in ALLOWED_URLS, (entry.id, link.url)
    for path in sorted(DEFAULT_KB_PATH.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith(YAML_HEADER), path.name
        for url in re.findall(r"https?://[^\s)）,，}\]'\"]+", text):
            assert url in ALLOWED_URLS, (path.name, url)
        for number in re.findall(r"\d{5,}|\d{3,4}-\d{4,}", text):
            assert number in {"12345", "010-12345"}, (path.name, number)


def test_sample_kb_matter_flags_are_consistent(kb: KnowledgeBase) -> None:
    matters = [e.matter for e in kb.matters()]
    assert any(m.rongque for m in matters) and any(m.flexible_hours for m in matters)
    assert {m.saturday_category for m in matters} >= {"社保", "医保", "民政", "公安", "残联", "住房保障"}
    for m in matters:
        assert m.materials and m.centers
        assert bool(m.rongque_note) == m.rongque


def test_loading_twice_gives_equal_kb_and_version(kb: KnowledgeBase) -> None:
    again = load_kb(str(DEFAULT_KB_PATH))
    assert again.entries == kb.entries
    assert again.version == kb.version


# --- rendering ------------------------------------------------------------------------------------
def test_rendered_matter_answer_tells_every_material_at_once(kb: KnowledgeBase) -> None:
    for entry in kb.matters():
        text = kb.render_answer(entry)
        assert text.startswith(entry.answer)
        for n, material in enumerate(entry.matter.materials, 1):
            assert f"{n}. {material}" in text, (entry.id, material)
        assert f"共{len(entry.matter.materials)}项" in text
        if entry.matter.rongque:
            assert entry.matter.rongque_note in text
        else:
            assert "不适用容缺受理" in text
        if entry.matter.online:
            assert entry.matter.acceptance_limit_online in text
        if entry.matter.offline:
            assert entry.matter.acceptance_limit_offline in text
        for link in entry.links:
            assert link.url in text


def test_render_matter_channels_and_hours() -> None:
    online_only = Matter(name="甲", department="乙", centers=("city",), channels="online",
                         materials=("身份证", "申请表"), processing_working_days=0, flexible_hours=True,
                         saturday_category="医保")
    text = render_matter(online_only)
    assert "仅网上办理" in text and "窗口申请" not in text
    assert "即时办结" in text and "开门前1小时" in text and "医保类高频事项" in text
    offline = Matter(name="甲", department="乙", centers=("haidian", "chaoyang"), channels="offline",
                     materials=("身份证",), processing_working_days=5)
    text = render_matter(offline)
    assert "海淀区政务服务中心、朝阳区政务服务中心" in text
    assert "5个工作日" in text and "网上申请" not in text and "周六" not in text


def test_render_answer_without_matter_is_the_answer(kb: KnowledgeBase) -> None:
    entry = next(e for e in kb if e.matter is None and not e.links)
    assert kb.render_answer(entry.id) == entry.answer


# --- validation errors ------------------------------------------------------------------------------
def test_each_kind_of_error_names_file_entry_and_field() -> None:
    problems = _problems(FIXTURES / "bad_fields.yaml")
    expected = [
        "bad_fields.yaml: entry 2 (id=bad-channels): field 'channels': must be one of online/offline/both, got 'window'",
        "bad_fields.yaml: entry 3 (id=empty-question): field 'question': must not be empty",
        "bad_fields.yaml: entry 4 (id=empty-answer): field 'answer': must not be empty",
        "bad_fields.yaml: entry 5 (id=bad-topic): field 'topic': must be one of",
        "bad_fields.yaml: entry 6 (id=bad-center): field 'centers': unknown center id(s) xinjiekou",
        "bad_fields.yaml: entry 7 (id=bad-category): field 'saturday_category': must be one of 社保/医保/民政/公安/残联/住房保障",
        "bad_fields.yaml: entry 8 (id=bad-url): field 'links': link 1: url must be an absolute http/https URL",
        "bad_fields.yaml: entry 9 (id=dup-similar): field 'similar': item 3 duplicates item 1",
        "bad_fields.yaml: entry 10 (id=Bad_Slug): field 'id': must be an ascii slug",
        "bad_fields.yaml: entry 11 (id=shared-similar): field 'similar': question '正常的相似问二' duplicates one of entry 'good-one'",
    ]
    assert len(problems) == len(expected), problems
    for got, want in zip(problems, expected):
        assert got.startswith(want), (got, want)


def test_duplicate_ids_across_files() -> None:
    problems = _problems(FIXTURES / "dup_ids" / "faq")
    assert problems == [
        "faq/two.yaml: entry 2 (id=same-id): field 'id': duplicate id 'same-id', "
        "already used at faq/one.yaml: entry 2"
    ]


def test_one_bad_entry_loads_nothing(tmp_path: Path) -> None:
    problems = _problems(FIXTURES / "one_bad.yaml")
    assert problems == ["one_bad.yaml: entry 2 (id=broken): field 'rongque': must be true or false (是/否), got 'maybe'"]
    # The same holds across files: a valid file next to a broken one does not load on its own.
    faq = tmp_path / "faq"
    faq.mkdir()
    shutil.copy(DEFAULT_KB_PATH / "gongjijin.yaml", faq / "a.yaml")
    shutil.copy(FIXTURES / "one_bad.yaml", faq / "b.yaml")
    assert _problems(faq) == [problems[0].replace("one_bad.yaml", "faq/b.yaml")]


def test_structural_yaml_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("entries:\n  - id: a\n    question: [unclosed\n", encoding="utf-8")
    (problem,) = _problems(broken)
    assert problem.startswith("broken.yaml: line ") and "invalid YAML" in problem
    no_list = tmp_path / "nolist.yaml"
    no_list.write_text("faq: []\n", encoding="utf-8")
    assert _problems(no_list) == ["nolist.yaml: top level must be a mapping with an 'entries' list"]
    typo = tmp_path / "typo.yaml"
    typo.write_text("entries:\n  - {id: a, topic: 其他, question: 问, answer: 答, similiar: [x]}\n", encoding="utf-8")
    assert _problems(typo) == ["typo.yaml: entry 1 (id=a): field 'similiar': unknown field"]
    with pytest.raises(FileNotFoundError):
        load_kb(tmp_path / "missing")


def test_rongque_note_must_match_flag(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "entries:\n"
        "  - id: r\n    topic: 社保\n    question: 问\n    answer: 答\n"
        "    matter: {name: 甲, department: 乙, centers: [all, city], channels: both,"
        " materials: [身份证], rongque: true}\n", encoding="utf-8")
    assert _problems(path) == [
        "r.yaml: entry 1 (id=r): field 'centers': 'all' must be used alone",
        "r.yaml: entry 1 (id=r): field 'rongque_note': must say which materials may be supplied later when rongque is true",
    ]


# --- CSV / XLSX -------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".yaml"])
def test_export_import_round_trip(kb: KnowledgeBase, tmp_path: Path, suffix: str) -> None:
    path = export_kb(kb, tmp_path / f"kb{suffix}")
    loaded = load_kb(path)
    assert loaded.entries == kb.entries
    # A second round trip writes byte-identical CSV/YAML (XLSX embeds timestamps).
    if suffix != ".xlsx":
        again = export_kb(loaded, tmp_path / f"again{suffix}")
        assert again.read_bytes() == path.read_bytes()


def test_xlsx_keeps_formula_like_text(tmp_path: Path) -> None:
    entry = Entry(id="eq", question="=1+1 是什么", answer="=SUM(A1)\n第二行", topic="其他", similar=("+1 呢",))
    kb = KnowledgeBase.from_entries([entry])
    loaded = load_kb(export_kb(kb, tmp_path / "f.xlsx"))
    assert loaded.entries == (entry,)


def _rewrite_csv(path: Path, edit) -> None:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    edit(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_csv_errors_name_row_and_column(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = export_kb(kb, tmp_path / "kb.csv")
    header = list(HEADERS.values())
    matter_index = next(i for i, e in enumerate(kb.entries) if e.matter is not None)
    target = kb.entries[matter_index]

    def edit(rows: list[list[str]]) -> None:
        rows[matter_index + 1][header.index("办理渠道 channels")] = "window"
        rows[2][header.index("链接 links")] = "首都之窗 mailto:someone"

    _rewrite_csv(path, edit)
    problems = _problems(path)
    assert f"kb.csv: row {matter_index + 2} (id={target.id}): column '办理渠道 channels': must be one of " \
           f"online/offline/both, got 'window'" in problems
    assert any(p.startswith(f"kb.csv: row 3 (id={kb.entries[1].id}): column '链接 links': link 1: url") for p in problems)
    assert len(problems) == 2


def test_csv_header_aliases_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("id,标准问,answer,主题 topic,相似问 similar\nabc,问题,答案,社保,\"说法一\n说法二\"\n\n",
                    encoding="utf-8")
    loaded = load_kb(path)
    assert loaded.entries == (Entry(id="abc", question="问题", answer="答案", topic="社保",
                                    similar=("说法一", "说法二")),)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,answer,topic,colour\nabc,问题,答案,社保,红\n", encoding="utf-8")
    (problem,) = _problems(bad)
    assert problem.startswith("bad.csv: row 1: column 5 'colour': unknown column")
    missing = tmp_path / "missing.csv"
    missing.write_text("id,question,answer\nabc,问题,答案\n", encoding="utf-8")
    assert _problems(missing) == ["missing.csv: row 1: column '主题 topic': required column is missing"]


def test_xlsx_errors_name_sheet_row_and_column(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = export_kb(kb, tmp_path / "kb.xlsx")
    wb = load_workbook(path)
    ws = wb["entries"]
    header = [c.value for c in ws[1]]
    row, other = [i for i, e in enumerate(kb.entries, 2) if e.matter is not None][:2]
    entry = kb.entries[row - 2]
    ws.cell(row=row, column=header.index("容缺受理 rongque") + 1, value="也许")
    ws.cell(row=row, column=header.index("办理中心 centers") + 1, value="city\nmars")
    ws.cell(row=other, column=header.index("办理时限工作日 processing_working_days") + 1, value="三天")
    wb.save(path)
    problems = _problems(path)
    prefix = f"kb.xlsx: sheet 'entries' row {row} (id={entry.id}): "
    assert any(p.startswith(prefix + "column '办理中心 centers': unknown center id(s) mars; known: ") for p in problems)
    assert prefix + "column '容缺受理 rongque': must be true or false (是/否), got '也许'" in problems
    assert any(f"row {other} " in p and "column '办理时限工作日 processing_working_days'" in p
               for p in problems)
    assert len(problems) == 3
