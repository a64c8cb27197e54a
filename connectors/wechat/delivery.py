"""Recording how bot replies reached (or failed to reach) a WeChat citizen.

The router stores replies with status ``sent``, which for WeChat means "returned as the passive
reply". Replies delivered later through the customer-service API get
``payload["delivery"] = {"via": "custom_send", ...}``, and those WeChat refused (45015: 48-hour
window closed, 45047: too many messages, or any other error) get ``status = "undelivered"`` so
agents see what the citizen never received.
"""

from __future__ import annotations

from connectors.conversations import service as store
from connectors.db import Database
from connectors.wechat.api import SendResult

UNDELIVERED = "undelivered"
VIA_CUSTOM_SEND = "custom_send"


def mark_custom_send(
    db: Database, conversation_id: str, channel_message_id: str, results: list[SendResult | None]
) -> None:
    """``results`` is aligned with the replies of the inbound message; None: nothing was sent for it."""
    with db.session() as session:
        inbound = store.find_inbound(session, conversation_id, channel_message_id)
        if inbound is None:
            return
        for row, result in zip(store.replies_to(session, inbound), results, strict=False):
            if result is None:
                continue
            row.payload = {
                **(row.payload or {}),
                "delivery": {
                    "via": VIA_CUSTOM_SEND, "ok": result.ok, "errcode": result.errcode, "errmsg": result.errmsg
                },
            }
            row.status = "sent" if result.ok else UNDELIVERED


def went_through_custom_send(db: Database, conversation_id: str, channel_message_id: str) -> bool:
    """Whether the answer to this message was sent asynchronously (so a retry must not repeat it passively)."""
    with db.session() as session:
        inbound = store.find_inbound(session, conversation_id, channel_message_id)
        if inbound is None:
            return False
        return any(
            ((row.payload or {}).get("delivery") or {}).get("via") == VIA_CUSTOM_SEND
            for row in store.replies_to(session, inbound)
        )
