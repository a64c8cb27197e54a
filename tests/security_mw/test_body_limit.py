from __future__ import annotations

from fastapi.testclient import TestClient

from connectors.security import LimitSettings

SETTINGS = LimitSettings(max_body_bytes=1024)


def test_declared_length_over_limit_is_413_and_never_reaches_the_route(build) -> None:
    app, seen = build(SETTINGS)
    response = TestClient(app).post("/api/v1/web/messages", content=b"x" * 2000,
                                    headers={"content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "body_too_large" and "请求体过大" in error["message_zh"] and error["message_en"]
    assert seen == []


def test_streamed_body_without_length_over_limit_is_413(build) -> None:
    app, seen = build(SETTINGS)

    def chunks():
        for _ in range(10):
            yield b"y" * 300

    response = TestClient(app).post("/api/v1/web/messages", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert seen == []


def test_streamed_body_within_limit_is_replayed_whole(build) -> None:
    app, seen = build(SETTINGS)

    def chunks():
        for _ in range(3):
            yield b"z" * 300

    response = TestClient(app).post("/api/v1/app/messages", content=chunks())
    assert response.status_code == 200
    assert seen == [b"z" * 900]


def test_body_at_the_limit_passes(build) -> None:
    app, _ = build(SETTINGS)
    response = TestClient(app).post("/api/v1/web/messages", content=b"a" * 1024)
    assert response.status_code == 200 and response.json() == {"bytes": 1024}


def test_disabled_limits_let_large_bodies_through(build) -> None:
    app, seen = build(LimitSettings(enabled=False, max_body_bytes=1024))
    assert TestClient(app).post("/api/v1/web/messages", content=b"a" * 5000).status_code == 200
    assert len(seen) == 1
