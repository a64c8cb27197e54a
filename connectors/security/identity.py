"""Who is asking, per path family: the key a per-identity bucket is counted under.

web: the ``user_id`` of the JSON body (or the ``conversation_id`` of a history query) · app: a hash
of the bearer token (its user id cannot be forged without the key, and a hash keeps tokens out of
Redis) · wechat: the ``openid`` WeChat appends to the callback URL, else ``FromUserName`` of a
plaintext body. ``None`` when the request names nobody: only the per-IP bucket applies then.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs

from defusedxml import ElementTree as SafeET

FAMILIES: dict[str, str] = {"/api/v1/web/": "web", "/api/v1/app/": "app", "/channels/wechat": "wechat"}


def family_of(path: str) -> str | None:
    for prefix, family in FAMILIES.items():
        if path.startswith(prefix):
            return family
    return None


def needs_body(family: str | None, method: str, query: dict[str, list[str]]) -> bool:
    """web: the user id is in the body; wechat: the message id that tells WeChat's retries apart is."""
    if method != "POST":
        return False
    return family in {"web", "wechat"}


def wechat_delivery_key(body: bytes | None) -> str | None:
    """What WeChat's up-to-three deliveries of one message share: the channel's own dedupe key
    (:func:`connectors.wechat.payload.channel_message_id`), or, in safe mode, the ciphertext itself
    (WeChat re-sends the same one). None when unreadable.
    """
    from connectors.errors import ApiError
    from connectors.wechat.payload import channel_message_id, parse_xml

    try:
        data = parse_xml(body or b"")
    except ApiError:  # malformed or hostile XML: the channel refuses it
        return None
    if data.get("Encrypt"):
        return "e:" + _digest(str(data["Encrypt"]))
    if not (data.get("MsgId") or data.get("MsgID") or (data.get("FromUserName") and data.get("CreateTime"))):
        return None
    return "m:" + _digest(channel_message_id(data))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def identity_of(family: str | None, method: str, query_string: bytes, headers: dict[bytes, bytes],
                body: bytes | None) -> str | None:
    query = parse_qs(query_string.decode("latin-1"))
    if family == "web":
        if method == "GET" and query.get("conversation_id"):
            return "c:" + _digest(query["conversation_id"][0])
        try:
            data = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):  # deeply nested bodies are refused later
            return None
        user = data.get("user_id") if isinstance(data, dict) else None
        return "u:" + _digest(user.strip()) if isinstance(user, str) and user.strip() else None
    if family == "app":
        token = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ").strip()
        return "t:" + _digest(token) if token else None
    if family == "wechat" and method == "POST":
        if query.get("openid"):
            return "o:" + _digest(query["openid"][0])
        try:
            root = SafeET.fromstring(body or b"")
        except Exception:  # noqa: BLE001 - malformed or hostile XML: no identity, the channel refuses it
            return None
        sender = root.findtext("FromUserName")
        return "o:" + _digest(sender) if sender else None
    return None


def wechat_busy_reply(query_string: bytes, body: bytes | None) -> bytes:
    """The passive reply for a rate-limited WeChat message: "请稍后再试" as plaintext XML, else ``success``.

    In safe (encrypted) mode a reply would have to be encrypted by the channel; answering ``success``
    there tells WeChat the message was taken and keeps it from retrying.
    """
    query = parse_qs(query_string.decode("latin-1"))
    if query.get("encrypt_type", [""])[0] == "aes" or not body:
        return b"success"
    try:
        root = SafeET.fromstring(body)
    except Exception:  # noqa: BLE001
        return b"success"
    to_user, from_user = root.findtext("FromUserName"), root.findtext("ToUserName")
    if not to_user or not from_user or root.find("Encrypt") is not None:
        return b"success"
    import time
    from xml.sax.saxutils import escape

    return (f"<xml><ToUserName>{escape(to_user)}</ToUserName>"
            f"<FromUserName>{escape(from_user)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType>"
            "<Content>请稍后再试</Content></xml>").encode()
