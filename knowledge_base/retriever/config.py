"""Retriever settings, read from ``knowledge_base/retriever.toml`` (defaults that run as-is)."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .calibration import Calibration
from .rescorer import Rescorer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "knowledge_base" / "retriever.toml"


@dataclass(frozen=True)
class RetrieverConfig:
    encoder: dict[str, Any] = field(default_factory=lambda: {"kind": "sentence-transformers",
                                                               "model": "multilingual-e5-small"})
    doc_kind: str = "query"
    cache_dir: str = ".cache/embeddings"
    hnsw_min_texts: int = 50_000
    dense_candidates: int = 50
    bm25_candidates: int = 20
    head_candidates: int = 20
    words: bool = True
    char_ngrams: bool = True
    k1: float = 1.2
    b: float = 0.75
    w_max: float = 1.0
    w_head: float = 1.0
    w_bm25: float = 0.1
    head_epochs: int = 150
    head_max_entries: int = 5000
    finetune: str = "off"
    finetune_layers: int = 4
    finetune_epochs: int = 3
    finetune_max_entries: int = 5000
    finetune_keep: int = 2
    suggestions: int = 3
    calibration: Calibration | None = None  # for a KB-fine-tuned encoder
    calibration_base: Calibration | None = None  # for the encoder as configured (no fine-tune)
    calibration_neg: Calibration | None = None  # fine-tuned, KB with negative examples
    calibration_base_neg: Calibration | None = None  # base encoder, KB with negative examples
    rescorer: Rescorer | None = None  # learned candidate scoring, fine-tuned encoder
    rescorer_base: Rescorer | None = None  # learned candidate scoring, base encoder

    def cache_path(self) -> Path:
        env = os.environ.get("GOVBOT_EMBED_CACHE")
        p = Path(env) if env else Path(self.cache_dir)
        return p if p.is_absolute() else REPO_ROOT / p


def load_config(path: str | Path | None = None) -> RetrieverConfig:
    """Parse the TOML file (``$GOVBOT_RETRIEVER_CONFIG`` or the default path)."""
    path = Path(path or os.environ.get("GOVBOT_RETRIEVER_CONFIG") or DEFAULT_CONFIG)
    if not path.is_file():
        return RetrieverConfig()
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    flat: dict[str, Any] = {}
    enc = data.get("encoder")
    if enc:
        flat["encoder"] = {k: v for k, v in enc.items() if k != "doc_kind"}
        if "doc_kind" in enc:
            flat["doc_kind"] = enc["doc_kind"]
    for section in ("index", "lexical", "fusion", "head", "finetune", "decision"):
        flat.update(data.get(section, {}))
    for key in ("calibration", "calibration_base", "calibration_neg", "calibration_base_neg"):
        if key in data:
            flat[key] = Calibration.from_mapping(data[key])
    for key in ("rescorer", "rescorer_base"):
        if key in data:
            flat[key] = Rescorer.from_mapping(data[key])
    known = RetrieverConfig.__dataclass_fields__
    unknown = set(flat) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
    return RetrieverConfig(**flat)
