"""The human-handoff path end to end against the fake Rasa: queue → take → chat → end → bot."""

from __future__ import annotations

import datetime as dt
import re
import threading

from sqlalchemy import select

from connectors.agents.models import AgentSession, AuditEvent
from connectors.conversations.models import Message
from connectors.handoff.models import HandoffTicket
from tests.agents.conftest import AgentBrowser, citizen_says, make_agent, next_event


def web_ws(client, body, after: int = 0):
    return client.websocket_connect(
        f"/api/v1/web/ws?conversation_id={body['conversation_id']}&token={body['push_token']}&after={after}")


def test_full_handoff_round_trip(fake_rasa, gateway_client, queued):
    make_agent(gateway_client, "wang", "社保,general")
    wang = AgentBrowser(gateway_client, "wang")
    body = queued("alice")
    cid = body["conversation_id"]
    assert "第一位" in body["replies"][0]["text"] and "预计等待" in body["replies"][0]["text"]
    rasa_calls = len(fake_rasa.received)

    queue = wang.queue()
    assert [(w["conversation_id"], w["skill"], w["position"]) for w in queue["waiting"]] == [(cid, "社保", 1)]
    assert queue["waiting"][0]["last_question"] == "社保卡丢了怎么补办"

    with wang.ws() as agent_ws, web_ws(gateway_client, body, after=body["reply_seqs"][-1]) as citizen_ws:
        assert next_event(agent_ws)["type"] == "hello"
        assert next_event(citizen_ws)["type"] == "hello"
        taken = wang.post(f"/api/v1/agent/tickets/{queue['waiting'][0]['ticket_id']}/take")
        assert taken.status_code == 200, taken.text
        joined = next_event(citizen_ws, "messages")
        assert joined["mode"] == "agent" and "已接入" in joined["messages"][-1]["text"]

        # the agent sees the whole transcript, bot part included
        view = wang.get(f"/api/v1/agent/conversations/{cid}").json()
        assert view["mode"] == "agent" and view["channel"] == "web"
        assert [m["author"] for m in view["messages"][:3]] == ["citizen", "bot", "citizen"]
        assert view["messages"][1]["text"] == "您好！我是北京政务服务智能客服。"

        # a citizen message goes to the agent's socket, never to Rasa
        said = citizen_says(gateway_client, "alice", "我想问补办要多久")
        assert said["mode"] == "agent" and said["replies"] == []
        event = next_event(agent_ws, "message")
        assert event == {"type": "message", "conversation_id": cid, "mode": "agent"}
        assert len(fake_rasa.received) == rasa_calls

        # the agent's reply is stored, then pushed to the citizen's WebSocket
        reply = wang.post(f"/api/v1/agent/conversations/{cid}/reply", json={"text": "一般当场办结，请带身份证。"})
        assert reply.status_code == 200 and reply.json()["delivered"] is True
        pushed = next_event(citizen_ws, "messages")
        assert [(m["author"], m["text"]) for m in pushed["messages"]][-1] == ("agent", "一般当场办结，请带身份证。")

        ended = wang.post(f"/api/v1/agent/conversations/{cid}/end")
        assert ended.status_code == 200
        closing = next_event(citizen_ws, "messages")
        assert closing["mode"] == "bot"
        assert '/rate{"score": 5}' in [b["payload"] for b in closing["messages"][-1]["buttons"]]

    # back to the bot: Rasa answers again, and the agent lost access
    again = citizen_says(gateway_client, "alice", "你好")
    assert again["mode"] == "bot" and again["replies"][0]["text"].startswith("您好")
    assert len(fake_rasa.received) == rasa_calls + 1
    assert wang.post(f"/api/v1/agent/conversations/{cid}/reply", json={"text": "还在吗"}).status_code == 403
    with gateway_client.app.state.gateway.db.session() as session:
        system = [m.text for m in session.scalars(select(Message).where(
            Message.conversation_id == cid, Message.author == "system").order_by(Message.seq))]
    # every mode change is in the transcript
    assert any("第一位" in t for t in system) and any("已接入" in t for t in system)
    assert any("人工服务已结束" in t for t in system)


