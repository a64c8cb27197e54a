"""The knowledge base as the action server sees it: one immutable snapshot, swapped atomically.

A snapshot pairs the loaded KB with the retriever index built from it. Searches take a reference
to the current snapshot and use only that, so a reload (file change or admin API) never disturbs
a request in flight; a KB that fails validation is rejected and the old snapshot stays in service.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from knowledge_base.loader import KBValidationError, load_kb
from knowledge_base.models import Entry, KnowledgeBase
from knowledge_base.retriever import Document, HybridRetriever, RetrievalResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    kb: KnowledgeBase
    retriever: Any
    loaded_at: datetime
    build_s: float


@dataclass(frozen=True)
class Answer:
    result: RetrievalResult
    entries: list[Entry] = field(default_factory=list)  # entries of result.hits, same order


def _sources_signature(path: Path) -> tuple[tuple[str, float, int], ...]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)


class KnowledgeService:
    def __init__(self, kb_path: Path) -> None:
        self.kb_path = kb_path
        self._snapshot: Snapshot | None = None
        self._reload_lock = threading.Lock()
        self._signature: tuple[tuple[str, float, int], ...] = ()
        self.last_error: str | None = None

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            raise RuntimeError("knowledge base not loaded")
        return snap

    def reload(self) -> Snapshot:
        """Load, validate and index the KB, then swap it in; raises KBValidationError and keeps the old one."""
        with self._reload_lock:
            signature = _sources_signature(self.kb_path)
            started = time.perf_counter()
            try:
                kb = load_kb(self.kb_path)
            except KBValidationError as exc:
                self.last_error = str(exc)
                self._signature = signature  # do not retry the same broken files in a loop
                raise
            documents = [Document(id=e.id, texts=list(e.questions)) for e in kb.entries]
            # reuse the loaded embedding model: a reload rebuilds the index, not the encoder
            encoder = self._snapshot.retriever.encoder if self._snapshot is not None else None
            retriever = HybridRetriever.build(documents, encoder=encoder)
            snap = Snapshot(kb, retriever, datetime.now(timezone.utc), time.perf_counter() - started)
            self._snapshot = snap  # the atomic swap
            self._signature = signature
            self.last_error = None
            log.info("knowledge base %s loaded: %d entries in %.1fs", kb.version, len(kb), snap.build_s)
            return snap

    def reload_if_changed(self) -> bool:
        if _sources_signature(self.kb_path) == self._signature:
            return False
        try:
            self.reload()
        except KBValidationError as exc:
            log.error("knowledge base change rejected, previous version kept: %s", exc)
            return False
        return True

    def watch(self, interval_s: float) -> threading.Thread | None:
        if interval_s <= 0:
            return None

        def loop() -> None:
            while True:
                time.sleep(interval_s)
                try:
                    self.reload_if_changed()
                except Exception:  # noqa: BLE001 - the watcher must never die
                    log.exception("knowledge base watcher error")

        thread = threading.Thread(target=loop, name="kb-watcher", daemon=True)
        thread.start()
        return thread

    def search(self, query: str, k: int = 5) -> Answer:
        snap = self.snapshot
        result = snap.retriever.search(query, k=k)
        entries = [snap.kb[h.entry_id] for h in result.hits if h.entry_id in snap.kb]
        return Answer(result, entries)

    def status(self) -> dict[str, Any]:
        snap = self._snapshot
        if snap is None:
            return {"loaded": False, "last_error": self.last_error}
        return {
            "loaded": True,
            "entries": len(snap.kb),
            "version": snap.kb.version,
            "loaded_at": snap.loaded_at.isoformat(),
            "build_s": round(snap.build_s, 2),
            "last_error": self.last_error,
        }


_service: KnowledgeService | None = None
_service_lock = threading.Lock()


def knowledge_service() -> KnowledgeService:
    """The process-wide service; loads the KB on first use (the server loads it at start-up)."""
    global _service
    with _service_lock:
        if _service is None:
            from connectors.config import get_settings

            service = KnowledgeService(get_settings().kb_path)
            service.reload()
            _service = service
        return _service
