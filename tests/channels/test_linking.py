"""One conversation across channels: link codes, continuation of history and handoff, unlinking."""

from __future__ import annotations

import re

import pytest

APP = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}


@pytest.fixture
def client(monkeypatch, fake_rasa, client_for):
    monkeypatch.setenv("GOVBOT_APP_KEYS", "bjapp:k-123")
    return client_for(fake_rasa.url)


def web(client, user, text):
    return client.post("/api/v1/web/messages", json={"user_id": user, "text": text}).json()


def app_send(client, user, text):
    token = client.post("/api/v1/app/tokens", json={"user_id": user}, headers=APP).json()["token"]
    return client.post("/api/v1/app/messages", json={"text": text},
                       headers={**APP, "Authorization": f"Bearer {token}"}).json()


def code_from(body) -> str:
    match = re.search(r"关联码是 (\d{6})", body["replies"][0]["text"])
    assert match, body
    return match.group(1)


def test_link_continues_the_conversation_and_the_queue(client, fake_rasa):
    fake_rasa.replies = [{"custom": {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": "社保"}}}]
    queued = web(client, "w-1", "转人工")
    assert queued["mode"] == "queued"
    calls = len(fake_rasa.received)
    code = code_from(web(client, "w-1", "绑定账号"))
    assert len(fake_rasa.received) == calls  # Rasa never sees link commands
    fake_rasa.replies = [{"text": "bot"}]
    app_send(client, "a-1", "你好")  # the app user had a bot conversation of their own
    linked = app_send(client, "a-1", f"关联 {code}")
    assert "关联成功" in linked["replies"][0]["text"]
    assert linked["conversation_id"] == queued["conversation_id"]
    assert linked["mode"] == "queued"
    later = app_send(client, "a-1", "还要多久")
    assert later["conversation_id"] == queued["conversation_id"] and later["mode"] == "queued"
    # the code is single-use
    assert "无效" in app_send(client, "a-2", f"关联 {code}")["replies"][0]["text"]


def test_wrong_code_links_nothing(client):
    web(client, "w-2", "你好")
    reply = app_send(client, "a-3", "关联 000000")
    assert "无效" in reply["replies"][0]["text"]
    assert reply["conversation_id"] != web(client, "w-2", "你好")["conversation_id"]


def test_unlink_separates_the_channels_again(client):
    first = web(client, "w-4", "你好")
    code = code_from(web(client, "w-4", "绑定账号"))
    assert app_send(client, "a-4", f"关联 {code}")["conversation_id"] == first["conversation_id"]
    unlinked = app_send(client, "a-4", "解除关联")
    assert "已解除关联" in unlinked["replies"][0]["text"]
    assert unlinked["conversation_id"] != first["conversation_id"]
    assert web(client, "w-4", "你好")["conversation_id"] == first["conversation_id"]
    assert "无需解除" in app_send(client, "a-5", "解除关联")["replies"][0]["text"]


def test_retried_link_message_is_not_applied_twice(client):
    code = code_from(web(client, "w-6", "绑定账号"))
    token = client.post("/api/v1/app/tokens", json={"user_id": "a-6"}, headers=APP).json()["token"]
    headers = {**APP, "Authorization": f"Bearer {token}"}
    body = {"text": f"关联 {code}", "client_message_id": "m-1"}
    a = client.post("/api/v1/app/messages", json=body, headers=headers).json()
    b = client.post("/api/v1/app/messages", json=body, headers=headers).json()
    assert a["replies"] == b["replies"] and "关联成功" in a["replies"][0]["text"]
