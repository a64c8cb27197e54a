"""HTTP endpoints of the 12345 line: 12345's signed status callback and the operators' admin views.

``install(app, gateway, channels)`` mounts them and returns the :class:`Hotline` holder whose
``start``/``stop`` the app's lifespan calls to run the outbox worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from connectors.admin import _check_token
from connectors.conversations import service as store
from connectors.conversations.models import Conversation, MessageAuthor, MessageDirection
from connectors.errors import ApiError
from connectors.hotline12345.delivery import OutboxWorker, requeue
from connectors.hotline12345.models import Outbox, OutboxStatus, WorkOrder
from connectors.hotline12345.notify import push_to_citizen
from connectors.hotline12345.service import WorkOrderError, apply_callback, find_order
from connectors.hotline12345.settings import HotlineSettings, load_hotline_settings
from connectors.hotline12345.signing import SIGNATURE_HEADER, verify
from connectors.hotline12345.target import build_target

if TYPE_CHECKING:
    from connectors.channels.base import Channel
    from connectors.gateway import Gateway

MAX_CALLBACK_BYTES = 64 * 1024
LIST_MAX = 500


@dataclass
class Hotline:
    settings: HotlineSettings
    worker: OutboxWorker
    channels: Mapping[str, Channel]

    def start(self) -> None:
        if self.settings.enabled:
            self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()


def install(app: FastAPI, gateway: Gateway, channels: Mapping[str, Channel],
            settings: HotlineSettings | None = None) -> Hotline:
    settings = settings or load_hotline_settings()
    hotline = Hotline(settings, OutboxWorker(gateway.db, build_target(settings), settings), channels)
    app.state.hotline12345 = hotline
    app.include_router(hotline_router(gateway, hotline))
    return hotline


def _order_view(order: WorkOrder, outbox: Outbox | None) -> dict[str, Any]:
    return {**order.as_dict(), "delivery": outbox.as_dict() if outbox is not None else None}


def hotline_router(gateway: Gateway, hotline: Hotline) -> APIRouter:
    router = APIRouter(tags=["hotline12345"])
    db = gateway.db

    @router.post("/api/v1/hotline12345/callback")
    async def callback(request: Request) -> dict[str, Any]:
        """12345 reports 受理 / 办理中 / 已办结 (+ reply text); signed like our requests to it."""
        if not hotline.settings.secret:
            raise ApiError(503, "not_configured", "未配置12345共享密钥，无法验证回调", "GOVBOT_12345_SECRET is not set")
        body = await request.body()
        if len(body) > MAX_CALLBACK_BYTES:
            raise ApiError(413, "body_too_large", "请求体过大", "request body too large")
        if not verify(hotline.settings.secret, body, request.headers.get(SIGNATURE_HEADER)):
            raise ApiError(401, "invalid_signature", "签名校验失败", "invalid signature")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "请求体不是有效的 JSON", "request body is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("order_no", "status")):
            raise ApiError(400, "invalid_body", "回调须包含 order_no 和 status", "callback needs order_no and status")
        reply = data.get("reply")
        event_id = data.get("event_id")
        result = await run_in_threadpool(
            _apply, data["order_no"], data["status"], reply if isinstance(reply, str) else None,
            str(event_id) if event_id is not None else None,
        )
        order_view, notice = result
        delivered = False
        if notice is not None:
            from connectors.message_router import Reply

            delivered = await push_to_citizen(db, hotline.channels, order_view["conversation_id"],
                                              [Reply(notice, [], MessageAuthor.SYSTEM)])
        return {"ok": True, "order_no": order_view["number"], "status": order_view["status"],
                "changed": notice is not None, "citizen_notified": delivered}

    def _apply(number: str, status: str, reply: str | None, event_id: str | None) -> tuple[dict[str, Any], str | None]:
        with db.session() as session:
            order = find_order(session, number, lock=True)
            if order is None:
                raise ApiError(404, "order_not_found", "工单不存在", "work order not found")
            try:
                outcome = apply_callback(session, order, status, reply, event_id)
            except WorkOrderError as exc:
                raise ApiError(400, exc.code, exc.message_zh, exc.message_en) from None
            if outcome.notice is not None:
                # the transcript first: if the push fails the citizen still sees it on return
                conversation = session.get(Conversation, order.conversation_id)
                assert conversation is not None
                store.add_message(session, conversation, direction=MessageDirection.OUTBOUND,
                                  author=MessageAuthor.SYSTEM, text=outcome.notice, channel=conversation.channel,
                                  payload={"work_order": order.number, "status": order.status}, status="sent")
            return order.as_dict(), outcome.notice

    @router.get("/api/v1/admin/work-orders")
    async def list_orders(
        status: str | None = Query(default=None, max_length=16,
                                   description="order status, or 'dead' for dead-lettered deliveries"),
        limit: int = Query(default=100, ge=1, le=LIST_MAX),
        authorization: str | None = Header(default=None),
    ) -> dict[str, Any]:
        _check_token(authorization)
        return await run_in_threadpool(_list, status, limit)

    def _list(status: str | None, limit: int) -> dict[str, Any]:
        with db.session() as session:
            query = select(WorkOrder, Outbox).join(Outbox, Outbox.work_order_id == WorkOrder.id, isouter=True)
            if status == OutboxStatus.DEAD:
                query = query.where(Outbox.status == OutboxStatus.DEAD)
            elif status:
                query = query.where(WorkOrder.status == status)
            rows = session.execute(query.order_by(WorkOrder.id.desc()).limit(limit)).all()
            counts = dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
            return {"orders": [_order_view(o, b) for o, b in rows], "outbox": {k: int(v) for k, v in counts.items()}}

    @router.post("/api/v1/admin/work-orders/{order_id}/retry")
    async def retry(order_id: int, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        _check_token(authorization)
        outbox = await run_in_threadpool(requeue, db, order_id)
        if outbox is None:
            raise ApiError(404, "order_not_found", "工单不存在", "work order not found")
        if outbox.status == OutboxStatus.DELIVERED:
            raise ApiError(409, "already_delivered", "工单已成功提交，无需重试", "work order already delivered")
        if outbox.status == OutboxStatus.INFLIGHT:
            raise ApiError(409, "in_flight", "工单正在提交中，请稍后再试", "delivery in progress")
        hotline.worker.wake()
        return {"ok": True, "order_id": order_id, "delivery": outbox.as_dict()}

    return router
