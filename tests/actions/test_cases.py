from __future__ import annotations

import pytest

from bot.actions.cases import ActionQueryCase, ValidateCaseForm
from tests.actions.conftest import make_tracker, run_action


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("BJ20261015000123", "BJ20261015000123"),
        ("bj 2026-1015-000123", "BJ20261015000123"),
        ("编码是ＢＪ２０２６１０１５０００１２３", "BJ20261015000123"),
    ],
)
def test_valid_codes_are_normalised(typed, expected):
    tracker = make_tracker(typed, intent="query_case")
    from rasa_sdk.executor import CollectingDispatcher

    result = ValidateCaseForm().validate_case_code(typed, CollectingDispatcher(), tracker, {})
    assert result["case_code"] == expected


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("BJ2026101500012", "14 位数字"), ("BJ20261399000123", "日期部分"), ("我不知道", "以 BJ 开头")],
)
def test_malformed_codes_are_reasked_with_a_reason(typed, hint):
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    result = ValidateCaseForm().validate_case_code(typed, dispatcher, make_tracker(typed, intent="query_case"), {})
    assert result["case_code"] is None
    assert hint in dispatcher.messages[0]["text"]
    assert "requested_slot" not in result  # still asking


def test_third_malformed_code_stops_asking():
    from rasa_sdk.executor import CollectingDispatcher

    tracker = make_tracker("abc", intent="query_case", slots={"case_code_attempts": 2.0})
    result = ValidateCaseForm().validate_case_code("abc", CollectingDispatcher(), tracker, {})
    assert result["requested_slot"] is None


def test_query_found_tells_missing_materials_all_at_once():
    messages, events = run_action(ActionQueryCase(), make_tracker("x", slots={"case_code": "BJ20261020000456"}))
    text = messages[0]["text"]
    assert "需补齐补正" in text and "住所（经营场所）使用证明" in text and "公司章程" in text
    assert {"event": "slot", "name": "case_code", "value": None, "timestamp": None} in events


def test_query_unknown_code():
    messages, _ = run_action(ActionQueryCase(), make_tracker("x", slots={"case_code": "BJ20200101999999"}))
    assert "未查询到" in messages[0]["text"]
    assert messages[0]["buttons"][0]["payload"] == "/request_human"


def test_query_without_code_offers_a_person():
    messages, _ = run_action(ActionQueryCase(), make_tracker("x", slots={"case_code": None}))
    assert messages[0]["buttons"][0]["payload"] == "/request_human"
