"""Load and validate a knowledge base from YAML (a directory or one file), CSV or XLSX.

Validation is all-or-nothing: every record of every source is checked, all problems are
collected, and only when there are none is a :class:`KnowledgeBase` returned. Operators edit these
files by hand or in Excel, so each problem names the file, the entry (YAML, 1-based) or spreadsheet
row (as Excel shows it: the header is row 1) and the field/column, so it can be fixed in one pass.

YAML layout: each file holds ``entries:``, a list of mappings with the fields of
:class:`~knowledge_base.models.Entry`; ``matter`` is a nested mapping, ``links`` a list of
``{title, url}`` mappings.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from knowledge_base.models import (
    CENTER_IDS,
    ALL_CENTERS,
    CHANNELS,
    DEFAULT_ACCEPTANCE_OFFLINE,
    DEFAULT_ACCEPTANCE_ONLINE,
    DEFAULT_FEES,
    SATURDAY_CATEGORIES,
    TOPICS,
    Entry,
    KnowledgeBase,
    Link,
    Matter,
)

#: The sample knowledge base shipped with the project.
DEFAULT_KB_PATH = Path(__file__).resolve().parent / "data" / "faq"

YAML_SUFFIXES = (".yaml", ".yml")
TABULAR_SUFFIXES = (".csv", ".xlsx")

ENTRY_FIELDS = ("id", "question", "similar", "answer", "links", "topic", "tags", "matter")
REQUIRED_ENTRY_FIELDS = ("id", "question", "answer", "topic")
MATTER_FIELDS = (
    "name", "department", "centers", "channels", "materials", "acceptance_limit_online",
    "acceptance_limit_offline", "processing_working_days", "processing_limit", "fees", "rongque",
    "rongque_note", "legal_basis", "saturday_category", "flexible_hours",
)
REQUIRED_MATTER_FIELDS = ("name", "department", "centers", "channels", "materials")

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TRAILING_PUNCT = re.compile(r"[\s?!.,;:~。？！，、；：…]+$")

YAML_HEADER = "# 示例数据 (sample content) — not official guidance; verify before deployment\n"


# --- problems ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One validation problem, located precisely enough to fix without searching."""

    source: str  # file name as shown to the operator, e.g. "faq/shebao.yaml"
    location: str  # "entry 3 (id=x)", "sheet 'entries' row 5 (id=x)" or "" for file-level problems
    field: str  # "field 'channels'", "column '办理渠道 channels'" or ""
    message: str

    def __str__(self) -> str:
        return ": ".join(p for p in (self.source, self.location, self.field, self.message) if p)


class KBValidationError(ValueError):
    """Raised when a knowledge base source has problems; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"knowledge base has {len(self.problems)} problem(s):\n{shown}{more}")


@dataclass
class RawRecord:
    """One not-yet-validated entry, plus how to describe its location and fields in problems.

    ``raw`` uses the YAML shape (canonical field names, nested ``matter``); tabular readers convert
    their rows to this shape so that there is exactly one set of validation rules.
    """

    source: str
    location: str  # without the id; the id is appended once known
    raw: Any
    field_label: Callable[[str], str] = lambda path: f"field '{path.rsplit('.', 1)[-1]}'"
    problems: list[Problem] = field(default_factory=list)

    def where(self) -> str:
        rid = self.raw.get("id") if isinstance(self.raw, Mapping) else None
        if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid).strip():
            return f"{self.location} (id={str(rid).strip()})"
        return self.location

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.source, self.where(), self.field_label(path) if path else "", message)

    def report(self, path: str, message: str) -> None:
        self.problems.append(self.problem(path, message))


# --- field validators -------------------------------------------------------------------------
def normalize_question(text: str) -> str:
    """Key used to detect duplicate questions: width/case folded, spaces and end punctuation dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _TRAILING_PUNCT.sub("", folded)
    return re.sub(r"\s+", "", folded)


def _bad_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)


def _text(rec: RawRecord, data: Mapping, path: str, *, required: bool, multiline: bool = False,
          default: str = "") -> str | None:
    """Validated text; ints are accepted as text (YAML reads ``topic: 12345`` as an int)."""
    key = path.rsplit(".", 1)[-1]
    value = data.get(key)
    if value is None:
        if required:
            rec.report(path, "is required")
            return None
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        rec.report(path, f"must be text, got {type(value).__name__}")
        return None
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        if required:
            rec.report(path, "must not be empty")
            return None
        return default
    if _bad_control_chars(text):
        rec.report(path, "contains control characters")
        return None
    if not multiline and "\n" in text:
        rec.report(path, "must be a single line")
        return None
    return text


