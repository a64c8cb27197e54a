"""The WeChat access token shared by several gateways through Redis (real Redis, local fake of WeChat).

The fake WeChat keeps only the newest token valid, as WeChat does: gateways fetching on their own
would knock each other's tokens out. Each manager below stands for one gateway process.
"""

from __future__ import annotations

import asyncio

import httpx
import redis

from connectors.config import RedisSettings
from connectors.wechat import CustomerServiceClient, WeChatSettings
from connectors.wechat.token import AccessTokenManager, RedisAccessTokenManager, build_token_manager
from tests.channels.conftest import APP_ID, APP_SECRET
from tests.scale.conftest import REDIS_URL, needs_redis

pytestmark = needs_redis


def gateways(fake_wechat, prefix: str, count: int = 3):
    http = httpx.AsyncClient(timeout=5.0)
    managers = [RedisAccessTokenManager(http, fake_wechat.url, APP_ID, APP_SECRET, redis_url=REDIS_URL,
                                        key_prefix=prefix) for _ in range(count)]
    return http, managers, [CustomerServiceClient(http, fake_wechat.url, m) for m in managers]


def cleanup(prefix: str) -> None:
    admin = redis.Redis.from_url(REDIS_URL)
    for key in admin.scan_iter(f"{prefix}:*"):
        admin.delete(key)
    admin.close()


def test_the_configuration_chooses_the_owner(fake_wechat, prefix):
    settings = WeChatSettings(token="t", app_id=APP_ID, app_secret=APP_SECRET, api_base=fake_wechat.url)
    http = httpx.AsyncClient()
    assert type(build_token_manager(http, settings, RedisSettings())) is AccessTokenManager
    shared = build_token_manager(http, settings, RedisSettings(url=REDIS_URL, key_prefix=prefix))
    assert isinstance(shared, RedisAccessTokenManager)
    asyncio.run(shared.aclose())


def test_one_fetch_for_all_gateways_and_one_refresh_after_a_rejection(fake_wechat, prefix):
    fake_wechat.token_delay_s = 0.3  # slow enough that uncoordinated gateways would all fetch

    async def scenario() -> None:
        http, managers, apis = gateways(fake_wechat, prefix)
        try:
            results = await asyncio.gather(*(apis[i % 3].send_text(f"o{i}", f"消息{i}") for i in range(12)))
            assert all(r.ok for r in results), results
            assert fake_wechat.token_fetches == 1  # one gateway asked WeChat ...
            assert sum(m.fetches for m in managers) == 1
            assert sum(1 for m in managers if m.shared_reads) == 2  # ... the two others read Redis
            fake_wechat.revoke()  # every gateway's token is now refused with 40001
            results = await asyncio.gather(*(apis[i % 3].send_text(f"o{i}", f"再次{i}") for i in range(12)))
            assert all(r.ok for r in results), results
            assert fake_wechat.token_fetches == 2  # one refresh for all gateways
            assert len({m._token for m in managers}) == 1
        finally:
            for m in managers:
                await m.aclose()
            await http.aclose()
            cleanup(prefix)

    asyncio.run(scenario())
    assert len(fake_wechat.sent) == 24


def test_the_token_is_refreshed_once_before_expiry_and_a_stale_rejection_refetches_nothing(fake_wechat, prefix):
    fake_wechat.expires_in = 2  # refreshed halfway: the Redis key lives one second

    async def scenario() -> None:
        http, managers, apis = gateways(fake_wechat, prefix, count=2)
        try:
            assert (await apis[0].send_text("o1", "一")).ok and (await apis[1].send_text("o1", "二")).ok
            assert fake_wechat.token_fetches == 1
            old = managers[1]._token
            await asyncio.sleep(1.2)
            assert all(r.ok for r in await asyncio.gather(apis[0].send_text("o1", "三"), apis[1].send_text("o1", "四")))
            assert fake_wechat.token_fetches == 2
            # a sender that still held the previous token reports it rejected: the newer one is reused
            assert await managers[0].rejected(old) == managers[1]._token
            assert fake_wechat.token_fetches == 2
        finally:
            for m in managers:
                await m.aclose()
            await http.aclose()
            cleanup(prefix)

    asyncio.run(scenario())


def test_without_redis_a_gateway_fetches_on_its_own(fake_wechat, prefix):
    from tests.conftest import free_port

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            manager = RedisAccessTokenManager(http, fake_wechat.url, APP_ID, APP_SECRET,
                                              redis_url=f"redis://127.0.0.1:{free_port()}/0", key_prefix=prefix)
            try:
                assert (await CustomerServiceClient(http, fake_wechat.url, manager).send_text("o1", "你好")).ok
            finally:
                await manager.aclose()

    asyncio.run(scenario())
    assert fake_wechat.token_fetches == 1 and len(fake_wechat.sent) == 1
