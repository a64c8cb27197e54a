from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from connectors.security import LimitSettings
from connectors.security.limiter import MemoryRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


IDENTITY = LimitSettings(identity_burst=3, identity_window_s=10.0, ip_per_minute=6000, ip_burst=6000)


def web(client: TestClient, user: str):
    return client.post("/api/v1/web/messages", json={"user_id": user, "text": "你好"})


def test_per_identity_429_with_retry_after_then_reset_after_the_window(build) -> None:
    clock = Clock()
    app, seen = build(IDENTITY, MemoryRateLimiter(clock=clock))
    client = TestClient(app)
    assert [web(client, "alice").status_code for _ in range(3)] == [200, 200, 200]
    refused = web(client, "alice")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "请稍后再试" in error["message_zh"]
    assert len(seen) == 3  # the refused message never reached the channel
    assert web(client, "bob").status_code == 200  # another identity has its own bucket
    clock.now += 10.0  # one full window: the bucket is full again
    assert [web(client, "alice").status_code for _ in range(3)] == [200, 200, 200]
    assert web(client, "alice").status_code == 429


def test_identity_buckets_are_per_path_family(build) -> None:
    app, _ = build(IDENTITY, MemoryRateLimiter(clock=Clock()))
    client = TestClient(app)
    for _ in range(3):
        client.post("/api/v1/app/messages", headers={"Authorization": "Bearer tok-1"}, json={"text": "x"})
    assert client.post("/api/v1/app/messages", headers={"Authorization": "Bearer tok-1"}).status_code == 429
    assert client.post("/api/v1/app/messages", headers={"Authorization": "Bearer tok-2"}).status_code == 200
    assert web(client, "tok-1").status_code == 200  # same string, other family


def test_per_ip_limit_applies_across_identities(build) -> None:
    clock = Clock()
    settings = LimitSettings(ip_per_minute=60, ip_burst=5, identity_burst=100)
    app, seen = build(settings, MemoryRateLimiter(clock=clock))
    client = TestClient(app)
    assert [web(client, uuid.uuid4().hex).status_code for _ in range(5)] == [200] * 5
    refused = web(client, "fresh-user")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert client.get("/healthz").status_code == 200  # health checks are never limited
    other_ip = TestClient(app, client=("10.0.0.9", 5000))
    assert web(other_ip, "fresh-user").status_code == 200
    clock.now += 1.0  # 60/min refills one token per second
    assert web(client, "fresh-user").status_code == 200
    assert web(client, "fresh-user").status_code == 429
    assert len(seen) == 7


def test_forwarded_for_is_used_only_when_trusted(build) -> None:
    settings = LimitSettings(ip_per_minute=60, ip_burst=1, identity_burst=100, trust_forwarded=True)
    app, _ = build(settings, MemoryRateLimiter(clock=Clock()))
    client = TestClient(app)
    assert client.get("/", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert client.get("/", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 429
    assert client.get("/", headers={"X-Forwarded-For": "2.2.2.2, 10.0.0.1"}).status_code == 200


WECHAT_XML = ("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
              "</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
              "<Content><![CDATA[你好]]></Content><MsgId>{msgid}</MsgId></xml>")


def test_wechat_over_limit_gets_a_passive_busy_reply_and_is_not_processed(build) -> None:
    app, seen = build(IDENTITY, MemoryRateLimiter(clock=Clock()))
    client = TestClient(app)

    def send(openid: str, msgid: int, in_query: bool):
        params = {"openid": openid} if in_query else {}
        return client.post("/channels/wechat", params=params,
                           content=WECHAT_XML.format(openid=openid, msgid=msgid).encode())

    assert [send("oUser1", i, True).text for i in range(3)] == ["processed"] * 3
    busy = send("oUser1", 99, True)
    assert busy.status_code == 200
    assert "<Content>请稍后再试</Content>" in busy.text and "<ToUserName>oUser1</ToUserName>" in busy.text
    assert len(seen) == 3
    # no openid in the query: the identity comes from the plaintext body
    assert [send("oUser2", i, False).text for i in range(3)] == ["processed"] * 3
    assert "请稍后再试" in send("oUser2", 7, False).text
    # safe mode: the reply would need encryption, so WeChat gets "success" and does not retry
    encrypted = client.post("/channels/wechat", params={"openid": "oUser1", "encrypt_type": "aes"},
                            content=b"<xml><Encrypt>abc</Encrypt></xml>")
    assert encrypted.text == "success"
    assert len(seen) == 6


def test_wechat_retries_of_one_message_take_one_token(build) -> None:
    """WeChat re-sends an unanswered message up to three times: that is one request of the citizen."""
    app, seen = build(IDENTITY, MemoryRateLimiter(clock=Clock()))
    client = TestClient(app)

    def send(msgid: int):
        return client.post("/channels/wechat", params={"openid": "oRetry"},
                           content=WECHAT_XML.format(openid="oRetry", msgid=msgid).encode())

    first = [send(1).text for _ in range(3)] + [send(2).text for _ in range(3)] + [send(3).text for _ in range(3)]
    assert first == ["processed"] * 9  # three messages, each delivered three times, within a burst of 3
    assert "请稍后再试" in send(4).text  # a fourth message is over the limit
    assert len(seen) == 9
