"""Refuse oversized request bodies (413) before any route parses them.

Two cases, both answered the same way: a declared ``Content-Length`` above the limit (refused
without reading a byte) and a streamed body without a length (chunked) that grows past the limit
(refused as soon as the running total crosses it). The accepted body is replayed to the app.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.errors import error_body


def too_large_body(limit: int) -> bytes:
    return json.dumps(error_body("body_too_large", f"请求体过大，最多 {limit} 字节",
                                 f"request body too large: at most {limit} bytes"), ensure_ascii=False).encode()


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


async def read_capped(receive: Receive, limit: int) -> tuple[bytes, list[Message]]:
    """Read the whole body, raising :class:`BodyTooLarge` once it exceeds ``limit``.

    Returns the body and the messages as received, so they can be replayed unchanged.
    """
    chunks: list[bytes] = []
    messages: list[Message] = []
    total = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # http.disconnect: let the app see it
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered messages first, then the real channel (disconnects)."""
    pending = list(messages)

    async def _receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return _receive


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.exempt_prefixes = app, max_bytes, exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes) \
                or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False  # the server rejects a malformed length itself
            if too_big:
                await send_json(send, 413, too_large_body(self.max_bytes))
                return
        try:
            _, messages = await read_capped(receive, self.max_bytes)
        except BodyTooLarge:
            await send_json(send, 413, too_large_body(self.max_bytes), [(b"connection", b"close")])
            return
        await self.app(scope, replay(messages, receive), send)
