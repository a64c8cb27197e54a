"""``[limits]`` in govbot.toml; ``GOVBOT_LIMITS_<KEY>`` overrides one value (``GOVBOT_LIMITS_ENABLED=false``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.config import PROJECT_ROOT, _dataclass_defaults, _section


@dataclass(frozen=True)
class LimitSettings:
    enabled: bool = True
    # request bodies of APIs; WeChat enforces its own cap (connectors.wechat.payload)
    max_body_bytes: int = 64 * 1024
    # per client IP: a bucket of ip_burst tokens refilled at ip_per_minute / 60 per second
    ip_per_minute: int = 600
    ip_burst: int = 600
    # per channel identity (web user_id, app token, WeChat openid): identity_burst per identity_window_s
    identity_burst: int = 30
    identity_window_s: float = 10.0
    # "memory" (one gateway) or "redis" (several gateways share the buckets)
    backend: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # honour X-Forwarded-For only behind a trusted reverse proxy
    trust_forwarded: bool = False


def load_limit_settings(path: str | Path | None = None) -> LimitSettings:
    path = Path(path or os.environ.get("GOVBOT_CONFIG") or PROJECT_ROOT / "govbot.toml")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    values = _section(data, "limits", _dataclass_defaults(LimitSettings))
    return LimitSettings(**{k: v for k, v in values.items() if k in _dataclass_defaults(LimitSettings)})
