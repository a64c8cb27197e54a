"""Talks to Rasa's REST webhook; the only place that knows Rasa's wire format."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx


class BotUnavailable(Exception):
    """Rasa did not answer in time or answered with an error: the caller degrades gracefully."""


@dataclass(frozen=True)
class BotReply:
    text: str = ""
    buttons: list[dict[str, str]] = field(default_factory=list)
    custom: dict[str, Any] | None = None


class RasaClient:
    # Messages handed to Rasa at once. More do not make Rasa faster (its work is CPU-bound); they
    # queue here, first come first served, instead of in httpx's connection pool, where a wait
    # counted against timeout_s (PoolTimeout → "系统繁忙" under load) and slots leaked by requests
    # cancelled under pool contention (httpcore 1.0.9) never came back: measured with
    # `govbot-bench load`, a gateway overloaded once answered "系统繁忙" to everything afterwards.
    max_in_flight = 16
    # the longest a message waits for its turn before the citizen is told the system is busy
    queue_timeout_s = 60.0

    def __init__(self, base_url: str, timeout_s: float = 12.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._slots = asyncio.Semaphore(self.max_in_flight)
        limits = httpx.Limits(max_connections=self.max_in_flight + 4, max_keepalive_connections=self.max_in_flight + 4)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=2.0), limits=limits)

    async def send(self, sender_id: str, text: str, metadata: dict[str, Any] | None = None) -> list[BotReply]:
        body = {"sender": sender_id, "message": text, "metadata": metadata or {}}
        try:
            await asyncio.wait_for(self._slots.acquire(), self.queue_timeout_s)
        except TimeoutError as exc:
            raise BotUnavailable(f"no Rasa slot within {self.queue_timeout_s:g}s") from exc
        try:
            response = await self._client.post(f"{self.base_url}/webhooks/rest/webhook", json=body)
            response.raise_for_status()
            raw = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BotUnavailable(str(exc) or exc.__class__.__name__) from exc
        finally:
            self._slots.release()
        if not isinstance(raw, list):
            raise BotUnavailable(f"unexpected Rasa response: {type(raw).__name__}")
        return [
            BotReply(
                text=item.get("text") or "",
                buttons=[
                    {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                    for b in item.get("buttons") or []
                ],
                custom=item.get("custom"),
            )
            for item in raw
            if isinstance(item, dict)
        ]

    async def status(self) -> dict[str, Any]:
        try:
            response = await self._client.get(f"{self.base_url}/status", timeout=3.0)
            response.raise_for_status()
            data = response.json()
            return {"ok": True, "model": data.get("model_file"), "fingerprint": data.get("fingerprint", {}).get("trained_at")}
        except (httpx.HTTPError, ValueError) as exc:
            return {"ok": False, "error": str(exc) or exc.__class__.__name__}

    async def aclose(self) -> None:
        await self._client.aclose()
