"""One-time link codes: the only way two channel identities become one citizen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db import Base, utcnow


class LinkCode(Base):
    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizen_identities.id"))
    issued_channel: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # failed attempts against this code; it is burnt after a few to stop guessing
    failures: Mapped[int] = mapped_column(Integer, default=0)
