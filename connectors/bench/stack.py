"""A private copy of the stack for benchmarks and end-to-end tests: own free ports, own databases.

The benchmarks (``govbot-bench load`` / ``faults``) and the pytest ``stack`` fixture start the real
processes exactly as ``make run`` does (:class:`connectors.launcher.Stack`), but must never collide
with a developer's running bot on 8000/5005/5055 or touch ``var/govbot.db``.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from connectors.config import Settings, load_settings
from connectors.launcher import Stack, stack_env
from connectors.rasa_model import model_path

# the channels the benchmarks and tests drive; the WeChat API base is a closed local port, never WeChat
CHANNEL_ENV = {
    "WECHAT_TOKEN": "govbot-e2e-token",
    "WECHAT_APP_ID": "wxe2e0000000000000",
    "WECHAT_APP_SECRET": "e2e-secret",
    "WECHAT_ENCODING_AES_KEY": "",
    "WECHAT_API_BASE": "http://127.0.0.1:9",
    "GOVBOT_APP_KEYS": "e2e-app:e2e-key",
    "WECHAT_ACCOUNT_TYPE": "official",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ModelMissing(RuntimeError):
    pass


def private_settings(work: Path, base: Settings | None = None) -> Settings:
    """``base`` with free ports and SQLite databases under ``work`` (the trained model stays shared)."""
    base = base or load_settings()
    if not model_path(base).exists():
        raise ModelMissing("no trained Rasa model: run `make test` (it trains first) or `govbot train`")
    work.mkdir(parents=True, exist_ok=True)
    return replace(
        base,
        database_url=f"sqlite:///{work / 'govbot.db'}",
        rasa=replace(base.rasa, port=free_port(), url="", tracker_db=str(work / "tracker.db")),
        actions=replace(base.actions, port=free_port(), url=""),
        gateway=replace(base.gateway, port=free_port()),
    )


def private_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child processes read govbot.toml too: point them at this stack's ports and databases."""
    env = stack_env(settings)
    env.update(
        {
            "GOVBOT_DATABASE_URL": settings.database_url,
            "GOVBOT_RASA_PORT": str(settings.rasa.port),
            "GOVBOT_RASA_TRACKER_DB": settings.rasa.tracker_db,
            "GOVBOT_ACTIONS_PORT": str(settings.actions.port),
            "GOVBOT_GATEWAY_PORT": str(settings.gateway.port),
            **CHANNEL_ENV,
        }
    )
    env.update(extra or {})
    return env


def private_stack(work: Path, extra_env: dict[str, str] | None = None, base: Settings | None = None) -> Stack:
    """A not-yet-started stack living in ``work``; ``.base_url`` is its gateway."""
    settings = private_settings(work, base)
    stack = Stack(settings, log_dir=work / "logs", env=private_env(settings, extra_env))
    stack.base_url = f"http://{settings.gateway.host}:{settings.gateway.port}"  # type: ignore[attr-defined]
    return stack