def _text_list(rec: RawRecord, data: Mapping, path: str, *, required: bool = False) -> tuple[str, ...] | None:
    """A list of distinct single-line texts (items may not contain newlines: tabular formats use
    one item per line, and this keeps the round trip exact)."""
    key = path.rsplit(".", 1)[-1]
    value = data.get(key)
    if value is None:
        value = []
    if not isinstance(value, list):
        rec.report(path, f"must be a list, got {type(value).__name__}")
        return None
    items: list[str] = []
    ok = True
    seen: dict[str, int] = {}
    for i, item in enumerate(value, 1):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            rec.report(path, f"item {i} must be text, got {type(item).__name__}")
            ok = False
            continue
        text = str(item).strip()
        if not text:
            rec.report(path, f"item {i} must not be empty")
            ok = False
        elif "\n" in text or "\r" in text or _bad_control_chars(text):
            rec.report(path, f"item {i} must be a single line without control characters")
            ok = False
        elif normalize_question(text) in seen:
            rec.report(path, f"item {i} duplicates item {seen[normalize_question(text)]}: {text!r}")
            ok = False
        else:
            seen[normalize_question(text)] = i
            items.append(text)
    if ok and required and not items:
        rec.report(path, "must list at least one item")
        return None
    return tuple(items) if ok else None


def _choice(rec: RawRecord, data: Mapping, path: str, choices: Iterable[str], *, required: bool) -> str | None:
    choices = tuple(choices)
    text = _text(rec, data, path, required=required)
    if text is None or text == "":
        return None
    if text not in choices:
        rec.report(path, f"must be one of {'/'.join(choices)}, got {text!r}")
        return None
    return text


def _bool(rec: RawRecord, data: Mapping, path: str) -> bool | None:
    value = data.get(path.rsplit(".", 1)[-1])
    if value is None:
        return False
    if not isinstance(value, bool):
        rec.report(path, f"must be true or false (是/否), got {value!r}")
        return None
    return value


def valid_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    from urllib.parse import urlsplit

    if any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _links(rec: RawRecord, data: Mapping) -> tuple[Link, ...] | None:
    value = data.get("links")
    if value is None:
        return ()
    if not isinstance(value, list):
        rec.report("links", f"must be a list of {{title, url}}, got {type(value).__name__}")
        return None
    links: list[Link] = []
    ok = True
    for i, item in enumerate(value, 1):
        if not isinstance(item, Mapping) or set(item) - {"title", "url"}:
            rec.report("links", f"link {i} must be a mapping with only 'title' and 'url'")
            ok = False
            continue
        title, url = item.get("title"), item.get("url")
        if not isinstance(title, str) or not title.strip() or "\n" in title.strip():
            rec.report("links", f"link {i}: title must be a non-empty single line")
            ok = False
        if not isinstance(url, str) or not valid_url(url.strip()):
            rec.report("links", f"link {i}: url must be an absolute http/https URL, got {url!r}")
            ok = False
        if ok:
            links.append(Link(title.strip(), url.strip()))
    return tuple(links) if ok else None


