"""Work orders and the outbox that delivers them.

An order and its outbox row are written in the same transaction as the conversation change that
caused them, so an order can never exist without a delivery obligation, nor the other way round.
The outbox row carries the exact body bytes (retries send identical, identically signed bytes)
and an idempotency key that 12345 dedupes on: at-least-once delivery, exactly-once effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db import Base, utcnow


class OrderStatus:
    PENDING = "pending"  # written, waiting in the outbox
    SUBMITTED = "submitted"  # 12345 acknowledged receipt
    ACCEPTED = "accepted"  # 受理
    PROCESSING = "processing"  # 办理中
    RESOLVED = "resolved"  # 已办结
    DEAD = "dead"  # delivery gave up; an operator can retry

    LABELS = {
        PENDING: "待提交", SUBMITTED: "已提交", ACCEPTED: "已受理", PROCESSING: "办理中",
        RESOLVED: "已办结", DEAD: "提交失败",
    }


class OutboxStatus:
    PENDING = "pending"
    INFLIGHT = "inflight"
    DELIVERED = "delivered"
    DEAD = "dead"


class WorkOrder(Base):
    __tablename__ = "work_orders"
    __table_args__ = (Index("ix_work_orders_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    matter: Mapped[str | None] = mapped_column(String(200), nullable=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    case_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # raw only when the citizen agreed to be called back; masked otherwise
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # callback event ids already applied, so a replayed callback changes nothing
    callback_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "conversation_id": self.conversation_id, "channel": self.channel,
            "category": self.category, "summary": self.summary, "matter": self.matter,
            "enterprise_name": self.enterprise_name, "credit_code": self.credit_code, "case_code": self.case_code,
            "contact_consent": self.contact_consent, "created_by": self.created_by, "status": self.status,
            "status_label": OrderStatus.LABELS.get(self.status, self.status), "external_id": self.external_id,
            "reply_text": self.reply_text, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), default="work_order")
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), nullable=True, index=True)
    target: Mapped[str] = mapped_column(String(32), default="http")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "attempts": self.attempts, "target": self.target,
            "idempotency_key": self.idempotency_key,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "last_error": self.last_error, "last_status_code": self.last_status_code,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }
