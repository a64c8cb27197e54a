"""The WeChat channel against a local fake of WeChat's API servers and a scriptable fake Rasa."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
from sqlalchemy import select

from connectors.conversations.models import Message, MessageDirection
from tests.channels.conftest import APP_ID, APP_SECRET, OUR_ID, TOKEN, WeChatSender, message_xml, sign, text_xml

HUMAN = {"title": "转人工客服", "payload": "/request_human"}
ANSWER = "补办社保卡需要的材料：本人有效身份证件。可在各区政务服务中心办理。"


def openid() -> str:
    return f"oUser{uuid.uuid4().hex[:12]}"


def msg_id() -> str:
    return str(uuid.uuid4().int % 10**18)


def rows(client) -> list[Message]:
    with client.app.state.gateway.db.session() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


def xml_fields(text: str) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in ET.fromstring(text)}


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ---------------------------------------------------------------- configuration and URL verification


def test_unconfigured_channel_answers_503_and_the_rest_of_the_gateway_works(monkeypatch, fake_rasa, client_for):
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    client = client_for(fake_rasa.url)
    for response in (client.get("/channels/wechat", params={"echostr": "x"}), client.post("/channels/wechat", content=b"<xml/>")):
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "wechat_not_configured"
        assert "WECHAT_TOKEN" in error["message_zh"] and "WECHAT_TOKEN" in error["message_en"]
    web = client.post("/api/v1/web/messages", json={"user_id": "u1", "text": "你好"})
    assert web.status_code == 200 and web.json()["replies"][0]["text"] == "您好"


def test_invalid_aes_key_is_reported_not_crashing(monkeypatch, fake_rasa, client_for):
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", "too-short")
    response = client_for(fake_rasa.url).get("/channels/wechat", params={"echostr": "x"})
    assert response.status_code == 503
    assert "WECHAT_ENCODING_AES_KEY" in response.json()["error"]["message_en"]


def test_get_verification_echoes_echostr_only_for_a_valid_signature(wechat_app):
    client, sender = wechat_app()
    params = {**sender.params(), "echostr": "1234567890123"}
    ok = client.get("/channels/wechat", params=params)
    assert ok.status_code == 200 and ok.text == "1234567890123"
    forged = client.get("/channels/wechat", params={**params, "signature": sign("not-our-token", params["timestamp"], params["nonce"])})
    assert forged.status_code == 403 and "1234567890123" not in forged.text
    assert client.get("/channels/wechat", params={"echostr": "abc"}).status_code == 403


def test_get_verification_in_safe_mode(wechat_app):
    client, sender = wechat_app(safe=True)
    params = {**sender.params(), "echostr": "echo-plain"}
    assert client.get("/channels/wechat", params=params).text == "echo-plain"
    encrypted = sender.encrypt("echo-secret")
    enc_params = {**sender.params(encrypted), "echostr": encrypted}
    response = client.get("/channels/wechat", params=enc_params)
    assert response.status_code == 200 and response.text == "echo-secret"


# ---------------------------------------------------------------- passive replies


def test_text_message_gets_a_passive_xml_reply_with_menu_links(wechat_app, fake_rasa, fake_wechat):
    fake_rasa.replies = [{"text": ANSWER, "buttons": [HUMAN]}]
    client, sender = wechat_app()
    user = openid()
    response = sender.post(text_xml(user, "社保卡丢了怎么补办", msg_id()))
    assert response.status_code == 200
    reply = xml_fields(response.text)
    assert reply["ToUserName"] == user and reply["FromUserName"] == OUR_ID and reply["MsgType"] == "text"
    assert ANSWER in reply["Content"]
    assert '<a href="weixin://bizmsgmenu?msgmenucontent=转人工客服&msgmenuid=1">转人工客服</a>' in reply["Content"]
    assert [r["message"] for r in fake_rasa.received] == ["社保卡丢了怎么补办"]
    assert fake_rasa.received[0]["metadata"]["channel"] == "wechat"
    assert fake_wechat.sent == [] and fake_wechat.token_fetches == 0  # a passive reply needs no API call
    # the menu link, tapped, comes back as its title plus bizmsgmenuid: Rasa gets the button's payload
    tapped = sender.post(text_xml(user, "转人工客服", msg_id(), bizmsgmenuid="1"))
    assert tapped.status_code == 200
    assert fake_rasa.received[-1]["message"] == "/request_human"
    # typing the same words (no tap) is passed on as typed
    sender.post(text_xml(user, "转人工客服", msg_id()))
    assert fake_rasa.received[-1]["message"] == "转人工客服"


def test_replayed_message_is_processed_once_and_answered_identically(wechat_app, fake_rasa, fake_wechat):
    fake_rasa.replies = [{"text": ANSWER}]
    client, sender = wechat_app()
    user, mid = openid(), msg_id()
    body = text_xml(user, "社保卡丢了怎么补办", mid)
    responses = [sender.post(body) for _ in range(3)]
    assert all(r.status_code == 200 for r in responses)
    assert len({r.text for r in responses}) == 1 and ANSWER in responses[0].text
    assert len(fake_rasa.received) == 1
    inbound = [m for m in rows(client) if m.direction == MessageDirection.INBOUND]
    assert [m.channel_message_id for m in inbound] == [mid]
    assert fake_wechat.sent == []


def test_subscribe_event_is_welcomed_other_events_acknowledged(wechat_app, fake_rasa):
    client, sender = wechat_app()
    user = openid()
    welcome = sender.post(message_xml(user, "event", Event="subscribe"))
    assert "欢迎关注" in xml_fields(welcome.text)["Content"]
    scan = sender.post(message_xml(user, "event", Event="subscribe", EventKey="qrscene_123"))
    assert "欢迎关注" in xml_fields(scan.text)["Content"]
    for event in ("unsubscribe", "CLICK", "VIEW", "LOCATION"):
        assert sender.post(message_xml(user, "event", Event=event, EventKey="k")).text == "success"
    assert fake_rasa.received == [] and rows(client) == []


def test_non_text_messages_get_a_polite_request_for_text(wechat_app, fake_rasa):
    client, sender = wechat_app()
    user = openid()
    image = sender.post(message_xml(user, "image", PicUrl="http://x/y.jpg", MediaId="m1", MsgId=msg_id()))
    assert "文字" in xml_fields(image.text)["Content"]
    voice = sender.post(message_xml(user, "voice", MediaId="m2", Format="amr", MsgId=msg_id()))
    assert "语音" in xml_fields(voice.text)["Content"] and "文字" in xml_fields(voice.text)["Content"]
    assert fake_rasa.received == []
    # a voice message WeChat recognised is answered like text
    recognised = sender.post(message_xml(user, "voice", MediaId="m3", Format="amr", Recognition="居住证怎么办理", MsgId=msg_id()))
    assert xml_fields(recognised.text)["Content"] == "您好"
    assert [r["message"] for r in fake_rasa.received] == ["居住证怎么办理"]


# ---------------------------------------------------------------- safe mode


def test_safe_mode_round_trip_decrypts_and_encrypts(wechat_app, fake_rasa):
    fake_rasa.replies = [{"text": ANSWER}]
    client, sender = wechat_app(safe=True)
    user = openid()
    response = sender.post(text_xml(user, "社保卡丢了怎么补办", msg_id()))
    assert response.status_code == 200
    assert "<Encrypt>" in response.text and ANSWER not in response.text  # nothing in clear
    reply = xml_fields(sender.decrypt_reply(response.text))
    assert reply["Content"] == ANSWER and reply["ToUserName"] == user
    assert [r["message"] for r in fake_rasa.received] == ["社保卡丢了怎么补办"]


def test_safe_mode_json_mini_program_message_is_answered_by_custom_send(wechat_app, fake_rasa, fake_wechat):
    fake_rasa.replies = [{"text": ANSWER, "buttons": [HUMAN]}]
    client, sender = wechat_app(safe=True)
    user = openid()
    payload = {"ToUserName": OUR_ID, "FromUserName": user, "CreateTime": int(time.time()), "MsgType": "text",
               "Content": "社保卡丢了怎么补办", "MsgId": int(msg_id())}
    response = sender.post(json.dumps(payload, ensure_ascii=False), json_format=True)
    assert response.status_code == 200 and response.text == "success"  # mini-programs take no passive text
    sent = fake_wechat.wait_sent(1)
    assert len(sent) == 1 and sent[0]["touser"] == user and sent[0]["msgtype"] == "text"
    content = sent[0]["text"]["content"]
    assert ANSWER in content and "1. 转人工客服" in content and "weixin://" not in content
    # replying with the number chooses the button
    choice = {**payload, "Content": "1", "MsgId": int(msg_id()), "CreateTime": int(time.time())}
    assert sender.post(json.dumps(choice), json_format=True).text == "success"
    assert wait_for(lambda: len(fake_rasa.received) == 2)
    assert fake_rasa.received[-1]["message"] == "/request_human"


# ---------------------------------------------------------------- rejected requests have no side effects


def billion_laughs() -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{"&lol;" * 10 if i == 1 else f"&lol{i - 1};" * 10}">' for i in range(1, 9)
    )
    return f'<?xml version="1.0"?><!DOCTYPE xml [{entities}]><xml><ToUserName>a</ToUserName>' \
           f"<FromUserName>b</FromUserName><MsgType>text</MsgType><Content>&lol8;</Content><MsgId>1</MsgId></xml>"


def external_entity() -> str:
    return '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' \
           "<xml><FromUserName>b</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"


def _plain_post(client, sender: WeChatSender, body: bytes, params: dict | None = None) -> httpx.Response:
    return client.post("/channels/wechat", params=params or sender.params(), content=body)


PLAINTEXT_REJECTIONS = {
    "forged_signature": (403, "invalid_signature"),
    "missing_signature": (403, "missing_signature"),
    "malformed_xml": (400, "malformed_xml"),
    "wrong_root": (400, "malformed_xml"),
    "entity_expansion": (400, "xml_forbidden"),
    "external_entity": (400, "xml_forbidden"),
    "oversized_body": (413, "body_too_large"),
    "oversized_without_length": (413, "body_too_large"),
    "not_xml_or_json": (400, "unknown_format"),
    "encrypted_without_safe_mode": (400, "safe_mode_not_configured"),
    "no_msgtype": (400, "invalid_message"),
}


@pytest.mark.parametrize("case", sorted(PLAINTEXT_REJECTIONS))
def test_plaintext_rejections_have_no_side_effects(wechat_app, fake_rasa, fake_wechat, case):
    client, sender = wechat_app()
    good = text_xml(openid(), "社保卡丢了怎么补办", msg_id())
    if case == "forged_signature":
        params = sender.params()
        params["signature"] = sign("guessed-token", params["timestamp"], params["nonce"])
        response = _plain_post(client, sender, good.encode(), params)
    elif case == "missing_signature":
        response = client.post("/channels/wechat", content=good.encode())
    elif case == "malformed_xml":
        response = _plain_post(client, sender, good[:-8].encode())
    elif case == "wrong_root":
        response = _plain_post(client, sender, good.replace("<xml>", "<msg>").replace("</xml>", "</msg>").encode())
    elif case == "entity_expansion":
        response = _plain_post(client, sender, billion_laughs().encode())
    elif case == "external_entity":
        response = _plain_post(client, sender, external_entity().encode())
    elif case == "oversized_body":
        response = _plain_post(client, sender, good.replace("社保卡丢了怎么补办", "很" * 70_000).encode())
    elif case == "oversized_without_length":
        chunks = iter([good[:-6].encode(), b"x" * 70_000, b"</xml>"])
        response = client.post("/channels/wechat", params=sender.params(), content=chunks)
    elif case == "not_xml_or_json":
        response = _plain_post(client, sender, "Content=社保卡".encode())
    elif case == "encrypted_without_safe_mode":
        response = _plain_post(client, sender, b"<xml><Encrypt>abc</Encrypt></xml>", {**sender.params("abc")})
    else:
        response = _plain_post(client, sender, good.replace("<MsgType><![CDATA[text]]></MsgType>", "").encode())
    assert (response.status_code, response.json()["error"]["code"]) == PLAINTEXT_REJECTIONS[case], response.text
    assert fake_rasa.received == [] and rows(client) == [] and fake_wechat.send_attempts == 0


SAFE_MODE_REJECTIONS = {
    "forged_msg_signature": (403, "invalid_msg_signature"),
    "wrong_appid": (403, "wrong_appid"),
    "plaintext_in_safe_mode": (400, "encryption_required"),
    "garbage_ciphertext": (400, "decrypt_failed"),
}


@pytest.mark.parametrize("case", sorted(SAFE_MODE_REJECTIONS))
def test_safe_mode_rejections_have_no_side_effects(wechat_app, fake_rasa, fake_wechat, case):
    client, sender = wechat_app(safe=True)
    good = text_xml(openid(), "社保卡丢了怎么补办", msg_id())
    if case == "forged_msg_signature":
        encrypted = sender.encrypt(good)
        params = sender.params(encrypted)
        params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], sender.encrypt("<xml>other</xml>"))
        body = f"<xml><ToUserName>{OUR_ID}</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        response = client.post("/channels/wechat", params=params, content=body.encode())
    elif case == "wrong_appid":
        response = sender.post(good, app_id="wxsomeoneelse0000")
    elif case == "plaintext_in_safe_mode":
        response = client.post("/channels/wechat", params=sender.params(), content=good.encode())
    else:
        garbage = "QUJDREVGR0hJSktMTU5PUA=="
        params = sender.params(garbage)
        response = client.post("/channels/wechat", params=params, content=f"<xml><Encrypt>{garbage}</Encrypt></xml>".encode())
    assert (response.status_code, response.json()["error"]["code"]) == SAFE_MODE_REJECTIONS[case], response.text
    assert fake_rasa.received == [] and rows(client) == [] and fake_wechat.send_attempts == 0


# ---------------------------------------------------------------- the 5-second rule and async delivery


def test_slow_bot_gets_success_within_the_window_then_a_custom_send(wechat_app, fake_rasa, fake_wechat):
    """Default deadline (4.5 s) against a Rasa that needs 5 s: WeChat must hear back before its 5 s."""
    fake_rasa.replies = [{"text": ANSWER, "buttons": [HUMAN]}]
    fake_rasa.delay_s = 5.0
    client, sender = wechat_app(rasa_timeout_s=10.0)
    user = openid()
    started = time.monotonic()
    response = sender.post(text_xml(user, "社保卡丢了怎么补办", msg_id()))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.text == "success"
    assert 4.0 < elapsed < 4.9
    sent = fake_wechat.wait_sent(1, timeout=10)
    assert len(sent) == 1 and sent[0]["touser"] == user and ANSWER in sent[0]["text"]["content"]
    assert "msgmenuid=1" in sent[0]["text"]["content"]
    assert fake_wechat.token_fetches == 1
    assert wait_for(lambda: any((m.payload or {}).get("delivery") for m in rows(client)))
    outbound = [m for m in rows(client) if m.direction == MessageDirection.OUTBOUND]
    assert [m.status for m in outbound] == ["sent"] and outbound[0].payload["delivery"]["via"] == "custom_send"


def test_retries_of_a_slow_message_are_processed_once_and_delivered_once(wechat_app, fake_rasa, fake_wechat):
    fake_rasa.replies = [{"text": ANSWER}]
    fake_rasa.delay_s = 1.0
    client, sender = wechat_app(deadline_s=0.3)
    user, mid = openid(), msg_id()
    body = text_xml(user, "社保卡丢了怎么补办", mid)
    # WeChat's retries arrive while the first delivery is still being answered
    assert [sender.post(body).text for _ in range(3)] == ["success"] * 3
    assert len(fake_wechat.wait_sent(1)) == 1
    assert wait_for(lambda: any((m.payload or {}).get("delivery") for m in rows(client)))
    # a late replay after the answer went out is acknowledged, never answered twice
    assert sender.post(body).text == "success"
    time.sleep(0.5)
    assert len(fake_rasa.received) == 1 and len(fake_wechat.sent) == 1
    assert len([m for m in rows(client) if m.direction == MessageDirection.INBOUND]) == 1


def test_window_closed_45015_records_the_reply_as_undelivered(wechat_app, fake_rasa, fake_wechat):
    fake_rasa.replies = [{"text": ANSWER}, {"text": "还有其他问题吗？"}]
    fake_rasa.delay_s = 0.8
    fake_wechat.always_error = 45015
    client, sender = wechat_app(deadline_s=0.2)
    assert sender.post(text_xml(openid(), "社保卡丢了怎么补办", msg_id())).text == "success"
    assert wait_for(lambda: any(m.status == "undelivered" for m in rows(client)))
    outbound = [m for m in rows(client) if m.direction == MessageDirection.OUTBOUND]
    assert [m.status for m in outbound] == ["undelivered", "undelivered"]
    assert all(m.payload["delivery"]["errcode"] == 45015 for m in outbound)
    assert fake_wechat.sent == [] and fake_wechat.send_attempts == 1  # the closed window is not hammered


def test_answer_too_long_for_one_message_is_split_and_sent_asynchronously(wechat_app, fake_rasa, fake_wechat):
    long_answer = "\n".join(f"{i}. 申请材料第{i}项：请携带原件及复印件一份，复印件须清晰完整。" for i in range(1, 60))
    fake_rasa.replies = [{"text": long_answer}]
    client, sender = wechat_app()
    assert sender.post(text_xml(openid(), "需要哪些材料", msg_id())).text == "success"
    assert wait_for(lambda: any((m.payload or {}).get("delivery") for m in rows(client)))
    sent = fake_wechat.sent
    assert len(sent) >= 2 and all(len(s["text"]["content"].encode()) <= 2048 for s in sent)
    assert "\n".join(s["text"]["content"] for s in sent) == long_answer


def test_replies_that_fit_are_passive_and_the_rest_follow_by_custom_send(wechat_app, fake_rasa, fake_wechat):
    second = "\n".join(f"第{i}项：办理地点、办理时间与注意事项详见窗口公示，复印件须清晰完整。" for i in range(1, 40))
    fake_rasa.replies = [{"text": ANSWER}, {"text": second}]
    client, sender = wechat_app()
    response = sender.post(text_xml(openid(), "需要哪些材料", msg_id()))
    assert xml_fields(response.text)["Content"] == ANSWER
    assert wait_for(lambda: any((m.payload or {}).get("delivery") for m in rows(client)))
    assert "\n".join(s["text"]["content"] for s in fake_wechat.sent) == second
    first_row, second_row = [m for m in rows(client) if m.direction == MessageDirection.OUTBOUND]
    assert first_row.status == "sent" and "delivery" not in (first_row.payload or {})  # went out passively
    assert second_row.status == "sent" and second_row.payload["delivery"]["via"] == "custom_send"


# ---------------------------------------------------------------- the access-token owner


def _client_for_fake(fake_wechat):
    from connectors.wechat import AccessTokenManager, CustomerServiceClient

    http = httpx.AsyncClient(timeout=5.0)
    tokens = AccessTokenManager(http, fake_wechat.url, APP_ID, APP_SECRET)
    return http, tokens, CustomerServiceClient(http, fake_wechat.url, tokens)


def test_one_token_fetch_under_concurrent_sends_and_one_refresh_on_40001(fake_wechat):
    fake_wechat.token_delay_s = 0.3  # a slow token endpoint makes concurrent fetching likely if allowed

    async def scenario() -> None:
        http, tokens, api = _client_for_fake(fake_wechat)
        try:
            results = await asyncio.gather(*(api.send_text(f"o{i}", f"消息{i}") for i in range(12)))
            assert all(r.ok for r in results)
            assert tokens.fetches == 1 and fake_wechat.token_fetches == 1
            fake_wechat.revoke()  # every sender now gets 40001 with the token it holds
            results = await asyncio.gather(*(api.send_text(f"o{i}", f"再次{i}") for i in range(12)))
            assert all(r.ok for r in results), results
            assert fake_wechat.token_fetches == 2  # one refresh for all of them
        finally:
            await http.aclose()

    asyncio.run(scenario())
    assert len(fake_wechat.sent) == 24


def test_token_is_refreshed_before_expiry_and_after_42001(fake_wechat):
    fake_wechat.expires_in = 1  # refreshed halfway through such a short lifetime

    async def scenario() -> None:
        http, tokens, api = _client_for_fake(fake_wechat)
        try:
            assert (await api.send_text("o1", "一")).ok
            assert (await api.send_text("o1", "二")).ok and fake_wechat.token_fetches == 1
            await asyncio.sleep(0.6)
            assert (await api.send_text("o1", "三")).ok and fake_wechat.token_fetches == 2
            fake_wechat.next_errors.append(42001)  # expired early on WeChat's side
            assert (await api.send_text("o1", "四")).ok and fake_wechat.token_fetches == 3
            fake_wechat.next_errors.append(45047)
            result = await api.send_text("o1", "五")
            assert not result.ok and result.errcode == 45047 and result.window_closed
        finally:
            await http.aclose()

    asyncio.run(scenario())
    assert [s["text"]["content"] for s in fake_wechat.sent] == ["一", "二", "三", "四"]


def test_token_refusal_is_a_failed_send_not_an_exception(fake_wechat):
    async def scenario() -> None:
        from connectors.wechat import AccessTokenManager, CustomerServiceClient

        async with httpx.AsyncClient(timeout=5.0) as http:
            tokens = AccessTokenManager(http, fake_wechat.url, APP_ID, "wrong-secret")
            result = await CustomerServiceClient(http, fake_wechat.url, tokens).send_text("o1", "你好")
            assert not result.ok and result.errcode == 40013

    asyncio.run(scenario())
    assert fake_wechat.sent == []


# ---------------------------------------------------------------- push (agent messages)


def test_push_delivers_agent_messages_and_reports_a_closed_window(wechat_app, fake_wechat):
    from connectors.channels.wechat import WeChatChannel
    from connectors.message_router import Reply
    from connectors.wechat import WeChatSettings

    client, _ = wechat_app()
    gateway = client.app.state.gateway
    replies = [Reply("您好，我是人工客服小王，请问有什么可以帮您？", [], "agent")]

    async def scenario() -> tuple[bool, bool]:
        channel = WeChatChannel(gateway, WeChatSettings.from_env())
        try:
            first = await channel.push("oAgentUser", "conv-1", replies)
            fake_wechat.always_error = 45015
            second = await channel.push("oAgentUser", "conv-1", replies)
            return first, second
        finally:
            await channel.drain()

    assert asyncio.run(scenario()) == (True, False)
    assert [s["text"]["content"] for s in fake_wechat.sent] == [replies[0].text]
