"""``action_answer_faq``: answer from the knowledge base, clarify, or say honestly we don't know."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import HOTLINE_BUTTON, HUMAN_BUTTON, first_entity, is_payload, latest_text
from bot.actions.knowledge import Answer, knowledge_service

CLARIFY_TEXT = "您是想问以下哪个问题？请点击选择，或换个说法告诉我。"
DECLINE_TEXT = (
    "抱歉，知识库中没有找到与您问题相符的答案，我不想给您不准确的信息。"
    "您可以换个说法再问，或转人工客服，也可以拨打12345政务服务便民热线咨询。"
)
ASK_MATTER_TEXT = "请问您想办理什么事项？例如：社保卡补办、居住证申领、护照办理、营业执照设立、公积金提取。"


def faq_button(entry_id: str, question: str) -> dict[str, str]:
    return {"title": question, "payload": f'/ask_service{{"faq_id": "{entry_id}"}}'}


def render_answer(answer: Answer, dispatcher: CollectingDispatcher, query: str) -> list[EventType]:
    """Utter the retriever's decision; returns slot events remembering what the citizen asked about."""
    result = answer.result
    if result.decision == "answer" and answer.entries:
        return utter_entry(answer.entries[0], dispatcher)
    if result.decision == "clarify" and answer.entries:
        dispatcher.utter_message(text=CLARIFY_TEXT, buttons=[faq_button(e.id, e.question) for e in answer.entries[:3]])
        return []
    dispatcher.utter_message(text=DECLINE_TEXT, buttons=[HUMAN_BUTTON, HOTLINE_BUTTON])
    return []


def utter_entry(entry: Any, dispatcher: CollectingDispatcher) -> list[EventType]:
    snap = knowledge_service().snapshot
    text = snap.kb.render_answer(entry)
    links = "\n".join(f"{link.title}：{link.url}" for link in entry.links)
    dispatcher.utter_message(text=f"{text}\n{links}" if links else text)
    events: list[EventType] = [SlotSet("topic", entry.topic), SlotSet("faq_id", entry.id)]
    if entry.matter is not None:
        events.append(SlotSet("matter", entry.matter.name))
    return events


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        service = knowledge_service()
        faq_id = first_entity(tracker, "faq_id")
        if faq_id and faq_id in service.snapshot.kb:
            return utter_entry(service.snapshot.kb[faq_id], dispatcher)
        query = latest_text(tracker)
        if not query or is_payload(query):
            dispatcher.utter_message(text=ASK_MATTER_TEXT)
            return []
        return render_answer(service.search(query), dispatcher, query)
