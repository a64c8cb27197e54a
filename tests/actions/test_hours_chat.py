"""Time questions in Chinese answered by action_answer_hours / action_answer_acceptance.

Each case fixes the moment the citizen sent the message (the gateway's ``sent_at`` metadata), so
relative phrasings ("明天下午三点", "这周六") resolve deterministically.
"""

from __future__ import annotations

import pytest

from bot.actions.hours import ActionAnswerAcceptance, ActionAnswerHours
from tests.actions.conftest import make_tracker, run_action

WED = "2026-11-25T10:00:00+08:00"  # a Wednesday


def reply(text: str, sent_at: str = WED, **kw) -> tuple[str, list[dict]]:
    messages, _ = run_action(ActionAnswerHours(), make_tracker(text, intent="ask_hours", sent_at=sent_at, **kw))
    return "\n".join(m.get("text") or "" for m in messages), [b for m in messages for b in m.get("buttons") or []]


@pytest.mark.parametrize(
    ("text", "sent_at", "expected"),
    [
        ("现在能办社保吗", WED, ["可以办理"]),
        ("现在能办居住证吗", "2026-11-25T12:30:00+08:00", ["可以办理", "午间"]),
        ("明天下午三点能去海淀办居住证吗", WED, ["海淀区政务服务中心", "11月26日", "可以办理"]),
        ("后天上午能办医保吗", WED, ["11月27日"]),
        ("这周六能办社保吗", WED, ["11月28日", "社保"]),
        ("这周六能办营业执照吗", WED, ["11月28日", "不"]),
        ("周末可以办护照吗", WED, ["11月28日", "11月29日"]),
        ("下周一上午能去朝阳办结婚登记吗", WED, ["朝阳区政务服务中心", "11月30日"]),
        ("晚上7点还能办社保吗", WED, ["不办理", "最近可办理时间"]),
        ("12点半能办居住证吗", WED, ["可以办理"]),
        ("下午3:30还能办社保吗", WED, ["15:30", "可以办理"]),
        ("国庆节能办事吗", "2026-09-20T10:00:00+08:00", ["国庆节", "不办理"]),
        ("10月10号12点半能办社保吗", "2026-09-20T10:00:00+08:00", ["10月10日", "可以办理"]),
        ("10月10日能办公积金吗", "2026-09-20T10:00:00+08:00", ["调休工作日", "9:00–17:00"]),
        ("春节后第一天几点上班", "2026-01-20T10:00:00+08:00", ["2月24日"]),
        ("元旦放假吗", WED, ["尚未发布"]),
        ("2026年12月31日下午能办社保吗", WED, ["12月31日"]),
        ("12/31能办居住证吗", WED, ["12月31日"]),
        ("劳动节能去办社保吗", "2026-04-20T10:00:00+08:00", ["劳动节"]),
        ("端午节能办医保吗", "2026-06-01T10:00:00+08:00", ["端午节"]),
        ("中秋节开门办社保吗", "2026-09-01T10:00:00+08:00", ["9月25日"]),
        ("清明节能办社保吗", "2026-03-20T10:00:00+08:00", ["清明节"]),
        ("明天能去西城办身份证吗", WED, ["西城区政务服务中心", "11月26日"]),
        ("下下周三能办医保吗", WED, ["12月9日"]),
        ("本周日能办社保吗", WED, ["11月29日", "不"]),
        ("月底能办居住证吗", WED, ["11月30日"]),
        ("节后第一天能办社保吗", "2026-10-05T10:00:00+08:00", ["10月8日"]),
        ("周六上午能办残疾人证吗", WED, ["11月28日", "残联"]),
        ("今天几点下班", WED, ["17:00"]),
        ("早上8点半能预约办理社保吗", WED, ["8:30"]),
        ("几点上班", WED, ["9:00–17:00", "午间不间断", "早晚弹性办"]),
    ],
)
def test_time_phrasings(knowledge, text, sent_at, expected):
    answer, _ = reply(text, sent_at)
    for piece in expected:
        assert piece in answer, f"{text!r} → {answer!r} lacks {piece!r}"


def test_saturday_without_a_matter_asks_which(knowledge):
    answer, buttons = reply("这周六开门吗")
    assert "哪类事项" in answer
    assert [b["title"] for b in buttons][:6] == ["社保", "医保", "民政", "公安", "残联", "住房保障"]


def test_category_button_answers_for_the_remembered_day(knowledge):
    answer, _ = reply('/ask_hours{"category": "社保"}', entities=[{"entity": "category", "value": "社保"}],
                      slots={"date": "这周六"})
    assert "11月28日" in answer and "社保" in answer


@pytest.mark.parametrize(
    ("text", "sent_at", "expected"),
    [
        ("我周五下午四点网上提交的申请什么时候受理", WED, ["11月30日", "17:00", "1个工作日"]),
        ("今天在网上申请的多久能受理", WED, ["11月26日"]),
        ("窗口申请当场受理吗", WED, ["当场"]),
        ("9月30日网上提交的，什么时候给受理结果", "2026-09-30T09:00:00+08:00", ["10月8日"]),
    ],
)
def test_acceptance_deadlines(knowledge, text, sent_at, expected):
    messages, _ = run_action(ActionAnswerAcceptance(), make_tracker(text, intent="ask_acceptance", sent_at=sent_at))
    answer = "\n".join(m.get("text") or "" for m in messages)
    for piece in expected:
        assert piece in answer, f"{text!r} → {answer!r} lacks {piece!r}"
