"""``create_work_order``: validation, the body 12345 receives, and that it lives in the caller's transaction."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from connectors.conversations import service as store
from connectors.conversations.models import MessageAuthor, MessageDirection
from connectors.db import Database
from connectors.hotline12345.models import Outbox, OutboxStatus, WorkOrder
from connectors.hotline12345.service import WorkOrderError, apply_callback, create_work_order


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'orders.db'}")
    database.create_all()
    yield database
    database.dispose()


def conversation_with_messages(session, user="u1"):
    conversation = store.current_conversation(session, "web", user)
    store.add_message(session, conversation, direction=MessageDirection.INBOUND, author=MessageAuthor.CITIZEN,
                      text="我家楼下工地夜里施工，我电话13812345678，身份证11010519491231002X", channel="web")
    store.add_message(session, conversation, direction=MessageDirection.OUTBOUND, author=MessageAuthor.BOT,
                      text="非常抱歉给您带来不好的体验。", channel="web")
    return conversation


def counts(db):
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(WorkOrder)),
                session.scalar(select(func.count()).select_from(Outbox)))


def test_order_and_outbox_commit_together_with_a_masked_transcript(db):
    with db.session() as session:
        conversation = conversation_with_messages(session)
        order = create_work_order(
            session, conversation, category="complaint", summary="夜间施工噪音扰民，电话13812345678",
            enterprise_name="北京某某建筑有限公司", credit_code="91350100m000100y43", case_code="bj20261015000123",
            contact_phone="13812345678", contact_consent=False, created_by="agent:a7",
        )
        number = order.number
    assert counts(db) == (1, 1)
    with db.session() as session:
        order = session.scalar(select(WorkOrder).where(WorkOrder.number == number))
        outbox = session.scalar(select(Outbox))
        assert outbox.work_order_id == order.id and outbox.status == OutboxStatus.PENDING and outbox.attempts == 0
        body = json.loads(outbox.body)
    assert number.startswith("GD") and len(number) == 16
    assert body["idempotency_key"] == outbox.idempotency_key
    assert body["order_no"] == number and body["category_label"] == "投诉" and body["channel"] == "web"
    assert body["enterprise"] == {"name": "北京某某建筑有限公司", "credit_code": "91350100M000100Y43"}
    assert body["case_code"] == "BJ20261015000123" and body["created_by"] == "agent:a7"
    raw = json.dumps(body, ensure_ascii=False)
    # no consent: neither the phone nor the ID number appears raw anywhere
    assert "13812345678" not in raw and "11010519491231002X" not in raw
    assert body["contact"] == {"phone": "138****5678", "consent": False}
    assert [m["author"] for m in body["transcript"]] == ["citizen", "bot"]


def test_raw_phone_only_with_consent(db):
    with db.session() as session:
        conversation = conversation_with_messages(session)
        create_work_order(session, conversation, category="help", summary="需要帮助",
                          contact_phone="13812345678", contact_consent=True)
    with db.session() as session:
        body = json.loads(session.scalar(select(Outbox)).body)
    assert body["contact"] == {"phone": "13812345678", "consent": True}
    # the transcript stays masked even with consent
    assert "13812345678" not in json.dumps(body["transcript"], ensure_ascii=False)


def test_rolled_back_outer_transaction_leaves_no_order_and_no_outbox(db):
    with pytest.raises(RuntimeError):
        with db.session() as session:
            conversation = conversation_with_messages(session)
            create_work_order(session, conversation, category="consultation", summary="咨询营业执照")
            raise RuntimeError("the conversation change failed")
    assert counts(db) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"credit_code": "91350100M000100Y44"}, "invalid_credit_code"),
        ({"category": "gossip"}, "invalid_category"),
        ({"summary": "   "}, "empty_summary"),
        ({"contact_phone": "12345"}, "invalid_phone"),
        ({"created_by": "robot"}, "invalid_creator"),
    ],
)
def test_invalid_orders_are_refused_before_anything_is_written(db, kwargs, code):
    args = {"category": "complaint", "summary": "窗口态度差", **kwargs}
    with db.session() as session:
        conversation = conversation_with_messages(session)
        with pytest.raises(WorkOrderError) as err:
            create_work_order(session, conversation, **args)
        assert err.value.code == code and err.value.message_zh
    assert counts(db) == (0, 0)


def test_callbacks_are_idempotent_and_never_go_backwards(db):
    with db.session() as session:
        conversation = conversation_with_messages(session)
        order = create_work_order(session, conversation, category="complaint", summary="噪音扰民")
        first = apply_callback(session, order, "受理", None, "e1")
        assert first.changed and "已受理" in first.notice
        assert not apply_callback(session, order, "受理", None, "e1").changed  # same event replayed
        assert not apply_callback(session, order, "受理", None, None).changed  # same content, no id
        done = apply_callback(session, order, "已办结", "已责成施工单位夜间停工。", "e3")
        assert done.changed and "已办结" in done.notice and "夜间停工" in done.notice
        late = apply_callback(session, order, "办理中", None, "e4")  # arrives after 已办结
        assert not late.changed and order.status == "resolved"
        with pytest.raises(WorkOrderError):
            apply_callback(session, order, "不知道", None, "e5")
