"""Two gateways and two Rasa servers sharing one PostgreSQL database and one Redis, as deployed behind
a load balancer (real processes started by the launcher, real PostgreSQL on 127.0.0.1:5432 and real
Redis on 127.0.0.1:6379; skipped only when either is absent).

    gateway 1 ─► Rasa 1 ─┐                     PostgreSQL: transcripts, tickets, agents, outbox,
                         ├─► action server      Rasa's tracker (one private database per run)
    gateway 2 ─► Rasa 2 ─┘                     Redis: Rasa's lock store, push/agent relay

Shown: a conversation alternating between the instances keeps its state and its order; an agent on
gateway 1 serves a citizen on gateway 2 over WebSockets; killing gateway 2 loses no message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from websockets.sync.client import ClientConnection, connect

from connectors.agents import service as agents
from connectors.agents.views import COOKIE
from connectors.config import RedisSettings, load_settings
from connectors.conversations.models import MessageDirection
from connectors.db import Database
from connectors.gateway import _seed_cases
from connectors.launcher import Service, Stack, build_services, stack_env
from connectors.rasa_model import model_path
from tests.conftest import ROOT, free_port
from tests.scale.conftest import PG_ADMIN_URL, REDIS_URL, postgres_available, redis_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres)"),
    pytest.mark.skipif(not redis_available(), reason="no Redis server on 127.0.0.1:6379"),
]

AGENT, PASSWORD = "王芳", "scale-test-password"


@dataclass
class Cluster:
    stack: Stack
    gateways: list[str]  # base URLs of gateway 1 and gateway 2
    rasas: list[str]
    database_url: str
    redis_prefix: str
    startup_s: float

    def gateway_service(self, number: int) -> Service:
        return self.stack.service(f"gateway-{number}")


def instance_env(settings: Any, number: int) -> dict[str, str]:
    """What a deployment sets per process: shared database, tracker and Redis; own ports."""
    env = stack_env(settings)
    env.update({
        "GOVBOT_DATABASE_URL": settings.database_url,
        "GOVBOT_RASA_PORT": str(settings.rasa.port),
        "GOVBOT_RASA_TRACKER_DIALECT": settings.rasa.tracker_dialect,
        "GOVBOT_RASA_TRACKER_HOST": settings.rasa.tracker_host,
        "GOVBOT_RASA_TRACKER_DB": settings.rasa.tracker_db,
        "GOVBOT_ACTIONS_PORT": str(settings.actions.port),
        "GOVBOT_GATEWAY_PORT": str(settings.gateway.port),
        "GOVBOT_REDIS_URL": settings.redis.url,
        "GOVBOT_REDIS_KEY_PREFIX": settings.redis.key_prefix,
        # push tokens issued by one gateway must be accepted by the other
        "GOVBOT_SECRET_KEY": "scale-test-shared-secret",
        # no 12345 deliveries from this test (and never to the developer's simulator port)
        "GOVBOT_HOTLINE12345_ENDPOINT": f"http://127.0.0.1:{free_port()}/api/orders",
    })
    env.pop("GOVBOT_12345_SECRET", None)
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = load_settings()
    if not model_path(base).exists():
        pytest.fail("no trained Rasa model: run `make test` (it trains first) or `govbot train`")
    work = tmp_path_factory.mktemp("scale")
    name = f"govbot_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    database_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    prefix = f"govbotscale{uuid.uuid4().hex[:8]}"
    stack: Stack | None = None
    try:
        # what a deployment does once before starting the instances: migrate, seed, create agents
        db = Database(database_url)
        db.create_all()
        _seed_cases(db)
        with db.session() as session:
            agents.create_agent(session, AGENT, PASSWORD, "general", capacity=3)
        db.dispose()

        actions_port = free_port()
        services: list[Service] = []
        urls: dict[str, list[str]] = {"gateway": [], "rasa": []}
        for number in (1, 2):
            settings = replace(
                base,
                database_url=database_url,
                rasa=replace(base.rasa, port=free_port(), url="", tracker_dialect="postgresql",
                             tracker_host="127.0.0.1:5432", tracker_db=name),
                actions=replace(base.actions, port=actions_port, url=""),
                gateway=replace(base.gateway, port=free_port()),
                redis=RedisSettings(url=REDIS_URL, key_prefix=prefix),
            )
            env = instance_env(settings, number)
            env["GOVBOT_TRACKER_USER"] = "postgres"  # a secret in production: GOVBOT_RASA_TRACKER_USER
            for service in build_services(settings, work / f"logs-{number}", env):
                if service.name == "actions" and number == 2:
                    continue  # one action server serves both Rasa servers
                service.name = f"{service.name}-{number}"
                services.append(service)
            urls["gateway"].append(f"http://{settings.gateway.host}:{settings.gateway.port}")
            urls["rasa"].append(settings.rasa.base_url)
        stack = Stack(base, services=services)
        started = time.monotonic()
        stack.start(timeout=400)  # every process starts at once; the two Rasa servers dominate
        startup_s = time.monotonic() - started
        print(f"\n[scale] 2 gateways + 2 Rasa + 1 action server healthy after {startup_s:.1f}s")
        (work / "startup_s.txt").write_text(f"{startup_s:.1f}\n")
        yield Cluster(stack, urls["gateway"], urls["rasa"], database_url, prefix, startup_s)
    finally:
        if stack is not None:
            stack.stop()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


# --- helpers ------------------------------------------------------------------------------------


def say(base_url: str, user: str, text: str, client_message_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": user, "text": text}
    if client_message_id:
        body["client_message_id"] = client_message_id
    response = httpx.post(f"{base_url}/api/v1/web/messages", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def texts(body: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def transcript(database_url: str, conversation_id: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT id, seq, direction, author, text, status, reply_to_id, channel_message_id FROM messages "
                "WHERE conversation_id = :c ORDER BY seq"), {"c": conversation_id}).mappings().all()
    finally:
        engine.dispose()
    return [dict(row) for row in rows]


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url[len("http"):] + path


def next_frame(ws: ClientConnection, accept: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The next JSON frame for which ``accept(frame)`` holds (pings and other events are skipped)."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame within {timeout}s; saw {seen}")
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        if accept(frame):
            return frame
        seen.append(frame)


# --- 1. one conversation alternating between the instances ---------------------------------------


def test_a_conversation_alternating_between_instances_keeps_its_state_and_order(cluster):
    gw1, gw2 = cluster.gateways
    user = f"web-scale-{uuid.uuid4().hex[:8]}"
    offer = say(gw1, user, "我要打12345反映小区噪音扰民")  # gateway 1 → Rasa 1 offers a work order ...
    assert "/affirm" in [b["payload"] for r in offer["replies"] for b in r["buttons"]], offer
    done = say(gw2, user, "/affirm")  # ... gateway 2 → Rasa 2 must find that offer in the shared tracker
    assert "已为您提交12345工单" in texts(done), done
    assert done["conversation_id"] == offer["conversation_id"]
    more = say(gw1, user, "社保卡丢了怎么补办")
    assert more["replies"]
    conversation_id = offer["conversation_id"]

    # the gateway's transcript: one sequence across both gateways, each answer after its question
    rows = transcript(cluster.database_url, conversation_id)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    asked = [r for r in rows if r["direction"] == MessageDirection.INBOUND]
    assert [r["text"] for r in asked] == ["我要打12345反映小区噪音扰民", "/affirm", "社保卡丢了怎么补办"]
    assert all(r["status"] == "answered" for r in asked)
    for question in asked:
        answers = [r for r in rows if r["reply_to_id"] == question["id"]]
        assert answers and all(a["seq"] > question["seq"] for a in answers)
    engine = sa.create_engine(cluster.database_url)
    with engine.connect() as connection:
        orders = connection.execute(sa.text("SELECT COUNT(*) FROM work_orders WHERE conversation_id = :c"),
                                    {"c": conversation_id}).scalar()
        # Rasa's tracker lives in the same PostgreSQL database (table "events"), not in a local file
        tracked = connection.execute(sa.text("SELECT COUNT(*) FROM events WHERE sender_id = :c AND type_name = 'user'"),
                                     {"c": conversation_id}).scalar()
    engine.dispose()
    assert orders == 1 and tracked == 3

    # the same conversation, written to both instances at once: Rasa's Redis lock store lets one Rasa
    # server handle it at a time, so both turns are in the shared tracker, whole and one after the other
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda args: say(*args), [(gw1, user, "你好"), (gw2, user, "办理居住证需要什么材料")]))
    assert all(r["replies"] for r in results)
    tracker = httpx.get(f"{cluster.rasas[0]}/conversations/{conversation_id}/tracker", timeout=30).json()
    turns: list[list[str]] = []
    for event in tracker["events"]:
        if event["event"] == "user":
            turns.append([event.get("text") or ""])
        elif turns and event["event"] == "action":
            turns[-1].append(event.get("name") or "")
    user_texts = [t[0] for t in turns]
    assert user_texts[-2:] in (["你好", "办理居住证需要什么材料"], ["办理居住证需要什么材料", "你好"]), user_texts
    for turn in turns:  # every turn ran to completion (back to listening) before the next began
        assert turn[-1] == "action_listen", turns

    # and the lock really is Redis's: while another Rasa server holds this conversation's ticket
    # (written here the way Rasa writes it), Rasa 2 waits for it to expire before answering
    held_s = 3.0
    client = redis.Redis.from_url(REDIS_URL)
    client.set(f"{cluster.redis_prefix}:lock:{conversation_id}", json.dumps({
        "conversation_id": conversation_id,
        "tickets": [json.dumps({"number": 1, "expires": time.time() + held_s})]}))
    client.close()
    started = time.monotonic()
    waited = say(gw2, user, "谢谢")
    assert waited["replies"] and time.monotonic() - started >= held_s - 0.5, time.monotonic() - started


# --- 2. an agent on gateway 1, a citizen on gateway 2 --------------------------------------------


def agent_serves_citizen(agent_base: str, citizen_base: str, origin: str | None = None) -> None:
    """An agent console on ``agent_base`` takes, answers and ends the chat of a citizen whose widget
    talks to ``citizen_base``; every event crosses between them only through Redis."""
    browser = {"Origin": origin} if origin else {}
    login = httpx.post(f"{agent_base}/api/v1/agent/login", json={"name": AGENT, "password": PASSWORD},
                       headers=browser, timeout=30)
    assert login.status_code == 200, login.text
    cookies = {COOKIE: login.cookies[COOKIE]}
    user = f"web-scale-{uuid.uuid4().hex[:8]}"
    first = say(citizen_base, user, "你好")
    cid, token = first["conversation_id"], first["push_token"]
    after = max(first["reply_seqs"] or [first["message_seq"]])

    with connect(ws_url(agent_base, "/api/v1/agent/ws"), open_timeout=20,
                 additional_headers={"Cookie": f"{COOKIE}={cookies[COOKIE]}", **browser}) as agent_ws, \
            connect(ws_url(citizen_base, f"/api/v1/web/ws?conversation_id={cid}&token={token}&after={after}"),
                    open_timeout=20) as citizen_ws:
        assert next_frame(agent_ws, lambda f: f["type"] == "hello")["agent"]["name"] == AGENT
        assert next_frame(citizen_ws, lambda f: f["type"] == "hello")["conversation_id"] == cid

        queued = say(citizen_base, user, "转人工")  # arrives on the citizen's gateway ...
        assert queued["mode"] == "queued", queued
        # ... and the console on the agent's gateway hears of it through Redis
        event = next_frame(agent_ws, lambda f: f["type"] == "message" and f.get("conversation_id") == cid)
        assert event["mode"] == "queued"

        queue = httpx.get(f"{agent_base}/api/v1/agent/queue", cookies=cookies, timeout=30).json()
        ticket = next(t for t in queue["waiting"] if t["conversation_id"] == cid)
        taken = httpx.post(f"{agent_base}/api/v1/agent/tickets/{ticket['ticket_id']}/take", cookies=cookies,
                           headers=browser, timeout=30)
        assert taken.status_code == 200, taken.text
        greeting = next_frame(citizen_ws, lambda f: f["type"] == "messages" and f["mode"] == "agent")
        assert greeting["messages"][-1]["author"] == "system"

        question = say(citizen_base, user, "我的居住证快到期了，可以延期吗")
        assert question["mode"] == "agent" and question["replies"] == []
        event = next_frame(agent_ws, lambda f: f["type"] == "message" and f.get("conversation_id") == cid)
        assert event["mode"] == "agent"
        shown = httpx.get(f"{agent_base}/api/v1/agent/conversations/{cid}", cookies=cookies, timeout=30).json()
        assert shown["messages"][-1]["text"] == "我的居住证快到期了，可以延期吗"

        answer = "您好，居住证有效期满前30日内可以申请签注延期。"
        sent = httpx.post(f"{agent_base}/api/v1/agent/conversations/{cid}/reply", json={"text": answer},
                          cookies=cookies, headers=browser, timeout=30)
        assert sent.status_code == 200 and sent.json()["delivered"] is True, sent.text  # a socket elsewhere
        pushed = next_frame(citizen_ws, lambda f: f["type"] == "messages"
                            and any(m["text"] == answer for m in f["messages"]))
        assert [m["author"] for m in pushed["messages"] if m["text"] == answer] == ["agent"]

        ended = httpx.post(f"{agent_base}/api/v1/agent/conversations/{cid}/end", cookies=cookies, headers=browser,
                           timeout=30)
        assert ended.status_code == 200
        assert next_frame(citizen_ws, lambda f: f["type"] == "messages" and f["mode"] == "bot")


def test_an_agent_on_one_gateway_serves_a_citizen_on_the_other(cluster):
    gw1, gw2 = cluster.gateways
    agent_serves_citizen(agent_base=gw1, citizen_base=gw2)


def render_nginx_site(gateways: list[str], port: int) -> str:
    """deploy/nginx.conf with our gateways as the upstream and plain HTTP on ``port`` instead of TLS."""
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = re.sub(r"\n\s*#? ?server \d+\.\d+\.\d+\.\d+:\d+[^\n]*;", "", site)  # the sample gateways
    servers = "".join(f"    server {url.split('://', 1)[1]} max_fails=2 fail_timeout=10s;\n" for url in gateways)
    site = site.replace("    keepalive 64;", servers + "    keepalive 64;", 1)
    site = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", site, count=1, flags=re.S)  # the redirect
    site = re.sub(r"listen 443 ssl[^;]*;[^\n]*", f"listen 127.0.0.1:{port};", site)
    return re.sub(r"\n\s*ssl_certificate(_key)? [^\n]*", "", site)


def test_the_sample_nginx_config_fronts_both_gateways_with_websockets(cluster, tmp_path):
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-core); deploy/nginx.conf not exercised")
    port = free_port()
    tmp_path.chmod(0o777)  # nginx workers drop root and write their temp files here
    (tmp_path / "site.conf").write_text(render_nginx_site(cluster.gateways, port), encoding="utf-8")
    temp = "".join(f"  {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}  include {tmp_path / 'site.conf'};\n}}\n", encoding="utf-8")
    proxy = subprocess.Popen([str(nginx), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proxy.poll() is None, proxy.stderr.read().decode() if proxy.stderr else "nginx exited"
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not come up"
            time.sleep(0.2)
        # browsers send Origin; the console accepts it because nginx passes the Host they used
        agent_serves_citizen(agent_base=base, citizen_base=base, origin=base)
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(timeout=10)


# --- 3. one gateway dies --------------------------------------------------------------------------


def test_killing_one_gateway_loses_no_message(cluster):
    gw1, gw2 = cluster.gateways
    user = f"web-scale-{uuid.uuid4().hex[:8]}"
    before = [("社保卡丢了怎么补办", gw1), ("周六可以去办理吗", gw2), ("营业执照怎么办理", gw2)]
    bodies = [say(base_url, user, text, client_message_id=f"{user}-{n}") for n, (text, base_url) in enumerate(before)]
    assert all(body["replies"] for body in bodies), bodies
    conversation_id, token = bodies[-1]["conversation_id"], bodies[-1]["push_token"]  # issued by gateway 2

    victim = cluster.gateway_service(2)
    victim.process.send_signal(signal.SIGKILL)  # no shutdown hooks, like a crashed machine
    victim.process.wait(timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{gw2}/api/v1/web/messages", json={"user_id": user, "text": "还在吗"}, timeout=5)

    after = ["你好", "居住证怎么办理"]
    for n, text in enumerate(after, start=len(before)):
        body = say(gw1, user, text, client_message_id=f"{user}-{n}")
        assert body["replies"] and body["conversation_id"] == conversation_id, body
    # a retry of a message gateway 2 had already answered is recognised by the survivor, not redone
    retried = say(gw1, user, before[2][0], client_message_id=f"{user}-2")
    assert retried["replies"] and retried["conversation_id"] == conversation_id

    rows = transcript(cluster.database_url, conversation_id)
    asked = [r for r in rows if r["direction"] == MessageDirection.INBOUND]
    assert [r["text"] for r in asked] == [t for t, _ in before] + after  # every message, once, in order
    assert all(r["status"] == "answered" for r in asked), asked
    for question in asked:
        assert any(r["reply_to_id"] == question["id"] for r in rows), question
    assert cluster.stack.service("gateway-1").healthy()

    # the widget that was connected to gateway 2 reconnects to the survivor with the token it has
    # and reads back everything, including the answers given after the kill
    history = httpx.get(f"{gw1}/api/v1/web/history", params={"conversation_id": conversation_id, "token": token},
                        timeout=30).json()
    assert [m["seq"] for m in history["messages"]] == [r["seq"] for r in rows]
    with connect(ws_url(gw1, f"/api/v1/web/ws?conversation_id={conversation_id}&token={token}"),
                 open_timeout=20) as ws:
        assert next_frame(ws, lambda f: f["type"] == "hello")["last_seq"] == rows[-1]["seq"]
