"""Delivering replies that are not an answer to a request: agent messages, queue updates, late bot replies.

Each channel knows how to reach its citizens later (web: WebSocket; WeChat: the customer-service
message API; app: its push stream). The :class:`PushHub` is the in-process fan-out that web-style
channels subscribe to, keyed by conversation id; with several gateways :class:`RedisPushHub`, with
the same interface, relays between instances (chosen by ``[redis] url``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connectors.redis_bus import RedisBus


class PushHub:
    def __init__(self, queue_size: int = 100) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._queue_size = queue_size

    @asynccontextmanager
    async def subscribe(self, conversation_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers[conversation_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[conversation_id].discard(queue)
            if not self._subscribers[conversation_id]:
                del self._subscribers[conversation_id]

    async def publish(self, conversation_id: str, event: dict[str, Any]) -> int:
        """Hand ``event`` to every live subscriber; returns how many received it."""
        delivered = 0
        for queue in list(self._subscribers.get(conversation_id, ())):
            try:
                queue.put_nowait(event)
                delivered += 1
            except asyncio.QueueFull:  # a stuck client; it will resync from the transcript
                pass
        return delivered

    def subscribers(self, conversation_id: str) -> int:
        return len(self._subscribers.get(conversation_id, ()))


class RedisPushHub:
    """The same interface across gateways: events travel through Redis channel ``<prefix>:push:<id>``.

    A WebSocket on gateway A subscribes; an agent reply handled by gateway B publishes; Redis hands
    it to A. ``publish`` returns how many gateways hold a subscriber for the conversation (0: the
    citizen is offline and will read the transcript later).
    """

    def __init__(self, bus: RedisBus, key_prefix: str, queue_size: int = 100) -> None:
        self._bus = bus
        self._prefix = f"{key_prefix}:push:"
        self._queue_size = queue_size

    @asynccontextmanager
    async def subscribe(self, conversation_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)

        def deliver(event: dict[str, Any]) -> None:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stuck client; it will resync from the transcript
                pass

        async with self._bus.listen(self._prefix + conversation_id, deliver):
            yield queue

    async def publish(self, conversation_id: str, event: dict[str, Any]) -> int:
        return await self._bus.publish(self._prefix + conversation_id, event)

    def subscribers(self, conversation_id: str) -> int:
        """Subscribers on this gateway only."""
        return self._bus.local_listeners(self._prefix + conversation_id)


def build_push_hub(bus: RedisBus | None, key_prefix: str = "govbot") -> PushHub | RedisPushHub:
    """In-process for one gateway; through Redis when the gateway has a bus (``[redis] url`` set)."""
    return RedisPushHub(bus, key_prefix) if bus is not None else PushHub()
