"""``[retention]`` in govbot.toml; ``GOVBOT_RETENTION_<KEY>`` overrides one value."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.config import PROJECT_ROOT, _dataclass_defaults, _section

MODES = ("anonymise", "purge")


@dataclass(frozen=True)
class RetentionSettings:
    enabled: bool = True
    # transcripts older than this many days are anonymised (or purged)
    days: int = 180
    # anonymise: raw text replaced by the masked text · purge: old messages and closed conversations deleted
    mode: str = "anonymise"
    # seconds between runs of the job inside the gateway; the first run is shortly after start
    interval_s: float = 3600.0
    first_run_delay_s: float = 30.0
    batch_size: int = 500

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"[retention] mode must be one of {MODES}, not {self.mode!r}")


def load_retention_settings(path: str | Path | None = None) -> RetentionSettings:
    path = Path(path or os.environ.get("GOVBOT_CONFIG") or PROJECT_ROOT / "govbot.toml")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    defaults = _dataclass_defaults(RetentionSettings)
    values = _section(data, "retention", defaults)
    return RetentionSettings(**{k: v for k, v in values.items() if k in defaults})
