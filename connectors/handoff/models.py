"""Handoff tickets, keyed by conversation id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db import Base, utcnow


class TicketStatus:
    WAITING = "waiting"
    ASSIGNED = "assigned"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    # moved to another skill's queue by an agent (a new ticket continues it)
    TRANSFERRED = "transferred"
    # the citizen was sent elsewhere (12345 work order, outside staffed hours) instead of an agent
    DIVERTED = "diverted"


class HandoffTicket(Base):
    __tablename__ = "handoff_tickets"
    __table_args__ = (Index("ix_tickets_skill_status", "skill", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    skill: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.WAITING)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # how often the citizen asked for a person while this ticket was open (>1 breaks "one-time connection")
    asks: Mapped[int] = mapped_column(Integer, default=1)
    # the ticket this one continues after a transfer (metrics count the original request only)
    transferred_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # why it ended: served, abandoned, diverted_12345, outside_hours, transferred
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # last position told to the citizen, so queue moves are pushed only when it changes
    last_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overdue_notified: Mapped[bool] = mapped_column(Boolean, default=False)


# columns added after the first release; ``create_all`` never alters an existing table
_ADDED_COLUMNS = {
    "asks": "INTEGER NOT NULL DEFAULT 1",
    "transferred_from": "INTEGER",
    "outcome": "VARCHAR(32)",
    "last_position": "INTEGER",
    "overdue_notified": "BOOLEAN NOT NULL DEFAULT FALSE",
}


def upgrade_schema(connection: Connection) -> list[str]:
    """Add the handoff columns a pre-migrations database lacks (used when Alembic adopts it)."""
    inspector = inspect(connection)
    if not inspector.has_table(HandoffTicket.__tablename__):
        return []
    present = {c["name"] for c in inspector.get_columns(HandoffTicket.__tablename__)}
    missing = [name for name in _ADDED_COLUMNS if name not in present]
    for name in missing:
        connection.execute(text(f"ALTER TABLE {HandoffTicket.__tablename__} ADD COLUMN {name} {_ADDED_COLUMNS[name]}"))
    return missing
