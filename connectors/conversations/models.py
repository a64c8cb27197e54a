"""Tables of the conversation store.

One conversation id per citizen conversation: it is Rasa's ``sender_id``, the transcript key and
the handoff ticket key. Messages keep the raw text (visible only through an audited reveal) and a
masked copy that everything else shows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connectors.db import Base, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class CitizenIdentity(Base):
    __tablename__ = "citizen_identities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    channel_identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="citizen")


class ChannelIdentity(Base):
    """A citizen as one channel knows them (web user id, WeChat openid, app user)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizen_identities.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    citizen: Mapped[CitizenIdentity] = relationship(back_populates="channel_identities")


class ConversationMode:
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"
    CLOSED = "closed"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_citizen_mode", "citizen_id", "mode"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizen_identities.id"))
    channel: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16), default=ConversationMode.BOT)
    skill: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assigned_agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # consecutive failures to get a bot answer (Rasa down or slow); reset on success
    bot_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.seq", cascade="all, delete-orphan"
    )


class MessageDirection:
    INBOUND = "in"
    OUTBOUND = "out"


class MessageAuthor:
    CITIZEN = "citizen"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # a channel's own message id (WeChat MsgId …) dedupes retries
        UniqueConstraint("conversation_id", "channel_message_id", name="uq_message_channel_id"),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(4))
    author: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    masked_text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    channel_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # inbound: "received" → "answered" | "failed" (kept for agents); outbound: "sent"
    status: Mapped[str] = mapped_column(String(16), default="received")
    # outbound replies point at the inbound message they answer, so a retried inbound gets the same replies
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # inbound: the lease of the process answering it (renewed while it works; created_at until then),
    # so with several gateways exactly one of them answers a message whose first gateway died
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
