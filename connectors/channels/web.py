"""Web channel: the stable REST message API, plus the widget's WebSocket push and history.

``POST /api/v1/web/messages`` answers synchronously (the contract external checks rely on). Replies
that answer no request — an agent's message, a queue update — reach the widget through
``GET /api/v1/web/ws`` (WebSocket). Every message has a per-conversation ``seq``; a widget that lost
its connection asks ``GET /api/v1/web/history?after=SEQ`` for what it missed. WebSocket and history
are guarded by the ``push_token`` returned with every REST reply (see :mod:`connectors.web.tokens`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from connectors.channels.base import Channel, register_channel
from connectors.errors import ApiError
from connectors.message_router import Inbound, Reply
from connectors.web import history
from connectors.web.tokens import PushTokens
from connectors.web.views import allowed_origins

if TYPE_CHECKING:
    from connectors.gateway import Gateway

log = logging.getLogger(__name__)

# WebSocket close codes: 1008 is the standard "policy violation"; 4404 is ours for "no such conversation"
WS_POLICY_VIOLATION = 1008
WS_UNKNOWN_CONVERSATION = 4404
HISTORY_MAX_LIMIT = 500
# the largest seq a client may name: SQLite and PostgreSQL integers are 64-bit, a bigger one is a 500
MAX_SEQ = 2**63 - 1

Sender = Callable[[dict[str, Any]], Awaitable[None]]


class WebMessageIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=128)
    text: str
    # a client-side id makes retries safe: the same id returns the same replies
    client_message_id: str | None = Field(default=None, max_length=128)


class WebMessageOut(BaseModel):
    conversation_id: str
    mode: str
    replies: list[dict[str, Any]]
    # added for the widget; the three fields above are the stable contract. A retry with the same
    # client_message_id gets an identical body, so nothing here may differ between the two.
    push_token: str = Field(description="authorizes /api/v1/web/ws and /api/v1/web/history for this conversation")
    message_seq: int | None = Field(default=None, description="seq of the citizen's message in the transcript")
    reply_seqs: list[int] = Field(default_factory=list, description="seq of each reply, in order")


class HistoryOut(BaseModel):
    conversation_id: str
    mode: str
    messages: list[dict[str, Any]]
    last_seq: int
    has_more: bool


def validate_text(text: str, max_chars: int) -> str:
    # NUL never comes from a keyboard, and PostgreSQL refuses it in text columns (it was a 500 there)
    text = text.replace("\x00", "")
    if not text or not text.strip():
        raise ApiError(422, "empty_text", "消息内容不能为空", "text must not be empty")
    if len(text) > max_chars:
        raise ApiError(
            413, "text_too_long", f"消息过长，最多 {max_chars} 个字符", f"text too long: at most {max_chars} characters"
        )
    return text.strip()


class AccessDenied(Exception):
    def __init__(self, error: ApiError, ws_code: int) -> None:
        super().__init__(error.message_en)
        self.error, self.ws_code = error, ws_code


@register_channel
class WebChannel(Channel):
    name = "web"
    # an application-level heartbeat lets the widget notice a dead connection that TCP has not reported
    heartbeat_s: float = 20.0
    # a pushed "replies" event is normally published after its messages are committed; allow a short lag
    sync_retries: tuple[float, ...] = (0.05, 0.2, 0.5)

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.tokens = PushTokens()

    def router(self) -> APIRouter:
        router = APIRouter(tags=["web"])

        @router.post("/api/v1/web/messages", response_model=WebMessageOut)
        async def post_message(body: WebMessageIn) -> WebMessageOut:
            user_id = body.user_id.strip()
            if not user_id:
                raise ApiError(422, "missing_user_id", "缺少用户标识 user_id", "user_id is required")
            text = validate_text(body.text, self.gateway.settings.gateway.max_text_chars)
            # without a client id we make one, so the stored message can be found again for its seq
            client_message_id = body.client_message_id or f"srv-{uuid.uuid4().hex}"
            outcome = await self.gateway.router.handle(
                Inbound(channel=self.name, user_id=user_id, text=text, channel_message_id=client_message_id)
            )
            message_seq, reply_seqs = await run_in_threadpool(
                self._seqs, outcome.conversation_id, client_message_id
            )
            return WebMessageOut(
                conversation_id=outcome.conversation_id,
                mode=outcome.mode,
                replies=self.render(outcome.replies),
                push_token=self.tokens.issue(user_id, outcome.conversation_id),
                message_seq=message_seq,
                reply_seqs=reply_seqs if len(reply_seqs) == len(outcome.replies) else [],
            )

        @router.get("/api/v1/web/history", response_model=HistoryOut)
        async def get_history(
            conversation_id: str = Query(min_length=1, max_length=64),
            token: str = Query(min_length=1, max_length=128),
            after: int = Query(default=0, ge=0, le=MAX_SEQ, description="return messages with seq greater than this"),
            limit: int = Query(default=200, ge=1, le=HISTORY_MAX_LIMIT),
        ) -> HistoryOut:
            try:
                return await run_in_threadpool(self._history, conversation_id, token, after, limit)
            except AccessDenied as denied:
                raise denied.error from None

        @router.websocket("/api/v1/web/ws")
        async def push_socket(websocket: WebSocket) -> None:
            await self._serve_socket(websocket)

        return router

    def render(self, replies: list[Reply]) -> list[dict[str, Any]]:
        return [reply.as_dict() for reply in replies]

    # --- access -------------------------------------------------------------------------------

    def _authorize(self, session: Any, conversation_id: str, token: str) -> history.ConversationOwner:
        owner = history.owner_of(session, conversation_id)
        if owner is None:
            raise AccessDenied(
                ApiError(404, "conversation_not_found", "会话不存在", "conversation not found"), WS_UNKNOWN_CONVERSATION
            )
        if not self.tokens.verify(owner.web_user_ids, conversation_id, token):
            raise AccessDenied(
                ApiError(403, "invalid_push_token", "访问令牌无效，请重新发送消息以获取新令牌",
                         "invalid push token: send a message to get a new one"),
                WS_POLICY_VIOLATION,
            )
        return owner

    def _seqs(self, conversation_id: str, client_message_id: str) -> tuple[int | None, list[int]]:
        with self.gateway.db.session() as session:
            return history.seqs_of_exchange(session, conversation_id, client_message_id)

    def _history(self, conversation_id: str, token: str, after: int, limit: int) -> HistoryOut:
        with self.gateway.db.session() as session:
            owner = self._authorize(session, conversation_id, token)
            messages, has_more = history.messages_after(session, conversation_id, after, limit)
            return HistoryOut(
                conversation_id=conversation_id,
                mode=owner.mode,
                messages=messages,
                last_seq=history.last_seq(session, conversation_id),
                has_more=has_more,
            )

    def _hello(self, conversation_id: str, token: str) -> dict[str, Any]:
        with self.gateway.db.session() as session:
            owner = self._authorize(session, conversation_id, token)
            return {"type": "hello", "conversation_id": conversation_id, "mode": owner.mode,
                    "last_seq": history.last_seq(session, conversation_id)}

    def _since(self, conversation_id: str, after: int) -> tuple[str, list[dict[str, Any]]]:
        with self.gateway.db.session() as session:
            owner = history.owner_of(session, conversation_id)
            messages, _ = history.messages_after(session, conversation_id, after, HISTORY_MAX_LIMIT)
            return (owner.mode if owner else "closed"), messages

    # --- WebSocket ----------------------------------------------------------------------------

    async def _serve_socket(self, websocket: WebSocket) -> None:
        """Relay the push hub to one widget.

        Protocol (server → client, JSON text frames): ``hello`` {mode, last_seq} once; ``messages``
        {mode, messages:[…seq…]} whenever the transcript grew after a push; any other hub event
        as published; ``ping`` every ``heartbeat_s``. Client → server: ``{"type":"ping"}`` → ``pong``.
        We accept before checking so a browser can read the close code (a refused handshake shows up
        in the browser only as 1006).
        """
        conversation_id = websocket.query_params.get("conversation_id", "")
        token = websocket.query_params.get("token", "")
        try:
            cursor = min(MAX_SEQ, max(0, int(websocket.query_params.get("after", "0") or 0)))
        except ValueError:
            cursor = 0
        await websocket.accept()
        origins = allowed_origins()
        if "*" not in origins and websocket.headers.get("origin") not in origins:
            # browsers apply no CORS to WebSockets: enforce the embedding allow-list here
            await websocket.close(code=WS_POLICY_VIOLATION, reason="origin_not_allowed")
            return
        try:
            hello = await run_in_threadpool(self._hello, conversation_id, token)
        except AccessDenied as denied:
            await websocket.close(code=denied.ws_code, reason=denied.error.code)
            return
        # subscribe before greeting: anything published from here on is relayed, so the widget's
        # history fetch (prompted by hello.last_seq) plus the relay leave no gap
        async with self.gateway.push_hub.subscribe(conversation_id) as queue:
            await websocket.send_json(hello)
            lock = asyncio.Lock()  # the relay loop and the ping reader both send

            async def send(data: dict[str, Any]) -> None:
                async with lock:
                    await websocket.send_json(data)

            reader = asyncio.create_task(self._read_client(websocket, send))
            try:
                while not reader.done():
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({getter, reader}, timeout=self.heartbeat_s,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        if not done:
                            await send({"type": "ping"})
                        continue
                    cursor = await self._relay(send, conversation_id, getter.result(), cursor)
            except (WebSocketDisconnect, RuntimeError):
                pass  # the client went away mid-send
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _relay(self, send: Sender, conversation_id: str, event: dict[str, Any], cursor: int) -> int:
        """Send one hub event; "replies" become the stored messages (with seq) the client has not had."""
        if event.get("type") != "replies":
            await send(event)
            return cursor
        for delay in (0.0, *self.sync_retries):
            if delay:
                await asyncio.sleep(delay)
            mode, messages = await run_in_threadpool(self._since, conversation_id, cursor)
            if messages:
                await send({"type": "messages", "conversation_id": conversation_id, "mode": mode,
                            "messages": messages})
                return max(m["seq"] for m in messages)
        # published but never stored (should not happen): deliver it anyway, without seq
        log.warning("push for conversation %s has no stored messages; relaying unsequenced", conversation_id)
        await send(event)
        return cursor

    @staticmethod
    async def _read_client(websocket: WebSocket, send: Sender) -> None:
        """Answer pings until the client disconnects; other client frames are ignored."""
        try:
            while True:
                data = await websocket.receive_json()
                if isinstance(data, dict) and data.get("type") == "ping":
                    await send({"type": "pong"})
        except (WebSocketDisconnect, RuntimeError):
            return
        except ValueError:  # not JSON: a misbehaving client; drop it
            return
