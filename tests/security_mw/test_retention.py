"""Retention touches only rows older than the cutoff, on a real (SQLite) conversation store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.agents.models import AuditEvent
from connectors.conversations.models import CitizenIdentity, Conversation, Message
from connectors.db import Database
from connectors.handoff.models import HandoffTicket
from connectors.retention import RetentionJob, RetentionSettings, run_retention

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)
RAW = "我的身份证号是110101199003078515，手机13812345678"


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'retention.db'}")
    database.create_all()
    return database


def _conversation(session, cid: str, created: datetime, closed: datetime | None) -> None:
    session.add(CitizenIdentity(id=f"cit-{cid}"))
    session.add(Conversation(id=cid, citizen_id=f"cit-{cid}", channel="web", mode="closed" if closed else "bot",
                             created_at=created, updated_at=created, closed_at=closed))


def _message(session, cid: str, seq: int, at: datetime, text: str = RAW, masked: str | None = None,
             reply_to: int | None = None) -> Message:
    from connectors.privacy import mask_pii

    message = Message(conversation_id=cid, seq=seq, direction="in", author="citizen", text=text,
                      masked_text=mask_pii(text) if masked is None else masked, channel="web",
                      created_at=at, reply_to_id=reply_to)
    session.add(message)
    session.flush()
    return message


@pytest.fixture
def store(db: Database) -> Database:
    """old-closed: all old · mixed: one old and one recent message · ticketed: old, closed, with a ticket."""
    with db.session() as s:
        _conversation(s, "old-closed", OLD, OLD + timedelta(hours=1))
        _conversation(s, "mixed", OLD, None)
        _conversation(s, "ticketed", OLD, OLD + timedelta(hours=2))
        _conversation(s, "recent-closed", RECENT, RECENT + timedelta(hours=1))
        first = _message(s, "old-closed", 1, OLD)
        _message(s, "old-closed", 2, OLD, text="您好", masked="您好", reply_to=first.id)
        old_inbound = _message(s, "mixed", 1, OLD)
        _message(s, "mixed", 2, RECENT, reply_to=old_inbound.id)  # a reply after the cutoff to an old row
        _message(s, "mixed", 3, OLD, masked="")  # written before masking existed
        _message(s, "ticketed", 1, OLD)
        _message(s, "recent-closed", 1, RECENT)
        s.add(HandoffTicket(conversation_id="ticketed", skill="general", created_at=OLD))
    return db


def _texts(db: Database) -> dict[tuple[str, int], str]:
    with db.session() as s:
        return {(m.conversation_id, m.seq): m.text for m in s.scalars(select(Message))}


def test_anonymise_replaces_raw_text_of_old_rows_only(store: Database) -> None:
    report = run_retention(store, RetentionSettings(days=180, mode="anonymise"), now=NOW)
    texts = _texts(store)
    assert report.messages_anonymised == 4  # the "您好" row had nothing to mask
    for key in [("old-closed", 1), ("mixed", 1), ("mixed", 3), ("ticketed", 1)]:
        assert "110101199003078515" not in texts[key] and "13812345678" not in texts[key]
        assert "身份证号" in texts[key]  # the rest of the sentence stays readable
    assert texts[("mixed", 2)] == RAW and texts[("recent-closed", 1)] == RAW
    with store.session() as s:
        assert len(list(s.scalars(select(Conversation)))) == 4  # anonymise never deletes
        masked = s.scalars(select(Message).where(Message.conversation_id == "mixed", Message.seq == 3)).one()
        assert masked.masked_text == masked.text
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "retention_anonymise")))
        assert len(events) == 1 and events[0].detail["messages_anonymised"] == 4
    again = run_retention(store, RetentionSettings(days=180, mode="anonymise"), now=NOW)
    assert again.messages_anonymised == 0  # idempotent: no second audit event either
    with store.session() as s:
        assert len(list(s.scalars(select(AuditEvent)))) == 1


def test_purge_deletes_old_messages_and_closed_unreferenced_conversations(store: Database) -> None:
    report = run_retention(store, RetentionSettings(days=180, mode="purge"), now=NOW)
    assert report.messages_deleted == 5 and report.conversations_deleted == 1
    assert set(_texts(store)) == {("mixed", 2), ("recent-closed", 1)}
    with store.session() as s:
        ids = set(s.scalars(select(Conversation.id)))
        # open conversation stays, a ticket keeps "ticketed", the recent one is young
        assert ids == {"mixed", "ticketed", "recent-closed"}
        reply = s.scalars(select(Message).where(Message.conversation_id == "mixed")).one()
        assert reply.reply_to_id is None and reply.text == RAW
        assert s.scalars(select(AuditEvent.action)).all() == ["retention_purge"]


def test_days_setting_moves_the_cutoff(store: Database) -> None:
    report = run_retention(store, RetentionSettings(days=5, mode="anonymise"), now=NOW)
    assert report.messages_anonymised == 6  # the recent rows are older than 5 days too
    assert "13812345678" not in _texts(store)[("recent-closed", 1)]


def test_job_runs_in_the_background_until_stopped(store: Database) -> None:
    settings = RetentionSettings(days=180, mode="anonymise", interval_s=0.05, first_run_delay_s=0.0)

    async def scenario() -> None:
        job = RetentionJob(store, settings)
        job.start()
        for _ in range(100):
            if job.last_report is not None:
                break
            await asyncio.sleep(0.02)
        await job.stop()
        assert job.last_report is not None

    asyncio.run(scenario())
    assert "110101199003078515" not in _texts(store)[("old-closed", 1)]


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        RetentionSettings(mode="shred")
