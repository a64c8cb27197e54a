"""Build-time fine-tuning of the dense encoder on the KB's own similar questions (cached).

Why at build time: the KB's paraphrases are the best supervision there is for its wording, and
they change with the KB. Training the top layers takes a few minutes on 2 cores, so the result
is cached under ``<models dir>/finetuned/<key>`` where the key hashes the base model and the
exact training texts: a restart or a reload with unchanged entries reuses it instantly, a changed
KB trains anew. Only the newest ``finetune_keep`` folders are kept (each is ~470 MB).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .config import RetrieverConfig
from .types import Document

log = logging.getLogger(__name__)
MARKER = "govbot-finetune.json"


def applicable(docs: Sequence[Document], config: RetrieverConfig) -> bool:
    """``$GOVBOT_FINETUNE`` (auto/on/off) overrides the config, e.g. off for fast e2e startups."""
    mode = os.environ.get("GOVBOT_FINETUNE", config.finetune)
    if mode not in ("auto", "on"):
        return False
    n_texts = sum(len(d.texts) for d in docs)
    multi = sum(1 for d in docs if len(d.texts) > 1)
    if mode == "on":
        return multi > 0
    return (0 < len(docs) <= config.finetune_max_entries and multi >= 2
            and n_texts / len(docs) >= 1.5)


def finetune_key(base_id: str, docs: Sequence[Document], config: RetrieverConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([base_id, config.finetune_layers, config.finetune_epochs]).encode())
    for d in sorted(docs, key=lambda d: d.id):
        h.update(json.dumps([d.id, d.texts], ensure_ascii=False).encode())
    return h.hexdigest()[:20]


def maybe_finetune(encoder, docs: Sequence[Document], config: RetrieverConfig):
    """Return a fine-tuned copy of ``encoder`` when configured and applicable, else ``encoder``.

    A reload may pass the previous retriever's (fine-tuned) encoder; we always start from its
    base model so fine-tunes never stack.
    """
    encoder = getattr(encoder, "base", encoder)
    path = getattr(encoder, "path", None)
    if path is None or not applicable(docs, config):
        return encoder
    from knowledge_base.embedding.encoder import SentenceTransformerEncoder, models_dir
    from knowledge_base.embedding.finetune import finetune

    root = models_dir() / "finetuned"
    out = root / finetune_key(encoder.model_id, docs, config)
    if not (out / MARKER).is_file():
        log.info("fine-tuning %s on %d entries -> %s", path, len(docs), out)
        finetune(path, [d.texts for d in docs], out, epochs=config.finetune_epochs,
                 train_layers=config.finetune_layers, prefix=encoder.prefixes.get("query", ""))
        (out / MARKER).write_text(json.dumps({"base": encoder.model_id}), "utf-8")
    else:
        (out / MARKER).touch()  # mark as recently used for pruning
    _prune(root, keep=config.finetune_keep, current=out)
    tuned = SentenceTransformerEncoder(out, prefixes=encoder.prefixes, batch_size=encoder.batch_size,
                                       query_threads=encoder.query_threads,
                                       fast_path=getattr(encoder, "fast_path", True))
    tuned.base = encoder
    return tuned


def _prune(root: Path, keep: int, current: Path) -> None:
    done = [p for p in root.iterdir() if (p / MARKER).is_file()]
    done.sort(key=lambda p: (p / MARKER).stat().st_mtime, reverse=True)
    for old in done[max(1, keep):]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
