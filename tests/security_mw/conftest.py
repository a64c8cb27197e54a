"""A small app with the gateway's channel paths behind the real security middleware."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from connectors.security import LimitSettings, install_security
from connectors.security.limiter import RateLimiter


def make_app(settings: LimitSettings, limiter: RateLimiter | None = None) -> tuple[FastAPI, list[bytes]]:
    """Routes that record every body they get: a refused request must never show up here."""
    app = FastAPI()
    seen: list[bytes] = []

    @app.post("/api/v1/web/messages")
    async def web(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(body)
        return {"bytes": len(body)}

    @app.post("/api/v1/app/messages")
    async def app_msg(request: Request) -> dict[str, int]:
        seen.append(await request.body())
        return {"ok": 1}

    @app.post("/channels/wechat")
    async def wechat(request: Request) -> PlainTextResponse:
        seen.append(await request.body())
        return PlainTextResponse("processed")

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse("<html></html>")

    @app.get("/agent")
    async def agent() -> HTMLResponse:
        return HTMLResponse("<html></html>")

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    install_security(app, settings, limiter)
    return app, seen


@pytest.fixture
def build() -> Callable[..., tuple[FastAPI, list[bytes]]]:
    return make_app
