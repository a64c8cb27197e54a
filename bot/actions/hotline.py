"""12345 work orders and 表扬/曝光 feedback, as seen from the bot.

The bot never writes orders itself: ``action_create_work_order`` and ``action_record_feedback``
emit structured ``govbot`` events and the gateway creates the order (and the reply with its number)
in the same transaction that stores the turn (see connectors.hotline12345.events).

Flow: ``contact_12345`` → ``action_offer_work_order`` explains 12345 and shows what it would submit
(the citizen's last complaint or question) → affirm → ``action_create_work_order``.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import HUMAN_BUTTON, first_entity, is_payload, latest_text

SUMMARY_MAX = 200
CONFIRM_BUTTONS = [{"title": "确认提交12345工单", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}]
# turns that carry no content worth submitting
NO_CONTENT_INTENTS = {"affirm", "deny", "greet", "goodbye", "thanks", "request_human", "chitchat"}
# words that only say "12345 / work order", not what the matter is
_BOILERPLATE = re.compile(
    r"12345|热线|电话|工单|提交|提个|提一个|帮我|给我|我要|我想|想要|通过|怎么|如何|能不能|能否|可以|是多少|多少|"
    r"反映|问题|情况|一下|一个|一张|转到|转给|派单|登记|诉求|生成|联系|企业服务|市民|北京|政务服务|便民|"
    r"网上|留言|多久|回复|进度|哪个|解决|接诉即办|[打找查帮能吗呢的有提在到给我，,。.!！?？、\s]"
)
MIN_CONTENT_CHARS = 4

_WINDOW_RE = re.compile(r"[0-9０-９一二三四五六七八九十]+\s*号\s*(?:窗口|柜台|服务台)")
_STAFF_NUMBER_RE = re.compile(r"工号\s*[:：]?\s*[0-9A-Za-z]+")
_STAFF_TITLE_RE = re.compile(r"([\u4e00-\u9fa5])(同志|师傅|老师|科长|处长|主任|经理|警官)")
_NOT_A_SURNAME = set("的位个那这该些名")


def feedback_target(tracker: Tracker, text: str) -> str:
    """The window / staff member / center the citizen names (表扬台/曝光台 target); '' when none."""
    parts: list[str] = []
    for name in ("center", "department"):
        value = first_entity(tracker, name)
        if value and value not in parts:
            parts.append(value)
    parts += [m.group(0).replace(" ", "") for m in _WINDOW_RE.finditer(text)]
    parts += [m.group(0).replace(" ", "") for m in _STAFF_NUMBER_RE.finditer(text)]
    parts += [m.group(0) for m in _STAFF_TITLE_RE.finditer(text) if m.group(1) not in _NOT_A_SURNAME]
    return " ".join(dict.fromkeys(parts))[:200]


def category_for(intent: str | None, text: str) -> str:
    if "举报" in text:
        return "report"
    if intent == "complain" or "投诉" in text:
        return "complaint"
    if "建议" in text:
        return "suggestion"
    if "求助" in text:
        return "help"
    return "consultation"


def _has_content(text: str) -> bool:
    return len(_BOILERPLATE.sub("", text)) >= MIN_CONTENT_CHARS


def work_order_subject(tracker: Tracker) -> tuple[str, str] | None:
    """(category, summary) from the citizen's last message with substance, newest first; None if there is none.

    A ``contact_12345`` message counts only if it says more than "12345 / 工单" ("我要反映噪音扰民，
    帮我提交到12345" does); button payloads and yes/no turns never count.
    """
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if not text or is_payload(text) or intent in NO_CONTENT_INTENTS:
            continue
        if intent == "contact_12345" and not _has_content(text):
            continue
        return category_for(intent, text), text[:SUMMARY_MAX]
    return None


def work_order_event(category: str, summary: str, tracker: Tracker) -> dict[str, Any]:
    """The structured event the gateway turns into a 12345 order (see connectors.message_router)."""
    event: dict[str, Any] = {"type": "work_order", "category": category, "summary": summary}
    for slot in ("case_code", "matter"):
        if tracker.get_slot(slot):
            event[slot] = str(tracker.get_slot(slot))
    return {"govbot": event}


class ActionOfferWorkOrder(Action):
    def name(self) -> str:
        return "action_offer_work_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_explain_12345")
        subject = work_order_subject(tracker)
        if subject is None:
            dispatcher.utter_message(response="utter_ask_work_order_summary")
            return [SlotSet("work_order_category", None), SlotSet("work_order_summary", None)]
        category, summary = subject
        dispatcher.utter_message(
            text=f"将为您向12345提交以下诉求：\n「{summary}」\n确认提交吗？", buttons=CONFIRM_BUTTONS
        )
        return [SlotSet("work_order_category", category), SlotSet("work_order_summary", summary)]


class ActionCreateWorkOrder(Action):
    def name(self) -> str:
        return "action_create_work_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        summary = tracker.get_slot("work_order_summary")
        category = tracker.get_slot("work_order_category") or "consultation"
        if not summary:
            subject = work_order_subject(tracker)
            if subject is None:
                dispatcher.utter_message(response="utter_ask_work_order_summary")
                return []
            category, summary = subject
        dispatcher.utter_message(json_message=work_order_event(str(category), str(summary), tracker))
        return [SlotSet("work_order_category", None), SlotSet("work_order_summary", None)]


class ActionRecordFeedback(Action):
    """表扬台/曝光台: record praise or a complaint about a named window or staff member.

    A complaint naming someone becomes a 12345 order at once (the gateway replies with its number);
    one that names nobody is recorded and the citizen chooses: a person, or a 12345 order.
    """

    def name(self) -> str:
        return "action_record_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = latest_text(tracker)
        content = "" if is_payload(text) else text
        target = feedback_target(tracker, content)
        kind = "praise" if intent == "praise" else "complaint"
        event: dict[str, Any] = {"type": "feedback", "kind": kind, "target": target, "text": content[:SUMMARY_MAX]}
        if kind == "praise":
            dispatcher.utter_message(response="utter_praise_thanks")
            dispatcher.utter_message(json_message={"govbot": event})
            return []
        if target and content:
            event["work_order"] = True
            dispatcher.utter_message(
                text=f"非常抱歉给您带来不好的体验。您对「{target}」的意见我们已记录（曝光台），并转12345督办。"
                "如需人工客服马上为您处理，可以点击转人工。",
                buttons=[HUMAN_BUTTON],
            )
            dispatcher.utter_message(json_message={"govbot": event})
            return []
        dispatcher.utter_message(json_message={"govbot": event})
        dispatcher.utter_message(response="utter_complaint_options")
        # remember the complaint so choosing 12345 submits exactly this text
        summary = content[:SUMMARY_MAX] or None
        return [SlotSet("work_order_category", "complaint"), SlotSet("work_order_summary", summary)]
