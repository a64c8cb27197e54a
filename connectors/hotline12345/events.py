"""Structured ``govbot`` events from the bot that create orders and feedback (see message_router._convert).

They are applied inside the router's second unit of work, the one that also stores the bot's
replies, so the order, its outbox row, the feedback row and the reply naming the order number
commit together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.conversations.models import Conversation, MessageAuthor
from connectors.feedback.models import Feedback, FeedbackKind
from connectors.hotline12345.service import WorkOrderError, create_work_order
from connectors.privacy import mask_pii

EVENT_TYPES = frozenset({"work_order", "feedback"})


def order_created_text(number: str) -> str:
    return f"已为您提交12345工单，工单号 {number}，相关部门将在规定时限内答复。您可以凭工单号查询办理进度。"


def _str(value: Any) -> str | None:
    return str(value).strip() if value not in (None, "") else None


def _order_from(session: Session, conversation: Conversation, event: dict[str, Any], category: str, summary: str):
    return create_work_order(
        session, conversation, category=category, summary=summary, matter=_str(event.get("matter")),
        enterprise_name=_str(event.get("enterprise_name")), credit_code=_str(event.get("credit_code")),
        case_code=_str(event.get("case_code")), created_by="bot",
    )


def apply_bot_events(
    session: Session, conversation: Conversation, events: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """Apply events; returns (text, author) replies for the citizen."""
    replies: list[tuple[str, str]] = []
    for event in events:
        try:
            if event.get("type") == "work_order":
                order = _order_from(session, conversation, event, str(event.get("category") or "consultation"),
                                    str(event.get("summary") or ""))
                if order.category == "complaint":
                    _link_open_complaint(session, conversation, order.id)
                replies.append((order_created_text(order.number), MessageAuthor.SYSTEM))
            elif event.get("type") == "feedback":
                replies.extend(_feedback(session, conversation, event))
        except WorkOrderError as exc:
            replies.append((f"抱歉，工单未能提交：{exc.message_zh}", MessageAuthor.SYSTEM))
    return replies


def _feedback(session: Session, conversation: Conversation, event: dict[str, Any]) -> list[tuple[str, str]]:
    kind = str(event.get("kind") or "")
    if kind not in FeedbackKind.ALL:
        return []
    target = (_str(event.get("target")) or "")[:200]
    text = mask_pii(str(event.get("text") or ""))
    row = Feedback(kind=kind, target=target, text=text, conversation_id=conversation.id)
    session.add(row)
    session.flush()
    if kind != FeedbackKind.COMPLAINT or not event.get("work_order"):
        return []
    summary = f"曝光台：对{target}的投诉。{text}" if target else text
    order = _order_from(session, conversation, event, "complaint", summary)
    row.work_order_id = order.id
    return [(order_created_text(order.number), MessageAuthor.SYSTEM)]


def _link_open_complaint(session: Session, conversation: Conversation, order_id: int) -> None:
    """A complaint recorded earlier in this conversation becomes this order's origin."""
    row = session.scalar(
        select(Feedback).where(Feedback.conversation_id == conversation.id, Feedback.kind == FeedbackKind.COMPLAINT,
                               Feedback.work_order_id.is_(None)).order_by(Feedback.id.desc())
    )
    if row is not None:
        row.work_order_id = order_id
