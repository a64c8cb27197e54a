"""Hostile and malformed input against every endpoint: a clear 4xx or a safe reply, never a 5xx.

Each corpus case (tests/security/corpus.py) is its own test. Cases marked ``inert`` must leave
every database table's row count and the fake Rasa's received count unchanged.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from connectors.hotline12345.signing import sign as hotline_sign
from tests.security.conftest import HOTLINE_SECRET, row_counts
from tests.security.corpus import ANY, REJECT, REPLY, Case, all_cases

CASES = all_cases()


def _fill(value: str, fmt: dict[str, str]) -> str:
    for key, replacement in fmt.items():
        value = value.replace("{" + key + "}", replacement)
    return value


def _fill_json(value: Any, fmt: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _fill(value, fmt)
    if isinstance(value, dict):
        return {k: _fill_json(v, fmt) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, fmt) for v in value]
    return value


def assert_error_shape(response: Any) -> dict[str, Any]:
    body = response.json()
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message_zh"], str) and error["message_zh"]
    assert isinstance(error["message_en"], str) and error["message_en"]
    return error


def run_ws(client: Any, path: str, headers: dict[str, str]) -> int:
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(path, headers=headers) as ws:
            for _ in range(5):
                ws.receive_json()
    return refused.value.code


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: dict[str, Any]) -> None:
    client, rasa, fmt = world["client"], world["rasa"], world["fmt"]
    client.cookies.clear()
    path = _fill(case.path, fmt)
    headers = {k: _fill(v, fmt) for k, v in case.headers.items()}
    if headers.get("X-Govbot-Signature") == "{sign}":
        headers["X-Govbot-Signature"] = hotline_sign(HOTLINE_SECRET, case.content or b"")
    before, received = row_counts(client), len(rasa.received)

    if case.ws:
        code = run_ws(client, path, headers)
        assert code in case.statuses, code
    else:
        kwargs: dict[str, Any] = {"headers": headers}
        if case.content is not None:
            kwargs["content"] = case.content
        elif case.json is not None or case.method in ("POST", "PUT"):
            kwargs["json"] = _fill_json(case.json, fmt)
        response = client.request(case.method, path, **kwargs)
        status = response.status_code
        assert status < 500, f"{status}: {response.text[:500]}"
        if case.statuses:
            assert status in case.statuses, f"{status}: {response.text[:500]}"
        if case.expect == REJECT or (case.expect == ANY and status >= 400):
            assert 400 <= status < 500, f"{status}: {response.text[:500]}"
            error = assert_error_shape(response)
            if case.code:
                assert error["code"] == case.code, error
        elif case.expect == REPLY:
            assert status == 200, response.text[:500]
            body = response.json()
            assert body["replies"] and all(isinstance(r["text"], str) for r in body["replies"])
            if case.check_inert_echo:
                check_inert(client, body, case.check_inert_echo)
        elif case.expect == ANY and status == 200 and path.startswith("/api/"):
            assert response.json().get("replies") is not None

    client.cookies.clear()
    if case.inert:
        assert row_counts(client) == before, "an input that must be refused changed the database"
        assert len(rasa.received) == received, "an input that must be refused reached Rasa"


def check_inert(client: Any, body: dict[str, Any], payload: str) -> None:
    """The injection string comes back as plain JSON data and never appears unescaped in our pages."""
    history = client.get("/api/v1/web/history",
                         params={"conversation_id": body["conversation_id"], "token": body["push_token"]})
    assert history.status_code == 200, history.text
    assert history.headers["content-type"].startswith("application/json")
    texts = [m["text"] for m in history.json()["messages"] if m["author"] == "citizen"]
    assert payload.strip() in texts, texts  # stored verbatim as data, not executed or mangled
    for page in ("/", "/agent", "/widget.js"):
        served = client.get(page)
        assert served.status_code == 200, page
        if "<" in payload:
            assert payload not in served.text, f"{page} echoes the payload"
    escaped = html.escape(payload)
    assert escaped != payload or "<" not in payload


def test_xml_bodies_never_expand_entities(world: dict[str, Any]) -> None:
    """Billion laughs and external entities are refused, never expanded into a reply or an echo."""
    from tests.security.corpus import BILLION_LAUGHS, XXE

    client, fmt = world["client"], world["fmt"]
    for body in (BILLION_LAUGHS, XXE):
        response = client.post(f"/channels/wechat?{fmt['wx_sig']}", content=body)
        assert response.status_code < 500
        assert "lollol" not in response.text and "root:" not in response.text


def test_replayed_wechat_message_reaches_rasa_once(world: dict[str, Any]) -> None:
    """A captured, correctly signed request sent again (a replay) is answered but not processed twice."""
    from tests.channels.conftest import text_xml

    client, rasa, fmt = world["client"], world["rasa"], world["fmt"]
    body = text_xml("o-replay", "社保卡补办", "555000111").encode("utf-8")
    first = client.post(f"/channels/wechat?{fmt['wx_sig']}", content=body)
    assert first.status_code == 200, first.text
    received, counts = len(rasa.received), row_counts(client)
    second = client.post(f"/channels/wechat?{fmt['wx_sig']}", content=body)
    assert second.status_code == 200, second.text
    assert len(rasa.received) == received
    assert row_counts(client)["messages"] == counts["messages"]


def test_ws_after_beyond_64_bits_is_clamped(world: dict[str, Any]) -> None:
    """A cursor too big for a database integer must not crash the socket (it used to overflow)."""
    client, fmt = world["client"], world["fmt"]
    path = f"/api/v1/web/ws?conversation_id={fmt['conv_a']}&token={fmt['token_a']}&after={'9' * 40}"
    with client.websocket_connect(path) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["conversation_id"] == fmt["conv_a"]
