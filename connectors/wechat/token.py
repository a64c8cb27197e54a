"""The one owner of the WeChat ``access_token``.

WeChat hands out one valid token per app: fetching a new one invalidates the previous one (after a
short grace period). Several coroutines fetching at once would therefore knock each other's tokens
out, so every fetch goes through one lock, a token is refreshed a while before it expires, and a
token rejected by the API (40001/42001) is refreshed only if it is still the current one — the
other senders that saw the same rejection reuse the fresh token instead of fetching again.

With several gateway processes exactly one of them (or a separate service) must own the token;
this class is that owner within one process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

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
            return await self._fetch()

    async def rejected(self, token: str) -> str:
        """The API said ``token`` is invalid: refresh unless someone already replaced it."""
        async with self._lock:
            if self._token is not None and self._token != token and self._fresh():
                return self._token
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
