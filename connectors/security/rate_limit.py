"""Per-IP and per-identity rate limits in front of every channel.

Over the limit, web and app APIs get 429 with ``Retry-After`` and the bilingual error shape; WeChat
gets a passive "请稍后再试" (its servers do not understand 429 and would retry). Either way the
message never reaches the gateway: nothing is stored, nothing goes to Rasa.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.errors import error_body
from connectors.security.body_limit import BodyTooLarge, read_capped, replay, send_json
from connectors.security.identity import (
    family_of,
    identity_of,
    needs_body,
    wechat_busy_reply,
    wechat_delivery_key,
)
from connectors.security.limiter import RateLimiter, retry_after_header
from connectors.security.settings import LimitSettings

EXEMPT_PATHS = ("/healthz",)
WECHAT_RETRY_WINDOW_S = 60.0  # WeChat retries within ~15 s; a minute is plenty
WECHAT_SEEN_MAX = 50_000


def client_ip(scope: Scope, trust_forwarded: bool) -> str:
    if trust_forwarded:
        forwarded = dict(scope["headers"]).get(b"x-forwarded-for")
        if forwarded:
            return forwarded.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def too_many_body(wait: str) -> bytes:
    return json.dumps(error_body("rate_limited", "请求过于频繁，请稍后再试",
                                 "too many requests, please retry later", retry_after_s=int(wait)),
                      ensure_ascii=False).encode()


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter, settings: LimitSettings) -> None:
        self.app, self.limiter, self.settings = app, limiter, settings
        self.ip_rate = settings.ip_per_minute / 60.0
        self.identity_rate = settings.identity_burst / settings.identity_window_s
        self._wechat_seen: OrderedDict[str, float] = OrderedDict()  # (openid, message) → first seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"].startswith(EXEMPT_PATHS):
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope, self.settings.trust_forwarded)
        wait = await self.limiter.take(f"ip:{ip}", self.settings.ip_burst, self.ip_rate)
        if scope["type"] == "websocket":
            if wait > 0:
                await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})
                return
            await self.app(scope, receive, send)
            return
        family = family_of(scope["path"])
        method = scope["method"]
        body: bytes | None = None
        if wait == 0 and family is not None:
            if needs_body(family, method, parse_qs(scope["query_string"].decode("latin-1"))):
                try:
                    body, messages = await read_capped(receive, self.settings.max_body_bytes)
                except BodyTooLarge:  # the request is refused anyway: too large
                    await self._refuse_large(send)
                    return
                receive = replay(messages, receive)
            who = identity_of(family, method, scope["query_string"], dict(scope["headers"]), body)
            retry = family == "wechat" and self._wechat_retry(who, body)
            if who is not None and not retry:
                wait = await self.limiter.take(f"id:{family}:{who}", self.settings.identity_burst,
                                               self.identity_rate)
        if wait > 0:
            if family == "wechat" and method == "POST" and body is None:
                # the passive busy reply is addressed from the message itself
                try:
                    body, _ = await read_capped(receive, self.settings.max_body_bytes)
                except BodyTooLarge:
                    body = None
            await self._refuse(send, family, scope, wait, body)
            return
        await self.app(scope, receive, send)

    def _wechat_retry(self, who: str | None, body: bytes | None) -> bool:
        """WeChat re-sends a message it got no answer to within 5 s: those deliveries are one request
        of the citizen, so only the first takes a token (otherwise a retry could be answered
        "请稍后再试" in place of the answer being prepared). Remembered per process for a minute.
        """
        key = wechat_delivery_key(body) if who is not None else None
        if key is None:
            return False
        now = time.monotonic()
        while self._wechat_seen and next(iter(self._wechat_seen.values())) < now - WECHAT_RETRY_WINDOW_S:
            self._wechat_seen.popitem(last=False)
        seen_key = f"{who}|{key}"
        if seen_key in self._wechat_seen:
            return True
        self._wechat_seen[seen_key] = now
        if len(self._wechat_seen) > WECHAT_SEEN_MAX:
            self._wechat_seen.popitem(last=False)
        return False

    async def _refuse(self, send: Send, family: str | None, scope: Scope, wait: float, body: bytes | None) -> None:
        retry = retry_after_header(wait)
        if family == "wechat" and scope["method"] == "POST":
            reply = wechat_busy_reply(scope["query_string"], body)
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/xml; charset=utf-8" if reply != b"success" else b"text/plain"),
                (b"content-length", str(len(reply)).encode())]})
            await send({"type": "http.response.body", "body": reply})
            return
        await send_json(send, 429, too_many_body(retry), [(b"retry-after", retry.encode())])

    async def _refuse_large(self, send: Send) -> None:
        from connectors.security.body_limit import too_large_body

        await send_json(send, 413, too_large_body(self.settings.max_body_bytes), [(b"connection", b"close")])
