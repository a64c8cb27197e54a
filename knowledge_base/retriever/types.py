"""Value types and the ``Retriever`` protocol shared by all retriever implementations."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Decision = Literal["answer", "clarify", "decline"]


@dataclass(frozen=True)
class Document:
    """One FAQ entry: ``texts[0]`` is the standard question, the rest are similar questions."""

    id: str
    texts: list[str]


@dataclass(frozen=True)
class Hit:
    """A ranked entry with its fused score and the entry text that matched the query best."""

    entry_id: str
    score: float
    matched_text: str


@dataclass(frozen=True)
class RetrievalResult:
    """Ranked hits plus what the bot should do: answer hits[0], offer hits[:3], or decline.

    ``confidence`` is the calibrated probability that ``hits[0]`` is the right entry.
    """

    decision: Decision
    confidence: float
    hits: list[Hit] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict, compare=False, repr=False)


@runtime_checkable
class Retriever(Protocol):
    """Query -> ranked entries + decision. Implementations must be safe to call from many threads."""

    def search(self, query: str, k: int = 10) -> RetrievalResult: ...
