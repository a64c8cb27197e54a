"""Mobile-app channel: API key + per-user token, same message semantics as web, long-poll pushes."""

from __future__ import annotations

import threading
import time

import pytest

APP = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}


@pytest.fixture
def app_client(monkeypatch, fake_rasa, client_for):
    monkeypatch.setenv("GOVBOT_APP_KEYS", "bjapp:k-123,other:k-999")
    return client_for(fake_rasa.url)


def token_for(client, user: str, app=APP) -> str:
    response = client.post("/api/v1/app/tokens", json={"user_id": user}, headers=app)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def send(client, token: str, text: str, app=APP, **extra):
    return client.post("/api/v1/app/messages", json={"text": text, **extra},
                       headers={**app, "Authorization": f"Bearer {token}"})


def test_message_round_trip(app_client, fake_rasa):
    fake_rasa.replies = [{"text": "您好！", "buttons": [{"title": "办事指南", "payload": "/ask_service"}]}]
    body = send(app_client, token_for(app_client, "u1"), "你好").json()
    assert body["mode"] == "bot"
    assert body["replies"] == [{"text": "您好！", "buttons": [{"title": "办事指南", "payload": "/ask_service"}]}]
    assert body["message_seq"] == 1 and body["reply_seqs"] == [2]
    assert fake_rasa.received[-1]["metadata"]["channel"] == "app"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "invalid_api_key"),
        ({"X-App-Id": "bjapp", "X-Api-Key": "wrong"}, 401, "invalid_api_key"),
        ({**APP, "Authorization": "Bearer nonsense"}, 401, "invalid_user_token"),
        ({**APP, "Authorization": "Bearer "}, 401, "missing_user_token"),
    ],
)
def test_bad_credentials(app_client, headers, status, code):
    response = app_client.post("/api/v1/app/messages", json={"text": "hi"}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_token_of_another_app_or_tampered_is_refused(app_client):
    other = token_for(app_client, "u1", app={"X-App-Id": "other", "X-Api-Key": "k-999"})
    assert send(app_client, other, "hi").status_code == 403
    good = token_for(app_client, "u1")
    payload, sig = good.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + sig
    assert send(app_client, forged, "hi").status_code == 401


def test_one_user_cannot_read_another_users_events(app_client, fake_rasa):
    alice, bob = token_for(app_client, "alice"), token_for(app_client, "bob")
    send(app_client, alice, "我的身份证号是11010519491231002X")
    bob_events = app_client.get("/api/v1/app/events", params={"wait": 0},
                                headers={**APP, "Authorization": f"Bearer {bob}"}).json()
    assert bob_events["messages"] == []
    alice_events = app_client.get("/api/v1/app/events", params={"wait": 0},
                                  headers={**APP, "Authorization": f"Bearer {alice}"}).json()
    assert alice_events["messages"][0]["text"] == "我的身份证号是110105********002X"  # masked


def test_long_poll_wakes_on_push(app_client, fake_rasa):
    token = token_for(app_client, "carol")
    first = send(app_client, token, "你好").json()
    gateway = app_client.app.state.gateway

    def agent_says_later() -> None:  # stored first, then published, as an agent reply is
        time.sleep(0.5)
        from connectors.conversations import service as store
        from connectors.conversations.models import Conversation

        with gateway.db.session() as session:
            conversation = session.get(Conversation, first["conversation_id"])
            store.add_message(session, conversation, direction="out", author="agent", text="人工客服：您好",
                              channel="app", status="sent")
        app_client.portal.call(gateway.push_hub.publish, first["conversation_id"], {"type": "replies"})

    threading.Thread(target=agent_says_later).start()
    started = time.monotonic()
    events = app_client.get("/api/v1/app/events", params={"after": first["reply_seqs"][-1], "wait": 10},
                            headers={**APP, "Authorization": f"Bearer {token}"}).json()
    assert time.monotonic() - started < 8
    assert [m["text"] for m in events["messages"]] == ["人工客服：您好"]


def test_unconfigured_app_channel_says_so(fake_rasa, client_for, monkeypatch):
    monkeypatch.delenv("GOVBOT_APP_KEYS", raising=False)
    client = client_for(fake_rasa.url)
    response = client.post("/api/v1/app/tokens", json={"user_id": "x"}, headers=APP)
    assert response.status_code == 503


def test_openapi_describes_the_app_api(app_client):
    spec = app_client.get("/openapi.json").json()
    assert {"/api/v1/app/tokens", "/api/v1/app/messages", "/api/v1/app/events"} <= set(spec["paths"])
    assert "AppMessageOut" in spec["components"]["schemas"]
