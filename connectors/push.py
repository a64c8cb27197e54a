"""Delivering replies that are not an answer to a request: agent messages, queue updates, late bot replies.

Each channel knows how to reach its citizens later (web: WebSocket; WeChat: the customer-service
message API; app: its push stream). The :class:`PushHub` is the in-process fan-out that web-style
channels subscribe to, keyed by conversation id; with several gateways a Redis-backed hub with the
same interface relays between instances.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


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
