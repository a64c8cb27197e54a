"""A small learned re-scorer: a linear map of the query embedding compared with per-entry prototypes.

Why: with several similar questions per entry, comparing a query with the entry as a whole
beats comparing it with each text alone (max-over-texts is noisy: one odd paraphrase can win).
We learn ``A`` (384x384, starts at identity) and one prototype per entry (starts at the
normalised mean of the entry's text vectors) with a softmax over all entries on the KB's own
texts — no evaluation data, seconds on CPU. When training is skipped (too large a KB, no
paraphrases, no torch) the head is exactly the centroid cosine, so scores stay meaningful.
"""
from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger(__name__)


class EntryHead:
    """score(q, e) = cos(A q, P_e); immutable after construction."""

    def __init__(self, A: np.ndarray | None, prototypes: np.ndarray, trained: bool) -> None:
        self.A = A
        self.P = prototypes.astype(np.float32)
        self.trained = trained

    def transform(self, q: np.ndarray) -> np.ndarray:
        z = q if self.A is None else q @ self.A.T
        return (z / max(float(np.linalg.norm(z)), 1e-12)).astype(np.float32)

    def scores(self, q: np.ndarray, entries: np.ndarray) -> np.ndarray:
        return self.P[entries] @ self.transform(q)

    def all_scores(self, q: np.ndarray) -> np.ndarray:
        return self.P @ self.transform(q)


def centroids(vectors: np.ndarray, entry_of_text: np.ndarray, n_entries: int) -> np.ndarray:
    cen = np.zeros((n_entries, vectors.shape[1]), dtype=np.float32)
    np.add.at(cen, entry_of_text, vectors)
    return cen / np.maximum(np.linalg.norm(cen, axis=1, keepdims=True), 1e-12)


def train_head(vectors: np.ndarray, entry_of_text: np.ndarray, n_entries: int, epochs: int = 150,
               scale: float = 20.0, lr: float = 0.01, max_entries: int = 5000,
               min_texts_per_entry: float = 1.5, seed: int = 0) -> EntryHead:
    """Fit the head by full-batch Adam; fall back to plain centroids when it cannot help."""
    cen = centroids(vectors, entry_of_text, n_entries)
    texts_per_entry = len(vectors) / max(1, n_entries)
    if n_entries > max_entries or texts_per_entry < min_texts_per_entry or epochs <= 0:
        return EntryHead(None, cen, trained=False)
    try:
        import torch
    except ImportError:  # pragma: no cover - the main venv has torch
        return EntryHead(None, cen, trained=False)
    t0 = time.time()
    torch.manual_seed(seed)
    # Tiny matrices: one thread is as fast, and OpenMP workers spinning against other busy
    # processes made this 15x slower (40 s instead of 3 s) on a loaded 2-core machine.
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    X = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    y = torch.from_numpy(entry_of_text.astype(np.int64))
    dim = X.shape[1]
    A = torch.nn.Parameter(torch.eye(dim))
    P = torch.nn.Parameter(torch.from_numpy(cen.copy()))
    opt = torch.optim.Adam([A, P], lr=lr)
    try:
        with torch.enable_grad():
            for _ in range(epochs):
                z = torch.nn.functional.normalize(X @ A.T, dim=1)
                p = torch.nn.functional.normalize(P, dim=1)
                loss = torch.nn.functional.cross_entropy(scale * z @ p.T, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(prev_threads)
    with torch.no_grad():
        p = torch.nn.functional.normalize(P, dim=1).numpy().copy()
        a = A.detach().numpy().copy()
    log.info("entry head trained on %d texts / %d entries in %.1fs (loss %.3f)",
             len(vectors), n_entries, time.time() - t0, float(loss.detach()))
    return EntryHead(a.astype(np.float32), p, trained=True)
