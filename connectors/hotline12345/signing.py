"""HMAC-SHA256 signatures over the raw request body, the same in both directions.

Header format: ``X-Govbot-Signature: sha256=<hex>``. The body is signed byte for byte, so the
sender must sign exactly the bytes it sends and the receiver must verify before parsing.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Govbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return _PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check; an empty secret verifies nothing."""
    if not secret or not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
