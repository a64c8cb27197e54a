"""Conversation store operations: identities, conversations, the transcript."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.conversations.models import (
    ChannelIdentity,
    CitizenIdentity,
    Conversation,
    ConversationMode,
    Message,
    MessageDirection,
)
from connectors.db import utcnow
from connectors.privacy import mask_pii


def citizen_for(session: Session, channel: str, external_id: str) -> CitizenIdentity:
    identity = session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    if identity is not None:
        return identity.citizen
    citizen = CitizenIdentity()
    session.add(citizen)
    session.flush()
    session.add(ChannelIdentity(channel=channel, external_id=external_id, citizen_id=citizen.id))
    session.flush()
    return citizen


def current_conversation(session: Session, channel: str, external_id: str) -> Conversation:
    """The citizen's open conversation, locked for this unit of work; a new one if none is open."""
    citizen = citizen_for(session, channel, external_id)
    conversation = session.scalar(
        select(Conversation)
        .where(Conversation.citizen_id == citizen.id, Conversation.mode != ConversationMode.CLOSED)
        .order_by(Conversation.created_at.desc())
        .with_for_update()
    )
    if conversation is None:
        conversation = Conversation(citizen_id=citizen.id, channel=channel, mode=ConversationMode.BOT)
        session.add(conversation)
        session.flush()
    return conversation


def next_seq(session: Session, conversation_id: str) -> int:
    last = session.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conversation_id))
    return int(last or 0) + 1


def find_inbound(session: Session, conversation_id: str, channel_message_id: str) -> Message | None:
    return session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.channel_message_id == channel_message_id,
            Message.direction == MessageDirection.INBOUND,
        )
    )


def replies_to(session: Session, message: Message) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.reply_to_id == message.id).order_by(Message.seq)))


def add_message(
    session: Session,
    conversation: Conversation,
    *,
    direction: str,
    author: str,
    text: str,
    channel: str,
    payload: dict[str, Any] | None = None,
    channel_message_id: str | None = None,
    status: str = "received",
    reply_to: Message | None = None,
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        seq=next_seq(session, conversation.id),
        direction=direction,
        author=author,
        text=text,
        masked_text=mask_pii(text),
        payload=payload,
        channel=channel,
        channel_message_id=channel_message_id,
        status=status,
        reply_to_id=reply_to.id if reply_to is not None else None,
    )
    session.add(message)
    conversation.updated_at = utcnow()
    session.flush()
    return message


def claim_inbound(session: Session, message_id: int, lease_s: float) -> bool:
    """Take (or renew) the lease on answering a stored, unanswered inbound; False if it is held or done.

    One conditional UPDATE, so of several gateways recovering the same orphan exactly one wins, on
    SQLite and PostgreSQL alike. A message nobody claimed yet counts as claimed when it was stored.
    """
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "received",
               func.coalesce(Message.claimed_at, Message.created_at) <= now - timedelta(seconds=lease_s))
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def renew_claim(session: Session, message_id: int) -> None:
    """The owner is still answering: push its lease forward."""
    session.execute(
        update(Message).where(Message.id == message_id, Message.status == "received")
        .values(claimed_at=utcnow()).execution_options(synchronize_session=False)
    )


def transcript(session: Session, conversation_id: str) -> list[Message]:
    return list(
        session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq))
    )
