"""Run custom actions directly, with real trackers, the real KB and the real retriever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def make_tracker(
    text: str,
    intent: str = "ask_service",
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    sent_at: str | None = None,
    events: list[dict[str, Any]] | None = None,
    active_loop: dict[str, Any] | None = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
        "metadata": {"sent_at": sent_at} if sent_at else {},
    }
    return Tracker(
        sender_id="test",
        slots=slots or {},
        latest_message=latest,
        events=(events or []) + [{"event": "user", "text": text, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop=active_loop or {},
        latest_action_name="action_listen",
    )


def run_action(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


@pytest.fixture(scope="session")
def knowledge():
    from bot.actions.knowledge import knowledge_service

    return knowledge_service()
