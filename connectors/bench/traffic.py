"""Realistic, seeded Chinese citizen traffic for the load benchmark and the fault harness.

Everything a citizen asks is built from the project's own data, so the traffic follows the sample
content when it changes: service questions and their paraphrases from the knowledge base (the
project's loader), opening-hours questions from the center registry and the hours engine's
categories, case-status questions from the sample cases. Around them sit the small talk every real
chat has (greetings, thanks, goodbyes) and a small share of requests for a person.

A *script* is one citizen's conversation: greet → one to three questions → thanks/goodbye.
A conversation that asks for a person (``handoff``) leaves the queue again with the product's own
command 「取消排队」 (``cancel_handoff``) and continues with the bot, so a load run never ends up
measuring only queue notices while nobody staffs the desk.

The same seed always gives the same sequence::

    traffic = Traffic(seed=7)
    script = traffic.conversation()        # [Turn(kind="greet", text="你好"), Turn("faq", "…"), …]
    kind, text = traffic.next_message()    # a flat stream: the turns of script after script
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

from connectors.config import PROJECT_ROOT

CASES_FILE = PROJECT_ROOT / "connectors" / "cases" / "sample_cases.yaml"

# kinds of turns; what the gateway should answer them with is in EXPECT_MODE
KINDS = ("greet", "faq", "hours", "case", "case_code", "handoff", "cancel_handoff", "thanks", "goodbye")
# the conversation mode a healthy gateway reports after each kind (None: "bot", not checked strictly)
EXPECT_MODE = {"handoff": "queued", "cancel_handoff": "bot"}

GREETINGS = ("你好", "您好", "在吗", "你好，想咨询一下", "您好，请问一下", "早上好", "有人吗", "你好啊")
THANKS = ("谢谢", "好的谢谢", "明白了，谢谢", "非常感谢", "谢谢你", "感谢耐心解答", "好的，知道了，谢谢")
GOODBYES = ("再见", "拜拜", "没有了，再见", "好的，再见")
HANDOFF_REQUESTS = ("转人工", "人工客服", "我要找人工", "转接人工客服", "能不能让工作人员来回答")
# the gateway's own command (connectors.message_router.CANCEL_QUEUE_RE): back to the bot
CANCEL_HANDOFF = ("取消排队", "不等了", "返回智能客服")
# how citizens wrap a knowledge-base question
FAQ_WRAPPERS = ("{q}", "{q}", "{q}", "请问{q}", "想问一下，{q}", "{q}？", "你好，{q}")
HOURS_TIMES = ("今天", "明天", "这周六", "周六上午", "下周一上午", "中午12点半", "明天下午三点", "周日", "现在")
HOURS_TEMPLATES = (
    "{center}几点上班",
    "{center}几点下班",
    "{center}的办公时间是什么",
    "{time}{center}开门吗",
    "{time}能去{center}办事吗",
    "{time}{category}业务能办吗",
    "{center}{time}能办{category}吗",
    "{time}去还能办吗",
    "你们午间不间断服务吗",
    "早晚弹性办是几点到几点",
)
CASE_TEMPLATES = ("帮我查下办件编码{code}的进度", "我的办件编码是{code}，查一下", "{code}这个件什么状态",
                  "查件，{code}")
CASE_FORM_OPENERS = ("我想查一下办件进度", "查一下办件进度", "我提交的申请到哪一步了", "查询办理进度")


class Turn(NamedTuple):
    """One message of a script; unpacks as ``kind, text``."""

    kind: str
    text: str


@dataclass(frozen=True)
class Mix:
    """Shares that shape a script (probabilities, 0..1)."""

    greet: float = 0.6
    handoff: float = 0.05  # conversations that ask for a person (then return to the bot)
    thanks: float = 0.55
    goodbye: float = 0.2
    # weights of the core questions
    faq: float = 0.6
    hours: float = 0.25
    case: float = 0.15
    # share of FAQ questions taken from an entry's paraphrases (``similar``) instead of its question
    faq_similar: float = 0.6
    max_questions: int = 3


@dataclass(frozen=True)
class Corpus:
    """The project data the traffic is drawn from."""

    faq_questions: tuple[str, ...]
    faq_similar: tuple[str, ...]
    centers: tuple[str, ...]
    categories: tuple[str, ...]
    case_codes: tuple[str, ...]


@lru_cache(maxsize=4)
def load_corpus(kb_path: str | None = None, cases_file: str | None = None) -> Corpus:
    """Read the knowledge base (through its loader), the center registry and the sample cases."""
    from knowledge_base.hours.centers import CATEGORIES, load_centers
    from knowledge_base.loader import DEFAULT_KB_PATH, load_kb

    kb = load_kb(kb_path or DEFAULT_KB_PATH)
    questions = tuple(e.question for e in kb.entries)
    similar = tuple(s for e in kb.entries for s in e.similar)
    centers = tuple(c.name for c in load_centers().values())
    raw = yaml.safe_load(Path(cases_file or CASES_FILE).read_text(encoding="utf-8")) or {}
    codes = tuple(str(c["code"]) for c in raw.get("cases", []) if c.get("code"))
    if not questions or not centers or not codes:
        raise ValueError("traffic needs KB entries, centers and sample cases")
    return Corpus(questions, similar or questions, centers, tuple(CATEGORIES), codes)


class Traffic:
    """A deterministic generator of citizen conversations (see the module docstring)."""

    def __init__(self, seed: int = 7, mix: Mix | None = None, corpus: Corpus | None = None) -> None:
        self.rng = random.Random(seed)
        self.mix = mix or Mix()
        self.corpus = corpus or load_corpus()
        self._pending: list[Turn] = []

    # --- single messages ----------------------------------------------------------------------
    def faq(self) -> Turn:
        pool = self.corpus.faq_similar if self.rng.random() < self.mix.faq_similar else self.corpus.faq_questions
        question = self.rng.choice(pool).rstrip("？?")
        return Turn("faq", self.rng.choice(FAQ_WRAPPERS).format(q=question))

    def hours(self) -> Turn:
        template = self.rng.choice(HOURS_TEMPLATES)
        text = template.format(center=self.rng.choice(self.corpus.centers), time=self.rng.choice(HOURS_TIMES),
                               category=self.rng.choice(self.corpus.categories))
        return Turn("hours", text)

    def case(self) -> list[Turn]:
        """A case-status question: the code at once, or the form (question, then the code)."""
        code = self.rng.choice(self.corpus.case_codes)
        if self.rng.random() < 0.5:
            return [Turn("case", self.rng.choice(CASE_TEMPLATES).format(code=code))]
        return [Turn("case", self.rng.choice(CASE_FORM_OPENERS)), Turn("case_code", code)]

    def _pick(self, kind: str, phrases: Sequence[str]) -> Turn:
        return Turn(kind, self.rng.choice(phrases))

    # --- scripts ------------------------------------------------------------------------------
    def conversation(self) -> list[Turn]:
        """One citizen's conversation, 1–8 turns."""
        m, rng = self.mix, self.rng
        turns: list[Turn] = []
        if rng.random() < m.greet:
            turns.append(self._pick("greet", GREETINGS))
        questions = rng.randint(1, m.max_questions)
        handoff_at = rng.randrange(questions + 1) if rng.random() < m.handoff else -1
        for i in range(questions):
            if i == handoff_at:
                turns += [self._pick("handoff", HANDOFF_REQUESTS), self._pick("cancel_handoff", CANCEL_HANDOFF)]
            kind = rng.choices(("faq", "hours", "case"), weights=(m.faq, m.hours, m.case))[0]
            turns += self.case() if kind == "case" else [self.faq() if kind == "faq" else self.hours()]
        if handoff_at == questions:
            turns += [self._pick("handoff", HANDOFF_REQUESTS), self._pick("cancel_handoff", CANCEL_HANDOFF)]
        if rng.random() < m.thanks:
            turns.append(self._pick("thanks", THANKS))
        if rng.random() < m.goodbye:
            turns.append(self._pick("goodbye", GOODBYES))
        return turns

    def conversations(self) -> Iterator[list[Turn]]:
        while True:
            yield self.conversation()

    def next_message(self) -> Turn:
        """The next turn of a flat stream of scripts (for harnesses that want single messages)."""
        if not self._pending:
            self._pending = self.conversation()[::-1]
        return self._pending.pop()

    def sample(self, n: int) -> list[Turn]:
        return [self.next_message() for _ in range(n)]


def describe_mix(turns: Sequence[Turn]) -> dict[str, float]:
    """Share of each kind in ``turns`` (for reports)."""
    counts = Counter(kind for kind, _ in turns)
    total = max(1, len(turns))
    return {kind: round(counts[kind] / total, 3) for kind in KINDS if counts[kind]}
