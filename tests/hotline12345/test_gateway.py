"""The gateway end to end with a fake Rasa and the 12345 simulator: events → orders → delivery → callbacks."""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import select

from connectors.conversations.models import Message
from connectors.feedback.models import Feedback
from connectors.hotline12345.models import Outbox, WorkOrder
from connectors.hotline12345.signing import SIGNATURE_HEADER, sign
from tests.hotline12345.conftest import SECRET, wait_for

CALLBACK = "/api/v1/hotline12345/callback"
ORDER_EVENT = {"custom": {"govbot": {"type": "work_order", "category": "complaint", "summary": "夜间施工噪音扰民",
                                     "case_code": "BJ20261015000123"}}}


def post(client, user: str, text: str):
    response = client.post("/api/v1/web/messages", json={"user_id": user, "text": text})
    assert response.status_code == 200, response.text
    return response.json()


def order_number(body) -> str:
    text = body["replies"][-1]["text"]
    assert "已为您提交12345工单" in text and "相关部门将在规定时限内答复" in text
    return re.search(r"GD\d{8}[0-9A-F]{6}", text).group(0)


def signed(client, payload, secret: str = SECRET):
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return client.post(CALLBACK, content=body, headers={SIGNATURE_HEADER: sign(secret, body),
                                                        "Content-Type": "application/json"})


def db_of(client):
    return client.app.state.gateway.db


def test_work_order_event_creates_an_order_that_reaches_12345(gateway_client, fake_rasa, simulator):
    client = gateway_client()
    fake_rasa.replies = [{"text": "好的。"}, ORDER_EVENT]
    body = post(client, "wo-1", "确认提交")
    number = order_number(body)
    wait_for(lambda: simulator.unique_count == 1)
    assert simulator.order_numbers() == [number]
    [order] = list(simulator.orders.values())
    assert order["case_code"] == "BJ20261015000123" and order["channel"] == "web"
    assert order["conversation_id"] == body["conversation_id"]
    assert [m["text"] for m in order["transcript"]] == ["确认提交"]

    def submitted() -> bool:
        listing = client.get("/api/v1/admin/work-orders").json()
        return listing["orders"][0]["status"] == "submitted"

    wait_for(submitted)
    listing = client.get("/api/v1/admin/work-orders").json()
    assert listing["orders"][0]["number"] == number and listing["orders"][0]["delivery"]["status"] == "delivered"
    assert listing["outbox"] == {"delivered": 1}


def test_invalid_order_is_explained_not_created(gateway_client, fake_rasa):
    client = gateway_client()
    fake_rasa.replies = [{"custom": {"govbot": {"type": "work_order", "category": "complaint", "summary": "企业诉求",
                                                "credit_code": "91350100M000100Y44"}}}]
    body = post(client, "wo-2", "提交")
    assert "统一社会信用代码不正确" in body["replies"][-1]["text"]
    with db_of(client).session() as session:
        assert session.scalar(select(WorkOrder)) is None and session.scalar(select(Outbox)) is None


