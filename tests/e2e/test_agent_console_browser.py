"""Human handoff in real headless Chromium against the real stack (Rasa + action server + gateway).

A web citizen asks for a person, an agent (created here with ``govbot agent create``) logs into the
console at ``/agent``, takes the chat, sees the bot part of the transcript, replies — the citizen's
widget receives it over its WebSocket — and ends the chat; the bot answers again. Debian's
``chromium`` is driven by Python playwright (never ``playwright install``). Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import send_by_keyboard

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000
PASSWORD = "e2e-agent-password"
AGENT_REPLY = "您好，我是人工客服。补办社保卡请携带身份证原件到社保经办机构办理。"


def new_page(browser: Any, url: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    return page


@pytest.fixture
def agent_name(e2e_settings, monkeypatch) -> str:
    from connectors.cli import main

    name = f"客服{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("GOVBOT_AGENT_PASSWORD", PASSWORD)
    # every queue a "转人工" can land in: the topic's own, or the general fallback
    assert main(["agent", "create", "--database-url", e2e_settings[0].database_url, "--name", name,
                 "--skills", "general,社保,社保卡", "--capacity", "2"]) == 0
    return name


def wait_bot_count(page: Any, count: int) -> None:
    expect(page.locator(".gb-log .gb-from-bot .gb-bubble")).not_to_have_count(count)
    expect(page.locator(".gb-typing")).to_be_hidden()


def test_citizen_to_agent_and_back_to_bot(browser, stack, artifacts_dir, agent_name):
    shots = lambda page, name: page.screenshot(path=str(artifacts_dir / f"agent-console-{name}.png"))  # noqa: E731

    # the agent logs in first, so the desk counts as staffed
    agent = new_page(browser, f"{stack.base_url}/agent", {"width": 1280, "height": 800})
    expect(agent.get_by_role("heading", name="客服登录")).to_be_visible()
    agent.get_by_label("用户名").fill(agent_name)
    agent.get_by_label("密码").fill(PASSWORD)
    agent.get_by_role("button", name="登录", exact=True).click()
    expect(agent.locator("#agent-name")).to_have_text(agent_name)
    expect(agent.locator("#conn")).to_have_text("实时连接正常")
    cookie = next(c for c in agent.context.cookies() if c["name"] == "govbot_agent")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert agent.evaluate("document.cookie").find("govbot_agent") == -1  # invisible to scripts

    # a web citizen asks the bot something, then for a person
    citizen = new_page(browser, f"{stack.base_url}/", {"width": 1000, "height": 800})
    frames: list[str] = []
    citizen.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    send_by_keyboard(citizen, "社保卡丢了怎么补办")
    wait_bot_count(citizen, 0)
    bot_answer = citizen.locator(".gb-log .gb-from-bot .gb-bubble").first.inner_text()
    count = citizen.locator(".gb-log .gb-from-bot .gb-bubble").count()
    send_by_keyboard(citizen, "转人工")
    wait_bot_count(citizen, count)
    status = citizen.locator(".gb-status")
    expect(status).to_have_text(re.compile(r"正在为您转接人工，(您前面还有 \d+ 人|您已排在第一位)"))
    expect(citizen.locator(".gb-log")).to_contain_text("预计等待约")
    shots(citizen, "1-citizen-queued")

    # the queue reaches the console live (WebSocket), the agent takes the chat
    item = agent.locator("#waiting li.ac-waiting").filter(has_text="社保卡丢了怎么补办")
    expect(item).to_have_count(1)
    shots(agent, "2-queue")
    item.get_by_role("button", name="接入").click()
    transcript = agent.get_by_role("log", name="会话记录")
    expect(transcript.locator(".ac-from-bot .ac-text").first).to_have_text(bot_answer)  # the bot part
    expect(transcript.locator(".ac-from-citizen .ac-text").first).to_have_text("社保卡丢了怎么补办")
    expect(agent.locator("#chat-channel")).to_contain_text("网页")
    expect(status).to_contain_text("人工")

    # the agent replies; the citizen's widget receives it over its WebSocket
    agent.get_by_label("回复内容").fill(AGENT_REPLY)
    agent.get_by_role("button", name="发送").click()
    expect(citizen.locator(".gb-log .gb-from-agent .gb-bubble").last).to_have_text(AGENT_REPLY)
    assert any(AGENT_REPLY in frame for frame in frames), "the agent reply did not arrive on the WebSocket"
    shots(citizen, "3-citizen-got-agent-reply")

    # the citizen answers; the console shows it live
    send_by_keyboard(citizen, "好的，谢谢您")
    expect(transcript.locator(".ac-from-citizen .ac-text").last).to_have_text("好的，谢谢您")
    shots(agent, "4-chat")

    # the agent ends the chat: back to the bot, with a satisfaction prompt
    agent.get_by_role("button", name="结束会话").click()
    expect(agent.locator("#notice")).to_contain_text("会话已结束")
    expect(citizen.locator(".gb-log")).to_contain_text("请您对本次人工服务进行评价")
    expect(status).to_be_hidden()
    count = citizen.locator(".gb-log .gb-from-bot .gb-bubble").count()
    send_by_keyboard(citizen, "你好")
    wait_bot_count(citizen, count)
    expect(citizen.locator(".gb-log .gb-from-bot .gb-bubble").last).to_contain_text("您好")
    shots(citizen, "5-citizen-back-to-bot")
    shots(agent, "6-ended")
    assert agent.errors == [] and citizen.errors == []
    agent.context.close()
    citizen.context.close()
