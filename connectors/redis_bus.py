"""Redis pub/sub for several gateways: one subscriber connection per process, local handlers per channel.

The push hub (citizen WebSockets, app long-polls) and the agent hub (console WebSockets) relay their
events through Redis when ``[redis] url`` is set, so an event published on one gateway reaches the
sockets held by another. A Redis channel is subscribed while at least one local handler listens on
it, and :meth:`RedisBus.listen` returns only once Redis has confirmed the subscription: a caller
that subscribes before it reads the transcript (the widget's hello) can therefore miss nothing.

``PUBLISH`` answers how many gateways hold a subscriber, which is what "the citizen could be
reached now" means across instances. When Redis is unreachable, publishing falls back to this
process's own handlers (a single gateway keeps working) and the reader reconnects with backoff,
subscribing again to every channel that still has local handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBus:
    def __init__(self, url: str, *, client_name: str | None = None, confirm_timeout_s: float = 5.0,
                 backoff_max_s: float = 5.0) -> None:
        import redis.asyncio as aioredis

        self.url = url
        # a name makes the gateway's connections easy to find in CLIENT LIST
        self.client_name = client_name or f"govbot-gateway-{os.getpid()}"
        self._redis = aioredis.from_url(url, client_name=self.client_name)
        self._pubsub: Any = None
        self._handlers: dict[str, list[Handler]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._confirm: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._reader: asyncio.Task[None] | None = None
        self._resync = False
        self._commands: asyncio.Lock | None = None  # SUBSCRIBE/UNSUBSCRIBE go out in decision order
        self._confirm_timeout_s = confirm_timeout_s
        self._backoff_max_s = backoff_max_s

    # --- subscribing --------------------------------------------------------------------------

    @asynccontextmanager
    async def listen(self, channel: str, handler: Handler) -> AsyncIterator[None]:
        """Call ``handler(message)`` for every message on ``channel`` while the block runs."""
        handlers = self._handlers.setdefault(channel, [])
        handlers.append(handler)
        if len(handlers) == 1:
            self._ready[channel] = asyncio.ensure_future(self._subscribe(channel))
        try:
            await asyncio.shield(self._ready[channel])
            yield
        finally:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[channel]
                self._ready.pop(channel, None)
                await self._unsubscribe(channel)

    def _lock(self) -> asyncio.Lock:
        if self._commands is None:
            self._commands = asyncio.Lock()
        return self._commands

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock():
            if channel in self._handlers or self._pubsub is None:
                return  # someone started listening again meanwhile: stay subscribed
            with contextlib.suppress(Exception):  # a dead connection unsubscribes by itself
                await self._pubsub.unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        """SUBSCRIBE and wait for Redis's confirmation; on failure log it and go on without (degraded)."""
        from redis.exceptions import RedisError

        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[channel].append(confirmed)
        try:
            async with self._lock():
                if channel not in self._handlers:
                    return  # the listener left before we got here: nothing to subscribe
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(channel)
            self._start_reader()
            await asyncio.wait_for(asyncio.shield(confirmed), self._confirm_timeout_s)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            log.warning("redis bus: subscribing to %s failed (%s); events from other gateways may be missed",
                        channel, exc or exc.__class__.__name__)
            self._resync = True
            self._start_reader()
        finally:
            with contextlib.suppress(ValueError):
                self._confirm[channel].remove(confirmed)
            if not self._confirm[channel]:
                self._confirm.pop(channel, None)

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever())

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            if not self._handlers and getattr(self._pubsub, "connection", None) is None:
                await asyncio.sleep(1.0)  # nothing to listen to and never connected: idle quietly
                continue
            try:
                if self._resync and self._handlers:
                    async with self._lock():
                        await self._pubsub.subscribe(*self._handlers)
                self._resync = False
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: wait, reconnect, subscribe again
                log.warning("redis bus: reading failed (%s); retrying in %.1fs", exc or exc.__class__.__name__, backoff)
                self._resync = True
                await asyncio.sleep(backoff)
                backoff = min(self._backoff_max_s, backoff * 2)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "subscribe":
            for waiter in self._confirm.get(channel, ()):
                if not waiter.done():
                    waiter.set_result(None)
            return
        if kind != "message":
            return
        try:
            data = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("redis bus: undecodable message on %s dropped", channel)
            return
        self._deliver(channel, data)

    def _deliver(self, channel: str, data: dict[str, Any]) -> int:
        handlers = list(self._handlers.get(channel, ()))
        for handler in handlers:
            try:
                handler(data)
            except Exception:  # one broken consumer must not starve the others
                log.exception("redis bus: handler for %s failed", channel)
        return len(handlers)

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, channel: str, data: dict[str, Any]) -> int:
        """Send to every gateway listening on ``channel``; returns how many gateways (or local handlers
        when Redis is unreachable) received it."""
        from redis.exceptions import RedisError

        payload = json.dumps(data, ensure_ascii=False, default=str)
        try:
            return int(await self._redis.publish(channel, payload))
        except (RedisError, OSError) as exc:
            log.warning("redis bus: publish to %s failed (%s); delivering locally only", channel, exc)
            return self._deliver(channel, json.loads(payload))

    def local_listeners(self, channel: str) -> int:
        return len(self._handlers.get(channel, ()))

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        with contextlib.suppress(Exception):
            await self._redis.aclose()
