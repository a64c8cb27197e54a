"""One error shape for every API: a machine code plus a Chinese and an English message."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status, self.code, self.message_zh, self.message_en = status, code, message_zh, message_en


def error_body(code: str, message_zh: str, message_en: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{message_zh} / {message_en}", "message_zh": message_zh,
                      "message_en": message_en, **extra}}


def _describe(errors: list[dict[str, Any]]) -> tuple[str, str, str]:
    first = errors[0] if errors else {}
    kind = str(first.get("type", ""))
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    if kind == "json_invalid":
        return "invalid_json", "请求体不是有效的 JSON", "request body is not valid JSON"
    if kind == "missing":
        return "missing_field", f"缺少必填字段：{loc}", f"missing required field: {loc}"
    if kind in {"model_attributes_type", "dict_type"}:
        return "invalid_body", "请求体必须是 JSON 对象", "request body must be a JSON object"
    return "invalid_field", f"字段 {loc} 不合法：{first.get('msg', '')}", f"invalid field {loc}: {first.get('msg', '')}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message_zh, exc.message_en), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, zh, en = _describe(list(exc.errors()))
        return JSONResponse(error_body(code, zh, en), status_code=422 if code != "invalid_json" else 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: ("接口不存在", "not found"), 405: ("不支持该请求方法", "method not allowed")}
        zh, en = messages.get(exc.status_code, ("请求错误", str(exc.detail)))
        return JSONResponse(error_body(f"http_{exc.status_code}", zh, en), status_code=exc.status_code)
