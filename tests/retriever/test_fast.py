"""The compact forward pass reproduces the fp32 model (same rankings) and refuses inexact int4."""
from __future__ import annotations

import numpy as np
import pytest

from knowledge_base.embedding.fast import FastBertEncoder, _Linear, _q4_exact, supported

SENTENCES = ["社保卡丢了怎么补办", "外地人在北京怎么办居住证", "营业执照需要什么材料",
             "公积金提取多久到账？", "我想问下新生儿落户去哪里办理，需要带户口本吗", "hello 12345"]

pytestmark = pytest.mark.skipif(not supported(), reason="this PyTorch lacks the CPU int4 kernels")


def _reference(st_encoder, texts):
    """The plain sentence-transformers fp32 path (no fast path)."""
    items = [st_encoder.prefixes["query"] + t for t in texts]
    return st_encoder.model.encode(items, normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)


def test_fast_path_matches_fp32_model(st_encoder):
    assert st_encoder._fast is not None and st_encoder._fast.kind == "int4"
    ref = _reference(st_encoder, SENTENCES)
    single = np.stack([st_encoder.encode([t], "query")[0] for t in SENTENCES])
    bulk = st_encoder.encode(SENTENCES * 2, "query")[: len(SENTENCES)]  # > 4 texts: batched path
    assert np.min(np.sum(ref * single, axis=1)) > 0.9999
    assert np.min(np.sum(ref * bulk, axis=1)) > 0.9999
    # nearest neighbours are unchanged
    assert np.array_equal(np.argsort(-(single @ ref.T), axis=1)[:, 0], np.arange(len(SENTENCES)))


def test_equal_length_batches_equal_single_sequences(st_encoder):
    fast: FastBertEncoder = st_encoder._fast
    tok = st_encoder.model.tokenizer
    ids = [tok("query: " + t)["input_ids"] for t in SENTENCES]
    many = fast.encode_many(ids)
    for i, seq in enumerate(ids):
        assert float(np.dot(many[i], fast(seq))) > 0.99999


def test_int4_only_for_exact_q4_weights():
    import torch

    torch.manual_seed(0)
    q = torch.randint(0, 16, (16, 64)).float()
    d = (torch.rand(16, 2) + 0.01).half().float()
    q[:, 0] = 0  # the largest magnitude of each block maps to q = 0, as Q4_0 does
    q[:, 32] = 0
    w = (q - 8) * d.repeat_interleave(32, dim=1)
    assert _q4_exact(w) is not None
    assert _q4_exact(w + 1e-4) is None  # e.g. a fine-tuned layer
    exact = _Linear([w], [torch.zeros(16)])
    approx = _Linear([w + 1e-4], [torch.zeros(16)])
    assert _Linear([w[:8]], [torch.zeros(8)]).kind == "bf16"  # kernel needs 16-row multiples
    assert exact.kind == "int4" and approx.kind == "bf16"
    x = torch.randn(3, 64)
    assert torch.allclose(exact(x), x @ w.T, atol=0.05, rtol=0.02)
    assert torch.allclose(approx(x), x @ w.T, atol=0.05, rtol=0.02)
