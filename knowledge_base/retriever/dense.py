"""Dense side: a disk cache of text embeddings and a faiss inner-product index.

Why a cache keyed by (model id, text hash): restarts and hot reloads re-embed only texts that
changed; 3k texts take ~20 s to embed on 2 cores, a cache hit takes milliseconds.
Why Flat below 50k texts: exact search over a few thousand 384-d rows costs well under a
millisecond; HNSW only pays off (and only then is worth its approximate recall) for big KBs.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

HNSW_MIN_TEXTS = 50_000


def text_key(model_id: str, kind: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model_id}\x00{kind}\x00{text}".encode(), digest_size=16).digest()


class EmbeddingCache:
    """Append-only on-disk cache: ``<dir>/<model-hash>/{keys.npy,vecs.npy}`` chunk files.

    Each ``put`` writes one new chunk atomically (temp file + rename), so concurrent builders and
    crashes never corrupt existing chunks; ``get`` loads all chunks once per process.
    """

    def __init__(self, root: str | Path, model_id: str) -> None:
        self.dir = Path(root) / hashlib.sha1(model_id.encode()).hexdigest()[:16]
        self.model_id = model_id
        self._mem: dict[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._mem is None:
            mem: dict[bytes, np.ndarray] = {}
            if self.dir.is_dir():
                for kf in sorted(self.dir.glob("chunk-*.keys.npy")):
                    vf = kf.with_name(kf.name.replace(".keys.npy", ".vecs.npy"))
                    try:
                        keys = np.load(kf)
                        vecs = np.load(vf)
                    except (OSError, ValueError):
                        log.warning("skipping unreadable cache chunk %s", kf)
                        continue
                    for k, v in zip(keys, vecs):
                        mem[bytes(k)] = v
            self._mem = mem
        return self._mem

    def get_many(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        with self._lock:
            mem = self._load()
            return [mem.get(k) for k in keys]

    def put_many(self, keys: Sequence[bytes], vecs: np.ndarray) -> None:
        if not len(keys):
            return
        with self._lock:
            mem = self._load()
            self.dir.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(b"".join(keys)).hexdigest()[:16]
            karr = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
            for suffix, arr in ((".keys.npy", karr), (".vecs.npy", vecs.astype(np.float32))):
                final = self.dir / f"chunk-{name}{suffix}"
                tmp = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                with tmp.open("wb") as fh:
                    np.save(fh, arr)
                os.replace(tmp, final)
            for k, v in zip(keys, vecs):
                mem[k] = v


def embed_with_cache(encoder, texts: Sequence[str], kind: str = "query",
                     cache: EmbeddingCache | None = None, batch: int = 256) -> np.ndarray:
    """Embeddings for ``texts`` (rows L2-normalised), reusing and filling ``cache``."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    keys = [text_key(encoder.model_id, kind, t) for t in texts]
    got = cache.get_many(keys) if cache else [None] * len(texts)
    missing = [i for i, v in enumerate(got) if v is None]
    for i, v in enumerate(got):
        if v is not None:
            out[i] = v
    # Embed unique missing texts once (similar questions repeat across entries).
    uniq: dict[str, list[int]] = {}
    for i in missing:
        uniq.setdefault(texts[i], []).append(i)
    order = list(uniq)
    for s in range(0, len(order), batch):
        part = order[s : s + batch]
        vecs = encoder.encode(part, kind)
        for t, v in zip(part, vecs):
            out[uniq[t]] = v
        if cache:
            cache.put_many([text_key(encoder.model_id, kind, t) for t in part], vecs)
    return out


class DenseIndex:
    """faiss inner-product index over L2-normalised rows (so scores are cosines)."""

    def __init__(self, vectors: np.ndarray, hnsw_min: int = HNSW_MIN_TEXTS, hnsw_m: int = 32,
                 ef_search: int = 128) -> None:
        import faiss

        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors = vecs
        dim = vecs.shape[1]
        if len(vecs) >= hnsw_min:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search
            self.kind = "hnsw"
        else:
            index = faiss.IndexFlatIP(dim)
            self.kind = "flat"
        if len(vecs):
            index.add(vecs)
        self.index = index

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, row ids) for one query vector; ids of -1 are dropped."""
        k = min(k, self.index.ntotal)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        s, i = self.index.search(np.ascontiguousarray(q.reshape(1, -1), dtype=np.float32), k)
        keep = i[0] >= 0
        return s[0][keep], i[0][keep]
