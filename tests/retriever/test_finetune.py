"""Build-time fine-tuning: trains, is cached by content hash, and never stacks on reloads."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from knowledge_base.retriever import HybridRetriever, load_config
from test_retriever import DOCS


def test_finetune_is_cached_and_used(st_encoder, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVBOT_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("GOVBOT_FINETUNE", raising=False)
    cfg = replace(load_config(), finetune="on", finetune_epochs=1, finetune_layers=1)
    r = HybridRetriever.build(DOCS, encoder=st_encoder, config=cfg)
    assert r.finetuned and r.encoder is not st_encoder and r.encoder.base is st_encoder
    folders = list((tmp_path / "finetuned").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.safetensors").is_file()
    stamp = (folders[0] / "model.safetensors").stat().st_mtime_ns
    # the tuned encoder really differs from the base one, but stays close to it
    q = ["居住证怎么申请"]
    cos = float(np.sum(r.encoder.encode(q) * st_encoder.encode(q)))
    assert 0.9 < cos < 0.99999
    assert r.search("外地人想申请北京居住证").hits[0].entry_id == "residence_permit"
    # a reload passing the tuned encoder reuses the cached fine-tune of the *base* model
    r2 = HybridRetriever.build(DOCS, encoder=r.encoder, config=cfg)
    assert r2.encoder.base is st_encoder
    assert (folders[0] / "model.safetensors").stat().st_mtime_ns == stamp
