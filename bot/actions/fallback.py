"""``action_fallback``: when NLU is unsure, the knowledge base still gets a chance.

Only when the knowledge base has nothing either does it count as a failure; two failures in a row
offer a person (``utter_offer_human``, whose affirm/deny rules live in rules.yml).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import is_payload, latest_text, previous_user_intent
from bot.actions.faq import render_answer
from bot.actions.knowledge import knowledge_service

FAILURES_BEFORE_OFFER = 2


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        query = latest_text(tracker)
        if query and not is_payload(query):
            answer = knowledge_service().search(query)
            if answer.result.decision in {"answer", "clarify"}:
                return [SlotSet("fallback_failures", 0.0), *render_answer(answer, dispatcher, query)]
        # failures only accumulate over consecutive fallback turns
        previous = float(tracker.get_slot("fallback_failures") or 0) if previous_user_intent(tracker) == "nlu_fallback" else 0.0
        failures = previous + 1
        if failures >= FAILURES_BEFORE_OFFER:
            return [SlotSet("fallback_failures", 0.0), FollowupAction("utter_offer_human")]
        dispatcher.utter_message(response="utter_ask_rephrase")
        return [SlotSet("fallback_failures", failures)]
