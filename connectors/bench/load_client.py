"""The citizens' side of the load benchmark: conversations over HTTP (and WebSocket) on 127.0.0.1.

Two targets speak the same small interface so the same traffic can be sent to either:

* :class:`GatewayTarget` — the web channel exactly as the widget uses it: ``POST
  /api/v1/web/messages`` per message, and after the first answer a WebSocket
  (``/api/v1/web/ws``) held open for pushes until the citizen leaves;
* :class:`RasaTarget` — Rasa's REST webhook straight, the same model without the gateway.

A message counts as an error when it gets no HTTP 200, times out, fails to connect, or (gateway)
is answered with the "系统繁忙" busy reply the gateway gives when Rasa failed — the citizen got no
answer. A WebSocket that cannot be opened (no ``hello``) is an error of kind ``ws``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

# the gateway's busy replies (connectors.message_router): Rasa failed, the citizen got no answer
BUSY_PREFIX = "系统繁忙"


@dataclass
class ErrorLog:
    """Error counts by kind, shared by every conversation of a run."""

    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str) -> None:
        self.kinds[kind] += 1

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


class Conversation(Protocol):
    async def send(self, text: str) -> str | None:
        """Send one message and wait for its answer; ``None`` or the error kind."""

    async def close(self) -> None: ...


class Target(Protocol):
    name: str
    errors: ErrorLog

    def conversation(self, user_id: str) -> Conversation: ...

    async def aclose(self) -> None: ...


def _http_error(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, (json.JSONDecodeError, ValueError)):
        return "bad_response"
    return "http_error"


def _client(base_url: str, connections: int, timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,  # never a proxy on loopback
    )


# --- gateway (web channel) ------------------------------------------------------------------------
class GatewayTarget:
    name = "gateway"

    def __init__(self, base_url: str, *, connections: int = 100, timeout_s: float = 60.0,
                 websocket: bool = True, errors: ErrorLog | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = _client(self.base_url, connections, timeout_s)
        self.websocket = websocket
        self.errors = errors or ErrorLog()
        self.ws_opened = 0
        self.pushes = 0

    def conversation(self, user_id: str) -> GatewayConversation:
        return GatewayConversation(self, user_id)

    async def aclose(self) -> None:
        await self.http.aclose()


class GatewayConversation:
    def __init__(self, target: GatewayTarget, user_id: str) -> None:
        self.target = target
        self.user_id = user_id
        self.last_mode = "bot"
        self._socket_task: asyncio.Task[None] | None = None

    async def send(self, text: str) -> str | None:
        body = {"user_id": self.user_id, "text": text, "client_message_id": f"bench-{uuid.uuid4().hex}"}
        try:
            response = await self.target.http.post("/api/v1/web/messages", json=body)
            if response.status_code != 200:
                return f"http_{response.status_code}"
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return _http_error(exc)
        self.last_mode = str(data.get("mode", ""))
        if any(str(r.get("text", "")).startswith(BUSY_PREFIX) for r in data.get("replies", [])):
            return "busy"
        if self.target.websocket and self._socket_task is None:
            # the widget connects its push socket after the first answer, beside the chat
            self._socket_task = asyncio.create_task(self._hold_socket(data))
        return None

    async def _hold_socket(self, first: dict[str, Any]) -> None:
        """Open the push socket like the widget, read ``hello``, then consume frames until closed."""
        import websockets

        url = (self.target.base_url.replace("http", "ws", 1) + "/api/v1/web/ws?conversation_id="
               + first["conversation_id"] + "&token=" + first["push_token"]
               + "&after=" + str(max(first.get("reply_seqs") or [0])))
        try:
            async with websockets.connect(url, open_timeout=30, ping_interval=None, max_queue=64) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if hello.get("type") != "hello":
                    self.target.errors.add("ws")
                    return
                self.target.ws_opened += 1
                async for frame in ws:  # pings, queue updates: a widget renders them, we count them
                    if '"ping"' not in str(frame):
                        self.target.pushes += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001  (any failure to open or hold the socket is one ws error)
            self.target.errors.add("ws")

    async def close(self) -> None:
        if self._socket_task is not None:
            self._socket_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._socket_task


# --- Rasa alone -----------------------------------------------------------------------------------
class RasaTarget:
    name = "rasa"

    def __init__(self, base_url: str, *, connections: int = 100, timeout_s: float = 60.0,
                 errors: ErrorLog | None = None) -> None:
        self.http = _client(base_url.rstrip("/"), connections, timeout_s)
        self.errors = errors or ErrorLog()

    def conversation(self, user_id: str) -> RasaConversation:
        return RasaConversation(self, user_id)

    async def aclose(self) -> None:
        await self.http.aclose()


class RasaConversation:
    def __init__(self, target: RasaTarget, sender: str) -> None:
        self.target = target
        self.sender = sender

    async def send(self, text: str) -> str | None:
        try:
            response = await self.target.http.post("/webhooks/rest/webhook",
                                                   json={"sender": self.sender, "message": text})
            if response.status_code != 200:
                return f"http_{response.status_code}"
            if not isinstance(response.json(), list):
                return "bad_response"
        except (httpx.HTTPError, ValueError) as exc:
            return _http_error(exc)
        return None

    async def close(self) -> None:
        return None
