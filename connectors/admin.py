"""Admin endpoints. Protected by ``GOVBOT_ADMIN_TOKEN`` (a bearer token) when it is set."""

from __future__ import annotations

import os
import secrets

import httpx
from fastapi import APIRouter, Header, Request

from connectors.errors import ApiError


def _check_token(authorization: str | None) -> None:
    expected = os.environ.get("GOVBOT_ADMIN_TOKEN")
    if not expected:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given, expected):
        raise ApiError(401, "unauthorized", "需要管理员令牌", "admin token required")


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

    @router.post("/kb/reload")
    async def reload_kb(request: Request, authorization: str | None = Header(default=None)) -> dict:
        """Ask the action server to rebuild the knowledge-base index and swap it in atomically."""
        _check_token(authorization)
        gateway = request.app.state.gateway
        try:
            response = await gateway.actions_http.post("/kb/reload", timeout=600.0)
        except httpx.HTTPError as exc:
            raise ApiError(503, "actions_unavailable", "动作服务不可用，知识库未重新加载",
                           f"action server unavailable: {exc}") from exc
        body = response.json()
        if response.status_code != 200:
            raise ApiError(422, "kb_invalid", "知识库校验失败，仍使用原有版本：" + "; ".join(body.get("errors", [])[:5]),
                           "knowledge base invalid; the previous version stays in service")
        return body

    return router
