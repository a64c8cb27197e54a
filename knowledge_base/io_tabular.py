"""CSV and XLSX import/export of the knowledge base: one row per entry.

Why spreadsheets: the people who maintain FAQ content at a service center work in Excel, not YAML.

Format (identical for CSV and XLSX):

* Row 1 is a header; each column is named ``中文名 english_name`` (e.g. ``标准问 question``). On
  import a header may also be just the Chinese or just the English name, in any order; unknown
  columns are errors. Required columns: id, question, answer, topic.
* List fields (similar, tags, centers, materials, links) put **one item per line** inside the
  cell (newline-separated; a newline never occurs inside an item, which the validator enforces,
  so the round trip is exact). A link line is ``标题 URL``: the title, whitespace, then the URL.
* Booleans (rongque, flexible_hours) are ``是``/``否`` (``true``/``false``, ``yes``/``no``, ``1``/``0``
  are accepted too); an empty cell means false.
* A row whose matter columns are all empty has no matter. Rows that are entirely empty are skipped.
* CSV is UTF-8 with a BOM (so Excel opens it correctly); the XLSX data is on the sheet
  ``entries`` (or the first sheet when there is no such sheet).

Problems are located as ``row N`` (the spreadsheet row number, header = row 1), plus
``sheet 'name'`` for XLSX, and name the column by its header text. All validation rules come from
:mod:`knowledge_base.loader`; this module only converts cells to the YAML-shaped raw record.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Iterator

from knowledge_base.loader import MATTER_FIELDS, Problem, RawRecord
from knowledge_base.models import Entry, Matter

#: (canonical key, Chinese name, English name). Matter fields use the key ``matter.<field>``.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "编号", "id"),
    ("question", "标准问", "question"),
    ("similar", "相似问", "similar"),
    ("answer", "答案", "answer"),
    ("topic", "主题", "topic"),
    ("tags", "标签", "tags"),
    ("links", "链接", "links"),
    ("matter.name", "事项名称", "matter_name"),
    ("matter.department", "实施部门", "department"),
    ("matter.centers", "办理中心", "centers"),
    ("matter.channels", "办理渠道", "channels"),
    ("matter.materials", "申请材料", "materials"),
    ("matter.acceptance_limit_online", "网上受理时限", "acceptance_limit_online"),
    ("matter.acceptance_limit_offline", "窗口受理时限", "acceptance_limit_offline"),
    ("matter.processing_working_days", "办理时限工作日", "processing_working_days"),
    ("matter.processing_limit", "办理时限说明", "processing_limit"),
    ("matter.fees", "收费标准", "fees"),
    ("matter.rongque", "容缺受理", "rongque"),
    ("matter.rongque_note", "容缺说明", "rongque_note"),
    ("matter.legal_basis", "设定依据", "legal_basis"),
    ("matter.saturday_category", "周六办理类别", "saturday_category"),
    ("matter.flexible_hours", "早晚弹性办", "flexible_hours"),
)
HEADERS: dict[str, str] = {key: f"{zh} {en}" for key, zh, en in COLUMNS}
REQUIRED_COLUMNS = ("id", "question", "answer", "topic")
LIST_KEYS = {"similar", "tags", "matter.centers", "matter.materials"}
BOOL_KEYS = {"matter.rongque", "matter.flexible_hours"}
INT_KEYS = {"matter.processing_working_days"}
SHEET_NAME = "entries"

_TRUE = {"是", "true", "yes", "y", "1", "√", "✓"}
_FALSE = {"否", "false", "no", "n", "0", ""}

assert {k.split(".", 1)[1] for k, _, _ in COLUMNS if k.startswith("matter.")} == set(MATTER_FIELDS)


# --- header -----------------------------------------------------------------------------------
def _match_header(text: str) -> str | None:
    tokens = text.split()
    for key, zh, en in COLUMNS:
        if tokens and set(tokens) <= {zh, en}:
            return key
    return None


def _parse_header(cells: list[Any], source: str, where: str) -> tuple[dict[int, str], dict[str, str], list[Problem]]:
    """Map column index → canonical key, canonical key → header text as written; plus problems."""
    by_index: dict[int, str] = {}
    labels: dict[str, str] = {}
    problems: list[Problem] = []
    for i, cell in enumerate(cells):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        key = _match_header(text)
        column = f"column {i + 1} '{text}'"
        if key is None:
            problems.append(Problem(source, where, column, "unknown column; expected one of: "
                                    + ", ".join(HEADERS.values())))
        elif key in labels:
            problems.append(Problem(source, where, column, f"duplicate column for {key!r}"))
        else:
            by_index[i] = key
            labels[key] = text
    for key in REQUIRED_COLUMNS:
        if key not in labels:
            problems.append(Problem(source, where, f"column '{HEADERS[key]}'", "required column is missing"))
    return by_index, labels, problems


# --- cell → raw value -------------------------------------------------------------------------
def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _convert(key: str, value: Any) -> Any:
    """Cell value → YAML-shaped value. Unparseable cells are passed through unchanged so the shared
    validator reports them with its usual message."""
    if key in INT_KEYS:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        text = _cell_text(value)
        if text == "":
            return None
        return int(text) if text.isdigit() else text
    text = _cell_text(value)
    if key in LIST_KEYS:
        return _lines(text)
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        low = text.casefold()
        return True if low in _TRUE else False if low in _FALSE else text
    if key == "links":
        links = []
        for line in _lines(text):
            parts = line.rsplit(None, 1)
            links.append({"title": parts[0], "url": parts[1]} if len(parts) == 2 else {"title": line, "url": ""})
        return links
    return text if text else None


def _row_record(source: str, location: str, cells: list[Any], by_index: dict[int, str],
                labels: dict[str, str]) -> RawRecord | None:
    values = {key: cells[i] if i < len(cells) else None for i, key in by_index.items()}
    if all(_cell_text(c) == "" for c in cells):
        return None  # blank row
    raw: dict[str, Any] = {}
    matter: dict[str, Any] = {}
    for key, value in values.items():
        converted = _convert(key, value)
        if key.startswith("matter."):
            if _cell_text(value) != "":
                matter[key.split(".", 1)[1]] = converted
        elif converted not in (None, []):
            raw[key] = converted
    if matter:
        raw["matter"] = matter

    def label(path: str) -> str:
        key = "matter.name" if path == "matter" else path
        return f"column '{labels.get(key, HEADERS.get(key, key))}'"

    return RawRecord(source, location, raw, field_label=label)


def _records(source: str, prefix: str, rows: Iterator[list[Any]]) -> tuple[list[RawRecord], list[Problem]]:
    try:
        header = next(rows)
    except StopIteration:
        return [], [Problem(source, prefix.strip(), "", "no header row; the file is empty")]
    by_index, labels, problems = _parse_header(list(header), source, f"{prefix}row 1".strip())
    if problems:
        return [], problems
    records = []
    for n, cells in enumerate(rows, 2):
        cells = list(cells)
        extra = [i for i, c in enumerate(cells) if i not in by_index and _cell_text(c) != ""]
        rec = _row_record(source, f"{prefix}row {n}", cells, by_index, labels)
        if rec is None:
            continue
        for i in extra:
            rec.problems.append(Problem(source, rec.where(), f"column {i + 1}", "value in a column without a header"))
        records.append(rec)
    return records, problems


def read_records(path: Path) -> tuple[list[RawRecord], list[Problem]]:
    """Raw records from a CSV or XLSX file (validated later by the loader)."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return _records(path.name, "", iter(list(csv.reader(fh))))
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for corrupt files
        return [], [Problem(path.name, "", "", f"cannot open workbook: {exc}")]
    try:
        ws = wb[SHEET_NAME] if SHEET_NAME in wb.sheetnames else wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        return _records(path.name, f"sheet '{ws.title}' ", iter(rows))
    finally:
        wb.close()


