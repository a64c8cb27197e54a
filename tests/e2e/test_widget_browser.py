"""The chat widget in a real headless Chromium against the real stack (Rasa + action server + gateway).

Uses Debian's ``chromium`` (``apt-get install chromium``) driven by Python playwright; playwright's
own browser download is never used. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import send_by_keyboard

pytestmark = pytest.mark.e2e

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
TIMEOUT_MS = 60_000  # one answer can take a while on a busy 2-core machine


@pytest.fixture
def page(browser, stack) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 820})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{stack.base_url}/")
    yield page
    context.close()


def bot_bubbles(page: Any) -> Any:
    return page.locator(".gb-log .gb-from-bot .gb-bubble")


def answered(page: Any, previous_bot_count: int) -> str:
    """Wait for a new bot bubble after ``previous_bot_count``; the text of the new messages (with their buttons)."""
    expect(bot_bubbles(page)).not_to_have_count(previous_bot_count)
    expect(page.locator(".gb-typing")).to_be_hidden()
    text = "\n".join(page.locator(".gb-log .gb-from-bot").all_inner_texts()[previous_bot_count:])
    assert "系统繁忙" not in text, text
    return text


def session_of(page: Any) -> dict[str, Any]:
    user = page.evaluate("window.GovbotWidget.userId")
    return page.evaluate(f"JSON.parse(localStorage.getItem('govbot.session.{user}'))")


def transcript(stack: Any, session: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.base_url}/api/v1/web/history",
                         params={"conversation_id": session["conversation_id"], "token": session["push_token"]},
                         timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def shot(page: Any, artifacts_dir: Any, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"widget-{name}.png"))


def test_chat_quick_replies_materials_and_large_font(page, stack, artifacts_dir):
    expect(page.get_by_role("heading", name="北京政务服务智能客服")).to_be_visible()
    log = page.get_by_role("log", name="对话记录")
    expect(log).to_have_attribute("aria-live", "polite")

    send_by_keyboard(page, "你好")
    greeting = answered(page, 0)
    assert "您好" in greeting
    chips = page.locator(".gb-log .gb-chip")
    expect(chips.first).to_be_visible()
    assert "办事指南" in chips.all_inner_texts()
    shot(page, artifacts_dir, "1-greeting")

    count = bot_bubbles(page).count()
    page.get_by_role("button", name="办事指南").first.click()
    answered(page, count)
    # the citizen bubble shows the button title, the server got its payload
    expect(page.locator(".gb-log .gb-from-citizen .gb-bubble").last).to_have_text("办事指南")

    count = bot_bubbles(page).count()
    send_by_keyboard(page, "社保卡丢了怎么补办")
    answer = answered(page, count)
    assert ("社保卡" in answer or "社会保障卡" in answer) and "材料" in answer
    shot(page, artifacts_dir, "2-materials")

    bubble = bot_bubbles(page).first
    before = bubble.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    toggle = page.get_by_role("button", name="大字体")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.press("Enter")  # keyboard-operable
    expect(toggle).to_have_attribute("aria-pressed", "true")
    after = bubble.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert after >= before * 1.25, (before, after)
    shot(page, artifacts_dir, "3-large-font")
    # the preference survives a reload, and the transcript is restored from history
    shown = page.locator(".gb-log .gb-msg").all_inner_texts()
    page.reload()
    expect(page.get_by_role("button", name="大字体")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".gb-log .gb-msg")).to_have_count(len(shown))
    assert page.locator(".gb-log .gb-msg").all_inner_texts() == shown
    assert page.errors == []


def test_injected_markup_stays_inert_text(page, stack, artifacts_dir):
    send_by_keyboard(page, XSS)
    answered(page, 0)
    mine = page.locator(".gb-log .gb-from-citizen .gb-bubble").last
    expect(mine).to_have_text(XSS)
    assert page.locator(".gb-log img, .gb-log script").count() == 0
    # restored from the transcript after a reload: still text
    page.reload()
    expect(page.locator(".gb-log .gb-from-citizen .gb-bubble").first).to_have_text(XSS)
    assert page.locator(".gb-log img, .gb-log script").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    shot(page, artifacts_dir, "4-xss-inert")


def test_offline_message_is_delivered_once_and_missed_messages_are_fetched(page, stack, artifacts_dir, e2e_settings):
    send_by_keyboard(page, "你好")
    answered(page, 0)
    session = session_of(page)

    page.context.set_offline(True)
    send_by_keyboard(page, "居住证怎么办理")
    pending = page.locator(".gb-log .gb-from-citizen").last
    expect(pending.locator(".gb-meta")).to_contain_text("恢复后自动发送")
    # meanwhile an agent-side message lands in the transcript; the widget must catch up on reconnect
    _store_agent_message(e2e_settings[0].database_url, session["conversation_id"], "人工客服提示：请携带身份证原件。")
    shot(page, artifacts_dir, "5-offline-pending")
    page.wait_for_timeout(1500)  # let at least one retry fail while offline
    count = bot_bubbles(page).count()

    page.context.set_offline(False)
    answer = answered(page, count)
    assert "居住证" in answer  # an answer or a did-you-mean choice about 居住证, never "busy"
    expect(pending.locator(".gb-meta")).to_have_count(0)
    agent = page.locator(".gb-log .gb-from-agent .gb-bubble")
    expect(agent).to_have_text("人工客服提示：请携带身份证原件。")
    agent.scroll_into_view_if_needed()
    messages = transcript(stack, session)
    assert [m["text"] for m in messages].count("居住证怎么办理") == 1
    # the widget shows every stored message exactly once, in transcript order
    expect(page.locator(".gb-log .gb-msg")).to_have_count(len(messages))
    shot(page, artifacts_dir, "6-back-online")


def test_lost_response_is_retried_without_duplicating(page, stack):
    calls: list[str] = []

    def drop_first_response(route: Any) -> None:
        calls.append(route.request.post_data or "")
        if len(calls) == 1:
            route.fetch()  # the gateway receives and answers it ...
            route.abort("connectionreset")  # ... but the answer never reaches the browser
        else:
            route.continue_()

    page.route("**/api/v1/web/messages", drop_first_response)
    send_by_keyboard(page, "海淀区政务服务中心几点上班")
    answer = answered(page, 0)
    assert "海淀区政务服务中心" in answer
    page.unroute("**/api/v1/web/messages")
    assert len(calls) >= 2 and len(set(calls)) == 1  # retried with the same body, same client_message_id
    messages = transcript(stack, session_of(page))
    assert [m["text"] for m in messages].count("海淀区政务服务中心几点上班") == 1
    expect(page.locator(".gb-log .gb-msg")).to_have_count(len(messages))


def test_request_human_shows_the_queue_status_bar(page, stack, artifacts_dir):
    send_by_keyboard(page, "转人工")
    answered(page, 0)
    status = page.locator(".gb-status")
    expect(status).to_be_visible()
    expect(status).to_have_text(re.compile(r"正在为您转接人工，(您前面还有 \d+ 人|您已排在第一位)"))
    shot(page, artifacts_dir, "7-queued")
    count = bot_bubbles(page).count()
    page.get_by_role("button", name="取消排队，返回智能客服").last.click()
    answered(page, count)
    expect(status).to_be_hidden()
    # Escape closes the panel and gives focus back to the launcher
    page.get_by_label("输入您的问题").press("Escape")
    launcher = page.get_by_role("button", name=re.compile("打开在线咨询"))
    expect(launcher).to_be_focused()
    launcher.press("Enter")
    expect(page.get_by_label("输入您的问题")).to_be_focused()
    assert page.errors == []


def _store_agent_message(database_url: str, conversation_id: str, text: str) -> None:
    """Write a message the way the agent side does, straight into the stack's database."""
    from connectors.conversations import service as store
    from connectors.conversations.models import Conversation, MessageAuthor, MessageDirection
    from connectors.db import Database

    db = Database(database_url)  # SQLite waits (busy timeout) while the gateway writes
    try:
        with db.session() as session:
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
            store.add_message(session, conversation, direction=MessageDirection.OUTBOUND,
                              author=MessageAuthor.AGENT, text=text, channel="web", status="sent")
    finally:
        db.dispose()
