"""The learned re-scorer: listwise fit, TOML round trip, and negative examples in the retriever."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from knowledge_base.retriever import Document, HybridRetriever, load_config
from knowledge_base.retriever.rescorer import CANDIDATE_FEATURES, Rescorer, fit_rescorer


def _groups(n=300, seed=0):
    """Candidates whose 'head' column carries the signal and 'cos' is noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        X = rng.normal(0, 1, (8, len(CANDIDATE_FEATURES)))
        gold = int(rng.integers(0, 8))
        X[gold, CANDIDATE_FEATURES.index("head")] += 2.5
        out.append((X, gold))
    return out


def test_fit_learns_the_informative_feature_and_round_trips():
    train, test = _groups(seed=0), _groups(seed=1)
    r = fit_rescorer(train)
    w = dict(zip(r.features, r.coef))
    assert w["head"] > 5 * abs(w["cos"])
    acc = np.mean([int(np.argmax(r.score(X))) == g for X, g in test])
    assert acc > 0.8
    again = Rescorer.from_mapping(r.to_mapping())
    X = test[0][0]
    assert np.allclose(again.score(X), r.score(X), atol=1e-3)


def test_fusion_rescorer_is_the_weighted_sum():
    r = Rescorer.from_fusion(1.0, 0.5, 0.3)
    X = np.random.default_rng(2).random((4, len(CANDIDATE_FEATURES)))
    col = CANDIDATE_FEATURES.index
    assert np.allclose(r.score(X), X[:, col("cos")] + 0.5 * X[:, col("head")] + 0.3 * X[:, col("bm25")])
    with pytest.raises(ValueError):
        Rescorer(("nope",), (1.0,), (0.0,), (1.0,))


DOCS = [
    Document("permit", ["如何办理居住证", "居住证怎么申请", "外地人怎么办居住证"]),
    Document("social_card", ["社保卡丢了怎么补办", "社保卡遗失了如何补卡", "社保卡掉了怎么办"]),
    Document("passport", ["护照过期了怎么换", "怎么办理护照", "第一次办护照去哪里"]),
]
NEGATIVES = ["我的账号被锁定了怎么解锁", "账户被锁住登录不了怎么办", "密码输错太多次账号锁了"]


def test_negative_examples_are_never_hits_and_push_towards_decline(st_encoder):
    cfg = replace(load_config(), finetune="off")
    with_neg = HybridRetriever.build(DOCS, encoder=st_encoder, config=cfg, negatives=NEGATIVES)
    without = HybridRetriever.build(DOCS, encoder=st_encoder, config=cfg)
    assert with_neg.has_negatives and not without.has_negatives
    assert with_neg.size == without.size == (3, 9)
    assert with_neg.calibration() is cfg.calibration_base_neg
    assert without.calibration() is cfg.calibration_base
    q = "账号被锁了怎么解"
    res = with_neg.search(q)
    assert {h.entry_id for h in res.hits} <= {"permit", "social_card", "passport"}
    assert res.features["neg_gap"] > 0 and res.decision == "decline", res
    # answerable questions are still answered with negatives indexed
    ok = with_neg.search("外地人想申请北京的居住证怎么弄")
    assert ok.hits[0].entry_id == "permit" and ok.decision == "answer", ok
