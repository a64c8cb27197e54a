"""Shared fixtures. End-to-end fixtures start the real processes exactly as ``make run`` does."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# in-process code (actions under test) must never touch the developer's var/govbot.db
_TEST_VAR = Path(tempfile.mkdtemp(prefix="govbot-tests-"))
os.environ["GOVBOT_DATABASE_URL"] = f"sqlite:///{_TEST_VAR / 'govbot.db'}"

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory):
    """Settings for a private stack: own ports, own databases, the trained model of var/models."""
    from connectors.config import load_settings
    from connectors.rasa_model import model_path

    base = load_settings()
    if not model_path(base).exists():
        pytest.fail("no trained Rasa model: run `make test` (it trains first) or `govbot train`")
    work = tmp_path_factory.mktemp("stack")
    return replace(
        base,
        database_url=f"sqlite:///{work / 'govbot.db'}",
        rasa=replace(base.rasa, port=free_port(), url="", tracker_db=str(work / "tracker.db")),
        actions=replace(base.actions, port=free_port(), url=""),
        gateway=replace(base.gateway, port=free_port()),
    ), work


@pytest.fixture(scope="session")
def stack(e2e_settings) -> Iterator[object]:
    from connectors.launcher import Stack, stack_env

    settings, work = e2e_settings
    env = stack_env(settings)
    # the child processes read govbot.toml too: point them at this stack's ports and databases
    env.update(
        {
            "GOVBOT_DATABASE_URL": settings.database_url,
            "GOVBOT_RASA_PORT": str(settings.rasa.port),
            "GOVBOT_RASA_TRACKER_DB": settings.rasa.tracker_db,
            "GOVBOT_ACTIONS_PORT": str(settings.actions.port),
            "GOVBOT_GATEWAY_PORT": str(settings.gateway.port),
            # WeChat channel in plaintext mode; its API base is a closed local port, never the real WeChat
            "WECHAT_TOKEN": "govbot-e2e-token",
            "WECHAT_APP_ID": "wxe2e0000000000000",
            "WECHAT_APP_SECRET": "e2e-secret",
            "WECHAT_ENCODING_AES_KEY": "",
            "WECHAT_API_BASE": "http://127.0.0.1:9",
            "GOVBOT_APP_KEYS": "e2e-app:e2e-key",
            "WECHAT_ACCOUNT_TYPE": "official",
        }
    )
    s = Stack(settings, log_dir=work / "logs", env=env)
    s.start(timeout=300)
    s.base_url = f"http://{settings.gateway.host}:{settings.gateway.port}"  # type: ignore[attr-defined]
    yield s
    s.stop()