def _matter(rec: RawRecord, value: Any) -> Matter | None:
    if not isinstance(value, Mapping):
        rec.report("matter", f"must be a mapping, got {type(value).__name__}")
        return None
    before = len(rec.problems)
    for key in value:
        if key not in MATTER_FIELDS:
            rec.report(f"matter.{key}", "unknown matter field")
    f = {k: f"matter.{k}" for k in MATTER_FIELDS}
    name = _text(rec, value, f["name"], required=True)
    department = _text(rec, value, f["department"], required=True)
    centers = _text_list(rec, value, f["centers"], required=True)
    if centers is not None:
        unknown = [c for c in centers if c not in CENTER_IDS]
        if unknown:
            rec.report(f["centers"], f"unknown center id(s) {', '.join(unknown)}; "
                                     f"known: {', '.join(sorted(CENTER_IDS))}")
        elif ALL_CENTERS in centers and len(centers) > 1:
            rec.report(f["centers"], f"'{ALL_CENTERS}' must be used alone")
    channels = _choice(rec, value, f["channels"], CHANNELS, required=True)
    materials = _text_list(rec, value, f["materials"], required=True)
    acc_on = _text(rec, value, f["acceptance_limit_online"], required=False, default=DEFAULT_ACCEPTANCE_ONLINE)
    acc_off = _text(rec, value, f["acceptance_limit_offline"], required=False, default=DEFAULT_ACCEPTANCE_OFFLINE)
    days = value.get("processing_working_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        rec.report(f["processing_working_days"], f"must be a whole number of working days ≥ 0 or empty, got {days!r}")
    processing_limit = _text(rec, value, f["processing_limit"], required=False, multiline=True)
    fees = _text(rec, value, f["fees"], required=False, multiline=True, default=DEFAULT_FEES)
    rongque = _bool(rec, value, f["rongque"])
    rongque_note = _text(rec, value, f["rongque_note"], required=False, multiline=True)
    if rongque is True and rongque_note == "":
        rec.report(f["rongque_note"], "must say which materials may be supplied later when rongque is true")
    if rongque is False and rongque_note:
        rec.report(f["rongque_note"], "must be empty when rongque is false")
    legal_basis = _text(rec, value, f["legal_basis"], required=False, multiline=True)
    saturday = _choice(rec, value, f["saturday_category"], SATURDAY_CATEGORIES, required=False)
    flexible = _bool(rec, value, f["flexible_hours"])
    if len(rec.problems) > before:
        return None
    return Matter(
        name=name, department=department, centers=centers, channels=channels, materials=materials,
        acceptance_limit_online=acc_on, acceptance_limit_offline=acc_off, processing_working_days=days,
        processing_limit=processing_limit, fees=fees, rongque=rongque, rongque_note=rongque_note,
        legal_basis=legal_basis, saturday_category=saturday, flexible_hours=flexible,
    )


def build_entry(rec: RawRecord) -> Entry | None:
    """Validate one raw record; problems go to ``rec.problems`` and ``None`` is returned."""
    raw = rec.raw
    if not isinstance(raw, Mapping):
        rec.report("", f"must be a mapping of fields, got {type(raw).__name__}")
        return None
    before = len(rec.problems)
    for key in raw:
        if key not in ENTRY_FIELDS:
            rec.report(str(key), "unknown field")
    entry_id = _text(rec, raw, "id", required=True)
    if entry_id is not None and not _SLUG.match(entry_id):
        rec.report("id", f"must be an ascii slug like 'shebao-card-reissue' (a-z, 0-9, '-'), got {entry_id!r}")
    question = _text(rec, raw, "question", required=True)
    answer = _text(rec, raw, "answer", required=True, multiline=True)
    topic = _choice(rec, raw, "topic", TOPICS, required=True)
    similar = _text_list(rec, raw, "similar")
    if similar is not None and question is not None:
        for i, s in enumerate(similar, 1):
            if normalize_question(s) == normalize_question(question):
                rec.report("similar", f"item {i} repeats the standard question: {s!r}")
    links = _links(rec, raw)
    tags = _text_list(rec, raw, "tags")
    matter = _matter(rec, raw["matter"]) if raw.get("matter") is not None else None
    if len(rec.problems) > before:
        return None
    return Entry(id=entry_id, question=question, answer=answer, topic=topic, similar=similar,
                 links=links, tags=tags, matter=matter)


def build_knowledge_base(records: list[RawRecord], version: str, source: str = "",
                         extra_problems: Iterable[Problem] = ()) -> KnowledgeBase:
    """Validate every record, then cross-entry rules (unique ids, unique questions); raise
    :class:`KBValidationError` with all problems, or return the knowledge base."""
    problems: list[Problem] = list(extra_problems)
    entries: list[Entry] = []
    built: list[tuple[RawRecord, Entry]] = []
    for rec in records:
        entry = build_entry(rec)
        problems.extend(rec.problems)
        if entry is not None:
            built.append((rec, entry))
            entries.append(entry)
    first_id: dict[str, RawRecord] = {}
    first_question: dict[str, tuple[RawRecord, str]] = {}
    for rec, entry in built:
        if entry.id in first_id:
            other = first_id[entry.id]
            problems.append(rec.problem(
                "id", f"duplicate id {entry.id!r}, already used at {other.source}: {other.location}"))
        else:
            first_id[entry.id] = rec
        for n, text in enumerate(entry.questions):
            key = normalize_question(text)
            path = "question" if n == 0 else "similar"
            if key in first_question and first_question[key][0] is not rec:
                other, other_id = first_question[key]
                problems.append(rec.problem(path, f"question {text!r} duplicates one of entry "
                                                  f"{other_id!r} ({other.source}: {other.location})"))
            elif key not in first_question:
                first_question[key] = (rec, entry.id)
    if problems:
        raise KBValidationError(problems)
    return KnowledgeBase(tuple(entries), version, source)


# --- YAML sources -----------------------------------------------------------------------------
def _yaml_records(path: Path, display: str) -> tuple[list[RawRecord], list[Problem]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return [], [Problem(display, "", "", f"not UTF-8 text: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        return [], [Problem(display, where, "", f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]
    if data is None:
        return [], [Problem(display, "", "", "file is empty; expected a mapping with an 'entries' list")]
    if not isinstance(data, Mapping) or "entries" not in data:
        return [], [Problem(display, "", "", "top level must be a mapping with an 'entries' list")]
    extra = [k for k in data if k != "entries"]
    problems = [Problem(display, "", f"field '{k}'", "unknown top-level key") for k in extra]
    entries = data["entries"]
    if not isinstance(entries, list):
        return [], problems + [Problem(display, "", "field 'entries'", "must be a list")]
    records = [RawRecord(display, f"entry {i}", raw) for i, raw in enumerate(entries, 1)]
    return records, problems


def _hash_sources(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for display, path in files:
        digest.update(display.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load_kb(path: str | Path = DEFAULT_KB_PATH) -> KnowledgeBase:
    """Load a knowledge base from a directory of YAML files (searched recursively, in path order)
    or from one ``.yaml``/``.yml``/``.csv``/``.xlsx`` file.

    Problems are shown with file names relative to the directory's parent (``faq/shebao.yaml``)
    or, for a single file, its name. Raises :class:`KBValidationError` (nothing is returned
    half-loaded) or :class:`FileNotFoundError`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"knowledge base path not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES)
        if not files:
            raise KBValidationError([Problem(str(path), "", "", "directory contains no .yaml/.yml files")])
        named = [(p.relative_to(path.parent).as_posix(), p) for p in files]
        records: list[RawRecord] = []
        problems: list[Problem] = []
        for display, p in named:
            recs, probs = _yaml_records(p, display)
            records.extend(recs)
            problems.extend(probs)
        return build_knowledge_base(records, _hash_sources(named), str(path), problems)
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        records, problems = _yaml_records(path, path.name)
    elif suffix in TABULAR_SUFFIXES:
        from knowledge_base import io_tabular

        records, problems = io_tabular.read_records(path)
    else:
        raise KBValidationError([Problem(path.name, "", "", "unsupported file type; use .yaml, .yml, .csv or .xlsx")])
    return build_knowledge_base(records, _hash_sources([(path.name, path)]), str(path), problems)


# --- export -----------------------------------------------------------------------------------
class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks so exported answers stay readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_yaml(entries: Iterable[Entry]) -> str:
    """YAML text (with the sample-data header comment) for ``entries``."""
    body = yaml.dump({"entries": [e.to_dict() for e in entries]}, Dumper=_BlockDumper,
                     allow_unicode=True, sort_keys=False, width=100)
    return YAML_HEADER + body


def export_kb(kb: KnowledgeBase, path: str | Path) -> Path:
    """Write ``kb`` to ``path``; the format follows the extension (.yaml/.yml, .csv, .xlsx)."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in YAML_SUFFIXES:
        path.write_text(dump_yaml(kb.entries), encoding="utf-8")
    elif suffix == ".csv":
        from knowledge_base import io_tabular

        io_tabular.write_csv(kb.entries, path)
    elif suffix == ".xlsx":
        from knowledge_base import io_tabular

        io_tabular.write_xlsx(kb.entries, path)
    else:
        raise ValueError(f"unsupported export format {suffix!r}; use .yaml, .csv or .xlsx")
    return path
