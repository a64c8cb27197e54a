"""Atomic index swap for hot reload.

Why this is safe without a lock on the read path: ``search`` reads ``self._current`` once (a
single reference load, atomic in CPython) and then works on that immutable retriever until it
returns. ``swap`` replaces the reference; searches already running keep the old index alive
through their local reference and finish normally, later ones see the new index. Nothing is ever
dropped or half-updated.
"""
from __future__ import annotations

import threading

from .types import RetrievalResult, Retriever


class RetrieverHolder:
    """Holds the current retriever; ``swap(new)`` for hot reload, ``search`` delegates."""

    def __init__(self, retriever: Retriever | None = None) -> None:
        self._current = retriever
        self._swap_lock = threading.Lock()
        self.generation = 0 if retriever is None else 1

    @property
    def current(self) -> Retriever | None:
        return self._current

    def swap(self, new: Retriever) -> Retriever | None:
        """Install ``new``; returns the previous retriever (callers may release it)."""
        with self._swap_lock:
            old, self._current = self._current, new
            self.generation += 1
            return old

    def search(self, query: str, k: int = 10) -> RetrievalResult:
        retriever = self._current  # one read: this request uses this index to the end
        if retriever is None:
            raise RuntimeError("no retriever loaded yet")
        return retriever.search(query, k)
