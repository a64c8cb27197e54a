"""Serves the widget (``/widget.js``, ``/widget.css``) and a demo page (``/``) that embeds it.

The widget is meant to sit on other sites (a district's portal, a service hall's kiosk page), so
the web channel's API answers cross-origin requests. CORS is scoped to ``/api/v1/web/`` only: the
admin and agent APIs stay same-origin. ``GOVBOT_WEB_ALLOWED_ORIGINS`` (comma-separated) narrows it;
the default ``*`` is safe because the widget API uses no cookies.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
ORIGINS_ENV = "GOVBOT_WEB_ALLOWED_ORIGINS"
CORS_PREFIXES = ("/api/v1/web/",)

# short cache: a deployment's widget update reaches pages within minutes, revalidated by ETag
_ASSETS = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
}


def allowed_origins() -> list[str]:
    raw = os.environ.get(ORIGINS_ENV, "*")
    return [o.strip() for o in raw.split(",") if o.strip()] or ["*"]


def widget_router() -> APIRouter:
    router = APIRouter(tags=["widget"])

    @router.get("/", include_in_schema=False)
    async def demo_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    def asset(name: str, media_type: str) -> None:
        async def serve() -> FileResponse:
            return FileResponse(STATIC_DIR / name, media_type=media_type,
                                headers={"Cache-Control": "public, max-age=300"})

        router.add_api_route(f"/{name}", serve, methods=["GET"], include_in_schema=False, name=f"widget_{name}")

    for name, media_type in _ASSETS.items():
        asset(name, media_type)
    return router


class ScopedCORS:
    """Starlette's CORS middleware, applied only to paths under the given prefixes."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], origins: list[str]) -> None:
        self.app = app
        self.prefixes = prefixes
        self.cors = CORSMiddleware(app, allow_origins=origins, allow_methods=["GET", "POST", "OPTIONS"],
                                   allow_headers=["Content-Type"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install_widget(app: FastAPI) -> None:
    """Mount the widget assets and demo page, and open the web channel API to embedding sites."""
    app.include_router(widget_router())
    app.add_middleware(ScopedCORS, prefixes=CORS_PREFIXES, origins=allowed_origins())
