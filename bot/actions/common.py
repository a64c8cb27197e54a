"""Small helpers shared by the actions: reading the latest message, structured events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

HUMAN_BUTTON = {"title": "转人工客服", "payload": "/request_human"}
HOTLINE_BUTTON = {"title": "12345热线与工单", "payload": "/contact_12345"}


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def is_payload(text: str) -> bool:
    """Button payloads such as ``/ask_service`` carry an intent, not a question."""
    return text.startswith("/")


def message_time(tracker: Tracker) -> dt.datetime:
    """When the citizen sent the message: the gateway's ``sent_at`` metadata, else now (Beijing)."""
    metadata: dict[str, Any] = tracker.latest_message.get("metadata") or {}
    sent_at = metadata.get("sent_at")
    if isinstance(sent_at, str):
        try:
            moment = dt.datetime.fromisoformat(sent_at)
            return moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)
        except ValueError:
            pass
    return dt.datetime.now(BEIJING)


def entity_values(tracker: Tracker, name: str) -> list[str]:
    return [str(e.get("value")) for e in tracker.latest_message.get("entities") or [] if e.get("entity") == name]


def first_entity(tracker: Tracker, name: str) -> str | None:
    values = entity_values(tracker, name)
    return values[0] if values else None


def previous_user_intent(tracker: Tracker) -> str | None:
    """Intent of the user turn before the latest one."""
    seen_latest = False
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if not seen_latest:
            seen_latest = True
            continue
        return ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    return None


def handoff_event(reason: str, skill: str) -> dict[str, Any]:
    """The structured event the gateway turns into a queue entry (see connectors.message_router)."""
    return {"govbot": {"type": "handoff", "reason": reason, "skill": skill}}
