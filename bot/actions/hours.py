"""``action_answer_hours`` and ``action_answer_acceptance``: time questions answered by the hours engine.

The engine (knowledge_base.hours) is pure; these actions only work out *which* center, matter
category and moment the citizen means, ask when it matters (a Saturday question without a matter),
and turn the engine's verdict into a specific Chinese reply.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import first_entity, is_payload, latest_text, message_time
from bot.actions.faq import DECLINE_TEXT, utter_entry
from bot.actions.knowledge import knowledge_service
from connectors.hours.views import hours_data
from knowledge_base.hours import (
    CATEGORIES,
    CalendarNotPublished,
    Center,
    acceptance_deadline,
    describe_day,
    describe_time,
    parse_time,
)

# words that name a Saturday category without naming a matter the KB knows
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "社保": ("社保", "养老", "失业", "工伤", "退休"),
    "医保": ("医保", "医疗保险", "报销", "异地就医"),
    "民政": ("民政", "结婚", "离婚", "婚姻", "低保", "养老服务"),
    "公安": ("公安", "户口", "户籍", "身份证", "居住证", "护照", "港澳", "出入境", "签注", "落户"),
    "残联": ("残联", "残疾"),
    "住房保障": ("住房保障", "公租房", "保障房", "廉租", "租房补贴"),
}
WEEKEND_RE = re.compile(r"周六|星期六|礼拜六|周末|双休|星期天|周日|礼拜天")
FLEXIBLE_RE = re.compile(r"预约|弹性|提前|早上8|早上八|晚上|下班后|下班以后")
ONLINE_RE = re.compile(r"网上|线上|网办|在线|app|APP|小程序|政务服务网|网站|手机上")
OFFLINE_RE = re.compile(r"窗口|现场|线下|大厅")


@dataclass(frozen=True)
class Subject:
    category: str | None
    flexible_allowed: bool
    matter_known: bool


def resolve_center(tracker: Tracker, text: str, centers: dict[str, Center]) -> Center:
    """The center named by entity or text (full name, "海淀区", or "海淀"); the city center otherwise."""
    haystack = " ".join(filter(None, [first_entity(tracker, "center"), tracker.get_slot("center"), text]))
    for center in centers.values():
        short = center.name.removesuffix("政务服务中心")
        names = {center.name, short}
        if short.endswith("区"):
            names.add(short.removesuffix("区"))
        if center.id != "city" and any(n and n in haystack for n in names):
            return center
    return centers["city"]


def resolve_subject(tracker: Tracker, text: str, time_text: str = "") -> Subject:
    """Which Saturday category (and whether 早晚弹性办 applies) the question is about.

    The time phrase is removed before asking the knowledge base, so "这周六能办营业执照吗" is
    matched as "能办营业执照吗". A clarify decision still counts when the matters among the suggestions agree.
    """
    category = first_entity(tracker, "category")
    if category in CATEGORIES:
        return Subject(category, bool(FLEXIBLE_RE.search(text)), False)
    question = "" if is_payload(text) else text.replace(time_text, " ") if time_text else text
    matter_text = " ".join(filter(None, [first_entity(tracker, "matter"), question])).strip()
    if matter_text:
        answer = knowledge_service().search(matter_text)
        matters = [e.matter for e in answer.entries[:3] if e.matter is not None]
        decided = answer.result.decision == "answer" and answer.entries and answer.entries[0].matter is not None
        # suggestions that are plain FAQ entries (no matter) do not contradict the matters among them
        agreed = (
            answer.result.decision == "clarify"
            and bool(answer.entries) and answer.entries[0].matter is not None
            and len({m.saturday_category for m in matters}) == 1
        )
        if decided or agreed:
            matter = answer.entries[0].matter if decided else matters[0]
            return Subject(matter.saturday_category or "综合", matter.flexible_hours, True)
    for name, words in CATEGORY_KEYWORDS.items():
        if any(w in text for w in words):
            return Subject(name, bool(FLEXIBLE_RE.search(text)), False)
    return Subject(None, bool(FLEXIBLE_RE.search(text)), False)


def _is_rest_weekend(when: Any, calendar: Any) -> bool:
    """Only a weekend that is not a make-up working day needs the matter to be known."""
    if when.start is None:
        return False
    end = when.end or when.start
    day = when.start.date()
    while True:
        if calendar.day_kind(day).kind == "weekend":
            return True
        day += dt.timedelta(days=1)
        if day >= end.date():
            return False


def saturday_categories(center: Center) -> list[str]:
    return [c for c in CATEGORIES if c in center.saturday.categories]


def category_buttons() -> list[dict[str, str]]:
    buttons = [{"title": c, "payload": f'/ask_hours{{"category": "{c}"}}'} for c in CATEGORIES[:6]]
    buttons.append({"title": "其他事项", "payload": '/ask_hours{"category": "综合"}'})
    return buttons


class ActionAnswerHours(Action):
    def name(self) -> str:
        return "action_answer_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        centers, calendar = hours_data()
        now = message_time(tracker)
        text = latest_text(tracker)
        question = "" if is_payload(text) else text
        # a category button answers our own question: the time asked about is in the ``date`` slot
        when_text = question or str(tracker.get_slot("date") or "")
        when = parse_time(when_text, now, calendar) if when_text else None
        center = resolve_center(tracker, when_text, centers)
        subject = resolve_subject(tracker, text, when.text if when is not None else "")

        asks_weekend = _is_rest_weekend(when, calendar) if when is not None else bool(WEEKEND_RE.search(when_text))
        if subject.category is None and asks_weekend:
            saturday = "、".join(saturday_categories(center))
            dispatcher.utter_message(
                text=f"周六只办理部分高频个人事项（{saturday}）。请问您要办理哪类事项？",
                buttons=category_buttons(),
            )
            return [SlotSet("date", when.text if when is not None else when_text)]
        category = subject.category or "综合"
        try:
            reply = self._describe(center, category, when, now, calendar, subject.flexible_allowed)
        except CalendarNotPublished as exc:
            reply = str(exc)
        if not subject.matter_known and "弹性" in reply:
            reply += "（早晚弹性办仅适用于支持预约的事项，请先预约。）"
        if center.name not in reply:
            reply = f"{center.name}：{reply}"
        dispatcher.utter_message(text=f"{reply}\n地址：{center.address}。" if when is None else reply)
        return [SlotSet("date", None)]

    @staticmethod
    def _describe(center: Center, category: str, when: Any, now: dt.datetime, calendar: Any, flexible: bool) -> str:
        if when is None:
            today = describe_day(center, category, now.date(), calendar, flexible)
            saturday = (
                f"周六 {center.saturday.hours.label()} 办理{'、'.join(saturday_categories(center))}等高频个人事项；"
                if center.saturday.hours is not None else "周六不对外办理；"
            )
            lunch = "午间不间断" if center.lunch.continuous else "午间休息"
            return (f"{center.name}办公时间：工作日 {center.workday_hours[0].label()}，{lunch}；{saturday}"
                    f"法定节假日休息。早晚弹性办：法定工作日开门前、下班后各1小时可预约办理。\n今天：{today}")
        return describe_time(center, category, when, calendar, flexible)


class ActionAnswerAcceptance(Action):
    def name(self) -> str:
        return "action_answer_acceptance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        _, calendar = hours_data()
        text = latest_text(tracker)
        now = message_time(tracker)
        said_anything = False
        if ONLINE_RE.search(text) or OFFLINE_RE.search(text):
            channel = "online" if ONLINE_RE.search(text) else "offline"
            when = parse_time(text, now, calendar)
            submitted = when.start if when is not None and when.start is not None else now
            try:
                deadline = acceptance_deadline(submitted, calendar, channel=channel)
                dispatcher.utter_message(text=f"{deadline.basis}。")
            except CalendarNotPublished as exc:
                dispatcher.utter_message(text=str(exc))
            said_anything = True
        events: list[EventType] = []
        if text and not is_payload(text):
            answer = knowledge_service().search(text)
            if answer.result.decision == "answer" and answer.entries:
                events = utter_entry(answer.entries[0], dispatcher)
                said_anything = True
        if not said_anything:
            dispatcher.utter_message(
                text="线下窗口申请当场作出是否受理的决定；网上申请在1个工作日内作出受理决定。"
                "材料不全的，一次性告知需补齐补正的全部材料；符合条件的可容缺受理。" if is_payload(text) else DECLINE_TEXT
            )
        return events
