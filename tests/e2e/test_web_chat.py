"""The whole message path through the real Rasa server, action server and gateway."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e


def say(stack, user: str, text: str, **extra) -> dict:
    response = httpx.post(f"{stack.base_url}/api/v1/web/messages", json={"user_id": user, "text": text, **extra},
                          timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def all_text(body: dict) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def user() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"


def test_greeting_is_answered_in_chinese(stack):
    body = say(stack, user(), "你好")
    assert body["mode"] == "bot"
    assert "您好" in all_text(body)
    assert any(b["payload"] == "/request_human" for r in body["replies"] for b in r["buttons"])


def test_service_question_is_answered_from_the_knowledge_base(stack):
    body = say(stack, user(), "社保卡丢了怎么补办")
    text = all_text(body)
    assert "社保卡" in text or "社会保障卡" in text
    assert "材料" in text  # a matter answer tells every material at once


def test_case_form_reasks_malformed_code_then_answers(stack):
    u = user()
    first = say(stack, u, "我想查一下办件进度")
    assert "办件编码" in all_text(first)
    bad = say(stack, u, "BJ2026101500012")
    assert "14 位数字" in all_text(bad)
    good = say(stack, u, "BJ20261020000456")
    text = all_text(good)
    assert "营业执照" in text and "需补齐补正的材料" in text and "公司章程" in text


def test_case_code_given_up_front(stack):
    body = say(stack, user(), "帮我查下办件编码BJ20261015000123的进度")
    assert "居住证" in all_text(body)


def test_request_human_queues_the_conversation(stack):
    u = user()
    body = say(stack, u, "转人工")
    assert body["mode"] == "queued"
    assert "人工" in all_text(body)
    # while queued, Rasa never answers: the message goes to the agent side
    later = say(stack, u, "你好")
    assert later["mode"] == "queued"
    assert "您好！我是" not in all_text(later)
    back = say(stack, u, "取消排队")
    assert back["mode"] == "bot"
    assert say(stack, u, "你好")["mode"] == "bot"


def test_hours_question_uses_the_hours_engine(stack):
    body = say(stack, user(), "海淀区政务服务中心几点上班")
    assert "海淀区政务服务中心" in all_text(body)
    assert "9:00" in all_text(body)


def test_unknown_question_is_declined_honestly_or_clarified(stack):
    body = say(stack, user(), "火星上的签证怎么办理呀量子纠缠")
    text = all_text(body)
    assert body["mode"] == "bot" and text


def test_health_reports_every_component(stack):
    response = httpx.get(f"{stack.base_url}/healthz", timeout=10)
    data = response.json()
    assert response.status_code == 200, data
    assert set(data["components"]) >= {"rasa", "actions", "knowledge_base", "database"}
    assert data["components"]["knowledge_base"]["entries"] >= 150


def test_pii_never_reaches_rasa_or_the_masked_transcript(stack, e2e_settings):
    from sqlalchemy import create_engine, text

    settings, work = e2e_settings
    u = user()
    say(stack, u, "我的身份证号是11010519491231002X，手机13812345678，想问社保卡怎么办")
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        masked = conn.execute(text("SELECT masked_text FROM messages WHERE masked_text LIKE '%身份证号%'")).scalars().all()
    assert masked and all("11010519491231002X" not in m and "13812345678" not in m for m in masked)
    tracker = create_engine(f"sqlite:///{settings.rasa.tracker_db}")
    with tracker.connect() as conn:
        rows = conn.execute(text("SELECT data FROM events")).scalars().all()
    assert rows and not any("11010519491231002X" in r or "13812345678" in r for r in rows)


def test_admin_reload_swaps_the_index_without_dropping_requests(stack):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        chats = [pool.submit(say, stack, user(), "居住证怎么办理") for _ in range(4)]
        reload = httpx.post(f"{stack.base_url}/api/v1/admin/kb/reload", timeout=300)
        results = [c.result() for c in chats]
    assert reload.status_code == 200, reload.text
    assert reload.json()["reloaded"] is True and reload.json()["entries"] >= 150
    assert all(r["replies"] for r in results)
