"""Hybrid FAQ retriever: jieba/char BM25 + dense faiss + a learned entry head, fused per entry.

Scoring (per entry ``e``, over all its texts)::

    fused(e) = w_max * max_t cos(q, t) + w_head * head(q, e) + w_bm25 * max_t bm25n(q, t)

Why a weighted sum of scores rather than reciprocal-rank fusion: the magnitudes carry the
information the decision needs (how close the best paraphrase is, how much of the query is
matched lexically); RRF throws them away and leaves calibration with ranks only. All three terms
are on comparable [0, 1] scales (cosines; BM25 divided by the query's attainable maximum), so
three weights, fitted on dev data, suffice. ``max`` over an entry's texts lets one precise
paraphrase win; the head (``head.py``) compares with the entry as a whole, which is robust to a
single odd paraphrase. Candidates are the union of the top entries of each signal, then every
candidate is scored exactly on all three signals.

The index is immutable once built, so any number of threads may search it concurrently; reloads
build a new index and swap it in through :class:`~.holder.RetrieverHolder`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .bm25 import BM25Index
from .calibration import Calibration
from .config import RetrieverConfig, load_config
from .dense import DenseIndex, EmbeddingCache, embed_with_cache
from .finetune import maybe_finetune
from .head import EntryHead, train_head
from .text import tokens
from .types import Document, Hit, RetrievalResult

log = logging.getLogger(__name__)


def merge_documents(docs: Iterable[Document]) -> list[Document]:
    """Merge documents sharing an id and drop empty/duplicate texts (order kept)."""
    merged: dict[str, list[str]] = {}
    for d in docs:
        bucket = merged.setdefault(d.id, [])
        for t in d.texts:
            t = t.strip()
            if t and t not in bucket:
                bucket.append(t)
    return [Document(i, ts) for i, ts in merged.items() if ts]


@dataclass(frozen=True)
class _Index:
    ids: list[str]
    texts: list[str]
    entry_of_text: np.ndarray  # (n_texts,) int32
    offsets: np.ndarray  # (n_entries + 1,) texts of entry e are [offsets[e], offsets[e+1])
    bm25: BM25Index
    dense: DenseIndex
    head: EntryHead
    head_index: DenseIndex


@dataclass(frozen=True)
class Signals:
    """Raw per-candidate signals of one query; ``rank`` fuses them with given weights."""

    entries: np.ndarray
    cos_max: np.ndarray
    head: np.ndarray
    bm25: np.ndarray
    best_row: np.ndarray
    dense_top: int
    bm_top: int
    bm_max: float

    def rank(self, w_max: float, w_head: float, w_bm25: float):
        """(order, fused scores, calibration features) for these weights."""
        fused = w_max * self.cos_max + w_head * self.head + w_bm25 * self.bm25
        order = np.argsort(-fused, kind="stable")
        t1 = order[0]
        second = float(fused[order[1]]) if len(order) > 1 else float(fused[t1]) - 1.0
        top_e = int(self.entries[t1])
        feats = {
            "top": float(fused[t1]), "gap": float(fused[t1]) - second,
            "cos": float(self.cos_max[t1]), "cen": float(self.head[t1]),
            "bm25": float(self.bm25[t1]), "bm25_max": self.bm_max,
            "agree": float(self.dense_top == top_e and self.bm_top == top_e),
        }
        return order, fused, feats


class HybridRetriever:
    """Immutable hybrid retriever; build with :meth:`build`."""

    def __init__(self, index: _Index, encoder, config: RetrieverConfig, build_seconds: float = 0.0,
                 finetuned: bool = False):
        self._ix = index
        self.finetuned = finetuned
        self.encoder = encoder
        self.config = config
        self.build_seconds = build_seconds

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, documents: Iterable[Document], encoder=None,
              config: RetrieverConfig | None = None, use_cache: bool = True) -> HybridRetriever:
        t0 = time.time()
        config = config or load_config()
        if encoder is None:
            from knowledge_base.embedding.encoder import get_encoder

            opts = dict(config.encoder)
            encoder = get_encoder(opts.pop("kind", "sentence-transformers"), **opts)
        docs = merge_documents(documents)
        base_encoder = getattr(encoder, "base", encoder)
        encoder = maybe_finetune(base_encoder, docs, config)
        ids = [d.id for d in docs]
        texts: list[str] = []
        entry_of_text: list[int] = []
        offsets = [0]
        for e, d in enumerate(docs):
            texts.extend(d.texts)
            entry_of_text.extend([e] * len(d.texts))
            offsets.append(len(texts))
        eot = np.asarray(entry_of_text, dtype=np.int32)
        bm25 = BM25Index([tokens(t, config.words, config.char_ngrams) for t in texts],
                         k1=config.k1, b=config.b)
        cache = EmbeddingCache(config.cache_path(), encoder.model_id) if use_cache else None
        vecs = embed_with_cache(encoder, texts, config.doc_kind, cache) if texts else \
            np.zeros((0, encoder.dim), dtype=np.float32)
        dense = DenseIndex(vecs, hnsw_min=config.hnsw_min_texts)
        head = train_head(vecs, eot, len(ids), epochs=config.head_epochs,
                          max_entries=config.head_max_entries) if len(ids) else \
            EntryHead(None, np.zeros((0, encoder.dim), np.float32), False)
        if not head.trained and len(texts) == len(ids):
            head_index = dense  # one text per entry: the centroids are the text vectors
        else:
            head_index = DenseIndex(head.P, hnsw_min=config.hnsw_min_texts)
        ix = _Index(ids, texts, eot, np.asarray(offsets, dtype=np.int64), bm25, dense, head,
                    head_index)
        took = time.time() - t0
        log.info("retriever built: %d entries, %d texts, dense=%s, head trained=%s, %.1fs",
                 len(ids), len(texts), dense.kind, head.trained, took)
        return cls(ix, encoder, config, took, finetuned=encoder is not base_encoder)

    @property
    def size(self) -> tuple[int, int]:
        """(entries, texts)."""
        return len(self._ix.ids), len(self._ix.texts)

    def entry_texts(self, entry_id: str) -> list[str]:
        ix = self._ix
        e = ix.ids.index(entry_id)
        return ix.texts[ix.offsets[e] : ix.offsets[e + 1]]

    # ----------------------------------------------------------------- search
    def search(self, query: str, k: int = 10) -> RetrievalResult:
        query = (query or "").strip()
        if not query or not self._ix.ids:
            return RetrievalResult("decline", 0.0, [], {})
        qv = self.encoder.encode([query], "query")[0]
        return self.search_vector(query, qv, k)

    def search_vector(self, query: str, qv: np.ndarray, k: int = 10) -> RetrievalResult:
        """Search with a precomputed query vector (used by batch evaluation)."""
        cfg = self.config
        sig = self.signals(query, qv)
        order, fused, feats = sig.rank(cfg.w_max, cfg.w_head, cfg.w_bm25)
        ix = self._ix
        n = max(k, cfg.suggestions)
        hits = [Hit(ix.ids[sig.entries[j]], float(fused[j]), ix.texts[sig.best_row[j]])
                for j in order[:n]]
        decision, conf = self._decide(feats)
        return RetrievalResult(decision, conf, hits if decision == "clarify" else hits[:k], feats)

    def signals(self, query: str, qv: np.ndarray) -> Signals:
        """Candidate entries and their raw per-signal scores (weights are applied in ``rank``)."""
        ix, cfg = self._ix, self.config
        cand: dict[int, None] = {}
        _, d_rows = ix.dense.search(qv, cfg.dense_candidates)
        dense_top = int(ix.entry_of_text[d_rows[0]]) if len(d_rows) else -1
        for r in d_rows:
            cand.setdefault(int(ix.entry_of_text[r]), None)
        _, h_rows = ix.head_index.search(ix.head.transform(qv), cfg.head_candidates)
        for e in h_rows:
            cand.setdefault(int(e), None)
        bm = ix.bm25.scores(tokens(query, cfg.words, cfg.char_ngrams))
        bm_top = -1
        bm_max = float(bm.max()) if len(bm) else 0.0
        if bm_max > 0:
            n = min(cfg.bm25_candidates, len(bm))
            top_rows = np.argpartition(-bm, n - 1)[:n]
            top_rows = top_rows[np.argsort(-bm[top_rows])]
            bm_top = int(ix.entry_of_text[top_rows[0]])
            for r in top_rows:
                if bm[r] > 0:
                    cand.setdefault(int(ix.entry_of_text[r]), None)
        entries = np.fromiter(cand.keys(), dtype=np.int64)
        cos_max = np.empty(len(entries), np.float32)
        bm_ent = np.empty(len(entries), np.float32)
        best_row = np.empty(len(entries), np.int64)
        for j, e in enumerate(entries):
            a, b = ix.offsets[e], ix.offsets[e + 1]
            c = ix.dense.vectors[a:b] @ qv
            i = int(np.argmax(c))
            cos_max[j] = c[i]
            best_row[j] = a + i
            bm_ent[j] = bm[a:b].max()
        head = ix.head.scores(qv, entries)
        return Signals(entries, cos_max, head, bm_ent, best_row, dense_top, bm_top, bm_max)

    def entry_id(self, entry: int) -> str:
        return self._ix.ids[entry]

    def _decide(self, feats: dict[str, float]) -> tuple[str, float]:
        # Score distributions differ between the base and the KB-fine-tuned encoder, so each has
        # its own fitted calibration.
        cal: Calibration | None = (self.config.calibration if self.finetuned
                                   else self.config.calibration_base)
        if cal is None and self.finetuned:
            cal = self.config.calibration_base  # best available; see README caveat
        if cal is None:
            # Uncalibrated fallback (no fitted coefficients): conservative fixed cut-offs.
            top = feats["cos"]
            if top >= 0.95 and feats["gap"] >= 0.02:
                return "answer", top
            return ("clarify", top) if top >= 0.88 else ("decline", top)
        return cal.decide(feats)
