"""Shared fixtures: the real multilingual-e5-small model, built once per session.

The model is built into ``$GOVBOT_MODELS_DIR`` (default ``<repo>/.models``); an existing build
with the same source hash is reused, so only the first ever run pays the ~10 s conversion.
"""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def model_dir():
    from knowledge_base.embedding.encoder import ensure_model

    return ensure_model()


@pytest.fixture(scope="session")
def st_encoder(model_dir):
    from knowledge_base.embedding.encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model_dir)


@pytest.fixture(scope="session", autouse=True)
def _embed_cache(tmp_path_factory):
    """Keep test embeddings out of the project's cache directory."""
    old = os.environ.get("GOVBOT_EMBED_CACHE")
    os.environ["GOVBOT_EMBED_CACHE"] = str(tmp_path_factory.mktemp("embed-cache"))
    yield
    if old is None:
        os.environ.pop("GOVBOT_EMBED_CACHE", None)
    else:
        os.environ["GOVBOT_EMBED_CACHE"] = old
