"""Gateway behaviour that does not need a trained model: persistence, degradation, handoff, dedupe."""

from __future__ import annotations

from sqlalchemy import select

from connectors.conversations.models import Message
from tests.conftest import free_port


def post(client, user: str, text: str, **extra):
    return client.post("/api/v1/web/messages", json={"user_id": user, "text": text, **extra})


def messages(client, conversation_id: str) -> list[Message]:
    db = client.app.state.gateway.db
    with db.session() as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq)))


def test_bot_reply_round_trip(fake_rasa, client_for):
    client = client_for(fake_rasa.url)
    fake_rasa.replies = [{"text": "您好！", "buttons": [{"title": "办事指南", "payload": "/ask_service"}]}]
    body = post(client, "alice", "你好").json()
    assert body["mode"] == "bot"
    assert body["replies"] == [{"text": "您好！", "buttons": [{"title": "办事指南", "payload": "/ask_service"}]}]
    # Rasa's sender id is our conversation id
    assert fake_rasa.received[-1]["sender"] == body["conversation_id"]
    stored = messages(client, body["conversation_id"])
    assert [(m.direction, m.author, m.status) for m in stored] == [("in", "citizen", "answered"), ("out", "bot", "sent")]
    # the same user continues the same conversation
    assert post(client, "alice", "再问一个").json()["conversation_id"] == body["conversation_id"]


def test_dead_rasa_keeps_the_message_and_offers_a_person(client_for):
    client = client_for(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    first = post(client, "bob", "社保卡怎么补办")
    assert first.status_code == 200
    assert "系统繁忙" in first.json()["replies"][0]["text"]
    second = post(client, "bob", "还在吗").json()
    assert second["replies"][0]["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]
    stored = messages(client, second["conversation_id"])
    inbound = [m for m in stored if m.direction == "in"]
    assert [m.text for m in inbound] == ["社保卡怎么补办", "还在吗"]
    assert all(m.status == "failed" for m in inbound)


def test_slow_rasa_times_out_with_a_clear_reply(fake_rasa, client_for):
    fake_rasa.delay_s = 2.0
    client = client_for(fake_rasa.url, timeout_s=0.5)
    body = post(client, "carol", "你好").json()
    assert "系统繁忙" in body["replies"][0]["text"]


def test_handoff_event_queues_with_position(fake_rasa, client_for):
    client = client_for(fake_rasa.url)
    fake_rasa.replies = [{"custom": {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": "社保"}}}]
    first = post(client, "dan", "转人工").json()
    second = post(client, "erin", "人工客服").json()
    assert first["mode"] == second["mode"] == "queued"
    assert "第一位" in first["replies"][0]["text"]
    assert "前面还有 1 人" in second["replies"][0]["text"]
    calls = len(fake_rasa.received)
    queued = post(client, "erin", "请快一点").json()
    assert len(fake_rasa.received) == calls  # Rasa never sees messages while queued
    assert queued["mode"] == "queued"
    # leaving the queue moves the one behind forward
    post(client, "dan", "取消排队")
    assert "第一位" in post(client, "erin", "还要等多久").json()["replies"][0]["text"]


def test_retried_message_is_not_processed_twice(fake_rasa, client_for):
    client = client_for(fake_rasa.url)
    a = post(client, "fay", "你好", client_message_id="m-1").json()
    b = post(client, "fay", "你好", client_message_id="m-1").json()
    assert a == b
    assert len(fake_rasa.received) == 1


def test_pii_is_masked_before_rasa(fake_rasa, client_for):
    client = client_for(fake_rasa.url)
    body = post(client, "gus", "我的手机号13812345678").json()
    assert fake_rasa.received[-1]["message"] == "我的手机号138****5678"
    stored = messages(client, body["conversation_id"])[0]
    assert stored.text == "我的手机号13812345678" and stored.masked_text == "我的手机号138****5678"


def test_validation_errors_are_bilingual(fake_rasa, client_for):
    client = client_for(fake_rasa.url)
    cases = [
        (client.post("/api/v1/web/messages", content=b"{bad", headers={"content-type": "application/json"}), 400),
        (post(client, "u", ""), 422),
        (post(client, "u", "办" * 2001), 413),
        (client.post("/api/v1/web/messages", json={"text": "hi"}), 422),
        (client.get("/api/v1/nope"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message_zh"] and error["message_en"] and " / " in error["message"]
    assert fake_rasa.received == []


def test_healthz_degraded_when_parts_are_down(client_for):
    client = client_for(f"http://127.0.0.1:{free_port()}")
    response = client.get("/healthz")
    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "degraded"
    assert data["components"]["rasa"]["ok"] is False
    assert data["components"]["database"]["ok"] is True
