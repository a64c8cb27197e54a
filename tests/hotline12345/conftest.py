"""Fixtures: a shared secret, the 12345 simulator, and a gateway (fake Rasa) wired to the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from connectors.hotline12345.simulator import Simulator12345
from tests.connectors.conftest import client_for, fake_rasa  # noqa: F401  (fixture re-export)

SECRET = "test-12345-shared-secret"
# small backoff so retry tests take fractions of a second
FAST = {
    "BACKOFF_BASE_S": "0.05", "BACKOFF_MAX_S": "0.2", "POLL_INTERVAL_S": "0.05", "TIMEOUT_S": "1.0",
    "MAX_ATTEMPTS": "3", "LEASE_S": "30",
}


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GOVBOT_12345_SECRET", SECRET)
    return SECRET


@pytest.fixture
def simulator(secret: str) -> Iterator[Simulator12345]:
    sim = Simulator12345(secret).start()
    yield sim
    sim.stop()


@pytest.fixture
def gateway_client(monkeypatch, fake_rasa, simulator, client_for):  # noqa: F811
    """A gateway whose outbox worker delivers to the simulator; call it to start (env overrides first)."""

    def build(**overrides: str):
        for key, value in {**FAST, "ENDPOINT": simulator.url, **overrides}.items():
            monkeypatch.setenv(f"GOVBOT_HOTLINE12345_{key}", value)
        return client_for(fake_rasa.url)

    return build


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")
