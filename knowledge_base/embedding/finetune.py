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


def _bert(model):
    """The Hugging Face BertModel inside a sentence-transformers model."""
    first = model[0]
    return getattr(first, "auto_model", None) or getattr(first, "model")


class _Bottom:
    """Frozen lower layers run once per unique text; their outputs are cached as training inputs.

    Why: backpropagating through all 12 layers costs ~10 s per batch on 2 cores; training only the
    top ``train_layers`` on cached inputs makes an epoch over a few thousand texts take seconds.
    """

    def __init__(self, model, texts: list[str], prefix: str, split: int, max_len: int) -> None:
        import torch

        bert = _bert(model)
        self.states: dict[str, torch.Tensor] = {}
        uniq = list(dict.fromkeys(texts))
        with torch.inference_mode():
            for s in range(0, len(uniq), 64):
                part = uniq[s : s + 64]
                feats = _tok(model, [prefix + t for t in part])
                ids = feats["input_ids"][:, :max_len]
                mask = feats["attention_mask"][:, :max_len]
                h = bert.embeddings(input_ids=ids)
                ext = _ext_mask(bert, mask, h)
                for layer in bert.encoder.layer[:split]:
                    h = _layer_out(layer(h, attention_mask=ext))
                for t, hs, m in zip(part, h, mask):
                    self.states[t] = hs[: int(m.sum())].clone()

    def batch(self, texts: list[str]):
        import torch

        seqs = [self.states[t] for t in texts]
        n = max(len(x) for x in seqs)
        h = torch.zeros(len(seqs), n, seqs[0].shape[-1])
        mask = torch.zeros(len(seqs), n, dtype=torch.long)
        for i, x in enumerate(seqs):
            h[i, : len(x)] = x
            mask[i, : len(x)] = 1
        return h, mask


def _ext_mask(bert, mask, h):
    """The additive attention mask BertModel builds internally (depends on attention backend)."""
    fn = getattr(bert, "_create_attention_masks", None)
    if fn is not None:
        m, _ = fn(attention_mask=mask, encoder_attention_mask=None, embedding_output=h,
                  encoder_hidden_states=None, cache=None)
        return m
    return bert.get_extended_attention_mask(mask, mask.shape)


def _layer_out(out):
    return out[0] if isinstance(out, tuple) else out


def finetune(base: str | Path, groups: Sequence[Sequence[str]], out_dir: str | Path,
             epochs: int = 3, batch_size: int = 64, lr: float = 1e-4, scale: float = 20.0,
             prefix: str = "query: ", seed: int = 13, max_seq_length: int = 64,
             train_layers: int = 4) -> Path:
    """Fine-tune the top ``train_layers`` of ``base`` on ``groups`` (texts of one entry each) and
    save the whole model atomically to ``out_dir``."""
    import torch
    from sentence_transformers import SentenceTransformer

    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = SentenceTransformer(str(base), device="cpu")
    model.max_seq_length = max_seq_length
    bert = _bert(model)
    n_layers = len(bert.encoder.layer)
    split = max(0, n_layers - train_layers)
    pairs = make_pairs(groups, rng)
    if not pairs:
        raise ValueError("no entry has two or more texts: nothing to learn from")
    t0 = time.time()
    bottom = _Bottom(model, [p[1] for p in pairs] + [p[2] for p in pairs], prefix, split,
                     max_seq_length)
    log.info("cached %d texts below layer %d in %.0fs", len(bottom.states), split, time.time() - t0)
    top = bert.encoder.layer[split:]
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for p in top.parameters()]
    for p in params:
        p.requires_grad_(True)
    steps = epochs * (len(pairs) // batch_size + 1)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    top.train()

    def embed(texts: list[str]):
        h, mask = bottom.batch(texts)
        ext = _ext_mask(bert, mask, h)
        for layer in top:
            h = _layer_out(layer(h, attention_mask=ext))
        m = mask.unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    step = 0
    for _ep in range(epochs):
        for batch in _batches(pairs, batch_size, rng):
            ea = embed([p[1] for p in batch])
            eb = embed([p[2] for p in batch])
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
            if step % 20 == 0:
                log.info("step %d/%d loss %.4f (%.0fs)", step, steps, loss.item(), time.time() - t0)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
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
    log.info("fine-tuned model saved to %s (%.0fs)", out_dir, time.time() - t0)
    return out_dir
