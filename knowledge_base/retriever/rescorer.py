"""A small learned re-scorer: a linear score over per-candidate features, fitted listwise.

Why: the three raw signals (best paraphrase cosine, entry-head score, BM25) each see a different
side of a match, and a few more cheap facts help tell near-duplicates apart — how many of the
query's nearest KB texts belong to the entry (a vote of its similar questions), how the standard
question itself scores, how far each candidate is behind the best one. A linear model keeps that
transparent (one weight per named feature, stored in ``retriever.toml``) and cannot memorise the
development queries the way a tree ensemble could.

Fitting is listwise (conditional logit): for each development query with its gold entry among
the candidates, maximise ``log softmax(w·x)[gold]`` over that query's candidates, with an L2
penalty. The softmax of the fitted scores is also a natural "how sure is the top-1" signal
(``p1``) for the decision calibration. The fit uses only cross-fold development data (see
``knowledge_base/bench/faq.py --fit``); nothing here looks at evaluation queries.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Per-candidate features, computed by ``HybridRetriever.signals`` (all cheap, all KB-agnostic):
CANDIDATE_FEATURES = (
    "cos",        # max cosine between the query and the entry's texts
    "cos2",       # mean of the entry's two best cosines (= cos with a single text)
    "cos_std",    # cosine with the entry's standard question
    "head",       # entry-head score (query vs the entry as a whole)
    "bm25",       # best normalised BM25 over the entry's texts
    "bm25_std",   # normalised BM25 of the standard question
    "votes",      # share of the query's 10 nearest KB texts that belong to the entry
    "d_cos",      # cos - best cos among candidates (<= 0)
    "d_head",     # head - best head among candidates
    "d_bm25",     # bm25 - best bm25 among candidates
    "cen",        # cosine with the entry's centroid (untrained; the head is its trained version)
)


@dataclass(frozen=True)
class Rescorer:
    """score = sum_i coef_i * (x_i - mean_i) / scale_i over ``features``."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.features) == len(self.coef) == len(self.mean) == len(self.scale):
            raise ValueError("rescorer: features, coef, mean and scale must have equal lengths")
        unknown = set(self.features) - set(CANDIDATE_FEATURES)
        if unknown:
            raise ValueError(f"rescorer: unknown features {sorted(unknown)}")

    @property
    def columns(self) -> list[int]:
        return [CANDIDATE_FEATURES.index(f) for f in self.features]

    def weights(self) -> tuple[np.ndarray, float]:
        """(w over CANDIDATE_FEATURES columns, offset) so that score = X @ w + offset."""
        w = np.zeros(len(CANDIDATE_FEATURES), dtype=np.float64)
        c = np.asarray(self.coef) / np.asarray(self.scale)
        w[self.columns] = c
        return w, -float(np.dot(c, self.mean))

    def score(self, X: np.ndarray) -> np.ndarray:
        w, b = self.weights()
        return X @ w + b

    @classmethod
    def from_fusion(cls, w_max: float, w_head: float, w_bm25: float) -> Rescorer:
        """The hand-set weighted sum ``w_max*cos + w_head*head + w_bm25*bm25`` as a rescorer."""
        return cls(("cos", "head", "bm25"), (w_max, w_head, w_bm25), (0.0, 0.0, 0.0),
                   (1.0, 1.0, 1.0))

    @classmethod
    def from_mapping(cls, d: Mapping) -> Rescorer:
        return cls(tuple(d["features"]), tuple(map(float, d["coef"])),
                   tuple(map(float, d["mean"])), tuple(map(float, d["scale"])))

    def to_mapping(self) -> dict:
        return {"features": list(self.features), "coef": [round(c, 6) for c in self.coef],
                "mean": [round(m, 6) for m in self.mean], "scale": [round(s, 6) for s in self.scale]}


def softmax_top(scores: np.ndarray, order: np.ndarray) -> float:
    """Softmax probability of the best-ranked candidate."""
    z = scores - scores[order[0]]
    return float(1.0 / np.exp(z).sum())


def fit_rescorer(groups: Sequence[tuple[np.ndarray, int]], features: Sequence[str] = CANDIDATE_FEATURES,
                 l2: float = 1.0) -> Rescorer:
    """Conditional-logit fit over ``(X candidates x CANDIDATE_FEATURES, gold row)`` groups."""
    from scipy.optimize import minimize

    cols = [CANDIDATE_FEATURES.index(f) for f in features]
    allx = np.vstack([X[:, cols] for X, _ in groups])
    mean = allx.mean(axis=0)
    scale = allx.std(axis=0)
    scale[scale < 1e-6] = 1.0
    Z = [((X[:, cols] - mean) / scale, g) for X, g in groups]
    n = len(Z)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for Xs, g in Z:
            s = Xs @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            total -= np.log(max(p[g], 1e-300))
            grad -= Xs[g] - p @ Xs
        return total / n + 0.5 * l2 / n * float(w @ w), grad / n + l2 / n * w

    res = minimize(loss, np.zeros(len(cols)), jac=True, method="L-BFGS-B")
    return Rescorer(tuple(features), tuple(map(float, res.x)), tuple(map(float, mean)),
                    tuple(map(float, scale)))
