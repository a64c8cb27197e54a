"""Knowledge-base entry model: FAQ entries, service matters (事项) and the loaded knowledge base.

The models are frozen dataclasses holding tuples, so a loaded knowledge base can be shared between
threads and request handlers without defensive copies, and two loads of the same content compare
equal (that is what the CSV/XLSX round-trip tests rely on). Field validation lives in
``knowledge_base.loader`` because it must report *where* a problem is (file, entry, field), which
the model itself cannot know.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterator, Literal

from knowledge_base.hours.centers import load_centers

#: Topics an entry may belong to. The order is the display order used by exports and menus.
TOPICS: tuple[str, ...] = (
    "社保", "医保", "公积金", "户籍", "居住证", "出入境", "企业开办", "个体户", "税务", "不动产",
    "婚姻登记", "生育", "残疾人", "住房保障", "12345", "中心规则", "其他",
)

#: Service-center ids → display names, from the hours registry (``knowledge_base/data/centers.yaml``),
#: so a center added there is at once a valid ``centers`` value of a matter.
CENTER_NAMES: dict[str, str] = {c.id: c.name for c in load_centers().values()}
#: ``all`` stands for every center in :data:`CENTER_NAMES`; it must be used alone.
ALL_CENTERS = "all"
CENTER_IDS: frozenset[str] = frozenset(CENTER_NAMES) | {ALL_CENTERS}

Channels = Literal["online", "offline", "both"]
CHANNELS: tuple[str, ...] = ("online", "offline", "both")

#: Matter categories that are handled all day on Saturdays (周末不休息, 周六全天).
SATURDAY_CATEGORIES: tuple[str, ...] = ("社保", "医保", "民政", "公安", "残联", "住房保障")

DEFAULT_ACCEPTANCE_ONLINE = "1个工作日内作出受理决定"
DEFAULT_ACCEPTANCE_OFFLINE = "当场作出受理决定"
DEFAULT_FEES = "不收费"

ONLINE_PORTAL = "北京政务服务网（https://banshi.beijing.gov.cn）"


@dataclass(frozen=True)
class Link:
    """A titled http(s) link shown under an answer."""

    title: str
    url: str


@dataclass(frozen=True)
class Matter:
    """A government service matter (事项) with everything needed for 一次性告知.

    ``materials`` is the complete list on purpose: the center's rules require the bot to tell the
    citizen every required material in one reply, so nothing may be left to a follow-up question.
    """

    name: str
    department: str
    centers: tuple[str, ...]
    channels: str
    materials: tuple[str, ...]
    acceptance_limit_online: str = DEFAULT_ACCEPTANCE_ONLINE
    acceptance_limit_offline: str = DEFAULT_ACCEPTANCE_OFFLINE
    processing_working_days: int | None = None
    processing_limit: str = ""
    fees: str = DEFAULT_FEES
    rongque: bool = False
    rongque_note: str = ""
    legal_basis: str = ""
    saturday_category: str | None = None
    flexible_hours: bool = False

    @property
    def online(self) -> bool:
        return self.channels in ("online", "both")

    @property
    def offline(self) -> bool:
        return self.channels in ("offline", "both")

    def center_names(self) -> list[str]:
        """Display names of the centers; ``all`` expands to the city center plus every district."""
        if ALL_CENTERS in self.centers:
            return list(CENTER_NAMES.values())
        return [CENTER_NAMES[c] for c in self.centers]

    def serves(self, center_id: str) -> bool:
        """Whether the matter can be handled (offline) at ``center_id``."""
        return ALL_CENTERS in self.centers or center_id in self.centers


@dataclass(frozen=True)
class Entry:
    """One knowledge-base entry: a standard question, its paraphrases and the answer."""

    id: str
    question: str
    answer: str
    topic: str
    similar: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    tags: tuple[str, ...] = ()
    matter: Matter | None = None

    @property
    def questions(self) -> tuple[str, ...]:
        """The standard question followed by every similar question (what retrievers index)."""
        return (self.question, *self.similar)

    def to_dict(self) -> dict:
        """Plain-data form (lists, dicts) in YAML field order; ``matter`` omitted when absent."""
        data = asdict(self)
        for key in ("similar", "tags"):
            data[key] = list(data[key])
        data["links"] = [dict(link) for link in data["links"]]
        if self.matter is None:
            del data["matter"]
        else:
            for key in ("centers", "materials"):
                data["matter"][key] = list(data["matter"][key])
        return data


@dataclass(frozen=True)
class KnowledgeBase:
    """An ordered, validated set of entries plus a content version.

    ``version`` is a hash of the loaded source files, so caches built from the knowledge base
    (embedding indexes, BM25 statistics) can tell whether they are stale.
    """

    entries: tuple[Entry, ...]
    version: str
    source: str = ""
    _index: dict[str, Entry] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Entry] = {}
        for entry in self.entries:
            if entry.id in index:
                raise ValueError(f"duplicate entry id {entry.id!r}")
            index[entry.id] = entry
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_entries(cls, entries: list[Entry] | tuple[Entry, ...], source: str = "") -> KnowledgeBase:
        """Build a knowledge base whose version hashes the entries themselves (no source files)."""
        payload = json.dumps([e.to_dict() for e in entries], ensure_ascii=False, sort_keys=True)
        return cls(tuple(entries), hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16], source)

    # --- lookup -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._index

    def __getitem__(self, entry_id: str) -> Entry:
        return self._index[entry_id]

    def get(self, entry_id: str) -> Entry | None:
        return self._index.get(entry_id)

    def by_topic(self, topic: str) -> list[Entry]:
        return [e for e in self.entries if e.topic == topic]

    def matters(self) -> list[Entry]:
        """Entries that describe a service matter."""
        return [e for e in self.entries if e.matter is not None]

    # --- rendering --------------------------------------------------------------------------
    def render_answer(self, entry: Entry | str) -> str:
        """The bot's full reply for an entry: the answer, then (for matters) the 一次性告知 block
        with every material, channels, time limits and 容缺受理, then links."""
        if isinstance(entry, str):
            entry = self[entry]
        parts = [entry.answer.strip()]
        if entry.matter is not None:
            parts.append(render_matter(entry.matter))
        if entry.links:
            parts.append("相关链接：\n" + "\n".join(f"· {l.title}：{l.url}" for l in entry.links))
        return "\n\n".join(parts)


def _join_centers(matter: Matter) -> str:
    if ALL_CENTERS in matter.centers:
        return "北京市政务服务中心及各区政务服务中心"
    if set(matter.centers) == set(CENTER_NAMES) - {"city"}:
        return "各区政务服务中心"
    return "、".join(matter.center_names())


def processing_text(matter: Matter) -> str:
    """Human text for the processing limit: the explicit text wins, else the working-day count."""
    if matter.processing_limit:
        return matter.processing_limit
    if matter.processing_working_days == 0:
        return "即时办结"
    if matter.processing_working_days is not None:
        return f"{matter.processing_working_days}个工作日"
    return "以窗口告知为准"


def render_matter(matter: Matter) -> str:
    """Chinese 一次性告知 text for a matter: all materials at once plus channels and limits."""
    lines = [f"【办理事项】{matter.name}（实施部门：{matter.department}）"]
    if matter.channels == "both":
        lines.append(f"【办理渠道】线上线下均可：网上可通过{ONLINE_PORTAL}申请；"
                     f"线下可到{_join_centers(matter)}窗口办理。")
    elif matter.channels == "online":
        lines.append(f"【办理渠道】仅网上办理：通过{ONLINE_PORTAL}申请。")
    else:
        lines.append(f"【办理渠道】线下办理：到{_join_centers(matter)}窗口办理。")
    lines.append(f"【所需材料】（一次性告知，共{len(matter.materials)}项）")
    lines.extend(f"{i}. {m}" for i, m in enumerate(matter.materials, 1))
    limits = []
    if matter.online:
        limits.append(f"网上申请{matter.acceptance_limit_online}")
    if matter.offline:
        limits.append(f"窗口申请{matter.acceptance_limit_offline}")
    lines.append("【受理时限】" + "；".join(limits) + "。")
    lines.append(f"【办理时限】{processing_text(matter)}")
    lines.append(f"【收费标准】{matter.fees}")
    if matter.rongque:
        lines.append(f"【容缺受理】本事项可容缺受理：{matter.rongque_note}")
    else:
        lines.append("【容缺受理】本事项不适用容缺受理，请备齐全部材料。")
    if matter.saturday_category:
        lines.append(f"【周六办理】本事项属于{matter.saturday_category}类高频事项，周六全天可到窗口办理。")
    if matter.flexible_hours:
        lines.append("【早晚弹性办】法定工作日可预约开门前1小时或下班后1小时办理。")
    if matter.legal_basis:
        lines.append(f"【设定依据】{matter.legal_basis}")
    lines.append("材料不齐的，窗口将一次性告知需补齐补正的全部内容。")
    return "\n".join(lines)
