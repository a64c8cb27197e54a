"""When nobody can take the chat — outside staffed hours, or no agent online — the citizen ends up
with a 12345 work order, through the real Rasa, action server and gateway."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text, update

from tests.e2e.conftest import extra_gateway

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def say(base_url: str, user: str, message: str) -> dict:
    response = httpx.post(f"{base_url}/api/v1/web/messages", json={"user_id": user, "text": message}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def texts(body: dict) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def payloads(body: dict) -> list[str]:
    return [b["payload"] for r in body["replies"] for b in r["buttons"]]


def accept_work_order(base_url: str, user: str, offer: dict, database_url: str) -> None:
    """Follow the offered button to a submitted order, and find the order and its outbox row."""
    assert "/contact_12345" in payloads(offer), offer
    confirm = say(base_url, user, "/contact_12345")
    assert "/affirm" in payloads(confirm), confirm
    done = say(base_url, user, "/affirm")
    assert "已为您提交12345工单" in texts(done), done
    engine = create_engine(database_url)
    with engine.connect() as conn:
        orders = conn.execute(
            text("SELECT id FROM work_orders WHERE conversation_id = :c"), {"c": done["conversation_id"]}
        ).all()
        outbox = conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar()
    engine.dispose()
    assert len(orders) == 1 and outbox >= 1


def test_no_agent_online_leads_to_a_work_order(stack, e2e_settings):
    settings, _ = e2e_settings
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:  # every agent has gone home
        conn.execute(update_agents_seen_long_ago())
    engine.dispose()
    user = f"web-{uuid.uuid4().hex[:8]}"
    say(stack.base_url, user, "营业执照被吊销了，窗口人员态度很差")
    offer = say(stack.base_url, user, "转人工")
    assert "暂无人工客服在线" in texts(offer), offer
    accept_work_order(stack.base_url, user, offer, settings.database_url)


def update_agents_seen_long_ago():
    from connectors.agents.models import Agent

    return update(Agent).values(last_seen_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))


@pytest.fixture
def closed_today(tmp_path: Path) -> Path:
    """The center registry with the city center closed all day today (Beijing time)."""
    data = yaml.safe_load((ROOT / "knowledge_base" / "data" / "centers.yaml").read_text(encoding="utf-8"))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    for center in data["centers"]:
        if center["id"] == "city":
            center["exceptions"] = [{"date": today, "closed": True, "reason": "e2e：全天闭厅"}]
    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_outside_staffed_hours_leads_to_a_work_order(stack, e2e_settings, closed_today):
    settings, _ = e2e_settings
    env = {"GOVBOT_HANDOFF_STAFFED_CENTER": "city", "GOVBOT_CENTERS_FILE": str(closed_today)}
    with extra_gateway(stack, e2e_settings, env, "logs-off-hours") as base_url:
        user = f"web-{uuid.uuid4().hex[:8]}"
        say(base_url, user, "我要投诉办事大厅排队太久")
        offer = say(base_url, user, "转人工")
        assert offer["mode"] == "bot", offer  # nobody is queued outside staffed hours
        assert "12345" in texts(offer)
        accept_work_order(base_url, user, offer, settings.database_url)
