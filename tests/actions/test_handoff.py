from __future__ import annotations

from bot.actions.handoff import ActionHandoff
from tests.actions.conftest import make_tracker, run_action


def test_handoff_emits_the_gateway_event_with_the_topic_as_skill():
    messages, events = run_action(ActionHandoff(), make_tracker("转人工", intent="request_human", slots={"topic": "社保"}))
    assert messages[0]["custom"] == {"govbot": {"type": "handoff", "reason": "citizen_request", "skill": "社保"}}
    assert events == []


def test_handoff_without_topic_goes_to_the_general_queue():
    messages, _ = run_action(ActionHandoff(), make_tracker("是", intent="affirm"))
    assert messages[0]["custom"]["govbot"] == {"type": "handoff", "reason": "fallback_offer_accepted", "skill": "general"}
