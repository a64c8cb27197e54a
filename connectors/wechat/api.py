"""Customer-service messages (客服消息): how replies reach a citizen outside a passive reply.

Used for late bot answers (Rasa slower than WeChat's 5 s window), for mini-programs (which take no
passive text replies) and for agent messages. Failures never raise: the caller records the reply
as undelivered so agents can see it. 45015 (the citizen has not written for 48 h) and 45047 (too
many messages since the citizen last wrote) are the common ones.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.wechat.token import INVALID_TOKEN_CODES, AccessTokenManager, WeChatApiError

log = logging.getLogger(__name__)

WINDOW_CODES = {
    45015: "超出 48 小时客服消息回复时限 / reply window of 48 hours has passed",
    45047: "客服消息下行条数超过上限 / too many customer-service messages since the citizen last wrote",
}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    errcode: int = 0
    errmsg: str = ""

    @property
    def window_closed(self) -> bool:
        """The citizen cannot be reached until they write again; further sends would fail too."""
        return self.errcode in WINDOW_CODES


class CustomerServiceClient:
    def __init__(self, http: httpx.AsyncClient, api_base: str, tokens: AccessTokenManager) -> None:
        self._http = http
        self._url = f"{api_base.rstrip('/')}/cgi-bin/message/custom/send"
        self.tokens = tokens

    async def send_text(self, openid: str, text: str) -> SendResult:
        return await self.send({"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send(self, message: dict[str, Any]) -> SendResult:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        try:
            token = await self.tokens.token()
        except WeChatApiError as exc:
            return SendResult(False, exc.errcode, exc.errmsg)
        for attempt in range(2):
            try:
                response = await self._http.post(
                    self._url, params={"access_token": token}, content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                # not retried: the message may have gone out, and a duplicate is worse than a gap
                log.warning("wechat custom send failed: %s", exc)
                return SendResult(False, -1, f"network error: {exc or exc.__class__.__name__}")
            errcode = int(data.get("errcode", 0)) if isinstance(data, dict) else -1
            errmsg = str(data.get("errmsg", "")) if isinstance(data, dict) else "bad response"
            if errcode == 0:
                return SendResult(True)
            if errcode in INVALID_TOKEN_CODES and attempt == 0:
                try:
                    token = await self.tokens.rejected(token)
                except WeChatApiError as exc:
                    return SendResult(False, exc.errcode, exc.errmsg)
                continue
            if errcode in WINDOW_CODES:
                log.info("wechat custom send refused (%s): %s", errcode, WINDOW_CODES[errcode])
            else:
                log.warning("wechat custom send refused: %s %s", errcode, errmsg)
            return SendResult(False, errcode, errmsg)
        return SendResult(False, -1, "unreachable")  # pragma: no cover - loop always returns
