"""The widget's push path: WebSocket relay, push tokens, history paging, and the served assets.

Runs against the gateway app with the scriptable fake Rasa (no trained model needed).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from connectors.channels.web import WS_POLICY_VIOLATION, WS_UNKNOWN_CONVERSATION, WebChannel
from connectors.conversations import service as store
from connectors.conversations.models import Conversation, MessageAuthor, MessageDirection
from connectors.message_router import Reply
from connectors.web import tokens as tokens_module
from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixtures)

GREETING = [{"text": "您好！我是北京政务服务智能客服。", "buttons": [{"title": "转人工客服", "payload": "/request_human"}]}]


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch):
    # a socket that never answers would otherwise block receive_json; pings bound every wait
    monkeypatch.setattr(WebChannel, "heartbeat_s", 0.3)
    monkeypatch.setattr(WebChannel, "sync_retries", (0.02, 0.05))


@pytest.fixture
def client(fake_rasa, client_for):  # noqa: F811
    fake_rasa.replies = GREETING
    return client_for(fake_rasa.url)


def post(client, user: str, text: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/web/messages", json={"user_id": user, "text": text, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def ws_url(body: dict[str, Any], token: str | None = None, after: int = 0) -> str:
    return (f"/api/v1/web/ws?conversation_id={body['conversation_id']}"
            f"&token={body['push_token'] if token is None else token}&after={after}")


def next_event(ws, max_pings: int = 15) -> dict[str, Any]:
    """The next non-heartbeat frame; fails instead of hanging when nothing comes."""
    for _ in range(max_pings):
        event = ws.receive_json()
        if event.get("type") != "ping":
            return event
    raise AssertionError("no event arrived, only heartbeats")


def store_agent_message(client, conversation_id: str, text: str) -> None:
    with client.app.state.gateway.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        store.add_message(session, conversation, direction=MessageDirection.OUTBOUND, author=MessageAuthor.AGENT,
                          text=text, channel="web", status="sent")


def push(client, user: str, conversation_id: str, replies: list[Reply]) -> bool:
    # the hub's queues belong to the app's event loop: publish from that loop
    channel = WebChannel(client.app.state.gateway)
    return client.portal.call(channel.push, user, conversation_id, replies)


def test_rest_reply_carries_a_push_token_and_seqs(client):
    body = post(client, "alice", "你好", client_message_id="m-1")
    assert body["replies"] == GREETING  # the stable contract is unchanged
    assert re.fullmatch(r"[0-9a-f]{40}", body["push_token"])
    assert body["message_seq"] == 1 and body["reply_seqs"] == [2]
    # a retry gets the identical body (same seqs, same token)
    assert post(client, "alice", "你好", client_message_id="m-1") == body
    second = post(client, "alice", "再问一个")
    assert second["message_seq"] == 3 and second["reply_seqs"] == [4]
    assert second["push_token"] == body["push_token"]  # same user, same conversation


def test_published_push_reaches_the_subscriber(client):
    body = post(client, "alice", "你好")
    cid = body["conversation_id"]
    with client.websocket_connect(ws_url(body, after=2)) as ws:
        hello = next_event(ws)
        assert hello == {"type": "hello", "conversation_id": cid, "mode": "bot", "last_seq": 2}
        store_agent_message(client, cid, "您好，我是人工客服，请问有什么可以帮您？")
        assert push(client, "alice", cid, [Reply("您好，我是人工客服，请问有什么可以帮您？", author="agent")]) is True
        event = next_event(ws)
        assert event["type"] == "messages" and event["mode"] == "bot"
        assert [(m["seq"], m["author"], m["text"]) for m in event["messages"]] == [
            (3, "agent", "您好，我是人工客服，请问有什么可以帮您？")
        ]
        # other event kinds are relayed as published
        client.portal.call(client.app.state.gateway.push_hub.publish, cid, {"type": "mode", "mode": "agent"})
        assert next_event(ws) == {"type": "mode", "mode": "agent"}
        ws.send_json({"type": "ping"})
        assert next_event(ws) == {"type": "pong"}
    # nobody listens any more: push reports that the citizen was not reached
    assert push(client, "alice", cid, [Reply("还在吗？", author="agent")]) is False


def test_push_only_reaches_its_own_conversation(client):
    alice, bob = post(client, "alice", "你好"), post(client, "bob", "你好")
    with client.websocket_connect(ws_url(alice, after=2)) as ws:
        next_event(ws)  # hello
        store_agent_message(client, bob["conversation_id"], "给 bob 的消息")
        assert push(client, "bob", bob["conversation_id"], [Reply("给 bob 的消息", author="agent")]) is False
        store_agent_message(client, alice["conversation_id"], "给 alice 的消息")
        push(client, "alice", alice["conversation_id"], [Reply("给 alice 的消息", author="agent")])
        event = next_event(ws)
        assert [m["text"] for m in event["messages"]] == ["给 alice 的消息"]


def test_a_push_without_stored_messages_is_still_delivered(client):
    body = post(client, "alice", "你好")
    with client.websocket_connect(ws_url(body, after=2)) as ws:
        next_event(ws)
        push(client, "alice", body["conversation_id"], [Reply("临时通知", author="system")])
        event = next_event(ws)
        assert event == {"type": "replies", "conversation_id": body["conversation_id"],
                         "replies": [{"text": "临时通知", "buttons": []}]}


def test_bad_token_is_rejected_with_policy_violation(client):
    alice, bob = post(client, "alice", "你好"), post(client, "bob", "你好")
    for token in ("0" * 40, "", bob["push_token"]):  # forged, missing, another citizen's
        with client.websocket_connect(ws_url(alice, token=token)) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == WS_POLICY_VIOLATION
    response = client.get("/api/v1/web/history",
                          params={"conversation_id": alice["conversation_id"], "token": bob["push_token"]})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "invalid_push_token" and error["message_zh"] and error["message_en"]


def test_history_after_returns_only_what_was_missed(client, fake_rasa):
    body = post(client, "carol", "你好", client_message_id="c-1")
    fake_rasa.replies = [{"text": "请提供办件编码。"}]
    post(client, "carol", "我的手机13812345678，查办件进度", client_message_id="c-2")
    params = {"conversation_id": body["conversation_id"], "token": body["push_token"]}

    full = client.get("/api/v1/web/history", params=params).json()
    assert full["mode"] == "bot" and full["last_seq"] == 4 and full["has_more"] is False
    assert [(m["seq"], m["author"]) for m in full["messages"]] == [
        (1, "citizen"), (2, "bot"), (3, "citizen"), (4, "bot")
    ]
    assert full["messages"][0]["client_message_id"] == "c-1"
    assert full["messages"][1]["buttons"] == GREETING[0]["buttons"]
    # the transcript only ever shows masked text
    assert full["messages"][2]["text"] == "我的手机138****5678，查办件进度"

    missed = client.get("/api/v1/web/history", params={**params, "after": 2}).json()
    assert [m["seq"] for m in missed["messages"]] == [3, 4]
    assert client.get("/api/v1/web/history", params={**params, "after": 4}).json()["messages"] == []
    page = client.get("/api/v1/web/history", params={**params, "after": 1, "limit": 2}).json()
    assert [m["seq"] for m in page["messages"]] == [2, 3] and page["has_more"] is True
    bad = client.get("/api/v1/web/history", params={**params, "after": -1})
    assert bad.status_code == 422 and bad.json()["error"]["message_zh"]


def test_unknown_conversation_is_a_bilingual_404(client):
    post(client, "dan", "你好")
    response = client.get("/api/v1/web/history", params={"conversation_id": "f" * 32, "token": "0" * 40})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "conversation_not_found"
    assert error["message_zh"] == "会话不存在" and error["message_en"] == "conversation not found"
    with client.websocket_connect(f"/api/v1/web/ws?conversation_id={'f' * 32}&token={'0' * 40}") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == WS_UNKNOWN_CONVERSATION


def test_tokens_use_the_configured_secret(monkeypatch, caplog):
    monkeypatch.setenv(tokens_module.SECRET_ENV, "s3cret")
    a, b = tokens_module.PushTokens(), tokens_module.PushTokens()
    assert a.issue("alice", "c1") == b.issue("alice", "c1")
    assert a.verify(["bob", "alice"], "c1", a.issue("alice", "c1"))
    assert not a.verify(["alice"], "c2", a.issue("alice", "c1"))
    assert not a.verify(["alice"], "c1", "")
    # user id and conversation id cannot be shifted into each other
    assert a.issue("ab", "c") != a.issue("a", "bc")
    monkeypatch.setenv(tokens_module.SECRET_ENV, "other")
    assert tokens_module.PushTokens().issue("alice", "c1") != a.issue("alice", "c1")

    monkeypatch.delenv(tokens_module.SECRET_ENV)
    monkeypatch.setattr(tokens_module, "_process_key", None)
    with caplog.at_level(logging.WARNING, logger="connectors.web.tokens"):
        first = tokens_module.PushTokens()
        second = tokens_module.PushTokens()
    assert first.issue("alice", "c1") == second.issue("alice", "c1")  # one key per process
    assert sum("GOVBOT_SECRET_KEY is not set" in r.getMessage() for r in caplog.records) == 1


def test_widget_assets_and_demo_page_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js"' in page.text
    script = client.get("/widget.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "北京政务服务智能客服" in script.text
    css = client.get("/widget.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_widget_never_parses_text_as_html(client):
    source = client.get("/widget.js").text
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, sink


def test_cors_is_open_for_the_widget_api_only(client):
    headers = {"Origin": "https://portal.example.gov.cn", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
    preflight = client.options("/api/v1/web/messages", headers=headers)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in {"*", "https://portal.example.gov.cn"}
    admin = client.options("/api/v1/admin/kb/reload", headers=headers)
    assert "access-control-allow-origin" not in admin.headers


def test_origin_allow_list_applies_to_the_websocket(client, monkeypatch):
    body = post(client, "erin", "你好")
    monkeypatch.setenv("GOVBOT_WEB_ALLOWED_ORIGINS", "https://portal.example.gov.cn")
    with client.websocket_connect(ws_url(body), headers={"Origin": "https://evil.example.com"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == WS_POLICY_VIOLATION
    with client.websocket_connect(ws_url(body), headers={"Origin": "https://portal.example.gov.cn"}) as ws:
        assert next_event(ws)["type"] == "hello"
