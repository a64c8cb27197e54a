"""The fault harness' accounting: lost, duplicated, degraded and orders, judged on a known store."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors.bench.faults_account import account, account_orders
from connectors.bench.faults_traffic import Sent, bank_card, id_number, pii_turn
from connectors.conversations import service as store
from connectors.conversations.models import ConversationMode, MessageAuthor, MessageDirection
from connectors.db import Database
from connectors.message_router import BUSY_TEXT
from connectors.privacy.masking import is_valid_id_number, luhn_ok, mask_pii


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'acc.db'}")
    database.create_all()
    return database


def _inbound(session, channel: str, user: str, key: str, text: str, status: str, replies: list[str]):
    conversation = store.current_conversation(session, channel, user)
    message = store.add_message(session, conversation, direction=MessageDirection.INBOUND,
                                author=MessageAuthor.CITIZEN, text=text, channel=channel,
                                channel_message_id=key, status=status)
    for reply in replies:
        store.add_message(session, conversation, direction=MessageDirection.OUTBOUND, author=MessageAuthor.BOT,
                          text=reply, channel=channel, status="sent", reply_to=message)
    return conversation


def _sent(channel: str, user: str, key: str, accepted: bool = True, replies: list[str] | None = None) -> Sent:
    return Sent(channel, user, key, "问题", "faq", accepted=accepted, statuses=[200 if accepted else 503],
                replies=replies or [])


def test_lost_duplicated_degraded_and_routed_are_told_apart(db: Database) -> None:
    with db.session() as s:
        _inbound(s, "web", "u-ok", "k-ok", "社保卡", "answered", ["请带身份证"])
        _inbound(s, "web", "u-busy", "k-busy", "社保卡", "failed", [BUSY_TEXT])
        _inbound(s, "app", "bjapp:u-silent", "k-silent", "社保卡", "answered", [])  # Rasa said nothing
        _inbound(s, "web", "u-twice", "k-twice", "社保卡", "answered", ["答复", "答复"])
        _inbound(s, "web", "u-orphan", "k-orphan", "社保卡", "received", [])  # gateway died mid-request
        queued = _inbound(s, "web", "u-queue", "k-queue", "转人工", "routed", [])
        queued.mode = ConversationMode.QUEUED
    sent = [_sent("web", "u-ok", "k-ok"), _sent("web", "u-busy", "k-busy"), _sent("app", "bjapp:u-silent", "k-silent"),
            _sent("web", "u-twice", "k-twice"), _sent("web", "u-orphan", "k-orphan"),
            _sent("web", "u-queue", "k-queue"),
            _sent("web", "u-never", "k-never"),  # accepted, yet not in the store
            _sent("web", "u-refused", "k-refused", accepted=False),
            _sent("web", "u-ok", "k-busy")]  # someone else's key: not this citizen's message
    acc = account(sent, db)
    assert acc.accepted == 8 and acc.not_accepted == 1
    assert acc.answered == 4  # ok, busy, twice, queue
    assert acc.degraded == 1 and acc.routed_to_agents == 1
    assert acc.lost == 4  # silent, orphan, never, foreign key
    assert acc.duplicated == acc.duplicated_replies == 1
    assert {s["key"] for s in acc.lost_samples} == {"k-silent", "k-orphan", "k-never", "k-busy"}


def test_wechat_sends_beyond_the_transcript_are_duplicates(db: Database) -> None:
    with db.session() as s:
        _inbound(s, "wechat", "o-1", "101", "社保卡", "answered", ["答复一", "答复二"])
        _inbound(s, "wechat", "o-2", "202", "护照", "answered", ["护照答复"])
    sent = [_sent("wechat", "o-1", "101", replies=["答复一"]),  # the first reply went out passively
            _sent("wechat", "o-2", "202")]  # answered late, by customer-service message
    ok = {"o-1": Counter({"答复二": 1}), "o-2": Counter({"护照答复": 1})}
    assert account(sent, db, ok).duplicated == 0
    twice = {"o-1": Counter({"答复二": 1, "答复一": 1}), "o-2": Counter({"护照答复": 2})}
    acc = account(sent, db, twice)
    assert acc.duplicated_wechat_sends == 2 and acc.duplicated == 2


def test_orders_delivered_once(db: Database) -> None:
    from connectors.hotline12345 import service as orders

    with db.session() as s:
        conversation = store.current_conversation(s, "web", "u-order")
        made = [orders.create_work_order(s, conversation, category="complaint", summary=f"投诉{i}") for i in range(3)]
        s.flush()
        keys = {o.number: o for o in made}
    from sqlalchemy import select

    from connectors.hotline12345.models import Outbox, WorkOrder

    with db.session() as s:
        rows = s.execute(select(WorkOrder.number, Outbox.idempotency_key)
                         .join(Outbox, Outbox.work_order_id == WorkOrder.id)).all()
    assert len(rows) == len(keys) == 3
    first, second, third = rows
    at_12345 = {first.idempotency_key: {"order_no": first.number}, second.idempotency_key: {"order_no": second.number},
                "other-key": {"order_no": second.number}}  # 12345 got the second order twice under two keys
    result = account_orders(db, at_12345)
    assert result["orders_sent"] == 3
    assert result["orders_delivered_once"] == 1  # first only: second is duplicated, third never arrived
    assert result["orders_undelivered"] == 1 and result["orders_duplicated_at_12345"] == 1


def test_generated_personal_data_is_valid_and_masked() -> None:
    import random

    rng = random.Random(3)
    for _ in range(50):
        assert is_valid_id_number(id_number(rng))
        assert luhn_ok(bank_card(rng))
        turn, raw = pii_turn(rng)
        assert raw and all(r in turn.text for r in raw)
        masked = mask_pii(turn.text)
        assert not any(r in masked for r in raw), masked
