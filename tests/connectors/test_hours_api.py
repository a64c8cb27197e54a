"""The hours engine over HTTP: answers, and clear 4xx for bad parameters."""

from __future__ import annotations

import pytest

from tests.conftest import free_port


@pytest.fixture
def client(client_for):
    return client_for(f"http://127.0.0.1:{free_port()}")


def test_centers_lists_categories(client):
    data = client.get("/api/v1/centers").json()
    assert "社保" in data["categories"]
    ids = {c["id"] for c in data["centers"]}
    assert {"city", "haidian", "yanqing"} <= ids


@pytest.mark.parametrize(
    ("at", "category", "open_", "mode"),
    [
        ("2026-11-25T10:00:00+08:00", "综合", True, "regular"),          # Wednesday
        ("2026-11-25T12:30:00+08:00", "综合", True, "lunch_service"),
        ("2026-11-28T10:00:00+08:00", "社保", True, "saturday_service"),  # Saturday
        ("2026-11-28T10:00:00+08:00", "综合", False, "closed"),
        ("2026-10-01T10:00:00+08:00", "社保", False, "closed"),          # 国庆节
        ("2027-03-01T10:00:00+08:00", "综合", False, "unknown"),         # not yet published
    ],
)
def test_check(client, at, category, open_, mode):
    data = client.get("/api/v1/hours/check", params={"center": "haidian", "category": category, "at": at}).json()
    assert (data["open"], data["mode"]) == (open_, mode), data
    assert set(data) >= {"open", "mode", "reason", "next_open"}


def test_deadline_online_acceptance_skips_the_weekend(client):
    data = client.get("/api/v1/hours/deadline", params={"submitted": "2026-11-27T16:00:00+08:00"}).json()
    assert data["deadline"].startswith("2026-11-30T17:00")  # Friday → Monday
    assert data["basis"]


def test_processing_deadline(client):
    data = client.get("/api/v1/hours/deadline",
                      params={"submitted": "2026-11-25T10:00:00+08:00", "working_days": 5}).json()
    assert data["deadline"].startswith("2026-12-02")


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/hours/check", {"center": "nowhere"}, 404),
        ("/api/v1/hours/check", {"center": "city", "category": "火星"}, 400),
        ("/api/v1/hours/check", {"center": "city", "at": "tomorrow-ish"}, 400),
        ("/api/v1/hours/check", {}, 422),
        ("/api/v1/hours/deadline", {"submitted": "x"}, 400),
        ("/api/v1/hours/deadline", {"submitted": "2026-11-25T10:00:00", "working_days": -1}, 422),
        ("/api/v1/hours/deadline", {"submitted": "2026-12-30T10:00:00", "working_days": 10}, 422),
    ],
)
def test_bad_parameters(client, path, params, status):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message_zh"]
