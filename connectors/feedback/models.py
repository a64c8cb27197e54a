"""Feedback rows (praise or complaint about a named window/staff member) and 1–5 satisfaction ratings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db import Base, utcnow


class FeedbackKind:
    PRAISE = "praise"
    COMPLAINT = "complaint"
    ALL = (PRAISE, COMPLAINT)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    # the window / staff member / department named by the citizen ("3号窗口"); empty when none was named
    target: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")  # masked
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "target": self.target, "text": self.text,
                "conversation_id": self.conversation_id, "work_order_id": self.work_order_id,
                "created_at": self.created_at.isoformat()}


class Rating(Base):
    """One rating per conversation and subject (the bot, or the agent who served); rating again updates it."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("conversation_id", "subject", name="uq_rating_conversation_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    subject: Mapped[str] = mapped_column(String(80))  # "bot" or "agent:<id>"
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "conversation_id": self.conversation_id, "subject": self.subject,
                "score": self.score, "comment": self.comment, "updated_at": self.updated_at.isoformat()}