def test_dead_letters_are_listed_and_can_be_retried(gateway_client, fake_rasa, simulator, monkeypatch):
    monkeypatch.setenv("GOVBOT_ADMIN_TOKEN", "admin-t")
    auth = {"Authorization": "Bearer admin-t"}
    simulator.behaviour.fail_next = 1000
    client = gateway_client(MAX_ATTEMPTS="2")
    fake_rasa.replies = [ORDER_EVENT]
    number = order_number(post(client, "wo-3", "提交"))
    assert client.get("/api/v1/admin/work-orders?status=dead").status_code == 401

    def dead() -> list:
        return client.get("/api/v1/admin/work-orders?status=dead", headers=auth).json()["orders"]

    wait_for(lambda: len(dead()) == 1)
    [row] = dead()
    assert row["number"] == number and row["status"] == "dead" and row["delivery"]["attempts"] == 2
    simulator.behaviour.fail_next = 0
    assert client.post(f"/api/v1/admin/work-orders/{row['id']}/retry").status_code == 401
    retried = client.post(f"/api/v1/admin/work-orders/{row['id']}/retry", headers=auth)
    assert retried.status_code == 200 and retried.json()["delivery"]["status"] == "pending"
    wait_for(lambda: simulator.unique_count == 1)
    wait_for(lambda: client.get("/api/v1/admin/work-orders", headers=auth).json()["outbox"] == {"delivered": 1})
    assert dead() == []
    again = client.post(f"/api/v1/admin/work-orders/{row['id']}/retry", headers=auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_delivered"
    assert client.post("/api/v1/admin/work-orders/9999/retry", headers=auth).status_code == 404


def test_callbacks_forged_unknown_bad_and_valid(gateway_client, fake_rasa):
    client = gateway_client()
    fake_rasa.replies = [ORDER_EVENT]
    first = post(client, "wo-4", "提交")
    number, conversation_id = order_number(first), first["conversation_id"]

    forged = signed(client, {"order_no": number, "status": "受理"}, secret="forged")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    unsigned = client.post(CALLBACK, json={"order_no": number, "status": "受理"})
    assert unsigned.status_code == 401
    assert signed(client, {"order_no": "GD20000101FFFFFF", "status": "受理"}).status_code == 404
    bad = signed(client, b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["message_zh"]
    assert signed(client, {"order_no": number}).status_code == 400
    assert signed(client, {"order_no": number, "status": "不存在的状态"}).status_code == 400

    # the citizen is listening on the widget's WebSocket (the push hub subscription)
    with client.websocket_connect(
        f"/api/v1/web/ws?conversation_id={conversation_id}&token={first['push_token']}&after=0"
    ) as ws:
        assert ws.receive_json()["type"] == "hello"
        ok = signed(client, {"order_no": number, "status": "已办结", "reply": "已责成施工方夜间停工。", "event_id": "e-1"})
        assert ok.status_code == 200 and ok.json() == {
            "ok": True, "order_no": number, "status": "resolved", "changed": True, "citizen_notified": True,
        }
        pushed = ws.receive_json()
        assert pushed["type"] == "messages"
        texts = [m["text"] for m in pushed["messages"]]
        assert any("已办结" in t and "已责成施工方夜间停工" in t for t in texts)

    replay = signed(client, {"order_no": number, "status": "已办结", "reply": "已责成施工方夜间停工。", "event_id": "e-1"})
    assert replay.status_code == 200 and replay.json()["changed"] is False
    with db_of(client).session() as session:
        notices = [m for m in session.scalars(select(Message).where(Message.conversation_id == conversation_id))
                   if "已办结" in m.text]
        assert len(notices) == 1 and notices[0].author == "system"
        order = session.scalar(select(WorkOrder).where(WorkOrder.number == number))
        assert order.status == "resolved" and order.reply_text == "已责成施工方夜间停工。"


def test_callback_for_an_offline_citizen_is_kept_in_the_transcript(gateway_client, fake_rasa):
    client = gateway_client()
    fake_rasa.replies = [ORDER_EVENT]
    first = post(client, "wo-5", "提交")
    ok = signed(client, {"order_no": order_number(first), "status": "受理"})
    assert ok.json()["changed"] is True and ok.json()["citizen_notified"] is False
    history = client.get("/api/v1/web/history", params={"conversation_id": first["conversation_id"],
                                                         "token": first["push_token"]}).json()
    assert "已受理" in history["messages"][-1]["text"]


def test_feedback_rows_and_complaint_orders(gateway_client, fake_rasa, simulator):
    client = gateway_client()
    fake_rasa.replies = [{"text": "感谢您的肯定与鼓励！"},
                         {"custom": {"govbot": {"type": "feedback", "kind": "praise", "target": "3号窗口 王老师",
                                                "text": "王老师服务好"}}}]
    praise = post(client, "fb-1", "3号窗口王老师服务好")
    assert [r["text"] for r in praise["replies"]] == ["感谢您的肯定与鼓励！"]
    fake_rasa.replies = [{"custom": {"govbot": {"type": "feedback", "kind": "complaint", "target": "5号窗口",
                                                "text": "5号窗口态度差，电话13812345678", "work_order": True}}}]
    complaint = post(client, "fb-2", "5号窗口态度差，电话13812345678")
    number = order_number(complaint)
    listing = client.get("/api/v1/admin/feedback").json()["feedback"]
    assert [(f["kind"], f["target"]) for f in listing] == [("complaint", "5号窗口"), ("praise", "3号窗口 王老师")]
    assert "13812345678" not in listing[0]["text"]
    with db_of(client).session() as session:
        row = session.scalar(select(Feedback).where(Feedback.kind == "complaint"))
        order = session.get(WorkOrder, row.work_order_id)
        assert order.number == number and order.category == "complaint" and "5号窗口" in order.summary
    assert client.get("/api/v1/admin/feedback?kind=praise").json()["feedback"][0]["kind"] == "praise"
    assert client.get("/api/v1/admin/feedback?kind=other").status_code == 422
    wait_for(lambda: simulator.unique_count == 1)


def test_untargeted_complaint_is_linked_when_the_citizen_submits_it(gateway_client, fake_rasa):
    client = gateway_client()
    fake_rasa.replies = [{"custom": {"govbot": {"type": "feedback", "kind": "complaint", "target": "",
                                                "text": "办事效率太低"}}}]
    post(client, "fb-3", "办事效率太低")
    with db_of(client).session() as session:
        assert session.scalar(select(Feedback)).work_order_id is None
    fake_rasa.replies = [ORDER_EVENT]
    number = order_number(post(client, "fb-3", "确认"))
    with db_of(client).session() as session:
        assert session.get(WorkOrder, session.scalar(select(Feedback)).work_order_id).number == number


def test_satisfaction_rating(gateway_client, fake_rasa):
    client = gateway_client()
    first = post(client, "rate-1", "你好")
    url = f"/api/v1/web/conversations/{first['conversation_id']}/rating"
    token = first["push_token"]
    for bad in (0, 6, "5", 4.5, None, True):
        response = client.post(url, json={"score": bad, "token": token})
        assert response.status_code == 422, bad
        error = response.json()["error"]
        assert error["code"] == "invalid_score" and "1 到 5" in error["message_zh"] and "1 to 5" in error["message_en"]
    assert client.post(url, json={"score": 5, "token": "wrong"}).status_code == 403
    assert client.post("/api/v1/web/conversations/nope/rating", json={"score": 5, "token": token}).status_code == 404
    ok = client.post(url, json={"score": 2, "token": token, "comment": "回答太慢"})
    assert ok.status_code == 200 and ok.json()["rating"]["subject"] == "bot"
    again = client.post(url, json={"score": 4, "token": token})
    assert again.json()["rating"]["id"] == ok.json()["rating"]["id"] and again.json()["rating"]["score"] == 4
    ratings = client.get("/api/v1/admin/feedback").json()["ratings"]
    assert [(r["score"], r["subject"]) for r in ratings] == [(4, "bot")]


def test_without_the_secret_orders_wait_and_callbacks_are_refused(gateway_client, fake_rasa, simulator, monkeypatch):
    monkeypatch.delenv("GOVBOT_12345_SECRET")
    client = gateway_client()
    fake_rasa.replies = [ORDER_EVENT]
    number = order_number(post(client, "nosecret", "提交"))
    refused = signed(client, {"order_no": number, "status": "受理"})
    assert refused.status_code == 503
    time.sleep(0.5)  # ten poll intervals: a running worker would have delivered by now
    listing = client.get("/api/v1/admin/work-orders").json()
    assert listing["orders"][0]["status"] == "pending" and simulator.unique_count == 0
