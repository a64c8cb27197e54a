"""The mobile-app channel and cross-channel continuation through the real Rasa and action server."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e
APP = {"X-App-Id": "e2e-app", "X-Api-Key": "e2e-key"}


def app_headers(stack, user: str) -> dict[str, str]:
    response = httpx.post(f"{stack.base_url}/api/v1/app/tokens", json={"user_id": user}, headers=APP, timeout=30)
    assert response.status_code == 200, response.text
    return {**APP, "Authorization": f"Bearer {response.json()['token']}"}


def app_say(stack, headers, text: str) -> dict:
    response = httpx.post(f"{stack.base_url}/api/v1/app/messages", json={"text": text}, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_app_question_answered_from_the_knowledge_base(stack):
    body = app_say(stack, app_headers(stack, f"u-{uuid.uuid4().hex[:6]}"), "社保卡丢了怎么补办")
    text = "\n".join(r["text"] for r in body["replies"])
    assert body["mode"] == "bot" and "材料" in text


def test_web_conversation_continues_in_the_app_after_linking(stack):
    web_user = f"web-{uuid.uuid4().hex[:6]}"

    def web(text: str) -> dict:
        return httpx.post(f"{stack.base_url}/api/v1/web/messages", json={"user_id": web_user, "text": text},
                          timeout=60).json()

    first = web("居住证怎么办理")
    code = re.search(r"关联码是 (\d{6})", web("绑定账号")["replies"][0]["text"]).group(1)
    headers = app_headers(stack, f"u-{uuid.uuid4().hex[:6]}")
    linked = app_say(stack, headers, f"关联 {code}")
    assert linked["conversation_id"] == first["conversation_id"]
    events = httpx.get(f"{stack.base_url}/api/v1/app/events", params={"wait": 0}, headers=headers, timeout=30).json()
    assert any("居住证怎么办理" in m["text"] for m in events["messages"])  # the web history is visible in the app
    queued = app_say(stack, headers, "转人工")
    assert queued["mode"] == "queued" and queued["conversation_id"] == first["conversation_id"]
    assert web("还要等多久")["mode"] == "queued"  # the same handoff, seen from the web
