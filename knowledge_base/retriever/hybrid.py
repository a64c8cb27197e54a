"""Hybrid FAQ retriever: jieba/char BM25 + dense faiss + a learned entry head, re-scored per entry.

Candidates are the union of the top entries of each signal (dense texts, entry head, BM25 texts);
every candidate then gets a row of cheap features (``rescorer.CANDIDATE_FEATURES``: best and
second-best paraphrase cosine, standard-question cosine, head and centroid scores, BM25 of the
best text and of the standard question, nearest-neighbour votes, distance to the best candidate)
and a fitted linear re-scorer (``rescorer.py``) ranks them. Without a fitted re-scorer the
score is the hand-set sum ``w_max * max cos + w_head * head + w_bm25 * max bm25n``.

Why per-entry scores rather than reciprocal-rank fusion: the magnitudes carry the information
the decision needs (how close the best paraphrase is, how much of the query is matched
lexically); RRF keeps ranks only. All raw signals are on comparable [0, 1] scales (cosines;
BM25 divided by the query's attainable maximum).

Known no-answer questions (``negatives``, e.g. the ``-`` rows of a similar-question file) are
indexed beside the entries but never returned: how much closer a query is to them than to its
best entry feeds the decline decision (``calibration_*_neg``).

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
from .head import EntryHead, centroids, train_head
from .rescorer import CANDIDATE_FEATURES, Rescorer, softmax_top
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
    bm25: BM25Index  # rows: the entries' texts, then the negative examples
    dense: DenseIndex
    head: EntryHead
    head_index: DenseIndex
    negatives: list[str]  # known no-answer questions (may be empty)
    neg_dense: DenseIndex | None
    centroids: np.ndarray  # (n_entries, dim) normalised mean of each entry's text vectors
    neg_head: DenseIndex | None  # negatives in the entry head's space (head.transform)


VOTE_K = 10  # nearest texts that vote for their entry ("votes") or for "no answer" ("neg_votes")
# ``signals`` fills feature columns by position (speed); keep it in step with the names.
assert CANDIDATE_FEATURES == ("cos", "cos2", "cos_std", "head", "bm25", "bm25_std", "votes",
                              "d_cos", "d_head", "d_bm25", "cen")


@dataclass(frozen=True)
class Signals:
    """Per-candidate features of one query (``CANDIDATE_FEATURES`` columns) + list-level facts."""

    entries: np.ndarray
    X: np.ndarray
    best_row: np.ndarray
    dense_top: int
    bm_top: int
    bm_max: float
    neg: dict[str, float]  # empty without negative examples

    def rank(self, rescorer: Rescorer):
        """(order, scores, calibration features) under ``rescorer``."""
        scores = rescorer.score(self.X)
        order = np.argsort(-scores, kind="stable")
        t1 = order[0]
        second = float(scores[order[1]]) if len(order) > 1 else float(scores[t1]) - 10.0
        top_e = int(self.entries[t1])
        x = self.X[t1]
        col = CANDIDATE_FEATURES.index
        feats = {
            "top": float(scores[t1]), "gap": float(scores[t1]) - second,
            "p1": softmax_top(scores, order),
            "cos": float(x[col("cos")]), "cen": float(x[col("head")]),
            "bm25": float(x[col("bm25")]), "bm25_max": self.bm_max,
            "votes": float(x[col("votes")]),
            "agree": float(self.dense_top == top_e and self.bm_top == top_e),
        }
        if self.neg:
            feats["neg_cos"] = self.neg["cos"]
            feats["neg_gap"] = self.neg["cos"] - feats["cos"]
            feats["neg_bm25_gap"] = self.neg["bm25"] - feats["bm25"]
            feats["neg_votes"] = self.neg["votes"]
            feats["neg_head_gap"] = self.neg["head"] - feats["cen"]
        return order, scores, feats


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
              config: RetrieverConfig | None = None, use_cache: bool = True,
              negatives: Iterable[str] = ()) -> HybridRetriever:
        """Index ``documents``; ``negatives`` are known questions the KB does *not* answer.

        Negative examples never appear as hits; how close a query comes to them (versus the best
        entry) is evidence for declining, used by the ``*_neg`` calibrations.
        """
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
        known = set(texts)
        negs = list(dict.fromkeys(t.strip() for t in negatives if t.strip() and t.strip() not in known))
        bm25 = BM25Index([tokens(t, config.words, config.char_ngrams) for t in texts + negs],
                         k1=config.k1, b=config.b)
        cache = EmbeddingCache(config.cache_path(), encoder.model_id) if use_cache else None
        allvecs = embed_with_cache(encoder, texts + negs, config.doc_kind, cache) \
            if texts else np.zeros((0, encoder.dim), dtype=np.float32)
        vecs, neg_vecs = allvecs[: len(texts)], allvecs[len(texts):]
        dense = DenseIndex(vecs, hnsw_min=config.hnsw_min_texts)
        neg_dense = DenseIndex(neg_vecs, hnsw_min=config.hnsw_min_texts) if len(neg_vecs) else None
        head = train_head(vecs, eot, len(ids), epochs=config.head_epochs,
                          max_entries=config.head_max_entries) if len(ids) else \
            EntryHead(None, np.zeros((0, encoder.dim), np.float32), False)
        if not head.trained and len(texts) == len(ids):
            head_index = dense  # one text per entry: the centroids are the text vectors
        else:
            head_index = DenseIndex(head.P, hnsw_min=config.hnsw_min_texts)
        cen = centroids(vecs, eot, len(ids)) if head.trained else head.P
        neg_head = None
        if neg_dense is not None and texts:
            # The head's map was trained to pull paraphrases of one entry together, so it also
            # sharpens "is this the same question as a known no-answer one".
            neg_head = DenseIndex(np.stack([head.transform(v) for v in neg_vecs]),
                                  hnsw_min=config.hnsw_min_texts) if head.A is not None else neg_dense
        ix = _Index(ids, texts, eot, np.asarray(offsets, dtype=np.int64), bm25, dense, head,
                    head_index, negs if texts else [], neg_dense if texts else None, cen, neg_head)
        took = time.time() - t0
        log.info("retriever built: %d entries, %d texts, %d negatives, dense=%s, head trained=%s, "
                 "%.1fs", len(ids), len(texts), len(ix.negatives), dense.kind, head.trained, took)
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
        sig = self.signals(query, qv)
        order, scores, feats = sig.rank(self.rescorer)
        ix = self._ix
        n = max(k, self.config.suggestions)
        hits = [Hit(ix.ids[sig.entries[j]], float(scores[j]), ix.texts[sig.best_row[j]])
                for j in order[:n]]
        decision, conf = self._decide(feats)
        return RetrievalResult(decision, conf, hits if decision == "clarify" else hits[:k], feats)

    @property
    def has_negatives(self) -> bool:
        return bool(self._ix.negatives)

    @property
    def rescorer(self) -> Rescorer:
        """Fitted re-scorer for this encoder variant, else the hand-set fusion weights."""
        cfg = self.config
        fitted = cfg.rescorer if self.finetuned else cfg.rescorer_base
        return fitted or Rescorer.from_fusion(cfg.w_max, cfg.w_head, cfg.w_bm25)

    def signals(self, query: str, qv: np.ndarray) -> Signals:
        """Candidate entries and their per-candidate features (the re-scorer weighs them)."""
        ix, cfg = self._ix, self.config
        cand: dict[int, None] = {}
        d_scores, d_rows = ix.dense.search(qv, max(cfg.dense_candidates, VOTE_K))
        dense_top = int(ix.entry_of_text[d_rows[0]]) if len(d_rows) else -1
        for r in d_rows[: cfg.dense_candidates]:
            cand.setdefault(int(ix.entry_of_text[r]), None)
        tq = ix.head.transform(qv)
        if ix.head_index is ix.dense and ix.head.A is None:
            # one text per entry and no trained map: the head search is the dense search again
            h_rows = ix.entry_of_text[d_rows[: cfg.head_candidates]]
        else:
            _, h_rows = ix.head_index.search(tq, cfg.head_candidates)
        for e in h_rows:
            cand.setdefault(int(e), None)
        n_texts = len(ix.texts)
        bm_all = ix.bm25.scores(tokens(query, cfg.words, cfg.char_ngrams))
        bm = bm_all[:n_texts]
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
        m = len(entries)
        X = np.zeros((m, len(CANDIDATE_FEATURES)), np.float64)
        best_row = np.empty(m, np.int64)
        votes: dict[int, int] = {}
        for r in d_rows[:VOTE_K]:
            e = int(ix.entry_of_text[r])
            votes[e] = votes.get(e, 0) + 1
        for j, e in enumerate(entries):
            a, b = ix.offsets[e], ix.offsets[e + 1]
            c = ix.dense.vectors[a:b] @ qv
            i = int(np.argmax(c))
            best_row[j] = a + i
            two = np.partition(c, len(c) - 2)[-2:] if len(c) > 1 else c
            X[j, :7] = (c[i], float(two.mean()), c[0], 0.0, bm[a:b].max(), bm[a],
                        votes.get(int(e), 0) / VOTE_K)
        X[:, 3] = ix.head.scores(qv, entries)
        X[:, 10] = ix.centroids[entries] @ qv
        for col, src in ((7, 0), (8, 3), (9, 4)):
            X[:, col] = X[:, src] - X[:, src].max()
        neg: dict[str, float] = {}
        if ix.neg_dense is not None:
            n_scores, _ = ix.neg_dense.search(qv, VOTE_K)
            merged = np.sort(np.concatenate([d_scores[:VOTE_K], n_scores]))[::-1][:VOTE_K]
            cut = merged[-1] if len(merged) else 1.0
            h_scores, _ = ix.neg_head.search(tq, 1)
            neg = {"cos": float(n_scores[0]), "bm25": float(bm_all[n_texts:].max()),
                   "votes": float((n_scores >= cut).sum()) / max(1, len(merged)),
                   "head": float(h_scores[0])}
        return Signals(entries, X, best_row, dense_top, bm_top, bm_max, neg)

    def entry_id(self, entry: int) -> str:
        return self._ix.ids[entry]

    def calibration(self) -> Calibration | None:
        """The fitted calibration for this encoder variant and negative-example setting.

        Score distributions differ between the base and the KB-fine-tuned encoder, and the
        negative-example features exist only when negatives were indexed, hence four sections.
        """
        cfg = self.config
        if self.finetuned:
            order = [cfg.calibration_neg] if self.has_negatives else []
            order.append(cfg.calibration)
            if cfg.calibration is None and cfg.rescorer is None and cfg.rescorer_base is None:
                order.append(cfg.calibration_base)  # same fusion scores: best available
        else:
            order = [cfg.calibration_base_neg] if self.has_negatives else []
            order.append(cfg.calibration_base)
        return next((c for c in order if c is not None), None)

    def _decide(self, feats: dict[str, float]) -> tuple[str, float]:
        cal = self.calibration()
        if cal is None or any(f not in feats for f in cal.features):
            # Uncalibrated fallback (no fitted coefficients): conservative fixed cut-offs.
            top = feats["cos"]
            if top >= 0.95 and feats["gap"] >= 0.02:
                return "answer", top
            return ("clarify", top) if top >= 0.88 else ("decline", top)
        return cal.decide(feats)
