"""The Redis relay between gateways (real Redis on 127.0.0.1:6379): push hub and agent hub.

Each :class:`RedisBus` stands for one gateway process; events published on one reach the sockets
subscribed on another, exactly once per socket, and nothing reaches a socket that has left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from connectors.handoff.desk import AgentHub, RedisAgentHub, build_agent_hub
from connectors.push import PushHub, RedisPushHub, build_push_hub
from connectors.redis_bus import RedisBus
from tests.conftest import free_port
from tests.scale.conftest import REDIS_URL, needs_redis

pytestmark = needs_redis


def run(scenario: Callable[[list[RedisBus]], Awaitable[None]], gateways: int = 2) -> None:
    async def main() -> None:
        buses = [RedisBus(REDIS_URL) for _ in range(gateways)]
        try:
            await scenario(buses)
        finally:
            for bus in buses:
                await bus.aclose()

    asyncio.run(main())


async def next_event(queue: asyncio.Queue[dict[str, Any]], timeout: float = 3.0) -> dict[str, Any]:
    return await asyncio.wait_for(queue.get(), timeout)


def test_the_hubs_follow_the_configuration(prefix):
    assert isinstance(build_push_hub(None), PushHub) and isinstance(build_agent_hub(None), AgentHub)

    async def scenario(buses: list[RedisBus]) -> None:
        assert isinstance(build_push_hub(buses[0], prefix), RedisPushHub)
        assert isinstance(build_agent_hub(buses[0], prefix), RedisAgentHub)

    run(scenario, gateways=1)


def test_a_push_published_on_one_gateway_reaches_the_socket_on_the_other(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisPushHub(bus, prefix) for bus in buses)
        assert await two.publish("conv-a", {"type": "replies"}) == 0  # nobody listening anywhere
        async with one.subscribe("conv-a") as queue:
            # no sleep: subscribe returns only after Redis confirmed the subscription
            assert await two.publish("conv-a", {"type": "replies", "n": 1}) == 1
            assert await one.publish("conv-a", {"type": "mode", "mode": "agent"}) == 1
            assert await next_event(queue) == {"type": "replies", "n": 1}
            assert await next_event(queue) == {"type": "mode", "mode": "agent"}
            assert await two.publish("conv-b", {"type": "replies"}) == 0  # another conversation
            assert one.subscribers("conv-a") == 1 and two.subscribers("conv-a") == 0
        assert await two.publish("conv-a", {"type": "replies"}) == 0  # the socket left
        await asyncio.sleep(0.1)
        assert queue.empty()

    run(scenario)


def test_every_socket_gets_each_event_once_and_publish_counts_gateways(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisPushHub(bus, prefix) for bus in buses)
        async with one.subscribe("c") as q1, one.subscribe("c") as q2, two.subscribe("c") as q3:
            assert await one.publish("c", {"type": "replies", "text": "您好"}) == 2  # two gateways hold sockets
            for queue in (q1, q2, q3):
                assert await next_event(queue) == {"type": "replies", "text": "您好"}
            await asyncio.sleep(0.1)
            assert q1.empty() and q2.empty() and q3.empty()
            async with one.subscribe("c"):
                pass  # a socket that comes and goes must not unsubscribe the ones still open
            assert await two.publish("c", {"n": 2}) == 2
            assert (await next_event(q1))["n"] == 2 and (await next_event(q3))["n"] == 2

    run(scenario)


def test_order_is_kept_between_two_gateways(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisPushHub(bus, prefix) for bus in buses)
        async with one.subscribe("ordered") as queue:
            for n in range(50):
                await two.publish("ordered", {"n": n})
            assert [(await next_event(queue))["n"] for _ in range(50)] == list(range(50))

    run(scenario)


def test_agent_events_reach_consoles_on_other_gateways_by_agent_skill_and_all(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisAgentHub(bus, prefix) for bus in buses)
        async with one.subscribe("agent-1", ["社保", "general"]) as wang, two.subscribe("agent-2", ["医保"]) as li:
            assert one.connected() == ["agent-1"] and two.connected() == ["agent-2"]
            assert await two.to_skill("社保", {"type": "message", "conversation_id": "c1"}) == 2
            assert await next_event(wang) == {"type": "message", "conversation_id": "c1"}
            await two.to_agent("agent-2", {"type": "message", "conversation_id": "c2"})
            assert await next_event(li) == {"type": "message", "conversation_id": "c2"}
            assert await one.to_agent(None, {"type": "x"}) == 0
            await one.to_all({"type": "queue", "skill": None})
            assert await next_event(wang) == {"type": "queue", "skill": None}
            assert await next_event(li) == {"type": "queue", "skill": None}
            await asyncio.sleep(0.1)
            assert wang.empty() and li.empty()  # nobody got what was meant for someone else
        assert one.connected() == [] and await two.to_all({"type": "queue"}) == 0

    run(scenario)


def test_the_in_process_agent_hub_has_the_same_interface():
    async def scenario() -> None:
        hub = AgentHub()
        async with hub.subscribe("a1", ["社保"]) as queue:
            assert await hub.to_skill("社保", {"n": 1}) == 1 and await hub.to_skill("医保", {"n": 2}) == 0
            assert await hub.to_agent("a1", {"n": 3}) == 1 and await hub.to_all({"n": 4}) == 1
            assert [queue.get_nowait()["n"] for _ in range(3)] == [1, 3, 4]

    asyncio.run(scenario())


def test_a_lost_redis_connection_is_resubscribed(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisPushHub(bus, prefix) for bus in buses)
        async with one.subscribe("survives") as queue:
            admin = redis.Redis.from_url(REDIS_URL)
            try:  # kill only this bus's subscriber connection, found by its client name
                ids = [c["id"] for c in admin.client_list(_type="pubsub") if c.get("name") == buses[0].client_name]
                assert ids
                for client_id in ids:
                    admin.client_kill_filter(_id=client_id)
            finally:
                admin.close()
            delivered = 0
            for _ in range(100):  # the reader notices, reconnects and subscribes again
                delivered = await two.publish("survives", {"type": "after"})
                if delivered:
                    break
                await asyncio.sleep(0.1)
            assert delivered == 1
            assert (await next_event(queue))["type"] == "after"

    run(scenario)


def test_without_redis_a_gateway_still_delivers_to_its_own_sockets(prefix):
    async def scenario() -> None:
        bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", confirm_timeout_s=0.5)  # nothing listens there
        try:
            hub = RedisPushHub(bus, prefix)
            async with hub.subscribe("local") as queue:
                assert await hub.publish("local", {"type": "replies"}) == 1
                assert await next_event(queue) == {"type": "replies"}
        finally:
            await bus.aclose()

    asyncio.run(scenario())


def test_sockets_coming_and_going_leave_no_subscription_behind(prefix):
    async def scenario(buses: list[RedisBus]) -> None:
        one, two = (RedisPushHub(bus, prefix) for bus in buses)

        async def visit(pause: float) -> None:
            async with one.subscribe("churn"):
                await asyncio.sleep(pause)

        await asyncio.gather(*(visit(0.01 * (n % 3)) for n in range(20)))
        quick = asyncio.create_task(visit(1.0))
        await asyncio.sleep(0)
        quick.cancel()  # a socket closed while its subscription is still being confirmed
        await asyncio.gather(quick, return_exceptions=True)
        await asyncio.sleep(0.2)
        assert await two.publish("churn", {"type": "late"}) == 0 and one.subscribers("churn") == 0

    run(scenario)
