"""Push tokens: proof that whoever reads a conversation's pushes or history is the citizen who owns it.

A token is an HMAC over the web user id and the conversation id, so the gateway needs no token
table: it recomputes the HMAC for the conversation's web identities and compares. The key comes
from ``GOVBOT_SECRET_KEY``; without it a random per-process key keeps a single gateway working,
but tokens then die with the process and are not shared between gateway instances.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable

log = logging.getLogger(__name__)

SECRET_ENV = "GOVBOT_SECRET_KEY"
# domain separation: the same secret may sign other things (agent sessions …) without tokens being interchangeable
_PURPOSE = b"govbot/web-push-token/v1"
_process_key: bytes | None = None


def secret_key() -> bytes:
    """The configured secret, or one random key per process (with a warning, once)."""
    global _process_key
    configured = os.environ.get(SECRET_ENV, "")
    if configured:
        return configured.encode("utf-8")
    if _process_key is None:
        _process_key = secrets.token_bytes(32)
        log.warning(
            "%s is not set: web push tokens use a random per-process key; they become invalid on restart "
            "and are not accepted by other gateway processes. Set %s in production.",
            SECRET_ENV,
            SECRET_ENV,
        )
    return _process_key


class PushTokens:
    """Issues and checks the ``push_token`` handed to the widget with every reply."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = hmac.new(key if key is not None else secret_key(), _PURPOSE, hashlib.sha256).digest()

    def issue(self, user_id: str, conversation_id: str) -> str:
        message = f"{len(user_id)}:{user_id}|{conversation_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:40]

    def verify(self, user_ids: Iterable[str], conversation_id: str, token: str) -> bool:
        """True if ``token`` was issued to any of ``user_ids`` for this conversation (constant-time compare)."""
        if not token:
            return False
        ok = False
        for user_id in user_ids:
            ok |= hmac.compare_digest(self.issue(user_id, conversation_id), token)
        return ok
