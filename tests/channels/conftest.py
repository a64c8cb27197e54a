"""A local fake of WeChat's API servers (token + customer-service send) and request builders.

The fake is a real HTTP server on 127.0.0.1 with WeChat's semantics that matter to us: only the
most recently issued access_token is valid (fetching a new one invalidates the old one), and
sends can be made to fail with any errcode (45015, 40001 …) on demand.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.conftest import free_port
from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixtures reused here)

APP_ID = "wx1234567890abcdef"
APP_SECRET = "s3cr3t-for-tests"
TOKEN = "govbot-test-token"
OUR_ID = "gh_0123456789ab"


@dataclass
class FakeWeChat:
    port: int
    token_delay_s: float = 0.0
    expires_in: int = 7200
    token_fetches: int = 0
    current_token: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    send_attempts: int = 0
    # errcodes returned by the next sends, one each; then `always_error` (if set) for every send
    next_errors: list[int] = field(default_factory=list)
    always_error: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def revoke(self) -> None:
        """As if someone else fetched a token: ours stops working."""
        with self.lock:
            self.current_token = f"revoked-{uuid.uuid4().hex}"

    def wait_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.sent)


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def _json(self, data: dict[str, Any]) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/cgi-bin/token":
                return self._json({"errcode": 404, "errmsg": "not found"})
            if query.get("grant_type") != "client_credential" or query.get("appid") != APP_ID or query.get("secret") != APP_SECRET:
                return self._json({"errcode": 40013, "errmsg": "invalid appid or secret"})
            with fake.lock:
                fake.token_fetches += 1
                number = fake.token_fetches
            time.sleep(fake.token_delay_s)
            token = f"TOKEN-{number}-{uuid.uuid4().hex[:8]}"
            with fake.lock:
                fake.current_token = token  # the newest token invalidates every earlier one
            self._json({"access_token": token, "expires_in": fake.expires_in})

        def do_POST(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if url.path != "/cgi-bin/message/custom/send":
                return self._json({"errcode": 404, "errmsg": "not found"})
            with fake.lock:
                fake.send_attempts += 1
                if query.get("access_token") != fake.current_token:
                    return self._json({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
                if fake.next_errors:
                    return self._json({"errcode": fake.next_errors.pop(0), "errmsg": "scripted error"})
                if fake.always_error is not None:
                    return self._json({"errcode": fake.always_error, "errmsg": "scripted error"})
                fake.sent.append(json.loads(body.decode("utf-8")))
            self._json({"errcode": 0, "errmsg": "ok"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", fake.port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def new_aes_key() -> str:
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def text_xml(openid: str, content: str, msg_id: str, **extra: str) -> str:
    fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
    return (
        f"<xml><ToUserName><![CDATA[{OUR_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>{fields}</xml>"
    )


def message_xml(openid: str, msg_type: str, create_time: int | None = None, **fields: str) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{OUR_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>"
    )


@dataclass
class WeChatSender:
    """Builds the requests WeChat's servers would send: signed, and encrypted in safe mode."""

    client: Any
    token: str = TOKEN
    aes_key: str | None = None
    app_id: str = APP_ID

    def params(self, encrypted: str | None = None) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"timestamp": timestamp, "nonce": nonce, "signature": sign(self.token, timestamp, nonce), "openid": "o"}
        if encrypted is not None:
            params.update(encrypt_type="aes", msg_signature=sign(self.token, timestamp, nonce, encrypted))
        return params

    def encrypt(self, plaintext: str, app_id: str | None = None) -> str:
        assert self.aes_key
        envelope = WeChatCrypto(self.token, self.aes_key, app_id or self.app_id).encrypt_message(plaintext, "n0nce")
        match = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope)
        assert match
        return match.group(1)

    def post(self, plaintext: str, *, json_format: bool = False, app_id: str | None = None):
        if not self.aes_key:
            return self.client.post("/channels/wechat", params=self.params(), content=plaintext.encode("utf-8"))
        encrypted = self.encrypt(plaintext, app_id)
        if json_format:
            body = json.dumps({"ToUserName": OUR_ID, "Encrypt": encrypted})
        else:
            body = f"<xml><ToUserName><![CDATA[{OUR_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return self.client.post("/channels/wechat", params=self.params(encrypted), content=body.encode("utf-8"))

    def decrypt_reply(self, response_text: str) -> str:
        """Our encrypted passive reply, checked and decrypted the way WeChat does it."""
        assert self.aes_key
        sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", response_text)
        ts = re.search(r"<TimeStamp>(.*?)</TimeStamp>", response_text)
        nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]></Nonce>", response_text)
        assert sig and ts and nonce, response_text
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        return crypto.decrypt_message(response_text, sig.group(1), ts.group(1), nonce.group(1))


@pytest.fixture
def wechat_app(monkeypatch, fake_wechat, fake_rasa, client_for):  # noqa: F811
    """Build a gateway with the WeChat channel configured against the fakes; returns (client, sender)."""

    def build(*, safe: bool = False, deadline_s: float | None = None, rasa_timeout_s: float = 5.0,
              account_type: str | None = None) -> tuple[Any, WeChatSender]:
        monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
        monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
        monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
        monkeypatch.setenv("WECHAT_API_BASE", fake_wechat.url)
        aes_key = new_aes_key() if safe else None
        if aes_key:
            monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", aes_key)
        else:
            monkeypatch.delenv("WECHAT_ENCODING_AES_KEY", raising=False)
        for name, value in (("WECHAT_REPLY_DEADLINE_S", deadline_s), ("WECHAT_ACCOUNT_TYPE", account_type)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        client = client_for(fake_rasa.url, timeout_s=rasa_timeout_s)
        return client, WeChatSender(client, aes_key=aes_key)

    return build
