"""Contrastive fine-tune of a sentence-transformers model on a KB's own similar questions.

Why: e5-small is a general model; the paraphrases operators collect for each FAQ entry are exactly
the supervision that teaches it the domain's wording (abbreviations, typos, speech-recognition
noise). We train with in-batch negatives (multiple-negatives ranking loss, symmetric): each pair
is (one text of an entry, another text of the same entry); the other pairs in the batch are the
negatives. Batches never hold two pairs of the same entry, so no false negatives. A plain torch
loop keeps the dependency list short (no ``datasets``/``accelerate``). CPU, a few minutes.
"""
from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def make_pairs(groups: Sequence[Sequence[str]], rng: random.Random, max_per_group: int = 8,
               ) -> list[tuple[int, str, str]]:
    """(group index, anchor, positive) pairs: every paraphrase paired with its standard question,
    plus one random other text of the group, capped per group so big entries do not dominate."""
    pairs: list[tuple[int, str, str]] = []
    for gi, texts in enumerate(groups):
        uniq = list(dict.fromkeys(t for t in texts if t.strip()))
        if len(uniq) < 2:
            continue
        std, rest = uniq[0], uniq[1:]
        cand = [(r, std) for r in rest]
        for r in rest:
            other = rng.choice(uniq)
            if other != r:
                cand.append((r, other))
        rng.shuffle(cand)
        pairs.extend((gi, a, b) for a, b in cand[:max_per_group])
    return pairs


def _batches(pairs: list[tuple[int, str, str]], batch_size: int, rng: random.Random):
    """Shuffle, then greedily fill batches with pairs of distinct groups."""
    pool = pairs[:]
    rng.shuffle(pool)
    while pool:
        seen: set[int] = set()
        batch, rest = [], []
        for p in pool:
            if len(batch) < batch_size and p[0] not in seen:
                batch.append(p)
                seen.add(p[0])
            else:
                rest.append(p)
        pool = rest
        if len(batch) >= 2:
            yield batch


def _tok(model, texts: list[str]):
    """sentence-transformers >= 6 renamed ``tokenize`` to ``preprocess``."""
    fn = getattr(model, "preprocess", None) or model.tokenize
    return fn(texts)


def finetune(base: str | Path, groups: Sequence[Sequence[str]], out_dir: str | Path,
             epochs: int = 1, batch_size: int = 32, lr: float = 3e-5, scale: float = 20.0,
             prefix: str = "query: ", seed: int = 13, max_seq_length: int = 64) -> Path:
    """Fine-tune ``base`` on ``groups`` (texts of one entry each) and save atomically to ``out_dir``."""
    import torch
    from sentence_transformers import SentenceTransformer

    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(str(base), device="cpu")
    model.max_seq_length = max_seq_length
    pairs = make_pairs(groups, rng)
    if not pairs:
        raise ValueError("no entry has two or more texts: nothing to learn from")
    steps = epochs * (len(pairs) // batch_size + 1)
    # The 250k-row word-embedding table is 80 % of the parameters; updating it densely with AdamW
    # would dominate step time and memory and overfit rare tokens. Train the encoder layers only.
    for name, param in model.named_parameters():
        if "word_embeddings" in name:
            param.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    model.train()
    t0, step = time.time(), 0
    for _ep in range(epochs):
        for batch in _batches(pairs, batch_size, rng):
            a = _tok(model, [prefix + p[1] for p in batch])
            b = _tok(model, [prefix + p[2] for p in batch])
            ea = torch.nn.functional.normalize(model(a)["sentence_embedding"], dim=-1)
            eb = torch.nn.functional.normalize(model(b)["sentence_embedding"], dim=-1)
            sim = ea @ eb.T * scale
            labels = torch.arange(len(batch))
            loss = (torch.nn.functional.cross_entropy(sim, labels)
                    + torch.nn.functional.cross_entropy(sim.T, labels)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 10 == 0:
                log.info("step %d/%d loss %.4f (%.0fs)", step, steps, loss.item(), time.time() - t0)
    model.eval()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        model.save(str(tmp))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