# --- export -----------------------------------------------------------------------------------
def _bool_text(value: bool) -> str:
    return "是" if value else "否"


def entry_row(entry: Entry) -> list[Any]:
    """One spreadsheet row for ``entry`` in :data:`COLUMNS` order."""
    m: Matter | None = entry.matter
    row: list[Any] = [
        entry.id, entry.question, "\n".join(entry.similar), entry.answer, entry.topic,
        "\n".join(entry.tags), "\n".join(f"{l.title} {l.url}" for l in entry.links),
    ]
    if m is None:
        return row + [""] * (len(COLUMNS) - len(row))
    return row + [
        m.name, m.department, "\n".join(m.centers), m.channels, "\n".join(m.materials),
        m.acceptance_limit_online, m.acceptance_limit_offline,
        "" if m.processing_working_days is None else m.processing_working_days,
        m.processing_limit, m.fees, _bool_text(m.rongque), m.rongque_note, m.legal_basis,
        m.saturday_category or "", _bool_text(m.flexible_hours),
    ]


def write_csv(entries: Iterable[Entry], path: Path) -> None:
    with Path(path).open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS.values())
        for entry in entries:
            writer.writerow(entry_row(entry))


def write_xlsx(entries: Iterable[Entry], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    ws.append(list(HEADERS.values()))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for entry in entries:
        ws.append(entry_row(entry))
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula stays text
            cell.alignment = wrap
    ws.freeze_panes = "C2"
    for letter, width in zip("ABCD", (28, 30, 36, 60)):
        ws.column_dimensions[letter].width = width
    wb.save(path)
