"""The limits and headers as installed by the real app factory, in front of the real web channel."""

from __future__ import annotations

from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixtures reused here)


def test_security_headers_on_pages(client_for, fake_rasa) -> None:  # noqa: F811
    client = client_for(fake_rasa.url)
    page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    agent = client.get("/agent")
    assert "frame-ancestors 'none'" in agent.headers["content-security-policy"]
    assert agent.headers["x-frame-options"] == "DENY"
    widget = client.get("/widget.js")
    assert widget.headers["x-content-type-options"] == "nosniff"
    assert widget.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "javascript" in widget.headers["content-type"]
    api = client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff" and "x-frame-options" not in api.headers


def test_web_channel_rate_limit_and_body_limit_from_config(monkeypatch, client_for, fake_rasa) -> None:  # noqa: F811
    monkeypatch.setenv("GOVBOT_LIMITS_IDENTITY_BURST", "2")
    monkeypatch.setenv("GOVBOT_LIMITS_MAX_BODY_BYTES", "4096")
    client = client_for(fake_rasa.url)
    for i in range(2):
        ok = client.post("/api/v1/web/messages", json={"user_id": "citizen-1", "text": f"你好{i}"})
        assert ok.status_code == 200
    refused = client.post("/api/v1/web/messages", json={"user_id": "citizen-1", "text": "再来"},
                          headers={"Origin": "https://host.example"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "请稍后再试" in refused.json()["error"]["message_zh"]
    assert "access-control-allow-origin" in refused.headers  # the widget on a host page can read the 429
    assert [m["message"] for m in fake_rasa.received] == ["你好0", "你好1"]
    big = client.post("/api/v1/web/messages", json={"user_id": "citizen-2", "text": "办" * 3000})
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"


def test_limits_can_be_disabled_by_environment(monkeypatch, client_for, fake_rasa) -> None:  # noqa: F811
    monkeypatch.setenv("GOVBOT_LIMITS_ENABLED", "false")
    monkeypatch.setenv("GOVBOT_LIMITS_IDENTITY_BURST", "1")
    client = client_for(fake_rasa.url)
    codes = [client.post("/api/v1/web/messages", json={"user_id": "c", "text": f"问{i}"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 200]
    assert client.get("/").headers["x-content-type-options"] == "nosniff"  # headers stay on
