"""The gaps the fault harness found, each closed and kept closed.

* the action server down: Rasa answers 200 with no replies → the citizen got silence (now: the
  "系统繁忙" notice, message marked ``failed``);
* the gateway killed between storing a message and answering it: the client's retry got an empty
  reply and nobody ever answered (now: the retry answers it; a start-up pass answers and pushes
  the ones nobody retries);
* a retry arriving while the first request is still being answered got an empty reply (now: it
  waits for the same answer);
* the database failing mid-request: a bare 500 and a message stored without answer (now: 503 with
  ``Retry-After``, and the message is answered once the database is back); WeChat got "success"
  for a message the database never stored (now: 503, so WeChat sends it again);
* a NUL character in a message: a 500 on PostgreSQL (now: dropped).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from connectors.conversations import service as store
from connectors.conversations.models import Message, MessageAuthor, MessageDirection
from connectors.db import Database
from connectors.message_router import BUSY_TEXT
from tests.channels.conftest import fake_wechat, wechat_app  # noqa: F401  (fixtures)
from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixtures)


def _orphan(db: Database, user: str, key: str, age_s: float) -> int:
    """An inbound stored by a gateway that died before answering it."""
    with db.session() as session:
        conversation = store.current_conversation(session, "web", user)
        message = store.add_message(session, conversation, direction=MessageDirection.INBOUND,
                                    author=MessageAuthor.CITIZEN, text="社保卡丢了怎么办", channel="web",
                                    channel_message_id=key)
        message.created_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age_s)
        return message.id


def _replies(db: Database, message_id: int) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(Message.text).where(Message.reply_to_id == message_id)))


def _status(db: Database, message_id: int) -> str:
    with db.session() as session:
        return session.get(Message, message_id).status


def test_a_silent_bot_gets_the_busy_notice(fake_rasa, client_for) -> None:  # noqa: F811
    fake_rasa.replies = []
    client = client_for(fake_rasa.url)
    body = client.post("/api/v1/web/messages", json={"user_id": "u-silent", "text": "社保卡"}).json()
    assert [r["text"] for r in body["replies"]] == [BUSY_TEXT]
    with client.app.state.gateway.db.session() as session:
        inbound = session.scalar(select(Message).where(Message.direction == MessageDirection.INBOUND))
        assert inbound.status == "failed"


def test_the_retry_of_an_orphaned_message_answers_it(fake_rasa, client_for) -> None:  # noqa: F811
    client = client_for(fake_rasa.url)
    db = client.app.state.gateway.db
    message_id = _orphan(db, "u-orphan", "c-orphan", age_s=120)
    body = client.post("/api/v1/web/messages",
                       json={"user_id": "u-orphan", "text": "社保卡丢了怎么办", "client_message_id": "c-orphan"}).json()
    assert [r["text"] for r in body["replies"]] == ["您好"]
    assert _replies(db, message_id) == ["您好"] and _status(db, message_id) == "answered"
    again = client.post("/api/v1/web/messages",
                        json={"user_id": "u-orphan", "text": "社保卡丢了怎么办", "client_message_id": "c-orphan"}).json()
    assert again["replies"] == body["replies"] and len(fake_rasa.received) == 1


def test_a_recent_orphan_is_given_time_then_answered(fake_rasa, client_for) -> None:  # noqa: F811
    client = client_for(fake_rasa.url)
    router = client.app.state.gateway.router
    router.orphan_after_s = 1.0
    message_id = _orphan(client.app.state.gateway.db, "u-recent", "c-recent", age_s=0)
    started = time.monotonic()
    body = client.post("/api/v1/web/messages",
                       json={"user_id": "u-recent", "text": "社保卡丢了怎么办", "client_message_id": "c-recent"}).json()
    assert time.monotonic() - started >= 0.8
    assert [r["text"] for r in body["replies"]] == ["您好"]
    assert _replies(client.app.state.gateway.db, message_id) == ["您好"]


def test_a_retry_during_the_answer_waits_for_the_same_answer(fake_rasa, client_for) -> None:  # noqa: F811
    fake_rasa.delay_s = 1.0
    client = client_for(fake_rasa.url)
    results: list[dict] = []

    def post() -> None:
        results.append(client.post("/api/v1/web/messages", json={
            "user_id": "u-race", "text": "护照", "client_message_id": "c-race"}).json())

    first = threading.Thread(target=post)
    first.start()
    time.sleep(0.3)
    post()
    first.join()
    assert [r["replies"] for r in results] == [[{"text": "您好", "buttons": []}]] * 2
    assert len(fake_rasa.received) == 1


def test_start_up_answers_and_pushes_what_a_killed_gateway_left(fake_rasa, client_for, tmp_path) -> None:  # noqa: F811
    db = Database(f"sqlite:///{tmp_path / 'gw.db'}")  # the file the next gateway opens
    db.create_all()
    message_id = _orphan(db, "u-left", "c-left", age_s=300)
    client = client_for(fake_rasa.url)
    deadline = time.monotonic() + 10
    while not _replies(db, message_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _replies(db, message_id) == ["您好"] and len(fake_rasa.received) == 1
    assert client.app.state.startup_recovery.recovered == 1


def test_database_errors_are_a_503_and_the_message_is_answered_later(
        fake_rasa, client_for, monkeypatch) -> None:  # noqa: F811
    import connectors.reliability as reliability
    from connectors.hotline12345 import events

    monkeypatch.setattr(reliability, "RETRY_EVERY_S", 0.2)
    client = client_for(fake_rasa.url)
    db = client.app.state.gateway.db
    real = events.apply_bot_events

    def locked(*args, **kwargs):
        raise sa_exc.OperationalError("INSERT …", {}, Exception("database is locked"))

    monkeypatch.setattr(events, "apply_bot_events", locked)
    response = client.post("/api/v1/web/messages", json={"user_id": "u-db", "text": "社保卡", "client_message_id": "c-db"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    error = response.json()["error"]
    assert error["code"] == "database_unavailable" and "稍后" in error["message_zh"]
    with db.session() as session:
        stored = session.scalar(select(Message).where(Message.channel_message_id == "c-db"))
        message_id, status = stored.id, stored.status
    assert status == "received" and not _replies(db, message_id)  # stored, nothing half-answered
    monkeypatch.setattr(events, "apply_bot_events", real)
    deadline = time.monotonic() + 10
    while not _replies(db, message_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _replies(db, message_id) == ["您好"]
    retry = client.post("/api/v1/web/messages", json={"user_id": "u-db", "text": "社保卡", "client_message_id": "c-db"})
    assert retry.status_code == 200 and [r["text"] for r in retry.json()["replies"]] == ["您好"]
    assert _replies(db, message_id) == ["您好"]  # answered once


def test_no_database_at_all_is_a_503(fake_rasa, client_for, monkeypatch) -> None:  # noqa: F811
    client = client_for(fake_rasa.url)

    def unreachable(*args, **kwargs):
        raise sa_exc.OperationalError("SELECT …", {}, Exception("could not connect to server"))

    monkeypatch.setattr(store, "current_conversation", unreachable)
    response = client.post("/api/v1/web/messages", json={"user_id": "u-none", "text": "社保卡"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"
    assert not fake_rasa.received


def test_nul_characters_are_dropped_not_a_500(fake_rasa, client_for) -> None:  # noqa: F811
    """PostgreSQL refuses NUL in text columns: found by the corpus on PostgreSQL (a 500)."""
    client = client_for(fake_rasa.url)
    body = client.post("/api/v1/web/messages", json={"user_id": "u-nul", "text": "社保\x00卡"}).json()
    assert body["replies"] and fake_rasa.received[-1]["message"] == "社保卡"
    only_nul = client.post("/api/v1/web/messages", json={"user_id": "u-nul", "text": "\x00\x00"})
    assert only_nul.status_code == 422 and only_nul.json()["error"]["code"] == "empty_text"


def test_wechat_gets_a_503_not_success_when_the_database_is_away(
        wechat_app, fake_rasa, monkeypatch) -> None:  # noqa: F811
    """"success" would tell WeChat the message arrived; it never sends it again and it is lost."""
    from tests.channels.conftest import text_xml

    client, sender = wechat_app()
    real = store.current_conversation

    def unreachable(*args, **kwargs):
        raise sa_exc.OperationalError("SELECT …", {}, Exception("database is not accepting connections"))

    monkeypatch.setattr(store, "current_conversation", unreachable)
    xml = text_xml("o-db", "社保卡丢了怎么补办", "7001")
    refused = sender.post(xml)
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    monkeypatch.setattr(store, "current_conversation", real)
    retried = sender.post(xml)  # WeChat's retry of the same MsgId
    assert retried.status_code == 200 and "您好" in retried.text
    assert len(fake_rasa.received) == 1
