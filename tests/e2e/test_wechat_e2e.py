"""WeChat messages through the real Rasa server, action server and gateway.

The session stack's gateway runs the WeChat channel in plaintext mode (see the ``stack`` fixture);
a second gateway process, sharing the same Rasa, action server and database, runs it in safe mode
— one process cannot be in both modes, exactly as a real deployment.
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.e2e.conftest import extra_gateway

pytestmark = pytest.mark.e2e

OUR_ID = "gh_e2e000000000"
QUESTION = "社保卡丢了怎么补办"


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _text_xml(openid: str, content: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{OUR_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{uuid.uuid4().int % 10**18}</MsgId></xml>"
    )


def _params(token: str, encrypted: str | None = None) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    params = {"timestamp": timestamp, "nonce": nonce, "signature": _sign(token, timestamp, nonce)}
    if encrypted is not None:
        params.update(encrypt_type="aes", msg_signature=_sign(token, timestamp, nonce, encrypted))
    return params


def _content(reply_xml: str) -> str:
    fields = {child.tag: child.text or "" for child in ET.fromstring(reply_xml)}
    assert fields["MsgType"] == "text", reply_xml
    return fields["Content"]


def _warm_up(base_url: str) -> None:
    """The first answer of a fresh Rasa can take longer than WeChat's 5 s; WeChat traffic never starts cold."""
    httpx.post(f"{base_url}/api/v1/web/messages", json={"user_id": f"warm-{uuid.uuid4().hex[:6]}", "text": QUESTION},
               timeout=60)


def _assert_materials_answer(content: str) -> None:
    assert "社保卡" in content or "社会保障卡" in content, content
    assert "材料" in content, content


def test_plaintext_question_gets_a_passive_reply_with_the_materials(stack):
    env = stack.service("gateway").env
    _warm_up(stack.base_url)
    openid = f"oE2E{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    response = httpx.post(f"{stack.base_url}/channels/wechat", params=_params(env["WECHAT_TOKEN"]),
                          content=_text_xml(openid, QUESTION).encode(), timeout=30)
    assert time.monotonic() - started < 5.0  # WeChat's window
    assert response.status_code == 200, response.text
    assert response.text != "success", "the answer did not fit WeChat's 4.5 s passive-reply window"
    assert response.headers["content-type"].startswith("application/xml")
    fields = {child.tag: child.text or "" for child in ET.fromstring(response.text)}
    assert fields["ToUserName"] == openid and fields["FromUserName"] == OUR_ID
    _assert_materials_answer(_content(response.text))


def test_url_verification_and_forged_messages(stack):
    env = stack.service("gateway").env
    params = {**_params(env["WECHAT_TOKEN"]), "echostr": "e2e-echo"}
    assert httpx.get(f"{stack.base_url}/channels/wechat", params=params, timeout=10).text == "e2e-echo"
    forged = httpx.post(f"{stack.base_url}/channels/wechat", params=_params("guessed-token"),
                        content=_text_xml("oForged", QUESTION).encode(), timeout=10)
    assert forged.status_code == 403


@pytest.fixture(scope="module")
def safe_gateway(stack, e2e_settings) -> Iterator[tuple[str, str, str, str]]:
    """A second gateway in safe mode next to the stack's; yields (base_url, token, aes_key, app_id)."""
    aes_key = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    base_env = stack.service("gateway").env
    with extra_gateway(stack, e2e_settings, {"WECHAT_ENCODING_AES_KEY": aes_key}, "logs-safe") as base_url:
        yield base_url, base_env["WECHAT_TOKEN"], aes_key, base_env["WECHAT_APP_ID"]


def test_safe_mode_question_gets_an_encrypted_passive_reply_with_the_materials(stack, safe_gateway):
    base_url, token, aes_key, app_id = safe_gateway
    _warm_up(stack.base_url)
    crypto = WeChatCrypto(token, aes_key, app_id)
    openid = f"oE2ESafe{uuid.uuid4().hex[:8]}"
    envelope = crypto.encrypt_message(_text_xml(openid, QUESTION), "e2enonce")
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)  # type: ignore[union-attr]
    body = f"<xml><ToUserName><![CDATA[{OUR_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    response = httpx.post(f"{base_url}/channels/wechat", params=_params(token, encrypted), content=body.encode(), timeout=30)
    assert response.status_code == 200, response.text
    assert response.text != "success", "the answer did not fit WeChat's 4.5 s passive-reply window"
    assert "社保" not in response.text  # encrypted on the wire
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", response.text).group(1)  # type: ignore[union-attr]
    timestamp = re.search(r"<TimeStamp>(.*?)</TimeStamp>", response.text).group(1)  # type: ignore[union-attr]
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]></Nonce>", response.text).group(1)  # type: ignore[union-attr]
    reply = crypto.decrypt_message(response.text, signature, timestamp, nonce)
    _assert_materials_answer(_content(reply))
    # the plaintext form of the same message is refused by a safe-mode gateway
    plain = httpx.post(f"{base_url}/channels/wechat", params=_params(token), content=_text_xml(openid, QUESTION).encode(),
                       timeout=10)
    assert plain.status_code == 400
