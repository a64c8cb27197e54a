"""When nobody can answer: outside staffed hours, nobody online, waited too long → 12345 offered."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from connectors.agents.passwords import hash_password, verify_password
from connectors.config import HandoffSettings
from connectors.conversations import service as store
from connectors.conversations.models import ConversationMode
from connectors.handoff import service as handoff
from connectors.handoff.models import HandoffTicket, TicketStatus
from tests.agents.conftest import AgentBrowser, citizen_says, make_agent, next_event

BEIJING = dt.timezone(dt.timedelta(hours=8))
# 2026-11-29 is a Sunday; 2026-11-25 a Wednesday (ordinary working day)
SUNDAY_NOON = dt.datetime(2026, 11, 29, 12, 0, tzinfo=BEIJING)
WEDNESDAY_10 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=BEIJING)


def payloads(replies) -> list[str]:
    return [b["payload"] for _, buttons in replies for b in buttons]


def test_outside_staffed_hours_offers_12345_instead_of_a_queue(gateway_client):
    staffed = HandoffSettings(staffed_center="city", staffed_category="综合")
    with gateway_client.app.state.gateway.db.session() as session:
        conversation = store.current_conversation(session, "web", "night-owl")
        replies = handoff.admit(session, conversation, skill="社保", reason="citizen_request", settings=staffed,
                                now=SUNDAY_NOON)
        assert conversation.mode == ConversationMode.BOT  # nobody is queued for an empty desk
        assert "不在人工客服服务时间" in replies[0][0] and "下次服务时间" in replies[0][0]
        assert payloads(replies) == [handoff.CONTACT_12345_PAYLOAD]
        diverted = session.scalars(select(HandoffTicket)).one()
        assert (diverted.status, diverted.outcome) == (TicketStatus.DIVERTED, "outside_hours")
        # the same desk on a working morning queues normally
        replies = handoff.admit(session, conversation, skill="社保", reason="citizen_request", settings=staffed,
                                now=WEDNESDAY_10)
        assert conversation.mode == ConversationMode.QUEUED and "第一位" in replies[0][0]


def test_nobody_online_keeps_the_place_but_says_so(fake_rasa, gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")  # exists, but never logged in
    body = queued("frank")
    texts = [r["text"] for r in body["replies"]]
    assert "第一位" in texts[0]
    assert "暂无人工客服在线" in texts[1]
    assert handoff.CONTACT_12345_PAYLOAD in [b["payload"] for b in body["replies"][1]["buttons"]]
    # taking the offer leaves the queue and lets the bot run the work-order flow
    calls = len(fake_rasa.received)
    taken = citizen_says(gateway_client, "frank", handoff.CONTACT_12345_PAYLOAD)
    assert taken["mode"] == "bot" and len(fake_rasa.received) == calls + 1
    assert fake_rasa.received[-1]["message"] == handoff.CONTACT_12345_PAYLOAD
    with gateway_client.app.state.gateway.db.session() as session:
        ticket = session.scalars(select(HandoffTicket)).one()
        assert (ticket.status, ticket.outcome) == (TicketStatus.DIVERTED, "diverted_12345")


def test_topic_without_agents_falls_back_to_general(gateway_client, queued):
    make_agent(gateway_client, "gen", "general")
    gen = AgentBrowser(gateway_client, "gen")
    body = queued("gina", skill="公积金")
    assert [(w["conversation_id"], w["skill"]) for w in gen.queue()["waiting"]] == [(body["conversation_id"], "general")]


def test_overdue_wait_is_told_and_offered_12345_once(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")
    AgentBrowser(gateway_client, "wang")  # online
    body = queued("hank")
    app = gateway_client.app
    with app.state.gateway.db.session() as session:
        ticket = session.scalars(select(HandoffTicket)).one()
        ticket.created_at = ticket.created_at - dt.timedelta(seconds=app.state.gateway.settings.handoff.max_wait_s + 5)
    with gateway_client.websocket_connect(
            f"/api/v1/web/ws?conversation_id={body['conversation_id']}&token={body['push_token']}"
            f"&after={body['reply_seqs'][-1]}") as ws:
        next_event(ws)  # hello
        assert gateway_client.portal.call(app.state.handoff_desk.sweep_once) == 1
        event = next_event(ws, "messages")
        last = event["messages"][-1]
        assert "已等待超过" in last["text"] and handoff.CONTACT_12345_PAYLOAD in [b["payload"] for b in last["buttons"]]
    assert gateway_client.portal.call(app.state.handoff_desk.sweep_once) == 0  # told once


def test_eta_follows_recent_handling_times(gateway_client):
    with gateway_client.app.state.gateway.db.session() as session:
        conversation = store.current_conversation(session, "web", "eta")
        now = dt.datetime.now(dt.timezone.utc)
        for minutes in (2, 4, 6):
            session.add(HandoffTicket(conversation_id=conversation.id, skill="社保", status=TicketStatus.CLOSED,
                                      assigned_at=now - dt.timedelta(minutes=minutes), closed_at=now))
        session.flush()
        # median 4 min; place 3 with 2 agents online → 2 rounds
        assert handoff.eta_seconds(session, "社保", 3, 2, 300) == 480
        assert handoff.eta_seconds(session, "医保", 1, 1, 300) == 300  # no history: the configured basis
    assert "约 8 分钟" in handoff.queue_notice(3, 480)


def test_passwords_are_salted_scrypt():
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("s3cret-pass", first) and not verify_password("s3cret-pasS", first)
    assert not verify_password("s3cret-pass", "garbage")


def test_work_order_from_the_console(gateway_client, queued):
    make_agent(gateway_client, "wang", "社保")
    wang = AgentBrowser(gateway_client, "wang")
    cid = queued("ivy")["conversation_id"]
    wang.post(f"/api/v1/agent/tickets/{wang.queue()['waiting'][0]['ticket_id']}/take")
    bad = wang.post(f"/api/v1/agent/conversations/{cid}/work-order", json={"category": "nope", "summary": "x"})
    assert bad.status_code == 422
    made = wang.post(f"/api/v1/agent/conversations/{cid}/work-order",
                     json={"category": "help", "summary": "市民社保卡丢失，需要加急补办。"})
    assert made.status_code == 200, made.text
    assert made.json()["number"].startswith("GD")


def test_cli_creates_an_agent_who_can_log_in(tmp_path, monkeypatch, capsys):
    from connectors.agents import service as agents
    from connectors.cli import main
    from connectors.db import Database

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("GOVBOT_AGENT_PASSWORD", "pass-from-env-1")
    assert main(["agent", "create", "--database-url", url, "--name", "王芳", "--skills", "社保，general",
                 "--capacity", "2"]) == 0
    assert main(["agent", "create", "--database-url", url, "--name", "王芳", "--skills", "社保"]) == 2  # duplicate
    assert main(["agent", "list", "--database-url", url]) == 0
    assert "王芳\t社保,general\tcapacity=2\tactive" in capsys.readouterr().out
    db = Database(url)
    try:
        with db.session() as session:
            assert agents.login(session, "王芳", "pass-from-env-1", 60) is not None
            assert agents.login(session, "王芳", "wrong-pass-123", 60) is None
    finally:
        db.dispose()


def test_an_older_database_is_adopted_by_the_migrations(tmp_path):
    """A database created before Alembic (first release's tables) gains the new columns and is stamped."""
    import sqlalchemy as sa

    from connectors.db import Database

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with db.engine.begin() as connection:  # the first release's tables
            connection.execute(sa.text(
                "CREATE TABLE conversations (id VARCHAR(32) PRIMARY KEY, citizen_id VARCHAR(32), channel VARCHAR(32), "
                "mode VARCHAR(16), skill VARCHAR(64), assigned_agent_id VARCHAR(64), bot_failures INTEGER, "
                "created_at DATETIME, updated_at DATETIME, closed_at DATETIME)"))
            connection.execute(sa.text(
                "CREATE TABLE handoff_tickets (id INTEGER PRIMARY KEY, conversation_id VARCHAR(32), skill VARCHAR(64), "
                "reason TEXT, status VARCHAR(16), agent_id VARCHAR(64), created_at DATETIME, assigned_at DATETIME, "
                "closed_at DATETIME)"))
            connection.execute(sa.text("INSERT INTO handoff_tickets (id, skill, status) VALUES (1, '社保', 'closed')"))
        db.create_all()
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("handoff_tickets")}
        assert {"asks", "transferred_from", "outcome", "last_position", "overdue_notified"} <= columns
        assert "alembic_version" in sa.inspect(db.engine).get_table_names()
        db.create_all()  # idempotent
        with db.session() as session:
            ticket = session.get(HandoffTicket, 1)
            assert ticket.asks == 1 and ticket.overdue_notified is False
    finally:
        db.dispose()
