"""A WeChat citizen handed to a person and back, through the real Rasa, action server and gateway.

A second gateway (same Rasa, action server and database as the session stack) points its WeChat
client at a local fake of the WeChat API servers, so the agent's reply is observed arriving through
the customer-service message API, exactly as WeChat would receive it.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from wechatpy.utils import WeChatSigner

from tests.channels.conftest import APP_ID, APP_SECRET, FakeWeChat
from tests.channels.conftest import fake_wechat  # noqa: F401  (fixture)
from tests.e2e.conftest import extra_gateway

pytestmark = pytest.mark.e2e
TOKEN = "govbot-e2e-handoff"
PASSWORD = "e2e-handoff-password"


def _params() -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = WeChatSigner()
    signer.add_data(TOKEN, timestamp, nonce)
    return {"timestamp": timestamp, "nonce": nonce, "signature": signer.signature}


def _send(base_url: str, openid: str, text: str) -> str:
    xml = (f"<xml><ToUserName><![CDATA[gh_e2e]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{uuid.uuid4().int % 10**18}</MsgId></xml>")
    response = httpx.post(f"{base_url}/channels/wechat", params=_params(), content=xml.encode(), timeout=30)
    assert response.status_code == 200, response.text
    if response.text == "success":
        return ""
    return {child.tag: child.text or "" for child in ET.fromstring(response.text)}["Content"]


@pytest.fixture
def wechat_gateway(stack, e2e_settings, fake_wechat: FakeWeChat) -> Iterator[str]:
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE": fake_wechat.url}
    with extra_gateway(stack, e2e_settings, env, "logs-wechat-handoff") as base_url:
        yield base_url


def test_wechat_citizen_to_agent_and_back(stack, e2e_settings, wechat_gateway, fake_wechat):
    from connectors.agents import service as agents
    from connectors.db import Database

    settings, _ = e2e_settings
    name = f"wx-agent-{uuid.uuid4().hex[:6]}"
    db = Database(settings.database_url)
    with db.session() as session:
        agents.create_agent(session, name, PASSWORD, ["社保", "general"], capacity=2)
    db.dispose()

    openid = f"oHandoff{uuid.uuid4().hex[:8]}"
    _send(wechat_gateway, openid, "社保卡丢了怎么补办")  # the bot part of the transcript
    queued = _send(wechat_gateway, openid, "转人工")
    assert "人工" in queued, queued

    with httpx.Client(base_url=wechat_gateway, timeout=30) as agent:
        assert agent.post("/api/v1/agent/login", json={"name": name, "password": PASSWORD}).status_code == 200
        waiting = [w for w in agent.get("/api/v1/agent/queue").json()["waiting"] if w["channel"] == "wechat"]
        assert waiting, "the WeChat chat is not in the agent's queue"
        ticket = waiting[-1]
        assert agent.post(f"/api/v1/agent/tickets/{ticket['ticket_id']}/take").status_code == 200
        view = agent.get(f"/api/v1/agent/conversations/{ticket['conversation_id']}").json()
        assert any("社保卡丢了怎么补办" in m["text"] for m in view["messages"])  # bot part visible
        assert any(m["author"] == "bot" for m in view["messages"])

        # while an agent owns the chat, the citizen's message reaches the agent, not Rasa
        assert _send(wechat_gateway, openid, "补办要多久") == ""
        assert any("补办要多久" in m["text"] for m in
                   agent.get(f"/api/v1/agent/conversations/{ticket['conversation_id']}").json()["messages"])

        sent_before = len(fake_wechat.sent)
        reply = agent.post(f"/api/v1/agent/conversations/{ticket['conversation_id']}/reply",
                           json={"text": "一般当场办结，请带身份证原件。"})
        assert reply.status_code == 200 and reply.json()["delivered"] is True
        sent = fake_wechat.wait_sent(sent_before + 1)
        assert any(s["touser"] == openid and "当场办结" in s["text"]["content"] for s in sent[sent_before:])

        assert agent.post(f"/api/v1/agent/conversations/{ticket['conversation_id']}/end").status_code == 200

    # back to the bot
    answer = _send(wechat_gateway, openid, "社保卡丢了怎么补办")
    assert "材料" in answer, answer
