from __future__ import annotations

from bot.actions.fallback import ActionFallback
from bot.actions.faq import ActionAnswerFaq
from tests.actions.conftest import make_tracker, run_action


def texts(messages) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_matter_answer_tells_every_material(knowledge):
    messages, events = run_action(ActionAnswerFaq(), make_tracker("社保卡丢了怎么补办"))
    entry = knowledge.search("社保卡丢了怎么补办").entries[0]
    assert entry.matter is not None
    answer = texts(messages)
    for material in entry.matter.materials:
        assert material in answer
    assert {"event": "slot", "name": "topic", "value": entry.topic, "timestamp": None} in events


def test_unrelated_question_is_declined_with_human_and_12345(knowledge):
    messages, _ = run_action(ActionAnswerFaq(), make_tracker("帮我推荐一只明天会涨停的股票代码"))
    assert "没有找到" in texts(messages)
    payloads = [b["payload"] for m in messages for b in m.get("buttons") or []]
    assert payloads == ["/request_human", "/contact_12345"]


def test_clarification_button_answers_the_chosen_entry(knowledge):
    entry = next(iter(knowledge.snapshot.kb))
    tracker = make_tracker(f'/ask_service{{"faq_id": "{entry.id}"}}', entities=[{"entity": "faq_id", "value": entry.id}])
    messages, _ = run_action(ActionAnswerFaq(), tracker)
    assert texts(messages).startswith(knowledge.snapshot.kb.render_answer(entry)[:20])


def test_bare_payload_asks_for_the_matter(knowledge):
    messages, _ = run_action(ActionAnswerFaq(), make_tracker("/ask_service"))
    assert "什么事项" in texts(messages)


def fallback_turn(text: str, previous_intent: str | None, failures: float):
    events = []
    if previous_intent:
        events.append({"event": "user", "text": "…", "parse_data": {"intent": {"name": previous_intent}}})
    tracker = make_tracker(text, intent="nlu_fallback", slots={"fallback_failures": failures}, events=events)
    return run_action(ActionFallback(), tracker)


def test_fallback_first_asks_to_rephrase(knowledge):
    messages, events = fallback_turn("啊吧啊吧嗯嗯", "greet", 0.0)
    assert messages[0]["response"] == "utter_ask_rephrase"
    assert events[0]["value"] == 1.0


def test_second_fallback_in_a_row_offers_a_person(knowledge):
    _, events = fallback_turn("啊吧啊吧嗯嗯", "nlu_fallback", 1.0)
    assert {"event": "followup", "name": "utter_offer_human", "timestamp": None} in events


def test_fallback_after_another_intent_starts_counting_again(knowledge):
    messages, _ = fallback_turn("啊吧啊吧嗯嗯", "ask_service", 1.0)
    assert messages[0]["response"] == "utter_ask_rephrase"


def test_fallback_still_answers_from_the_knowledge_base(knowledge):
    messages, _ = fallback_turn("社保卡丢了怎么补办", "nlu_fallback", 1.0)
    assert "材料" in texts(messages)