def test_two_agents_racing_for_one_chat_exactly_one_wins(gateway_client, queued):
    for name in ("li", "zhao"):
        make_agent(gateway_client, name, "社保")
    browsers = [AgentBrowser(gateway_client, "li"), AgentBrowser(gateway_client, "zhao")]
    queued("bob")
    ticket_id = browsers[0].queue()["waiting"][0]["ticket_id"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def take(browser: AgentBrowser) -> None:
        barrier.wait()
        statuses.append(browser.post(f"/api/v1/agent/tickets/{ticket_id}/take").status_code)

    threads = [threading.Thread(target=take, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [200, 409]
    with gateway_client.app.state.gateway.db.session() as session:
        ticket = session.get(HandoffTicket, ticket_id)
        assert ticket.status == "assigned"
        joined = session.scalars(select(Message).where(Message.text.contains("已接入"))).all()
        assert len(joined) == 1  # the loser wrote nothing


def test_skill_isolation(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")
    make_agent(gateway_client, "chen", "医保")
    wang, chen = AgentBrowser(gateway_client, "wang"), AgentBrowser(gateway_client, "chen")
    body = queued("carol", skill="社保")
    cid = body["conversation_id"]
    assert chen.queue()["waiting"] == []  # not one of chen's queues
    ticket_id = wang.queue()["waiting"][0]["ticket_id"]
    assert chen.post(f"/api/v1/agent/tickets/{ticket_id}/take").status_code == 403
    assert chen.get(f"/api/v1/agent/conversations/{cid}").status_code == 403
    assert wang.post(f"/api/v1/agent/tickets/{ticket_id}/take").status_code == 200
    # assigned to wang: chen may neither read, reply, reveal nor end it
    assert chen.get(f"/api/v1/agent/conversations/{cid}").status_code == 403
    assert chen.post(f"/api/v1/agent/conversations/{cid}/reply", json={"text": "x"}).status_code == 403
    assert chen.post(f"/api/v1/agent/conversations/{cid}/reveal", json={"seq": 1}).status_code == 403
    assert chen.post(f"/api/v1/agent/conversations/{cid}/end").status_code == 403
    # transfer to 医保: now chen's queue has it and wang lost it
    assert wang.post(f"/api/v1/agent/conversations/{cid}/transfer", json={"skill": "医保"}).status_code == 200
    assert [w["conversation_id"] for w in chen.queue()["waiting"]] == [cid]
    assert wang.get(f"/api/v1/agent/conversations/{cid}").status_code == 403
    assert citizen_says(gateway_client, "carol", "还要等吗")["mode"] == "queued"


def test_capacity_limits_concurrent_chats(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保", capacity=1)
    wang = AgentBrowser(gateway_client, "wang")
    queued("u1")
    queued("u2")
    waiting = wang.queue()["waiting"]
    assert [w["position"] for w in waiting] == [1, 2]
    assert wang.post(f"/api/v1/agent/tickets/{waiting[0]['ticket_id']}/take").status_code == 200
    refused = wang.post(f"/api/v1/agent/tickets/{waiting[1]['ticket_id']}/take")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "capacity_reached"


def test_login_cookie_and_session_expiry(gateway_client):
    make_agent(gateway_client, "wang", "社保")
    bad = gateway_client.post("/api/v1/agent/login", json={"name": "wang", "password": "wrong-password"})
    assert bad.status_code == 401
    assert gateway_client.post("/api/v1/agent/login", json={"name": "nobody", "password": "x"}).status_code == 401
    wang = AgentBrowser(gateway_client, "wang")
    cookie = wang.set_cookie.lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert wang.get("/api/v1/agent/me").json()["agent"]["name"] == "wang"
    assert gateway_client.get("/api/v1/agent/queue").status_code == 401  # no cookie
    with gateway_client.app.state.gateway.db.session() as session:
        row = session.scalars(select(AgentSession)).one()
        assert row.token_hash != wang.token  # only a hash is stored
        row.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    expired = wang.get("/api/v1/agent/queue")
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "login_required"
    # state changes from another origin are refused even with the cookie
    forged = wang.post("/api/v1/agent/logout", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    # logout revokes at once
    fresh = AgentBrowser(gateway_client, "wang")
    assert fresh.post("/api/v1/agent/logout").status_code == 200
    assert fresh.get("/api/v1/agent/me").status_code == 401


def test_expired_session_closes_the_agent_socket(gateway_client):
    make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    with wang.ws() as ws:
        assert next_event(ws)["type"] == "hello"
        with gateway_client.app.state.gateway.db.session() as session:
            session.scalars(select(AgentSession)).one().revoked = True
        message = None
        for _ in range(20):
            message = ws.receive()
            if message["type"] == "websocket.close":
                break
        assert message is not None and message["type"] == "websocket.close" and message["code"] == 4401


def test_pii_is_masked_until_an_audited_reveal(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    body = queued("dora")
    cid = body["conversation_id"]
    wang.post(f"/api/v1/agent/tickets/{wang.queue()['waiting'][0]['ticket_id']}/take")
    said = citizen_says(gateway_client, "dora", "我的电话是13812345678")
    view = wang.get(f"/api/v1/agent/conversations/{cid}").json()
    shown = next(m for m in view["messages"] if m["seq"] == said["message_seq"])
    assert shown["text"] == "我的电话是138****5678" and shown["masked"] is True
    assert "13812345678" not in str(view)
    revealed = wang.post(f"/api/v1/agent/conversations/{cid}/reveal", json={"seq": said["message_seq"]})
    assert revealed.json() == {"seq": said["message_seq"], "text": "我的电话是13812345678"}
    with gateway_client.app.state.gateway.db.session() as session:
        trail = [(e.action, e.conversation_id, (e.detail or {}).get("seq"))
                 for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("reveal", cid, said["message_seq"]) in trail
    assert ("view_transcript", cid, None) in trail and ("take", cid, None) in trail


def test_queue_position_updates_are_pushed_as_the_queue_moves(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    first = queued("e1")
    second = queued("e2")
    assert "前面还有 1 人" in second["replies"][0]["text"]
    with web_ws(gateway_client, second, after=second["reply_seqs"][-1]) as ws:
        next_event(ws)  # hello
        ticket = next(w for w in wang.queue()["waiting"] if w["conversation_id"] == first["conversation_id"])
        assert wang.post(f"/api/v1/agent/tickets/{ticket['ticket_id']}/take").status_code == 200
        update = next_event(ws, "messages")
        assert "排队更新" in update["messages"][-1]["text"] and "第一位" in update["messages"][-1]["text"]


def test_metrics(gateway_client, queued, monkeypatch):
    make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    served = queued("m1")["conversation_id"]
    asked_twice = queued("m2")["conversation_id"]
    citizen_says(gateway_client, "m2", "转人工")  # in the queue: counted as asking again
    with gateway_client.app.state.gateway.db.session() as session:
        session.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == asked_twice)).asks += 1
    queued("m3")
    citizen_says(gateway_client, "m3", "取消排队")  # abandoned
    queued("m4")  # still waiting: not decided yet
    for cid in (served, asked_twice):
        ticket_id = next(w["ticket_id"] for w in wang.queue()["waiting"] if w["conversation_id"] == cid)
        assert wang.post(f"/api/v1/agent/tickets/{ticket_id}/take").status_code == 200
    # deterministic waits: 30 s and 90 s
    with gateway_client.app.state.gateway.db.session() as session:
        for cid, wait in ((served, 30), (asked_twice, 90)):
            ticket = session.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == cid))
            ticket.created_at = ticket.assigned_at - dt.timedelta(seconds=wait)
    monkeypatch.setenv("GOVBOT_ADMIN_TOKEN", "admin-secret")
    assert gateway_client.get("/api/v1/admin/metrics").status_code == 401
    data = gateway_client.get("/api/v1/admin/metrics", headers={"Authorization": "Bearer admin-secret"}).json()["handoff"]
    assert (data["requests"], data["decided"], data["waiting"], data["connected"], data["abandoned"]) == (4, 3, 1, 2, 1)
    assert data["one_time_connection_rate"] == round(1 / 3, 4)
    assert data["abandonment_rate"] == round(1 / 3, 4)
    assert data["wait_seconds_p50"] == 30.0 and data["wait_seconds_p90"] == 90.0


def test_console_page_is_served(gateway_client):
    page = gateway_client.get("/agent")
    assert page.status_code == 200 and "人工客服工作台" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    script = gateway_client.get("/agent/console.js").text
    # chat content reaches the page only as text: no HTML-parsing sinks anywhere in the console
    assert not re.search(r"\.(inner|outer)HTML|insertAdjacentHTML|document\.write", script)
    assert "textContent" in script


def test_satisfaction_buttons_rate_the_agent(fake_rasa, gateway_client, queued):
    from connectors.feedback.models import Rating

    agent_id = make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    cid = queued("rita")["conversation_id"]
    wang.post(f"/api/v1/agent/tickets/{wang.queue()['waiting'][0]['ticket_id']}/take")
    assert wang.post(f"/api/v1/agent/conversations/{cid}/end").status_code == 200
    calls = len(fake_rasa.received)
    thanks = citizen_says(gateway_client, "rita", '/rate{"score": 4}')
    assert thanks["mode"] == "bot" and "感谢您的评价" in thanks["replies"][0]["text"]
    citizen_says(gateway_client, "rita", '/rate{"score": 5}')  # changing one's mind updates the score
    assert len(fake_rasa.received) == calls  # the gateway handled it; Rasa never saw it
    with gateway_client.app.state.gateway.db.session() as session:
        ratings = [(r.subject, r.score) for r in session.scalars(select(Rating))]
    assert ratings == [(f"agent:{agent_id}", 5)]
