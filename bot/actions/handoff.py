"""``action_handoff``: ask the gateway to queue this conversation for a person.

Rasa does not own the queue: the action emits a structured ``govbot`` event and the gateway,
which decides who answers, opens the ticket and tells the citizen their position.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import handoff_event

# a conversation is routed to the queue of the topic the citizen last asked about
DEFAULT_SKILL = "general"


def skill_for(tracker: Tracker) -> str:
    topic = tracker.get_slot("topic")
    return str(topic) if topic else DEFAULT_SKILL


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "request_human"
        reason = {"request_human": "citizen_request", "affirm": "fallback_offer_accepted"}.get(intent, intent)
        dispatcher.utter_message(json_message=handoff_event(reason, skill_for(tracker)))
        return []
