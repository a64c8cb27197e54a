"""Settings of the 12345 line: ``[hotline12345]`` in govbot.toml, ``GOVBOT_HOTLINE12345_<KEY>`` overrides.

The shared secret signs every request both ways; it comes only from ``GOVBOT_12345_SECRET`` so it
never lands in a file under version control.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.config import PROJECT_ROOT, _dataclass_defaults, _section

SECRET_ENV = "GOVBOT_12345_SECRET"


@dataclass(frozen=True)
class HotlineSettings:
    enabled: bool = True
    target: str = "http"
    endpoint: str = "http://127.0.0.1:8345/api/orders"
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_s: float = 5.0
    backoff_max_s: float = 600.0
    poll_interval_s: float = 1.0
    batch_size: int = 10
    # a claimed row is re-claimable after this long (the worker that claimed it died mid-delivery)
    lease_s: float = 120.0
    secret: str = ""

    @property
    def can_deliver(self) -> bool:
        return bool(self.secret)


def load_hotline_settings(path: str | Path | None = None) -> HotlineSettings:
    path = Path(path or os.environ.get("GOVBOT_CONFIG") or PROJECT_ROOT / "govbot.toml")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    defaults = {k: v for k, v in _dataclass_defaults(HotlineSettings).items() if k != "secret"}
    values = _section(data, "hotline12345", defaults)
    values.pop("secret", None)  # never from the file
    return HotlineSettings(**values, secret=os.environ.get(SECRET_ENV, ""))
