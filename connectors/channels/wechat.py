"""WeChat channel: official-account (公众号) and mini-program (小程序) messages on ``/channels/wechat``.

WeChat waits 5 seconds for an answer and otherwise retries the same message up to three times.
So each message is handed to the router as a task; if the answer is ready within the reply
deadline (4.5 s by default) it goes back as the passive reply, otherwise we answer ``success`` and
the task's answer is sent later through the customer-service API (客服消息). Exactly one of the two
happens per message: the first request to decide, decides for every retry of that message.

Retries are deduped by ``MsgId`` (events: sender + CreateTime) — in-process while the message is
being answered, and through the router's ``channel_message_id`` afterwards. A retry of a message
answered passively gets the same passive reply (WeChat shows only one response per message: it
retries only when it did not receive ours); a retry of a message answered asynchronously gets
``success``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from wechatpy.messages import BaseMessage

from connectors.channels.base import Channel, register_channel
from connectors.errors import ApiError
from connectors.message_router import Inbound, Outcome, Reply
from connectors.reliability import DATABASE_UNAVAILABLE
from connectors.wechat.api import CustomerServiceClient, SendResult
from connectors.wechat.delivery import mark_custom_send, went_through_custom_send
from connectors.wechat.menus import resolve_choice
from connectors.wechat.payload import JSON, channel_message_id, parse_payload, read_body, to_message
from connectors.wechat.render import (
    MENU,
    NUMBERED,
    passive_part,
    passive_xml,
    reply_texts,
    split_text,
)
from connectors.wechat.security import SafeMode, verify_signature
from connectors.wechat.settings import WeChatSettings
from connectors.wechat.token import build_token_manager

if TYPE_CHECKING:
    from connectors.gateway import Gateway

log = logging.getLogger(__name__)

SUCCESS = "success"  # WeChat's "received, no passive reply" answer (accepted unencrypted in safe mode too)
WELCOME_TEXT = (
    "您好，欢迎关注！我是政务服务智能客服，可以为您解答事项办理指南、所需材料、办公时间和办件进度等问题。"
    "请直接用文字提问，例如“社保卡丢了怎么补办”。如需人工服务，请回复“转人工”。"
)
TEXT_ONLY_TEXT = "抱歉，目前只能识别文字消息。请用文字描述您要咨询的问题，例如“居住证怎么办理”。"
VOICE_UNRECOGNISED_TEXT = "抱歉，没能识别这条语音的内容。请用文字描述您要咨询的问题，我们会尽快为您解答。"
NOT_CONFIGURED_SEND = SendResult(False, -2, "customer-service API not configured (WECHAT_APP_ID / WECHAT_APP_SECRET)")

ASYNC, PASSIVE = "async", "passive"


@dataclass
class _Pending:
    """One citizen message being answered; ``delivery`` is decided once, by the first request that can."""

    key: str
    openid: str
    message_id: str
    style: str
    task: asyncio.Task[Outcome]
    delivery: str | None = None


@register_channel
class WeChatChannel(Channel):
    name = "wechat"

    def __init__(self, gateway: Gateway, settings: WeChatSettings | None = None) -> None:
        super().__init__(gateway)
        self.settings = settings or WeChatSettings.from_env()
        self.problems = self.settings.problems()
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        s = self.settings
        self.tokens = build_token_manager(self.http, s, gateway.settings.redis)  # shared via Redis if configured
        self.api = CustomerServiceClient(self.http, self.settings.api_base, self.tokens)
        self.safe: SafeMode | None = None
        if not self.problems and self.settings.safe_mode:
            self.safe = SafeMode(self.settings.token, self.settings.encoding_aes_key, self.settings.app_id)
        self._inflight: dict[str, _Pending] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ endpoints
    def router(self) -> APIRouter:
        @asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            yield
            await self.drain()

        router = APIRouter(tags=["wechat"], lifespan=lifespan)

        @router.get("/channels/wechat", response_class=PlainTextResponse)
        async def verify_url(request: Request) -> PlainTextResponse:
            """URL verification from the WeChat console: echo ``echostr`` when the signature is ours."""
            self._require_configured()
            q = request.query_params
            echostr = q.get("echostr")
            if not echostr:
                raise ApiError(400, "missing_echostr", "缺少 echostr 参数", "echostr is required")
            if self.safe is not None and q.get("msg_signature"):
                plain = self.safe.decrypt_echo(echostr, q["msg_signature"], q.get("timestamp", ""), q.get("nonce", ""))
                return PlainTextResponse(plain)
            verify_signature(self.settings.token, q.get("signature"), q.get("timestamp"), q.get("nonce"))
            return PlainTextResponse(echostr)

        @router.post("/channels/wechat")
        async def receive(request: Request) -> Response:
            received_at = asyncio.get_running_loop().time()
            self._require_configured()
            q = request.query_params
            # the plaintext signature needs no body: forged requests are refused before we read it
            verify_signature(self.settings.token, q.get("signature"), q.get("timestamp"), q.get("nonce"))
            raw = await read_body(request, self.settings.max_body_bytes)
            fmt, data = parse_payload(raw)
            encrypted = q.get("encrypt_type", "").lower() == "aes"
            if self.safe is not None:
                if not encrypted:
                    raise ApiError(
                        400, "encryption_required", "已启用安全模式，消息必须加密", "safe mode is on: messages must be encrypted"
                    )
                ciphertext = str(data.get("Encrypt") or "")
                plaintext = self.safe.decrypt(ciphertext, q.get("msg_signature"), q.get("timestamp"), q.get("nonce"))
                fmt, data = parse_payload(plaintext)
            elif encrypted:
                raise ApiError(
                    400, "safe_mode_not_configured", "收到加密消息，但未配置 WECHAT_ENCODING_AES_KEY",
                    "encrypted message received but WECHAT_ENCODING_AES_KEY is not set",
                )
            message = to_message(data)
            mini = fmt == JSON or self.settings.account_type == "miniprogram"
            text = await self._dispatch(message, data, mini, received_at)
            if text is None:
                return PlainTextResponse(SUCCESS)
            created = str(data.get("CreateTime") or "")
            xml = passive_xml(
                text, our_id=str(data.get("ToUserName") or ""), citizen=str(data.get("FromUserName")),
                create_time=int(created) if created.isdigit() and len(created) <= 12 else None,
            )
            if self.safe is not None:
                xml = self.safe.encrypt(xml, q.get("nonce", ""))
            return Response(xml, media_type="application/xml")

        return router

    def _require_configured(self) -> None:
        if self.problems:
            zh = "；".join(p[0] for p in self.problems)
            en = "; ".join(p[1] for p in self.problems)
            raise ApiError(503, "wechat_not_configured", f"微信渠道不可用：{zh}", f"WeChat channel unavailable: {en}")

    # ------------------------------------------------------------------ inbound
    async def _dispatch(self, message: BaseMessage, data: dict[str, Any], mini: bool, received_at: float) -> str | None:
        """The passive reply text, or None for ``success`` (nothing, or the answer follows asynchronously)."""
        openid = str(data["FromUserName"])
        if message.type == "event":
            event = str(getattr(message, "event", "") or "").lower()
            if event in {"subscribe", "subscribe_scan"}:
                return self._say(WELCOME_TEXT, openid, mini)
            return None  # unsubscribe, menu clicks, user_enter_tempsession …: acknowledged
        if message.type == "text":
            text = str(data.get("Content") or "")
        elif message.type == "voice" and str(data.get("Recognition") or "").strip():
            text = str(data["Recognition"])
        elif message.type == "voice":
            return self._say(VOICE_UNRECOGNISED_TEXT, openid, mini)
        else:
            return self._say(TEXT_ONLY_TEXT, openid, mini)
        text = text.strip()
        if not text:
            return self._say(TEXT_ONLY_TEXT, openid, mini)
        max_chars = self.gateway.settings.gateway.max_text_chars
        if len(text) > max_chars:
            return self._say(f"您的消息过长，请精简到 {max_chars} 字以内后重新发送。", openid, mini)
        menu_id = str(data.get("bizmsgmenuid") or "") or None
        text = resolve_choice(self.gateway.db, self.name, openid, text, menu_id, mini)
        return await self._answer(openid, channel_message_id(data), text, mini, received_at)

    def _say(self, text: str, openid: str, mini: bool) -> str | None:
        """A fixed channel notice: passive for official accounts, a customer-service message for mini-programs."""
        if not mini:
            return text
        self._spawn(self._send_text(openid, text))
        return None

    async def _answer(self, openid: str, message_id: str, text: str, mini: bool, received_at: float) -> str | None:
        key = f"{openid}:{message_id}"
        pending = self._inflight.get(key)
        if pending is None:
            inbound = Inbound(
                channel=self.name, user_id=openid, text=text, channel_message_id=message_id,
                metadata={"wechat_account": "miniprogram" if mini else "official"},
            )
            task = asyncio.create_task(self.gateway.router.handle(inbound))
            pending = _Pending(key, openid, message_id, NUMBERED if mini else MENU, task)
            self._inflight[key] = pending
        try:
            if not mini and pending.delivery != ASYNC:
                remaining = self.settings.reply_deadline_s - (asyncio.get_running_loop().time() - received_at)
                if not pending.task.done() and remaining > 0:
                    await asyncio.wait({pending.task}, timeout=remaining)
                if pending.task.done():
                    return self._passive_or_async(pending)
            self._go_async(pending)
            return None
        except asyncio.CancelledError:
            self._go_async(pending)  # nobody will read this response: the answer must still reach the citizen
            raise

    def _passive_or_async(self, pending: _Pending) -> str | None:
        if pending.task.cancelled() or pending.task.exception() is not None:
            self._inflight.pop(pending.key, None)
            error = None if pending.task.cancelled() else pending.task.exception()
            if isinstance(error, DATABASE_UNAVAILABLE):
                # not "success": WeChat would never send the message again. A 503 (connectors.reliability)
                # makes it retry, deduped by MsgId; a message stored before the failure is answered then
                raise error
            log.error("wechat message %s could not be handled", pending.key, exc_info=pending.task.exception())
            return None
        if pending.delivery == ASYNC:
            return None
        outcome = pending.task.result()
        if outcome.duplicate:  # answered before (here or by another gateway)
            self._inflight.pop(pending.key, None)
            answered_later = went_through_custom_send(self.gateway.db, outcome.conversation_id, pending.message_id)
            if not outcome.replies or answered_later:
                return None
            return passive_part(reply_texts(outcome.replies, pending.style))[0] or None
        texts = reply_texts(outcome.replies, pending.style)
        text, fit = passive_part(texts)
        if fit == 0 and any(texts):  # the first reply alone is too long for a passive message
            self._go_async(pending)
            return None
        pending.delivery = PASSIVE
        if any(texts[fit:]):  # what does not fit follows by custom send
            self._spawn(self._deliver_later(pending, skip=fit))
        else:
            self._inflight.pop(pending.key, None)
        return text or None

    # ------------------------------------------------------------------ outbound
    def _go_async(self, pending: _Pending) -> None:
        if pending.delivery is not None:
            return
        pending.delivery = ASYNC
        self._spawn(self._deliver_later(pending))

    async def _deliver_later(self, pending: _Pending, skip: int = 0) -> None:
        """Send the answer (all of it, or the replies after the ``skip`` that went out passively)."""
        try:
            outcome = await pending.task
            if outcome.duplicate:  # the first delivery of this message answers it
                return
            results = await self._send_replies(pending.openid, outcome.replies, pending.style, skip)
            mark_custom_send(self.gateway.db, outcome.conversation_id, pending.message_id, results)
        except Exception:
            log.exception("late delivery of wechat message %s failed", pending.key)
        finally:
            self._inflight.pop(pending.key, None)

    async def _send_replies(
        self, openid: str, replies: list[Reply], style: str, skip: int = 0
    ) -> list[SendResult | None]:
        """Send each reply as its own message; once WeChat closes the window, the rest is undelivered too."""
        results: list[SendResult | None] = []
        closed: SendResult | None = None
        for position, text in enumerate(reply_texts(replies, style)):
            if not text or position < skip:
                results.append(None)
                continue
            result = closed or await self._send_text(openid, text)
            if result.window_closed:
                closed = result
            results.append(result)
        return results

    async def _send_text(self, openid: str, text: str) -> SendResult:
        if not self.settings.can_send:
            log.warning("wechat reply to %s not sent: %s", openid, NOT_CONFIGURED_SEND.errmsg)
            return NOT_CONFIGURED_SEND
        for piece in split_text(text):
            result = await self.api.send_text(openid, piece)
            if not result.ok:
                return result
        return SendResult(True)

    def render(self, replies: list[Reply]) -> list[str]:
        style = NUMBERED if self.settings.account_type == "miniprogram" else MENU
        return [t for t in reply_texts(replies, style) if t]

    async def push(self, external_user_id: str, conversation_id: str, replies: list[Reply]) -> bool:
        """Agent messages and other unsolicited replies go out as customer-service messages."""
        if self.problems:
            return False
        delivered = True
        for text in self.render(replies):
            result = await self._send_text(external_user_id, text)
            delivered = delivered and result.ok
            if result.window_closed:
                return False
        return delivered

    # ------------------------------------------------------------------ lifecycle
    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Let late deliveries finish (bounded) before the process stops; then close the HTTP client."""
        if self._background:
            _, still_running = await asyncio.wait(set(self._background), timeout=timeout_s)
            for task in still_running:
                task.cancel()
        await self.http.aclose()
