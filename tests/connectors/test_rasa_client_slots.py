"""The gateway's Rasa client queues messages itself instead of in httpx's connection pool.

Found with ``govbot-bench load``: with more messages in flight than pool connections, waiting for
a connection counted against the Rasa timeout, and an overloaded gateway kept answering
"系统繁忙" after the load was gone. The client now hands at most ``max_in_flight`` messages to
Rasa at once; the others wait their turn (bounded by ``queue_timeout_s``).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.rasa_client import BotUnavailable, RasaClient


def _fake_rasa(client: RasaClient, delay_s: float) -> dict[str, int]:
    seen = {"now": 0, "max": 0, "total": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        seen["now"] += 1
        seen["max"] = max(seen["max"], seen["now"])
        await asyncio.sleep(delay_s)
        seen["now"] -= 1
        seen["total"] += 1
        return httpx.Response(200, json=[{"recipient_id": "x", "text": "您好"}])

    client._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return seen


def test_many_messages_at_once_all_get_answers_with_bounded_concurrency():
    async def run() -> tuple[list, dict[str, int]]:
        client = RasaClient("http://rasa.invalid")
        seen = _fake_rasa(client, 0.01)
        replies = await asyncio.gather(*(client.send(f"c{i}", "你好") for i in range(RasaClient.max_in_flight * 5)))
        await client.aclose()
        return replies, seen

    replies, seen = asyncio.run(run())
    assert all(r and r[0].text == "您好" for r in replies)
    assert seen["total"] == RasaClient.max_in_flight * 5
    assert seen["max"] == RasaClient.max_in_flight


def test_a_message_that_waits_too_long_for_its_turn_is_a_busy_reply_and_frees_nothing():
    class OneAtATime(RasaClient):
        max_in_flight = 1
        queue_timeout_s = 0.05

    async def run() -> list:
        client = OneAtATime("http://rasa.invalid")
        _fake_rasa(client, 0.3)
        results = await asyncio.gather(client.send("a", "你好"), client.send("b", "你好"), return_exceptions=True)
        # the slot is free again afterwards: a later message is answered
        results.append(await client.send("c", "你好"))
        await client.aclose()
        return results

    first, second, third = asyncio.run(run())
    assert first[0].text == "您好" and third[0].text == "您好"
    assert isinstance(second, BotUnavailable)


@pytest.mark.parametrize("status", [500, 503])
def test_a_rasa_error_releases_the_slot(status):
    class OneAtATime(RasaClient):
        max_in_flight = 1

    async def run() -> None:
        client = OneAtATime("http://rasa.invalid")
        client._client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(status)))
        for _ in range(3):  # would hang on the second call if the failed call kept its slot
            with pytest.raises(BotUnavailable):
                await asyncio.wait_for(client.send("a", "你好"), 2)
        await client.aclose()

    asyncio.run(run())
