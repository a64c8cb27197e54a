"""Two gateways pointed at the same Redis share one bucket per identity (real Redis on 127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient

from connectors.security import LimitSettings

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_available(), reason="no Redis server on 127.0.0.1:6379")


def test_two_app_instances_share_the_redis_buckets(build) -> None:
    settings = LimitSettings(backend="redis", redis_url=REDIS_URL, identity_burst=4, identity_window_s=60.0,
                             ip_per_minute=6000, ip_burst=6000)
    first, seen_first = build(settings)
    second, seen_second = build(settings)
    user = f"shared-{uuid.uuid4().hex}"  # fresh key: earlier runs cannot interfere
    with TestClient(first) as a, TestClient(second) as b:
        codes = [c.post("/api/v1/web/messages", json={"user_id": user, "text": "x"}).status_code
                 for c in (a, b, a, b, a, b)]
        assert codes == [200, 200, 200, 200, 429, 429]
        refused = b.post("/api/v1/web/messages", json={"user_id": user, "text": "x"})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 15
        assert len(seen_first) + len(seen_second) == 4
        assert a.post("/api/v1/web/messages", json={"user_id": user + "-2", "text": "x"}).status_code == 200


def test_redis_bucket_refills() -> None:
    asyncio.run(_refills())


async def _refills() -> None:
    from connectors.security.limiter import RedisRateLimiter

    limiter = RedisRateLimiter(REDIS_URL)
    key = f"refill-{uuid.uuid4().hex}"
    try:
        assert await limiter.take(key, 2, 10.0) == 0.0
        assert await limiter.take(key, 2, 10.0) == 0.0
        wait = await limiter.take(key, 2, 10.0)
        assert 0 < wait <= 0.1
        await asyncio.sleep(0.25)
        assert await limiter.take(key, 2, 10.0) == 0.0
    finally:
        await limiter.close()


def test_unreachable_redis_fails_open() -> None:
    from connectors.security.limiter import RedisRateLimiter
    from tests.conftest import free_port

    async def scenario() -> float:
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
        try:
            return await limiter.take("k", 1, 1.0)
        finally:
            await limiter.close()

    assert asyncio.run(scenario()) == 0.0


def test_deployments_with_different_key_prefixes_do_not_share_buckets() -> None:
    """``[redis] key_prefix`` separates deployments (or tests) that share one Redis server."""
    from connectors.security.limiter import build_limiter

    async def scenario() -> tuple[float, float]:
        ours, theirs = build_limiter("redis", REDIS_URL, "govbot-a"), build_limiter("redis", REDIS_URL, "govbot-b")
        key = f"prefix-{uuid.uuid4().hex}"
        try:
            assert await ours.take(key, 1, 0.01) == 0.0
            return await ours.take(key, 1, 0.01), await theirs.take(key, 1, 0.01)
        finally:
            await ours.close()
            await theirs.close()

    ours_again, theirs_first = asyncio.run(scenario())
    assert ours_again > 0 and theirs_first == 0.0
