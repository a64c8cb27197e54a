"""The retention job: one pass (``run_retention``) and the asyncio task that repeats it in the gateway.

anonymise: a message older than the cutoff keeps only its masked text (身份证号, mobile and card
numbers masked); the raw text that an audited reveal could show is gone. purge: such messages are
deleted, and closed conversations closed before the cutoff go too unless a record that must be kept
(work order, handoff ticket, feedback) still points at them. Each pass that changed something writes
an audit event, so the deletion itself is accountable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

import connectors.models_registry  # noqa: F401 - every table must be known to find references
from connectors.conversations.models import Conversation, ConversationMode, Message
from connectors.db import Base, Database
from connectors.privacy import mask_pii
from connectors.retention.settings import RetentionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    mode: str
    cutoff: datetime
    messages_anonymised: int = 0
    messages_deleted: int = 0
    conversations_deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.messages_anonymised or self.messages_deleted or self.conversations_deleted)


def _audit(session: Session, report: RetentionReport) -> None:
    """Write an audit event through the agents' audit trail when that module is present."""
    try:
        from connectors.agents.service import audit
    except ImportError:  # a deployment without the agent desk has no audit trail to write to
        return
    audit(session, None, f"retention_{report.mode}", cutoff=report.cutoff.isoformat(),
          messages_anonymised=report.messages_anonymised, messages_deleted=report.messages_deleted,
          conversations_deleted=report.conversations_deleted)


def _anonymise(db: Database, cutoff: datetime, batch: int) -> int:
    done, last_id = 0, 0
    while True:
        with db.session() as session:
            rows = list(session.scalars(
                select(Message).where(Message.created_at < cutoff, Message.text != Message.masked_text,
                                      Message.id > last_id).order_by(Message.id).limit(batch)))
            for message in rows:
                # rows written before masking existed have no masked copy: mask now
                masked = message.masked_text or mask_pii(message.text)
                message.text = message.masked_text = masked
            done += len(rows)
        if len(rows) < batch:
            return done
        last_id = rows[-1].id


def _conversation_references() -> list:  # type: ignore[type-arg]
    """Foreign-key columns of other tables (tickets, work orders, feedback) that point at a conversation."""
    conversations = Base.metadata.tables["conversations"]
    return [fk.parent for table in Base.metadata.sorted_tables if table.name not in {"messages", "conversations"}
            for fk in table.foreign_keys if fk.column.table is conversations]


def _purge(db: Database, cutoff: datetime, batch: int) -> tuple[int, int]:
    deleted_messages = 0
    while True:
        with db.session() as session:
            ids = list(session.scalars(select(Message.id).where(Message.created_at < cutoff)
                                       .order_by(Message.id).limit(batch)))
            if ids:
                # a newer reply pointing at an old inbound loses the pointer, not its own text
                session.execute(update(Message).where(Message.reply_to_id.in_(ids)).values(reply_to_id=None))
                session.execute(delete(Message).where(Message.id.in_(ids)))
            deleted_messages += len(ids)
        if len(ids) < batch:
            break
    with db.session() as session:
        query = select(Conversation.id).where(
            Conversation.mode == ConversationMode.CLOSED, Conversation.closed_at.is_not(None),
            Conversation.closed_at < cutoff, ~exists().where(Message.conversation_id == Conversation.id))
        for column in _conversation_references():
            query = query.where(~exists().where(column == Conversation.id))
        ids = list(session.scalars(query))
        if ids:
            session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    return deleted_messages, len(ids)


def run_retention(db: Database, settings: RetentionSettings, now: datetime | None = None) -> RetentionReport:
    """One pass over the store. Idempotent: a second pass right after changes nothing."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.days)
    if settings.mode == "purge":
        messages, conversations = _purge(db, cutoff, settings.batch_size)
        report = RetentionReport("purge", cutoff, messages_deleted=messages, conversations_deleted=conversations)
    else:
        report = RetentionReport("anonymise", cutoff, messages_anonymised=_anonymise(db, cutoff, settings.batch_size))
    if report.changed:
        with db.session() as session:
            _audit(session, report)
        log.info("retention %s before %s: %s", report.mode, cutoff.isoformat(), report)
    return report


class RetentionJob:
    """Runs :func:`run_retention` every ``interval_s`` in a worker thread, off the event loop."""

    def __init__(self, db: Database, settings: RetentionSettings) -> None:
        self.db, self.settings = db, settings
        self._task: asyncio.Task[None] | None = None
        self.last_report: RetentionReport | None = None

    def start(self) -> None:
        if self.settings.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="govbot-retention")

    async def _loop(self) -> None:
        await asyncio.sleep(self.settings.first_run_delay_s)
        while True:
            try:
                self.last_report = await asyncio.to_thread(run_retention, self.db, self.settings)
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.settings.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
