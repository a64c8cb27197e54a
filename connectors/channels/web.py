"""Web channel: the stable REST message API used by the widget and by external checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from connectors.channels.base import Channel, register_channel
from connectors.errors import ApiError
from connectors.message_router import Inbound, Reply


class WebMessageIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=128)
    text: str
    # a client-side id makes retries safe: the same id returns the same replies
    client_message_id: str | None = Field(default=None, max_length=128)


class WebMessageOut(BaseModel):
    conversation_id: str
    mode: str
    replies: list[dict[str, Any]]


def validate_text(text: str, max_chars: int) -> str:
    if not text or not text.strip():
        raise ApiError(422, "empty_text", "消息内容不能为空", "text must not be empty")
    if len(text) > max_chars:
        raise ApiError(
            413, "text_too_long", f"消息过长，最多 {max_chars} 个字符", f"text too long: at most {max_chars} characters"
        )
    return text.strip()


@register_channel
class WebChannel(Channel):
    name = "web"

    def router(self) -> APIRouter:
        router = APIRouter(tags=["web"])

        @router.post("/api/v1/web/messages", response_model=WebMessageOut)
        async def post_message(body: WebMessageIn) -> WebMessageOut:
            user_id = body.user_id.strip()
            if not user_id:
                raise ApiError(422, "missing_user_id", "缺少用户标识 user_id", "user_id is required")
            text = validate_text(body.text, self.gateway.settings.gateway.max_text_chars)
            outcome = await self.gateway.router.handle(
                Inbound(channel=self.name, user_id=user_id, text=text, channel_message_id=body.client_message_id)
            )
            return WebMessageOut(
                conversation_id=outcome.conversation_id, mode=outcome.mode, replies=self.render(outcome.replies)
            )

        return router

    def render(self, replies: list[Reply]) -> list[dict[str, Any]]:
        return [reply.as_dict() for reply in replies]
