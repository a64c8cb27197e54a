"""办件编码 lookup: the ``case_form`` validation and ``action_query_case``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import HUMAN_BUTTON
from connectors.cases.codes import normalize_case_code
from connectors.cases.service import CaseStatus, CaseSystem, SqlCaseSystem

MAX_ATTEMPTS = 3


@lru_cache(maxsize=1)
def case_system() -> CaseSystem:
    from connectors.config import get_settings
    from connectors.db import Database

    db = Database(get_settings().database_url)
    db.create_all()
    system = SqlCaseSystem(db)
    system.seed()
    return system


class ValidateCaseForm(FormValidationAction):
    def name(self) -> str:
        return "validate_case_form"

    def validate_case_code(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        check = normalize_case_code(str(slot_value or ""))
        if check.code is not None:
            return {"case_code": check.code, "case_code_attempts": 0.0}
        attempts = float(tracker.get_slot("case_code_attempts") or 0) + 1
        dispatcher.utter_message(text=check.problem)
        if attempts >= MAX_ATTEMPTS:
            # stop asking: the submit rule runs action_query_case, which offers a person
            return {"case_code": None, "case_code_attempts": attempts, "requested_slot": None}
        return {"case_code": None, "case_code_attempts": attempts}


def format_case(case: CaseStatus) -> str:
    lines = [
        f"办件编码 {case.code} 的办理情况：",
        f"事项：{case.matter}（{case.department}）",
        f"申请渠道：{'网上申请' if case.channel == 'online' else '窗口申请'}，提交时间 {case.submitted_at:%Y年%m月%d日 %H:%M}",
        f"当前状态：{case.status_label}",
    ]
    if case.timeline:
        lines.append("办理进度：")
        for step in case.timeline:
            lines.append(f"  · {str(step.get('at', ''))[:16].replace('T', ' ')} {step.get('note', '')}")
    if case.missing_materials:
        lines.append("需补齐补正的材料（一次性告知）：")
        lines.extend(f"  {i}. {m}" for i, m in enumerate(case.missing_materials, 1))
    if case.note:
        lines.append(case.note)
    return "\n".join(lines)


class ActionQueryCase(Action):
    def name(self) -> str:
        return "action_query_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        code = tracker.get_slot("case_code")
        reset = [SlotSet("case_code", None), SlotSet("case_code_attempts", 0.0)]
        if not code:
            dispatcher.utter_message(
                text="抱歉，多次未能识别有效的办件编码。您可以核对受理回执后再查，或转人工客服帮您查询。",
                buttons=[HUMAN_BUTTON],
            )
            return reset
        case = case_system().lookup(code)
        if case is None:
            dispatcher.utter_message(
                text=f"未查询到办件编码 {code} 的记录。请核对编码是否正确；如刚提交申请，数据可能尚未同步，请稍后再查。",
                buttons=[HUMAN_BUTTON],
            )
            return reset
        dispatcher.utter_message(text=format_case(case))
        return reset
