"""The ``WorkOrderTarget`` seam: where work orders go. One implementation per hotline, a registry by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from connectors.hotline12345.settings import HotlineSettings
from connectors.hotline12345.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign

# HTTP statuses after which sending the same request again can succeed
RETRYABLE_4XX = {408, 425, 429}


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    # a refusal that no retry will change (400, 401, 422 …): dead-letter at once
    permanent: bool = False
    status_code: int | None = None
    external_id: str | None = None
    duplicate: bool = False
    error: str = ""


class WorkOrderTarget(Protocol):
    name: str

    async def submit(self, body: bytes, idempotency_key: str) -> DeliveryResult:
        """Deliver one order; must be safe to call again with the same key (the receiver dedupes)."""

    async def aclose(self) -> None:
        """Release connections."""


TargetFactory = Callable[[HotlineSettings], WorkOrderTarget]
_REGISTRY: dict[str, TargetFactory] = {}


def register_target(name: str) -> Callable[[TargetFactory], TargetFactory]:
    def decorate(factory: TargetFactory) -> TargetFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def build_target(settings: HotlineSettings) -> WorkOrderTarget:
    try:
        return _REGISTRY[settings.target](settings)
    except KeyError:
        raise ValueError(f"unknown work-order target {settings.target!r}; known: {sorted(_REGISTRY)}") from None


class HttpWorkOrderTarget:
    """POSTs signed JSON to a 12345 endpoint; 2xx (or 409 "already have it") means delivered."""

    name = "http"

    def __init__(self, endpoint: str, secret: str, timeout_s: float = 10.0) -> None:
        self.endpoint, self.secret = endpoint, secret
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)))

    async def submit(self, body: bytes, idempotency_key: str) -> DeliveryResult:
        headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: sign(self.secret, body),
                   IDEMPOTENCY_HEADER: idempotency_key}
        try:
            response = await self.http.post(self.endpoint, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return DeliveryResult(False, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return DeliveryResult(False, error=f"{type(exc).__name__}: {exc}")
        code = response.status_code
        if 200 <= code < 300 or code == 409:
            try:
                data = response.json()
            except ValueError:
                data = {}
            data = data if isinstance(data, dict) else {}
            external = data.get("order_id") or data.get("id")
            return DeliveryResult(True, status_code=code, external_id=str(external) if external else None,
                                  duplicate=code == 409 or bool(data.get("duplicate")))
        permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
        return DeliveryResult(False, permanent=permanent, status_code=code, error=f"HTTP {code}: {response.text[:200]}")

    async def aclose(self) -> None:
        await self.http.aclose()


@register_target("http")
def _http_target(settings: HotlineSettings) -> WorkOrderTarget:
    return HttpWorkOrderTarget(settings.endpoint, settings.secret, settings.timeout_s)
