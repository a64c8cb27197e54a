"""One gateway for the whole corpus (building one per case would blow the time budget).

The gateway runs in-process against a fake Rasa (tests/connectors/conftest.py's protocol), with
the WeChat, app, admin and 12345 channels configured, and a small world prepared: two citizens
with web conversations, one queued and taken by agent ``sec-alice``, a second agent ``sec-bob``,
and dead (expired, logged-out) agent sessions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.channels.conftest import TOKEN as WECHAT_TOKEN
from tests.channels.conftest import sign as wechat_sign
from tests.conftest import free_port
from tests.connectors.conftest import FakeRasa

PASSWORD = "correct-horse-battery"
HANDOFF = {"custom": {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": "社保"}}}
GREETING = {"text": "您好！我是北京政务服务智能客服。"}
ADMIN_TOKEN = "admin-secret-for-security-tests"
HOTLINE_SECRET = "hotline-secret-for-security-tests"


def start_fake_rasa() -> tuple[FakeRasa, ThreadingHTTPServer]:
    fake = FakeRasa(port=free_port(), replies=[GREETING])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.received.append(body)
            payload = json.dumps([{"recipient_id": body["sender"], **r} for r in fake.replies], ensure_ascii=False)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", fake.port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake, server


def row_counts(client: TestClient) -> dict[str, int]:
    from connectors.db import Base

    with client.app.state.gateway.db.session() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def _login(client: TestClient, name: str) -> str:
    from connectors.agents.views import COOKIE

    response = client.post("/api/v1/agent/login", json={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies[COOKIE]
    client.cookies.clear()
    return token


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    from connectors.agents import service as agents
    from connectors.agents.models import AgentSession
    from connectors.agents.views import COOKIE
    from connectors.app import create_app
    from connectors.config import load_settings
    from connectors.handoff.models import HandoffTicket

    fake, server = start_fake_rasa()
    env = {
        "WECHAT_TOKEN": WECHAT_TOKEN, "WECHAT_APP_ID": "wx1234567890abcdef", "WECHAT_APP_SECRET": "s",
        "WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}", "GOVBOT_APP_KEYS": "bjapp:k-123,other:k-999",
        "GOVBOT_ADMIN_TOKEN": ADMIN_TOKEN, "GOVBOT_12345_SECRET": HOTLINE_SECRET,
        "GOVBOT_HOTLINE12345_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("WECHAT_ENCODING_AES_KEY", raising=False)
        base = load_settings()
        settings = replace(
            base, database_url=f"sqlite:///{tmp_path_factory.mktemp('sec') / 'gw.db'}",
            rasa=replace(base.rasa, url=fake.url, timeout_s=3.0),
            actions=replace(base.actions, url=f"http://127.0.0.1:{free_port()}"),
        )
        with TestClient(create_app(settings)) as client:
            db = client.app.state.gateway.db
            with db.session() as session:
                for name in ("sec-alice", "sec-bob", "sec-carol", "sec-dave"):
                    agents.create_agent(session, name, PASSWORD, "社保", 3)
            a = client.post("/api/v1/web/messages", json={"user_id": "citizen-a", "text": "社保卡丢了"}).json()
            b = client.post("/api/v1/web/messages", json={"user_id": "citizen-b", "text": "护照"}).json()
            fake.replies = [HANDOFF]
            queued = client.post("/api/v1/web/messages", json={"user_id": "citizen-a", "text": "转人工"}).json()
            fake.replies = [GREETING]
            assert queued["mode"] == "queued", queued
            alice, bob = _login(client, "sec-alice"), _login(client, "sec-bob")
            expired, logged_out = _login(client, "sec-carol"), _login(client, "sec-dave")
            client.post("/api/v1/agent/logout", headers={"Cookie": f"{COOKIE}={logged_out}"})
            client.cookies.clear()
            with db.session() as session:
                session.execute(update(AgentSession).values(expires_at=dt.datetime.now(dt.timezone.utc)
                                                            - dt.timedelta(hours=1))
                                .where(AgentSession.agent_id == agents.agent_for_token(session, expired, False).id))
                ticket = session.scalar(select(HandoffTicket.id).where(HandoffTicket.conversation_id == a["conversation_id"]))
            taken = client.post(f"/api/v1/agent/tickets/{ticket}/take", headers={"Cookie": f"{COOKIE}={alice}"})
            assert taken.status_code == 200, taken.text
            client.cookies.clear()
            keys = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}
            app_token = client.post("/api/v1/app/tokens", json={"user_id": "app-user"}, headers=keys).json()["token"]
            other = client.post("/api/v1/app/tokens", json={"user_id": "app-user"},
                                headers={"X-App-Id": "other", "X-Api-Key": "k-999"}).json()["token"]
            app_channel = client.app.state.gateway.channels["app"] if hasattr(client.app.state.gateway, "channels") else None
            expired_app = app_channel.tokens.issue("bjapp", "app-user", -60)[0] if app_channel else "x"
            ts, nonce = str(int(time.time())), "n0nce"
            yield {
                "client": client, "rasa": fake,
                "fmt": {
                    "conv_a": a["conversation_id"], "token_a": a["push_token"], "conv_b": b["conversation_id"],
                    "token_b": b["push_token"], "ticket": str(ticket), "cookie_name": COOKIE, "alice_cookie": alice,
                    "bob_cookie": bob, "expired_cookie": expired, "logged_out_cookie": logged_out,
                    "app_token": app_token, "other_app_token": other, "app_token_expired": expired_app,
                    "app_token_tampered": app_token[:-2] + ("AA" if not app_token.endswith("AA") else "BB"),
                    "wx_sig": f"signature={wechat_sign(WECHAT_TOKEN, ts, nonce)}&timestamp={ts}&nonce={nonce}",
                    "wx_sig_other": f"signature={wechat_sign('other-token', ts, nonce)}&timestamp={ts}&nonce={nonce}",
                },
            }
    server.shutdown()
    server.server_close()
