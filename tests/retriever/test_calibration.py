"""Calibration maths and the shipped configuration (no model needed)."""
from __future__ import annotations

import numpy as np

from knowledge_base.retriever.calibration import FEATURES, NEG_FEATURES, Calibration, fit_calibration
from knowledge_base.retriever.config import DEFAULT_CONFIG, load_config


def _synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)  # 0 = correct top-1, 1 = in KB but wrong top-1, 2 = not in KB
    top = np.where(kind == 0, 0.97, np.where(kind == 1, 0.96, 0.88)) + rng.normal(0, 0.01, n)
    gap = np.where(kind == 0, 0.05, 0.01) + rng.normal(0, 0.01, n)
    X = np.column_stack([top, gap, kind == 0, top, top, rng.random(n), rng.random(n), rng.random(n),
                         kind == 0])
    return X, kind == 0, kind != 2


def test_fit_separates_and_sets_thresholds():
    X, correct, in_kb = _synthetic()
    cal = fit_calibration(X, correct, in_kb, min_answer_precision=0.9)
    decisions = [cal.decide(dict(zip(FEATURES, x)))[0] for x in X]
    dec = np.array(decisions)
    assert (correct[dec == "answer"]).mean() >= 0.9
    assert (dec[~in_kb] == "decline").mean() > 0.8
    assert (dec[in_kb] == "decline").mean() < 0.2
    # round trip through the TOML mapping keeps behaviour
    again = Calibration.from_mapping(cal.to_mapping())
    assert [again.decide(dict(zip(FEATURES, x)))[0] for x in X[:50]] == decisions[:50]


def test_confidence_is_monotonic_in_top_score():
    X, correct, in_kb = _synthetic()
    cal = fit_calibration(X, correct, in_kb)
    base = dict(zip(FEATURES, X[0]))
    lo = cal.decide({**base, "top": 0.85, "cos": 0.85, "cen": 0.85})[1]
    hi = cal.decide({**base, "top": 0.99, "cos": 0.99, "cen": 0.99})[1]
    assert 0.0 <= lo < hi <= 1.0


def test_shipped_config_loads_with_fitted_calibration():
    cfg = load_config(DEFAULT_CONFIG)
    assert cfg.calibration_base is not None and cfg.calibration_base_neg is not None
    assert cfg.rescorer_base is not None
    for cal in (c for c in (cfg.calibration, cfg.calibration_base, cfg.calibration_base_neg)
                if c is not None):
        assert 0 <= cal.decline_threshold < 1 and 0 < cal.answer_threshold < 1
        assert len(cal.p_correct.coef) == len(cal.features) == len(cal.p_in_kb.coef)
        assert set(cal.features) <= set(NEG_FEATURES)
    assert set(cfg.calibration_base.features) <= set(FEATURES)  # usable without negatives
