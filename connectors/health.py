"""``/healthz``: is every part of the message path up, and is the knowledge base loaded?"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from connectors.hours.views import hours_data
from knowledge_base.hours import coverage_status


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        gateway = request.app.state.gateway
        components: dict[str, Any] = {"rasa": await gateway.rasa.status()}
        try:
            response = await gateway.actions_http.get("/health", timeout=3.0)
            components["actions"] = {"ok": response.status_code == 200}
        except httpx.HTTPError as exc:
            components["actions"] = {"ok": False, "error": str(exc) or exc.__class__.__name__}
        try:
            response = await gateway.actions_http.get("/kb/status", timeout=3.0)
            components["knowledge_base"] = {"ok": response.status_code == 200, **response.json()}
        except (httpx.HTTPError, ValueError) as exc:
            components["knowledge_base"] = {"ok": False, "error": str(exc) or exc.__class__.__name__}
        try:
            with gateway.db.session() as session:
                session.execute(text("SELECT 1"))
            components["database"] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - any driver error means "down"
            components["database"] = {"ok": False, "error": str(exc)}
        healthy = all(c.get("ok") for c in components.values())
        # the holiday calendar running out is a warning for operators, not an outage
        _, calendar = hours_data()
        coverage = coverage_status(calendar, datetime.now(timezone(timedelta(hours=8))).date())
        warnings = [coverage["warning"]] if coverage.get("warning") else []
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "components": components,
             "calendar": coverage, "warnings": warnings},
            status_code=200 if healthy else 503,
        )

    return router
