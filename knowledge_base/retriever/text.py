"""Lexical analysis for BM25: jieba words (with the project dictionary) plus character bigrams.

Why both: jieba words carry the domain vocabulary (the user dictionary lists district names,
service names, ...), while character unigrams/bigrams survive typos and speech-recognition noise
that break word segmentation ("社报卡" still shares "卡" and nothing else breaks the rest).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

USERDICT = Path(__file__).resolve().parents[1] / "data" / "jieba" / "userdict.txt"
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_lock = threading.Lock()
_tokenizer = None


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width) and lower-case, so 'ＡＢＣ' and 'abc' match."""
    return unicodedata.normalize("NFKC", text).lower().strip()


def _jieba():
    """A private jieba Tokenizer (not the global one) so other code's dictionaries do not leak in."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            if USERDICT.is_file():
                tok.load_userdict(str(USERDICT))
            tok.initialize()
            _tokenizer = tok
        return _tokenizer


def tokens(text: str, words: bool = True, char_ngrams: bool = True) -> list[str]:
    """Terms of ``text``: jieba words, then '#'-prefixed character unigrams and bigrams."""
    t = normalize(text)
    out: list[str] = []
    if words:
        out.extend(w for w in _jieba().lcut(t) if w.strip() and not _PUNCT.fullmatch(w))
    if char_ngrams:
        chars = [c for c in _PUNCT.sub(" ", t) if not c.isspace()]
        out.extend("#" + c for c in chars)
        out.extend("#" + a + b for a, b in zip(chars, chars[1:]))
    return out
