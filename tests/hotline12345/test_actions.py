"""The bot side: offering, creating and recording, run directly on real rasa-sdk trackers."""

from __future__ import annotations

from bot.actions.hotline import (
    ActionCreateWorkOrder,
    ActionOfferWorkOrder,
    ActionRecordFeedback,
    feedback_target,
    work_order_subject,
)
from tests.actions.conftest import make_tracker, run_action


def user(text: str, intent: str) -> dict:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, "entities": []}}


def slots_of(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def govbot_events(messages) -> list[dict]:
    return [m["custom"]["govbot"] for m in messages if (m.get("custom") or {}).get("govbot")]


def test_offer_uses_the_last_complaint_and_asks_for_confirmation():
    tracker = make_tracker("/contact_12345", intent="contact_12345",
                           events=[user("3号窗口排队两个小时没人管", "complain"), user("/request_human", "request_human")])
    messages, events = run_action(ActionOfferWorkOrder(), tracker)
    assert messages[0]["response"] == "utter_explain_12345"
    assert "3号窗口排队两个小时没人管" in messages[1]["text"]
    assert [b["payload"] for b in messages[1]["buttons"]] == ["/affirm", "/deny"]
    assert slots_of(events) == {"work_order_category": "complaint", "work_order_summary": "3号窗口排队两个小时没人管"}


def test_offer_takes_a_contact_12345_message_that_says_what_the_matter_is():
    tracker = make_tracker("我要反映噪音扰民，帮我提交到12345", intent="contact_12345",
                           events=[user("社保卡怎么补办", "ask_service")])
    _, events = run_action(ActionOfferWorkOrder(), tracker)
    assert slots_of(events)["work_order_summary"] == "我要反映噪音扰民，帮我提交到12345"
    assert slots_of(events)["work_order_category"] == "consultation"


def test_offer_without_any_content_asks_for_a_summary():
    tracker = make_tracker("12345热线电话是多少", intent="contact_12345", events=[user("你好", "greet")])
    messages, events = run_action(ActionOfferWorkOrder(), tracker)
    assert [m["response"] for m in messages] == ["utter_explain_12345", "utter_ask_work_order_summary"]
    assert slots_of(events) == {"work_order_category": None, "work_order_summary": None}


def test_create_emits_the_work_order_event_with_case_code_and_clears_slots():
    tracker = make_tracker("/affirm", intent="affirm", slots={
        "work_order_summary": "办件超期未办结", "work_order_category": "complaint", "case_code": "BJ20261015000123",
    })
    messages, events = run_action(ActionCreateWorkOrder(), tracker)
    assert govbot_events(messages) == [{"type": "work_order", "category": "complaint", "summary": "办件超期未办结",
                                        "case_code": "BJ20261015000123"}]
    assert slots_of(events) == {"work_order_category": None, "work_order_summary": None}


def test_create_without_a_summary_asks_instead_of_submitting_nothing():
    messages, _ = run_action(ActionCreateWorkOrder(), make_tracker("/affirm", intent="affirm"))
    assert govbot_events(messages) == [] and messages[0]["response"] == "utter_ask_work_order_summary"


def test_praise_is_recorded_with_its_target_and_thanked():
    tracker = make_tracker("3号窗口的王老师服务特别耐心，表扬一下", intent="praise")
    messages, _ = run_action(ActionRecordFeedback(), tracker)
    assert messages[0]["response"] == "utter_praise_thanks"
    assert govbot_events(messages) == [{"type": "feedback", "kind": "praise", "target": "3号窗口 王老师",
                                        "text": "3号窗口的王老师服务特别耐心，表扬一下"}]


def test_complaint_naming_a_window_becomes_a_work_order_at_once():
    tracker = make_tracker("五号窗口工号A1023的工作人员态度很差", intent="complain")
    messages, _ = run_action(ActionRecordFeedback(), tracker)
    [event] = govbot_events(messages)
    assert event["kind"] == "complaint" and event["work_order"] is True and event["target"] == "五号窗口 工号A1023"
    assert "转12345督办" in messages[0]["text"] and messages[0]["buttons"][0]["payload"] == "/request_human"


def test_complaint_naming_nobody_is_recorded_and_offered_a_choice():
    tracker = make_tracker("你们办事效率太低了", intent="complain")
    messages, events = run_action(ActionRecordFeedback(), tracker)
    [event] = govbot_events(messages)
    assert event["target"] == "" and "work_order" not in event
    assert messages[-1]["response"] == "utter_complaint_options"
    assert slots_of(events) == {"work_order_category": "complaint", "work_order_summary": "你们办事效率太低了"}


def test_feedback_target_uses_entities_and_ignores_non_names():
    tracker = make_tracker("朝阳区政务服务中心那位李同志很负责，负责的老师也好", intent="praise",
                           entities=[{"entity": "center", "value": "朝阳区政务服务中心"}])
    assert feedback_target(tracker, tracker.latest_message["text"]) == "朝阳区政务服务中心 李同志"
    assert work_order_subject(make_tracker("/affirm", intent="affirm")) is None


def test_questions_about_12345_itself_are_not_taken_as_the_matter():
    for text in ("12345的工单多久有回复", "企业服务热线是多少", "怎么在网上给12345留言"):
        tracker = make_tracker(text, intent="contact_12345", events=[user("办件超过时限还没办结", "query_case")])
        assert work_order_subject(tracker) == ("consultation", "办件超过时限还没办结"), text
