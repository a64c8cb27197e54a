"""Browser fixture for end-to-end tests: Debian chromium driven by playwright (never `playwright install`)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

# the background-networking flags keep chromium from dialling out on a machine with no network
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# module scope: playwright's sync API keeps an event loop in this thread while it is open, and
# later tests that call asyncio.run() must not find it running
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright import sync_api

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian chromium is not installed: apt-get install -y chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def extra_gateway(stack: Any, e2e_settings: Any, env: dict[str, str], log_name: str) -> Iterator[str]:
    """A second gateway process beside the session stack (same Rasa, action server and database),
    with its own environment: how a test gets a gateway configured differently (WeChat safe mode,
    another WeChat API, other staffed hours). Yields its base URL."""
    from connectors.launcher import build_services
    from tests.conftest import free_port

    settings, work = e2e_settings
    port = free_port()
    full_env = {**stack.service("gateway").env, **env, "GOVBOT_GATEWAY_PORT": str(port)}
    gw_settings = replace(settings, gateway=replace(settings.gateway, port=port))
    service = next(s for s in build_services(gw_settings, work / log_name, full_env) if s.name == "gateway")
    service.start()
    try:
        deadline = time.monotonic() + 120
        while not service.healthy():
            assert service.alive(), service.tail()
            assert time.monotonic() < deadline, service.tail()
            time.sleep(0.5)
        yield f"http://{settings.gateway.host}:{port}"
    finally:
        service.stop()


def send_by_keyboard(page: Any, text: str) -> None:
    """Type into the widget's input the way a citizen does and press Enter."""
    box = page.get_by_label("输入您的问题")
    box.focus()
    page.keyboard.insert_text(text)
    page.keyboard.press("Enter")
