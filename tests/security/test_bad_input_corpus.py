"""Hostile and malformed input against every endpoint: a clear 4xx or a safe reply, never a 5xx.

Each corpus case (connectors/bench/badinput.py, shared with ``govbot-bench faults``) is its own
test. Cases marked ``inert`` must leave every database table's row count and the fake Rasa's
received count unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from connectors.bench.badinput import Case, all_cases, run_case
from tests.security.conftest import HOTLINE_SECRET, row_counts

CASES = all_cases()


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
    received = len(rasa.received)
    result = run_case(client, case, fmt, hotline_secret=HOTLINE_SECRET, counts=lambda: row_counts(client),
                      ws_code=lambda path, headers: run_ws(client, path, headers))
    assert not result.problems, result.problems
    if case.inert:
        assert len(rasa.received) == received, "an input that must be refused reached Rasa"


def test_xml_bodies_never_expand_entities(world: dict[str, Any]) -> None:
    """Billion laughs and external entities are refused, never expanded into a reply or an echo."""
    from connectors.bench.badinput import BILLION_LAUGHS, XXE

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
