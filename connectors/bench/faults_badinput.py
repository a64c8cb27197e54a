"""The bad-input corpus (:mod:`connectors.bench.badinput`) against the live stack of a fault run.

The CI test runs the corpus in-process against a fake Rasa; here it runs over real HTTP and
WebSockets against the real gateway after the faults, once the load has stopped (an inert case is
judged by every table's row count staying the same, which concurrent citizens would change). The
world the placeholders refer to — two citizens, agents with live, expired and logged-out sessions,
a chat taken by one agent, app tokens — is set up through the public API where it has one, and
directly in the database where only an operator could do it (creating agents, ageing a session).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import func, select, update

from connectors.bench.badinput import CaseResult, all_cases, run_case
from connectors.db import Base, Database

PASSWORD = "correct-horse-battery"


def row_counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def ws_close_code(base_url: str) -> Callable[[str, dict[str, str]], int]:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    def code(path: str, headers: dict[str, str]) -> int:
        try:
            with connect(base_url.replace("http", "ws", 1) + path, additional_headers=headers, open_timeout=10) as ws:
                for _ in range(5):
                    ws.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006
        except Exception:  # refused handshake, timeout …
            return -1
        return 1000

    return code


def _login(client: httpx.Client, name: str) -> str:
    from connectors.agents.views import COOKIE

    response = client.post("/api/v1/agent/login", json={"name": name, "password": PASSWORD})
    response.raise_for_status()
    token = response.cookies[COOKIE]
    client.cookies.clear()
    return token


def build_world(client: httpx.Client, db: Database, wechat_token: str) -> dict[str, str]:
    """Create what the corpus' placeholders name; returns the placeholder values."""
    from wechatpy.utils import WeChatSigner

    from connectors.agents import service as agents
    from connectors.agents.models import AgentSession
    from connectors.agents.views import COOKIE
    from connectors.channels.app import UserTokens
    from connectors.conversations.models import Conversation
    from connectors.handoff import service as handoff

    tag = str(int(time.time()))[-6:]
    with db.session() as session:
        for name in ("sec-alice", "sec-bob", "sec-carol", "sec-dave"):
            if agents.login(session, name, PASSWORD, 60) is None:
                agents.create_agent(session, name, PASSWORD, "社保", 3)
    a = client.post("/api/v1/web/messages", json={"user_id": f"sec-a-{tag}", "text": "社保卡丢了"}).json()
    b = client.post("/api/v1/web/messages", json={"user_id": f"sec-b-{tag}", "text": "护照"}).json()
    with db.session() as session:
        conversation = session.get(Conversation, a["conversation_id"])
        ticket = handoff.request_handoff(session, conversation, "社保", "citizen_request").id
    alice, bob = _login(client, "sec-alice"), _login(client, "sec-bob")
    expired, logged_out = _login(client, "sec-carol"), _login(client, "sec-dave")
    client.post("/api/v1/agent/logout", headers={"Cookie": f"{COOKIE}={logged_out}"})
    client.cookies.clear()
    with db.session() as session:
        carol = agents.agent_for_token(session, expired, False)
        session.execute(update(AgentSession).where(AgentSession.agent_id == carol.id)
                        .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    taken = client.post(f"/api/v1/agent/tickets/{ticket}/take", headers={"Cookie": f"{COOKIE}={alice}"})
    taken.raise_for_status()
    client.cookies.clear()
    keys = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}
    app_token = client.post("/api/v1/app/tokens", json={"user_id": "app-user"}, headers=keys).json()["token"]
    other = client.post("/api/v1/app/tokens", json={"user_id": "app-user"},
                        headers={"X-App-Id": "other", "X-Api-Key": "k-999"}).json()["token"]
    expired_app = UserTokens().issue("bjapp", "app-user", -60)[0]  # GOVBOT_SECRET_KEY is shared with the stack

    def wx_sig(token: str) -> str:
        ts, nonce = str(int(time.time())), "n0nce"
        signer = WeChatSigner()
        signer.add_data(token, ts, nonce)
        return f"signature={signer.signature}&timestamp={ts}&nonce={nonce}"

    return {
        "conv_a": a["conversation_id"], "token_a": a["push_token"], "conv_b": b["conversation_id"],
        "token_b": b["push_token"], "ticket": str(ticket), "cookie_name": COOKIE, "alice_cookie": alice,
        "bob_cookie": bob, "expired_cookie": expired, "logged_out_cookie": logged_out,
        "app_token": app_token, "other_app_token": other, "app_token_expired": expired_app,
        "app_token_tampered": app_token[:-2] + ("AA" if not app_token.endswith("AA") else "BB"),
        "wx_sig": wx_sig(wechat_token), "wx_sig_other": wx_sig("other-token"),
    }


def run_corpus(base_url: str, db: Database, wechat_token: str, hotline_secret: str) -> dict[str, Any]:
    """Every corpus case once; returns the counts for the report and the failing cases."""
    results: list[CaseResult] = []
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        fmt = build_world(client, db, wechat_token)
        ws = ws_close_code(base_url)
        for case in all_cases():
            try:
                try:
                    results.append(run_case(client, case, fmt, hotline_secret=hotline_secret,
                                            counts=lambda: row_counts(db), ws_code=ws))
                except httpx.LocalProtocolError:
                    # a real HTTP client cannot send a header value with trailing blanks ("Bearer "):
                    # send what reaches the server in practice, the value stripped
                    stripped = replace(case, headers={k: v.strip() for k, v in case.headers.items()})
                    results.append(run_case(client, stripped, fmt, hotline_secret=hotline_secret,
                                            counts=lambda: row_counts(db), ws_code=ws))
            except httpx.HTTPError as exc:
                results.append(CaseResult(case.id, None, [f"{type(exc).__name__}: {exc}"]))
    failed = [r for r in results if r.problems]
    return {
        "bad_inputs": len(results),
        "bad_input_5xx": sum(1 for r in results if r.server_error),
        "bad_input_state_changes": sum(1 for r in results if r.state_changed),
        "bad_input_failures": len(failed),
        "bad_input_failed_cases": [{"id": r.case_id, "problems": r.problems[:2]} for r in failed[:10]],
    }
