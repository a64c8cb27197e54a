"""The sample case table standing in for a city's case system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db import Base, utcnow


class Case(Base):
    __tablename__ = "cases"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    matter: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))  # online | offline
    status: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # [{"at": ISO8601, "status": "...", "note": "..."}]
    timeline: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # 补齐补正: everything still missing, told all at once
    missing_materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
