"""Mobile-app channel: token-authenticated message API with long-poll for pushed replies.

Two credentials, because they protect different things: the per-app API key (``X-App-Id`` +
``X-Api-Key``, configured in ``GOVBOT_APP_KEYS`` as ``appid:key,appid2:key2``) says which app is
calling; the per-user token says which citizen. The app's backend, which already knows its user,
asks ``POST /api/v1/app/tokens`` for a token and hands it to the phone; every message call carries it
as ``Authorization: Bearer …``. A token for one user never reads or writes another user's chat.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from connectors.channels.base import Channel, register_channel
from connectors.channels.web import MAX_SEQ, validate_text
from connectors.conversations.models import ChannelIdentity, Conversation, ConversationMode
from connectors.errors import ApiError
from connectors.message_router import Inbound, Reply
from connectors.web import history
from connectors.web.tokens import secret_key

APP_KEYS_ENV = "GOVBOT_APP_KEYS"
_PURPOSE = b"govbot/app-user-token/v1"
MAX_TOKEN_TTL_S = 30 * 24 * 3600
MAX_WAIT_S = 30


def app_keys() -> dict[str, str]:
    pairs = [p.strip() for p in os.environ.get(APP_KEYS_ENV, "").split(",") if p.strip()]
    return dict(p.split(":", 1) for p in pairs if ":" in p)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UserTokens:
    """Stateless signed tokens ``payload.signature`` binding an app, a user and an expiry."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = hmac.new(key if key is not None else secret_key(), _PURPOSE, hashlib.sha256).digest()

    def issue(self, app_id: str, user_id: str, ttl_s: int) -> tuple[str, int]:
        expires = int(time.time()) + ttl_s
        payload = _b64(json.dumps({"app": app_id, "uid": user_id, "exp": expires}, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", expires

    def verify(self, token: str, app_id: str) -> str:
        """The user id of a valid, unexpired token of ``app_id``; raises ApiError otherwise."""
        try:
            payload, signature = token.split(".", 1)
            if not hmac.compare_digest(self._sign(payload), signature):
                raise ValueError("bad signature")
            data = json.loads(_unb64(payload))
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(401, "invalid_user_token", "用户令牌无效", "invalid user token") from None
        if data.get("app") != app_id:
            raise ApiError(403, "token_app_mismatch", "用户令牌不属于该应用", "user token belongs to another app")
        if int(data.get("exp", 0)) < time.time():
            raise ApiError(401, "user_token_expired", "用户令牌已过期，请重新获取", "user token expired")
        return str(data["uid"])

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


class TokenRequest(BaseModel):
    user_id: str = Field(min_length=1, max_length=128, description="the app's own id for its user")
    ttl_s: int = Field(default=24 * 3600, ge=60, le=MAX_TOKEN_TTL_S)


class TokenOut(BaseModel):
    token: str
    expires_at: int = Field(description="Unix time")


class AppMessageIn(BaseModel):
    text: str
    client_message_id: str | None = Field(default=None, max_length=128, description="makes retries safe")


class AppReply(BaseModel):
    text: str
    buttons: list[dict[str, str]] = Field(default_factory=list)


class AppMessageOut(BaseModel):
    conversation_id: str
    mode: str = Field(description="bot | queued | agent")
    replies: list[AppReply]
    message_seq: int | None = None
    reply_seqs: list[int] = Field(default_factory=list)


class AppEventsOut(BaseModel):
    conversation_id: str | None
    mode: str | None
    messages: list[dict[str, Any]] = Field(description="transcript entries (masked) with seq > after")
    last_seq: int


@register_channel
class AppChannel(Channel):
    name = "app"

    def __init__(self, gateway: Any) -> None:
        super().__init__(gateway)
        self.tokens = UserTokens()

    def _app(self, app_id: str | None, api_key: str | None) -> str:
        keys = app_keys()
        if not keys:
            raise ApiError(503, "app_channel_not_configured", "移动端渠道未配置", f"{APP_KEYS_ENV} is not set")
        expected = keys.get(app_id or "")
        if expected is None or not hmac.compare_digest(expected, api_key or ""):
            raise ApiError(401, "invalid_api_key", "应用标识或 API 密钥无效", "invalid app id or API key")
        return str(app_id)

    def _user(self, app_id: str, authorization: str | None) -> str:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not token:
            raise ApiError(401, "missing_user_token", "缺少用户令牌", "missing bearer user token")
        return f"{app_id}:{self.tokens.verify(token, app_id)}"

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/api/v1/app", tags=["app"])

        @router.post("/tokens", response_model=TokenOut, summary="Issue a user token (call from the app's backend)")
        async def issue_token(
            body: TokenRequest,
            x_app_id: str | None = Header(default=None),
            x_api_key: str | None = Header(default=None),
        ) -> TokenOut:
            app_id = self._app(x_app_id, x_api_key)
            user_id = body.user_id.strip()
            if not user_id:  # a blank id would give every blank-named user one shared conversation
                raise ApiError(422, "invalid_user_id", "user_id 不能为空", "user_id must not be blank")
            token, expires = self.tokens.issue(app_id, user_id, body.ttl_s)
            return TokenOut(token=token, expires_at=expires)

        @router.post("/messages", response_model=AppMessageOut, summary="Send a citizen message")
        async def post_message(
            body: AppMessageIn,
            x_app_id: str | None = Header(default=None),
            x_api_key: str | None = Header(default=None),
            authorization: str | None = Header(default=None),
        ) -> AppMessageOut:
            user = self._user(self._app(x_app_id, x_api_key), authorization)
            text = validate_text(body.text, self.gateway.settings.gateway.max_text_chars)
            client_message_id = body.client_message_id or f"srv-{uuid.uuid4().hex}"
            outcome = await self.gateway.router.handle(
                Inbound(channel=self.name, user_id=user, text=text, channel_message_id=client_message_id)
            )
            seq, reply_seqs = await run_in_threadpool(self._seqs, outcome.conversation_id, client_message_id)
            return AppMessageOut(
                conversation_id=outcome.conversation_id,
                mode=outcome.mode,
                replies=[AppReply(**r) for r in self.render(outcome.replies)],
                message_seq=seq,
                reply_seqs=reply_seqs if len(reply_seqs) == len(outcome.replies) else [],
            )

        @router.get("/events", response_model=AppEventsOut, summary="Long-poll for messages after a seq")
        async def events(
            after: int = Query(default=0, ge=0, le=MAX_SEQ),
            wait: int = Query(default=25, ge=0, le=MAX_WAIT_S, description="seconds to wait when nothing is new"),
            x_app_id: str | None = Header(default=None),
            x_api_key: str | None = Header(default=None),
            authorization: str | None = Header(default=None),
        ) -> AppEventsOut:
            user = self._user(self._app(x_app_id, x_api_key), authorization)
            found = await run_in_threadpool(self._events, user, after)
            if found.messages or wait == 0 or found.conversation_id is None:
                return found
            async with self.gateway.push_hub.subscribe(found.conversation_id) as queue:
                # re-read after subscribing so a push between the two reads is not missed
                found = await run_in_threadpool(self._events, user, after)
                if not found.messages:
                    try:
                        await asyncio.wait_for(queue.get(), timeout=wait)
                    except asyncio.TimeoutError:
                        return found
                    found = await run_in_threadpool(self._events, user, after)
            return found

        return router

    def render(self, replies: list[Reply]) -> list[dict[str, Any]]:
        return [reply.as_dict() for reply in replies]

    def _seqs(self, conversation_id: str, client_message_id: str) -> tuple[int | None, list[int]]:
        with self.gateway.db.session() as session:
            return history.seqs_of_exchange(session, conversation_id, client_message_id)

    def _events(self, external_id: str, after: int) -> AppEventsOut:
        with self.gateway.db.session() as session:
            identity = session.scalar(
                select(ChannelIdentity).where(ChannelIdentity.channel == self.name, ChannelIdentity.external_id == external_id)
            )
            if identity is None:
                return AppEventsOut(conversation_id=None, mode=None, messages=[], last_seq=after)
            conversation = session.scalar(
                select(Conversation)
                .where(Conversation.citizen_id == identity.citizen_id, Conversation.mode != ConversationMode.CLOSED)
                .order_by(Conversation.created_at.desc())
            )
            if conversation is None:
                return AppEventsOut(conversation_id=None, mode=None, messages=[], last_seq=after)
            messages, _ = history.messages_after(session, conversation.id, after, 200)
            last = messages[-1]["seq"] if messages else after
            return AppEventsOut(conversation_id=conversation.id, mode=conversation.mode, messages=messages, last_seq=last)
