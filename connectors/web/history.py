"""What the widget may read back: its conversation's transcript, masked, from a sequence number on.

A reconnecting widget asks for everything after the last ``seq`` it has seen, so messages pushed
while it was offline (agent replies, queue updates) are never lost and never shown twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.conversations.models import ChannelIdentity, Conversation, Message, MessageDirection

WEB_CHANNEL = "web"


@dataclass(frozen=True)
class ConversationOwner:
    conversation_id: str
    mode: str
    web_user_ids: list[str]


def owner_of(session: Session, conversation_id: str) -> ConversationOwner | None:
    """The conversation and the web user ids of its citizen; None if there is no such conversation."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    user_ids = list(
        session.scalars(
            select(ChannelIdentity.external_id).where(
                ChannelIdentity.citizen_id == conversation.citizen_id, ChannelIdentity.channel == WEB_CHANNEL
            )
        )
    )
    return ConversationOwner(conversation.id, conversation.mode, user_ids)


def message_view(message: Message) -> dict[str, Any]:
    """One transcript entry as the widget sees it: masked text only, never the raw text."""
    payload = message.payload or {}
    inbound = message.direction == MessageDirection.INBOUND
    return {
        "seq": message.seq,
        "author": message.author,
        "direction": message.direction,
        "text": message.masked_text,
        "buttons": list(payload.get("buttons") or []),
        # lets the widget match its own pending (unacknowledged) bubble to the stored message
        "client_message_id": message.channel_message_id if inbound else None,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def messages_after(session: Session, conversation_id: str, after: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` messages with ``seq > after`` in order, and whether more follow."""
    rows = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after)
            .order_by(Message.seq)
            .limit(limit + 1)
        )
    )
    return [message_view(m) for m in rows[:limit]], len(rows) > limit


def last_seq(session: Session, conversation_id: str) -> int:
    return int(session.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conversation_id)) or 0)


def seqs_of_exchange(session: Session, conversation_id: str, client_message_id: str) -> tuple[int | None, list[int]]:
    """Sequence numbers of an inbound message and of the replies stored for it."""
    inbound = session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.channel_message_id == client_message_id,
            Message.direction == MessageDirection.INBOUND,
        )
    )
    if inbound is None:
        return None, []
    replies = session.scalars(select(Message.seq).where(Message.reply_to_id == inbound.id).order_by(Message.seq))
    return inbound.seq, list(replies)
