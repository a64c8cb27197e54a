"""Agent-console fixtures: a gateway against the fake Rasa, agents created in its database.

Every agent talks to the app through the one entered TestClient (one event loop, like a real
server), each with its own session cookie sent explicitly, so pushes from agent requests reach
citizen WebSockets on the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.agents import service as agents
from connectors.agents.views import COOKIE
from connectors.channels.web import WebChannel
from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixtures reused here)

PASSWORD = "correct-horse-battery"
GREETING = {"text": "您好！我是北京政务服务智能客服。"}
HANDOFF = {"custom": {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": "社保"}}}


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch):
    monkeypatch.setattr(WebChannel, "heartbeat_s", 0.3)
    monkeypatch.setattr(WebChannel, "sync_retries", (0.02, 0.05))
    monkeypatch.setattr("connectors.agents.views.HEARTBEAT_S", 0.3)


@pytest.fixture
def gateway_client(fake_rasa, client_for):  # noqa: F811
    fake_rasa.replies = [GREETING]
    return client_for(fake_rasa.url)


def make_agent(client: TestClient, name: str, skills: str, capacity: int = 3) -> str:
    with client.app.state.gateway.db.session() as session:
        return agents.create_agent(session, name, PASSWORD, skills, capacity).id


class AgentBrowser:
    """One logged-in agent: requests carry that agent's session cookie."""

    def __init__(self, client: TestClient, name: str, password: str = PASSWORD) -> None:
        self.client = client
        response = client.post("/api/v1/agent/login", json={"name": name, "password": password})
        assert response.status_code == 200, response.text
        self.set_cookie = response.headers["set-cookie"]
        self.token = response.cookies[COOKIE]
        client.cookies.clear()  # the shared client must not carry one agent's cookie into another's requests

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.token}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def ws(self) -> Any:
        return self.client.websocket_connect("/api/v1/agent/ws", headers=self.headers)

    def queue(self) -> dict[str, Any]:
        response = self.get("/api/v1/agent/queue")
        assert response.status_code == 200, response.text
        return response.json()


def citizen_says(client: TestClient, user: str, text: str) -> dict[str, Any]:
    response = client.post("/api/v1/web/messages", json={"user_id": user, "text": text})
    assert response.status_code == 200, response.text
    return response.json()


def next_event(ws: Any, kind: str | None = None, max_frames: int = 40) -> dict[str, Any]:
    """The next non-heartbeat frame (of ``kind`` if given); fails instead of hanging."""
    for _ in range(max_frames):
        event = ws.receive_json()
        if event.get("type") in ("ping", "pong"):
            continue
        if kind is None or event.get("type") == kind:
            return event
    raise AssertionError(f"no {kind or 'event'} arrived")


@pytest.fixture
def queued(fake_rasa, gateway_client) -> Callable[..., dict[str, Any]]:  # noqa: F811
    """``user`` asks a question, then for a person (Rasa answers with the handoff event)."""

    def ask(user: str, skill: str = "社保", question: str = "社保卡丢了怎么补办") -> dict[str, Any]:
        citizen_says(gateway_client, user, question)
        fake_rasa.replies = [{"custom": {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": skill}}}]
        body = citizen_says(gateway_client, user, "转人工")
        fake_rasa.replies = [GREETING]
        assert body["mode"] == "queued", body
        return body

    return ask
