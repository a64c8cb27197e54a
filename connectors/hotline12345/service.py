"""Creating work orders (in the caller's transaction) and applying 12345's status callbacks.

``create_work_order`` is the one way to make an order: the bot's ``work_order`` event, the agent
console and feedback all call it inside the unit of work that changes the conversation, so either
the conversation change, the order and its outbox row all commit, or none does.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.conversations import service as store
from connectors.conversations.models import Conversation
from connectors.db import utcnow
from connectors.hotline12345.credit_code import normalize_credit_code
from connectors.hotline12345.models import OrderStatus, Outbox, WorkOrder
from connectors.privacy import mask_pii

CATEGORIES: dict[str, str] = {
    "complaint": "投诉", "consultation": "咨询", "help": "求助", "suggestion": "建议", "report": "举报", "praise": "表扬",
}
SUMMARY_MAX = 500
TRANSCRIPT_MAX_MESSAGES = 50
_PHONE_RE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_CREATED_BY_RE = re.compile(r"^(bot|citizen|agent:[\w.@-]{1,64})$")


class WorkOrderError(ValueError):
    """Invalid order data; carries a Chinese message for the citizen/agent and an English one for logs."""

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code, self.message_zh, self.message_en = code, message_zh, message_en


def new_order_number() -> str:
    """``GD`` + date + 6 random characters: unguessable enough, short enough to read out on the phone."""
    return f"GD{utcnow():%Y%m%d}{secrets.token_hex(3).upper()}"


def _check_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    compact = re.sub(r"[\s()]", "", phone)
    if not _PHONE_RE.match(compact):
        raise WorkOrderError("invalid_phone", "联系电话格式不正确", "invalid contact phone number")
    return compact


def create_work_order(
    session: Session,
    conversation: Conversation,
    *,
    category: str,
    summary: str,
    matter: str | None = None,
    enterprise_name: str | None = None,
    credit_code: str | None = None,
    case_code: str | None = None,
    contact_phone: str | None = None,
    contact_consent: bool = False,
    created_by: str = "bot",
) -> WorkOrder:
    """Write the order and its outbox row in ``session``'s transaction (the caller commits).

    Raises :class:`WorkOrderError` for invalid data (unknown category, empty summary, a 统一社会信用代码
    failing its GB 32100 check, a malformed phone number).
    """
    if category not in CATEGORIES:
        raise WorkOrderError("invalid_category", f"不支持的工单类别：{category}", f"unknown category: {category}")
    summary = (summary or "").strip()
    if not summary:
        raise WorkOrderError("empty_summary", "工单内容不能为空", "summary must not be empty")
    if not _CREATED_BY_RE.match(created_by):
        raise WorkOrderError("invalid_creator", "工单创建者不合法", "created_by must be bot, citizen or agent:<id>")
    code = None
    if credit_code:
        code = normalize_credit_code(credit_code)
        if code is None:
            raise WorkOrderError("invalid_credit_code", "统一社会信用代码不正确，请核对后重新输入（18位，含校验位）",
                                 "invalid unified social credit code (GB 32100 checksum)")
    phone = _check_phone(contact_phone)
    order = WorkOrder(
        number=new_order_number(),
        conversation_id=conversation.id,
        channel=conversation.channel,
        category=category,
        summary=mask_pii(summary)[:SUMMARY_MAX],
        matter=matter or None,
        enterprise_name=(enterprise_name or "").strip() or None,
        credit_code=code,
        case_code=(case_code or "").strip().upper() or None,
        contact_phone=(phone if contact_consent else mask_pii(phone)) if phone else None,
        contact_consent=bool(contact_consent and phone),
        created_by=created_by,
        status=OrderStatus.PENDING,
    )
    session.add(order)
    session.flush()
    key = uuid.uuid4().hex
    session.add(Outbox(kind="work_order", work_order_id=order.id, idempotency_key=key,
                       body=json.dumps(order_body(session, order, key), ensure_ascii=False, sort_keys=True)))
    session.flush()
    return order


def order_body(session: Session, order: WorkOrder, idempotency_key: str) -> dict[str, Any]:
    """What 12345 receives: the order, the channel and the masked transcript (raw phone only with consent)."""
    messages = store.transcript(session, order.conversation_id)[-TRANSCRIPT_MAX_MESSAGES:]
    return {
        "order_no": order.number,
        "idempotency_key": idempotency_key,
        "category": order.category,
        "category_label": CATEGORIES[order.category],
        "summary": order.summary,
        "matter": order.matter,
        "enterprise": (
            {"name": order.enterprise_name, "credit_code": order.credit_code}
            if order.enterprise_name or order.credit_code else None
        ),
        "case_code": order.case_code,
        "contact": {"phone": order.contact_phone, "consent": order.contact_consent},
        "channel": order.channel,
        "conversation_id": order.conversation_id,
        "created_by": order.created_by,
        "created_at": order.created_at.isoformat() if order.created_at else utcnow().isoformat(),
        "transcript": [
            {"seq": m.seq, "author": m.author, "text": m.masked_text or mask_pii(m.text),
             "at": m.created_at.isoformat() if m.created_at else None}
            for m in messages
        ],
    }


def find_order(session: Session, number: str, *, lock: bool = False) -> WorkOrder | None:
    query = select(WorkOrder).where(WorkOrder.number == number)
    return session.scalar(query.with_for_update() if lock else query)


# 12345's status vocabulary (Chinese or English) → ours
CALLBACK_STATUSES: dict[str, str] = {
    "受理": OrderStatus.ACCEPTED, "已受理": OrderStatus.ACCEPTED, "accepted": OrderStatus.ACCEPTED,
    "办理中": OrderStatus.PROCESSING, "processing": OrderStatus.PROCESSING,
    "已办结": OrderStatus.RESOLVED, "办结": OrderStatus.RESOLVED, "resolved": OrderStatus.RESOLVED,
}
_RANK = {OrderStatus.PENDING: 0, OrderStatus.DEAD: 0, OrderStatus.SUBMITTED: 1, OrderStatus.ACCEPTED: 2,
         OrderStatus.PROCESSING: 3, OrderStatus.RESOLVED: 4}


@dataclass(frozen=True)
class CallbackResult:
    order: WorkOrder
    changed: bool
    notice: str | None  # what to tell the citizen; None when nothing new happened


def notice_text(order: WorkOrder, status: str, reply: str | None) -> str:
    head = {
        OrderStatus.ACCEPTED: f"您的12345工单 {order.number} 已受理，相关部门将在规定时限内办理并答复。",
        OrderStatus.PROCESSING: f"您的12345工单 {order.number} 正在办理中。",
        OrderStatus.RESOLVED: f"您的12345工单 {order.number} 已办结。",
    }[status]
    return f"{head}\n答复：{reply}" if reply else head


def apply_callback(session: Session, order: WorkOrder, status_raw: str, reply: str | None,
                   event_id: str | None) -> CallbackResult:
    """Apply one status callback; repeats (same event id, or the same status and reply) change nothing.

    Status never moves backwards: a late 受理 after 已办结 is recorded as seen but ignored.
    """
    status = CALLBACK_STATUSES.get(status_raw.strip())
    if status is None:
        raise WorkOrderError("invalid_status", f"未知的工单状态：{status_raw}", f"unknown status: {status_raw}")
    reply = (reply or "").strip() or None
    seen = list(order.callback_ids or [])
    event_key = event_id or f"{status}|{reply or ''}"
    if event_key in seen:
        return CallbackResult(order, False, None)
    order.callback_ids = [*seen, event_key][-50:]
    if _RANK.get(status, 0) < _RANK.get(order.status, 0) or (status == order.status and reply == order.reply_text):
        return CallbackResult(order, False, None)
    order.status = status
    if reply:
        order.reply_text = reply
    order.updated_at = utcnow()
    return CallbackResult(order, True, notice_text(order, status, reply))
