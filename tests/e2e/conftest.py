"""Browser fixture for end-to-end tests: Debian chromium driven by playwright (never `playwright install`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
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
