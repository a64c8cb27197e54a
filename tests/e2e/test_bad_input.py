"""Bad input gets a clear 4xx with a Chinese and an English message, and changes nothing."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"user_id": "u1", "text": ', {"content-type": "application/json"}, 400, "invalid_json"),
        (b"not json at all", {"content-type": "application/json"}, 400, "invalid_json"),
        (b'{"text": "hi"}', {"content-type": "application/json"}, 422, "missing_field"),
        (b'{"user_id": "u1", "text": ""}', {"content-type": "application/json"}, 422, "empty_text"),
        (b'{"user_id": "u1", "text": "   \\n "}', {"content-type": "application/json"}, 422, "empty_text"),
        (b'{"user_id": "", "text": "hi"}', {"content-type": "application/json"}, 422, "invalid_field"),
        (b'["u1", "hi"]', {"content-type": "application/json"}, 422, None),
    ],
)
def test_malformed_requests(stack, body, headers, status, code):
    response = httpx.post(f"{stack.base_url}/api/v1/web/messages", content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message_zh"] and error["message_en"]
    if code:
        assert error["code"] == code


def test_too_long_text(stack):
    response = httpx.post(f"{stack.base_url}/api/v1/web/messages",
                          json={"user_id": "u-long", "text": "办" * 2001}, timeout=30)
    assert response.status_code == 413
    assert "2000" in response.json()["error"]["message"]
