"""Confidence calibration: features of a ranked candidate list -> probabilities -> decision.

Why: raw e5 cosines are compressed (a no-answer query's best match scores ~0.95, a correct one
~0.97) and BM25 scores are query-dependent, so no fixed cut on one score separates "answer" from
"no answer". Two small logistic regressions over a handful of features do:

* ``p_correct`` — probability that the top-1 entry is the right one. This is the reported
  ``confidence``; ``answer`` when it reaches ``answer_threshold``.
* ``p_in_kb`` — probability that *some* entry answers the query (the KB covers it). Below
  ``decline_threshold`` we decline; in between we ``clarify`` with the top 3 as suggestions.
* ``min_cos`` — an out-of-domain floor on the best cosine (0.5th percentile over correctly ranked
  dev queries): relative features are inflated in tiny KBs, absolute similarity is not.

Features (all from the ranked list, none from the text itself, so they transfer across KBs):
``top`` re-scorer score of hit 1, ``gap`` = top - second, ``p1`` softmax probability of hit 1
over the candidates, ``cos`` max cosine of hit 1, ``cen`` head score of hit 1, ``bm25``
normalised BM25 of hit 1, ``bm25_max`` best BM25 over all texts, ``votes`` share of the query's
10 nearest texts belonging to hit 1, ``agree`` 1 when the dense-only and BM25-only winners equal
hit 1. With negative examples indexed (``NEG_FEATURES``): ``neg_cos`` best cosine to a known
no-answer question, ``neg_gap`` = neg_cos - cos, ``neg_bm25_gap``, ``neg_votes`` (share of the
10 nearest texts that are negatives), ``neg_head_gap`` (the same comparison in the entry head's
learned space).
Coefficients are fitted on development data only (``knowledge_base/bench/faq.py --fit``) and
stored in ``knowledge_base/retriever.toml``; see ``README.md`` next to this file.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

FEATURES = ("top", "gap", "p1", "cos", "cen", "bm25", "bm25_max", "votes", "agree")
# With known no-answer questions indexed (``HybridRetriever.build(..., negatives=...)``):
NEG_FEATURES = FEATURES + ("neg_cos", "neg_gap", "neg_bm25_gap", "neg_votes", "neg_head_gap")


@dataclass(frozen=True)
class Logistic:
    """sigmoid(intercept + sum(coef_i * (x_i - mean_i) / scale_i)); standardised for stable fits."""

    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def __call__(self, x: Sequence[float]) -> float:
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in
                                 zip(self.coef, x, self.mean, self.scale))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def from_mapping(cls, d: Mapping) -> Logistic:
        return cls(tuple(d["coef"]), float(d["intercept"]), tuple(d["mean"]), tuple(d["scale"]))

    def to_mapping(self) -> dict:
        return {"coef": [round(c, 6) for c in self.coef], "intercept": round(self.intercept, 6),
                "mean": [round(m, 6) for m in self.mean], "scale": [round(s, 6) for s in self.scale]}

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, c: float = 1.0) -> Logistic:
        from sklearn.linear_model import LogisticRegression

        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-6] = 1.0
        lr = LogisticRegression(C=c, max_iter=5000).fit((X - mean) / scale, y)
        return cls(tuple(map(float, lr.coef_[0])), float(lr.intercept_[0]),
                   tuple(map(float, mean)), tuple(map(float, scale)))


@dataclass(frozen=True)
class Calibration:
    """The two models plus the decision thresholds."""

    p_correct: Logistic
    p_in_kb: Logistic
    answer_threshold: float = 0.5
    decline_threshold: float = 0.5
    features: tuple[str, ...] = field(default=FEATURES)
    min_cos: float = 0.0

    def decide(self, feats: Mapping[str, float]) -> tuple[str, float]:
        x = [float(feats[f]) for f in self.features]
        pc = self.p_correct(x)
        if float(feats.get("cos", 1.0)) < self.min_cos:
            # Out-of-domain guard: relative features (gap, head score) are inflated in small
            # KBs, but no correct match in the dev data had its best cosine this low.
            return "decline", pc
        if pc >= self.answer_threshold:
            return "answer", pc
        if self.p_in_kb(x) < self.decline_threshold:
            return "decline", pc
        return "clarify", pc

    @classmethod
    def from_mapping(cls, d: Mapping) -> Calibration:
        return cls(Logistic.from_mapping(d["p_correct"]), Logistic.from_mapping(d["p_in_kb"]),
                   float(d["answer_threshold"]), float(d["decline_threshold"]),
                   tuple(d.get("features", FEATURES)), float(d.get("min_cos", 0.0)))

    def to_mapping(self) -> dict:
        return {"features": list(self.features), "answer_threshold": round(self.answer_threshold, 4),
                "decline_threshold": round(self.decline_threshold, 4),
                "min_cos": round(self.min_cos, 4),
                "p_correct": self.p_correct.to_mapping(), "p_in_kb": self.p_in_kb.to_mapping()}


def fit_calibration(X: np.ndarray, correct: np.ndarray, in_kb: np.ndarray,
                    min_answer_precision: float = 0.9,
                    features: Sequence[str] = FEATURES,
                    min_decline_precision: float = 0.5) -> Calibration:
    """Fit both models, then pick thresholds on the same data.

    ``decline_threshold`` maximises decline F1 (a no-answer query is handled right only when we
    decline) among thresholds whose decline precision is at least ``min_decline_precision``: a
    decline that is wrong more often than right is worse than offering three suggestions, so
    when no threshold is that precise (typically without negative examples) the model never
    declines and only the ``min_cos`` out-of-domain floor does. ``answer_threshold`` is the
    lowest value whose answered top-1 precision is at least ``min_answer_precision`` — answering
    wrongly is worse than offering three suggestions.
    """
    pc_model = Logistic.fit(X, correct.astype(int))
    pk_model = Logistic.fit(X, in_kb.astype(int))
    pc = np.array([pc_model(x) for x in X])
    pk = np.array([pk_model(x) for x in X])
    best_f1, t_dec = -1.0, 0.0
    for t in np.linspace(0.05, 0.95, 91):
        dec = pk < t
        tp = float(np.sum(dec & ~in_kb))
        prec = tp / max(1.0, float(dec.sum()))
        rec = tp / max(1.0, float((~in_kb).sum()))
        f1 = 2 * prec * rec / max(1e-9, prec + rec)
        if prec >= min_decline_precision and f1 > best_f1:
            best_f1, t_dec = f1, float(t)
    t_ans = 0.95
    for t in np.linspace(0.95, 0.05, 91):
        ans = pc >= t
        if ans.sum() and float(correct[ans].mean()) >= min_answer_precision:
            t_ans = float(t)
        else:
            break
    # Out-of-domain floor: the 0.5th percentile of the best cosine of correctly ranked queries.
    cos_idx = list(features).index("cos")
    min_cos = float(np.quantile(X[correct, cos_idx], 0.005)) if correct.any() else 0.0
    return Calibration(pc_model, pk_model, t_ans, t_dec, tuple(features), min_cos)
