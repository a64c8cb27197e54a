"""Token buckets behind one small interface: in-process for one gateway, Redis for several.

A bucket holds up to ``capacity`` tokens and refills at ``rate`` tokens per second; each request
takes one. ``take`` answers 0.0 when the request may pass, otherwise the seconds until a token is
back (the ``Retry-After`` value).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def take(self, key: str, capacity: int, rate: float) -> float: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Buckets in a dict; stale buckets are dropped so memory stays bounded under many keys."""

    def __init__(self, clock=time.monotonic, max_keys: int = 100_000) -> None:  # type: ignore[no-untyped-def]
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    async def take(self, key: str, capacity: int, rate: float) -> float:
        # no await inside: atomic on the event loop without a lock (a lock would bind to one loop)
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(capacity), now))
        tokens = min(float(capacity), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / rate
        if len(self._buckets) > self._max_keys:
            self._evict(now, capacity, rate)
        return wait

    def _evict(self, now: float, capacity: int, rate: float) -> None:
        """Forget buckets that would be full again anyway: dropping them changes nothing."""
        full_after = capacity / rate
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= full_after]:
            del self._buckets[key]

    async def close(self) -> None:
        self._buckets.clear()


# Atomic bucket update in Redis: time comes from the Redis server so gateways with skewed clocks agree.
_LUA = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """The same buckets in Redis, shared by every gateway pointed at the same server."""

    def __init__(self, url: str, prefix: str = "govbot:rl:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._prefix = prefix
        self._script = self._redis.register_script(_LUA)

    async def take(self, key: str, capacity: int, rate: float) -> float:
        from redis.exceptions import RedisError

        try:
            result = await self._script(keys=[self._prefix + key], args=[capacity, rate])
        except (RedisError, OSError):
            # fail open: an unreachable Redis must not take every channel down with it
            log.warning("rate limiter: Redis unavailable, request let through", exc_info=True)
            return 0.0
        return float(result.decode() if isinstance(result, bytes) else result)

    async def close(self) -> None:
        await self._redis.aclose()


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, at least 1: HTTP ``Retry-After`` takes integers."""
    return str(max(1, math.ceil(wait_s)))


def build_limiter(backend: str, redis_url: str, key_prefix: str = "govbot") -> RateLimiter:
    """``key_prefix`` is ``[redis] key_prefix``: deployments sharing one Redis keep their buckets apart."""
    if backend == "redis":
        return RedisRateLimiter(redis_url, prefix=f"{key_prefix}:rl:")
    if backend == "memory":
        return MemoryRateLimiter()
    raise ValueError(f"unknown [limits] backend {backend!r}: use 'memory' or 'redis'")
