"""The one owner of the WeChat ``access_token``.

WeChat hands out one valid token per app: fetching a new one invalidates the previous one (after a
short grace period). Several coroutines fetching at once would therefore knock each other's tokens
out, so every fetch goes through one lock, a token is refreshed a while before it expires, and a
token rejected by the API (40001/42001) is refreshed only if it is still the current one — the
other senders that saw the same rejection reuse the fresh token instead of fetching again.

With several gateway processes the token lives in Redis (:class:`RedisAccessTokenManager`, chosen
by ``[redis] url``): a fetch happens only under a Redis lock, so one gateway at a time asks WeChat
and stores the token with its refresh time as the key's TTL; every other gateway reads it from
Redis. A rejected token is replaced only if Redis still holds that same token.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from connectors.config import RedisSettings
    from connectors.wechat.settings import WeChatSettings

log = logging.getLogger(__name__)

# errcodes meaning "this access_token is not (or no longer) valid"
INVALID_TOKEN_CODES = frozenset({40001, 40014, 42001})


class WeChatApiError(Exception):
    """WeChat answered with an errcode (or not at all: errcode -1)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class AccessTokenManager:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_base: str,
        app_id: str,
        app_secret: str,
        *,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{api_base.rstrip('/')}/cgi-bin/token"
        self._app_id, self._app_secret = app_id, app_secret
        self._margin = refresh_margin_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetches = 0  # how many times we asked WeChat for a token (observability and tests)

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._refresh_at

    async def token(self) -> str:
        """A token that is valid for a while yet; fetches one (once, for all waiters) when needed."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if self._fresh():
                assert self._token is not None
                return self._token
            return await self._obtain(stale=None)

    async def rejected(self, token: str) -> str:
        """The API said ``token`` is invalid: refresh unless someone already replaced it."""
        async with self._lock:
            if self._token is not None and self._token != token and self._fresh():
                return self._token
            return await self._obtain(stale=token)

    async def _obtain(self, stale: str | None) -> str:
        """A new token (called under the lock); ``stale`` is the one WeChat just rejected, if any."""
        return await self._fetch()

    async def _fetch(self) -> str:
        self.fetches += 1
        params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret}
        try:
            response = await self._http.get(self._url, params=params)
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise WeChatApiError(-1, f"token fetch failed: {exc or exc.__class__.__name__}") from exc
        if not isinstance(data, dict) or not data.get("access_token"):
            errcode = int(data.get("errcode", -1)) if isinstance(data, dict) else -1
            errmsg = str(data.get("errmsg", "no access_token")) if isinstance(data, dict) else "bad response"
            log.error("wechat token fetch refused: %s %s", errcode, errmsg)
            raise WeChatApiError(errcode, errmsg)
        expires_in = float(data.get("expires_in") or 7200)
        self._token = str(data["access_token"])
        # refresh a margin before expiry; for very short lifetimes, halfway through
        self._refresh_at = self._clock() + max(expires_in - self._margin, expires_in / 2)
        return self._token

    async def aclose(self) -> None:
        """Nothing to release here; the Redis-backed owner closes its connection."""


# delete the lock only if we still hold it (it may have expired and been taken by someone else)
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisAccessTokenManager(AccessTokenManager):
    """The token shared by every gateway through Redis; only the holder of the Redis lock fetches.

    Keys: ``<prefix>:wechat:<appid>:token`` (the token; its TTL is the time left until refresh) and
    ``…:lock`` (``SET NX PX``, released by compare-and-delete). Within one process the inherited
    asyncio lock still collapses concurrent callers into one Redis round trip. If Redis is down the
    process falls back to fetching on its own (WeChat keeps the previous token valid for a few
    minutes after a fetch, so a short outage does not cut the other gateways off).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_base: str,
        app_id: str,
        app_secret: str,
        *,
        redis_url: str,
        key_prefix: str = "govbot",
        refresh_margin_s: float = 300.0,
        lock_ttl_s: float = 15.0,
        wait_s: float = 12.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis.asyncio as aioredis

        super().__init__(http, api_base, app_id, app_secret, refresh_margin_s=refresh_margin_s, clock=clock)
        self._redis = aioredis.from_url(redis_url)
        base = f"{key_prefix}:wechat:{app_id}"
        self._token_key, self._lock_key = f"{base}:token", f"{base}:lock"
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._release = self._redis.register_script(_RELEASE)
        self.shared_reads = 0  # tokens taken from Redis (another gateway fetched them)

    async def _obtain(self, stale: str | None) -> str:
        from redis.exceptions import RedisError

        try:
            return await self._shared(stale=stale)
        except (RedisError, OSError) as exc:
            log.warning("wechat token: Redis unavailable (%s); fetching without coordination", exc)
            return await self._fetch()

    async def _read(self, stale: str | None) -> str | None:
        """The token in Redis unless it is missing or the one just rejected; adopts its refresh time."""
        async with self._redis.pipeline(transaction=False) as pipe:
            value, ttl_ms = await pipe.get(self._token_key).pttl(self._token_key).execute()
        if not value or ttl_ms is None or ttl_ms <= 0:
            return None
        token = value.decode() if isinstance(value, bytes) else str(value)
        if token == stale:
            return None
        self._token, self._refresh_at = token, self._clock() + ttl_ms / 1000.0
        self.shared_reads += 1
        return token

    async def _shared(self, stale: str | None) -> str:
        found = await self._read(stale)
        if found is not None:
            return found
        me = uuid.uuid4().hex
        deadline = self._clock() + self._wait_s
        delay = 0.02
        while True:
            if await self._redis.set(self._lock_key, me, nx=True, px=self._lock_ttl_ms):
                try:
                    found = await self._read(stale)  # the previous holder may have just stored one
                    if found is not None:
                        return found
                    token = await self._fetch()
                    ttl_ms = max(1, int((self._refresh_at - self._clock()) * 1000))
                    await self._redis.set(self._token_key, token, px=ttl_ms)
                    return token
                finally:
                    await self._release(keys=[self._lock_key], args=[me])
            # another gateway is fetching: its token will appear in Redis
            await asyncio.sleep(delay)
            delay = min(0.2, delay * 2)
            found = await self._read(stale)
            if found is not None:
                return found
            if self._clock() > deadline:
                raise WeChatApiError(-1, "token refresh by another gateway did not finish in time")

    async def aclose(self) -> None:
        await self._redis.aclose()


def build_token_manager(http: httpx.AsyncClient, settings: WeChatSettings,
                        redis: RedisSettings | None = None) -> AccessTokenManager:
    """The process-local owner for one gateway; the Redis-shared one when ``[redis] url`` is set."""
    if redis is not None and redis.enabled:
        return RedisAccessTokenManager(http, settings.api_base, settings.app_id, settings.app_secret,
                                       redis_url=redis.url, key_prefix=redis.key_prefix)
    return AccessTokenManager(http, settings.api_base, settings.app_id, settings.app_secret)
