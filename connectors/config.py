"""Settings shared by the launcher, the gateway and the action server.

One TOML file (``govbot.toml`` at the project root, or the file named by ``GOVBOT_CONFIG``) holds
defaults that run on one machine; ``GOVBOT_<SECTION>_<KEY>`` environment variables override single
values so deployments never edit the file, and secrets never live in it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    return raw


def _section(data: dict[str, Any], name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **data.get(name, {})}
    for key, value in list(merged.items()):
        env = os.environ.get(f"GOVBOT_{name.upper()}_{key.upper()}")
        if env is not None:
            merged[key] = _coerce(env, value)
    return merged


def resolve_path(value: str | Path) -> Path:
    """Relative paths in the config are relative to the project root, not the working directory."""
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def resolve_db_url(url: str) -> str:
    """Make a relative SQLite file URL absolute so every process opens the same file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        path = resolve_path(url[len(prefix):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return url


@dataclass(frozen=True)
class RasaSettings:
    url: str = ""  # empty: http://host:port
    host: str = "127.0.0.1"
    port: int = 5005
    tracker_dialect: str = "sqlite"
    tracker_host: str = ""
    tracker_db: str = "var/rasa_tracker.db"
    model_dir: str = "var/models"
    timeout_s: float = 12.0

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ActionSettings:
    host: str = "127.0.0.1"
    port: int = 5055
    url: str = ""  # empty: http://host:port

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_text_chars: int = 2000


@dataclass(frozen=True)
class KnowledgeBaseSettings:
    path: str = "knowledge_base/data/faq"
    watch_interval_s: float = 2.0


@dataclass(frozen=True)
class HandoffSettings:
    default_skill: str = "general"
    # staffed hours of the agent desk, checked with the hours engine; empty center = no hours check
    staffed_center: str = ""
    staffed_category: str = "综合"
    # a citizen waiting longer than this is offered a 12345 work order
    max_wait_s: int = 600
    # an agent counts as online when the console was seen within this many seconds
    agent_online_s: int = 90
    # console login lifetime
    session_ttl_s: int = 28800
    # ETA basis when there is no recent handling history
    default_handle_s: int = 300


@dataclass(frozen=True)
class RedisSettings:
    """Shared state for several gateways and Rasa servers; empty ``url`` = one instance, nothing shared.

    Set, it switches on together: Rasa's lock store (one message per conversation at a time across
    Rasa servers), the WebSocket relay between gateways (push hub and agent consoles) and the shared
    WeChat access token. A password belongs in the URL given by ``GOVBOT_REDIS_URL``, never the file.
    """

    url: str = ""
    # every key and pub/sub channel starts with this, so several deployments (or tests) share one Redis
    key_prefix: str = "govbot"

    @property
    def enabled(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/govbot.db"
    rasa: RasaSettings = field(default_factory=RasaSettings)
    actions: ActionSettings = field(default_factory=ActionSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    knowledge_base: KnowledgeBaseSettings = field(default_factory=KnowledgeBaseSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)

    @property
    def kb_path(self) -> Path:
        return resolve_path(self.knowledge_base.path)


def _dataclass_defaults(cls: type) -> dict[str, Any]:
    return {name: f.default for name, f in cls.__dataclass_fields__.items()}  # type: ignore[attr-defined]


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the TOML file and apply environment overrides."""
    path = Path(path or os.environ.get("GOVBOT_CONFIG") or PROJECT_ROOT / "govbot.toml")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    database = _section(data, "database", {"url": Settings.database_url})
    return Settings(
        database_url=resolve_db_url(database["url"]),
        rasa=RasaSettings(**_section(data, "rasa", _dataclass_defaults(RasaSettings))),
        actions=ActionSettings(**_section(data, "actions", _dataclass_defaults(ActionSettings))),
        gateway=GatewaySettings(**_section(data, "gateway", _dataclass_defaults(GatewaySettings))),
        knowledge_base=KnowledgeBaseSettings(
            **_section(data, "knowledge_base", _dataclass_defaults(KnowledgeBaseSettings))
        ),
        handoff=HandoffSettings(**_section(data, "handoff", _dataclass_defaults(HandoffSettings))),
        redis=RedisSettings(**_section(data, "redis", _dataclass_defaults(RedisSettings))),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
