"""Feedback endpoints: the admin 表扬台/曝光台 listing and the citizen's 1–5 satisfaction rating."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from connectors.admin import _check_token
from connectors.conversations.models import Conversation
from connectors.errors import ApiError
from connectors.feedback.models import Feedback, FeedbackKind, Rating
from connectors.privacy import mask_pii
from connectors.web import history

if TYPE_CHECKING:
    from connectors.channels.base import Channel
    from connectors.gateway import Gateway


class RatingIn(BaseModel):
    # validated by hand so the error is the project's bilingual one, not a generic 422
    score: Any = None
    token: str = Field(default="", max_length=128, description="the push_token returned with every web reply")
    comment: str = Field(default="", max_length=500)


def rating_subject(conversation: Conversation) -> str:
    return f"agent:{conversation.assigned_agent_id}" if conversation.assigned_agent_id else "bot"


def feedback_router(gateway: Gateway, channels: Mapping[str, Channel]) -> APIRouter:
    router = APIRouter(tags=["feedback"])
    db = gateway.db

    @router.get("/api/v1/admin/feedback")
    async def list_feedback(
        kind: str | None = Query(default=None, max_length=16),
        limit: int = Query(default=100, ge=1, le=500),
        authorization: str | None = Header(default=None),
    ) -> dict[str, Any]:
        _check_token(authorization)
        if kind is not None and kind not in FeedbackKind.ALL:
            raise ApiError(422, "invalid_kind", "kind 只能是 praise 或 complaint", "kind must be praise or complaint")

        def load() -> dict[str, Any]:
            with db.session() as session:
                query = select(Feedback).order_by(Feedback.id.desc()).limit(limit)
                if kind:
                    query = query.where(Feedback.kind == kind)
                ratings = session.scalars(select(Rating).order_by(Rating.id.desc()).limit(limit))
                return {"feedback": [f.as_dict() for f in session.scalars(query)],
                        "ratings": [r.as_dict() for r in ratings]}

        return await run_in_threadpool(load)

    @router.post("/api/v1/web/conversations/{conversation_id}/rating")
    async def rate(conversation_id: str, body: RatingIn) -> dict[str, Any]:
        score = body.score
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ApiError(422, "invalid_score", "评分必须是 1 到 5 的整数", "score must be an integer from 1 to 5")
        web = channels.get("web")

        def save() -> dict[str, Any]:
            with db.session() as session:
                owner = history.owner_of(session, conversation_id)
                if owner is None:
                    raise ApiError(404, "conversation_not_found", "会话不存在", "conversation not found")
                tokens = getattr(web, "tokens", None)  # the web channel's push-token issuer
                if tokens is None or not tokens.verify(owner.web_user_ids, conversation_id, body.token):
                    raise ApiError(403, "invalid_push_token", "访问令牌无效，请重新发送消息以获取新令牌",
                                   "invalid push token: send a message to get a new one")
                conversation = session.get(Conversation, conversation_id)
                assert conversation is not None
                subject = rating_subject(conversation)
                row = session.scalar(select(Rating).where(Rating.conversation_id == conversation_id,
                                                          Rating.subject == subject).with_for_update())
                if row is None:
                    row = Rating(conversation_id=conversation_id, subject=subject, score=score)
                    session.add(row)
                row.score, row.comment = score, mask_pii(body.comment.strip())
                session.flush()
                return {"ok": True, "rating": row.as_dict()}

        return await run_in_threadpool(save)

    return router
