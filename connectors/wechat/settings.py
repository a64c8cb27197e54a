"""WeChat settings come from environment variables only: they are secrets and never live in govbot.toml."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from connectors.wechat.security import valid_aes_key

DEFAULT_API_BASE = "https://api.weixin.qq.com"
ACCOUNT_TYPES = ("official", "miniprogram")


@dataclass(frozen=True)
class WeChatSettings:
    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    # 43 characters from the WeChat console; set → safe mode (安全模式), every message AES-encrypted
    encoding_aes_key: str = ""
    api_base: str = DEFAULT_API_BASE
    # "official" (公众号: passive replies possible) or "miniprogram" (小程序: replies go through 客服消息)
    account_type: str = "official"
    # WeChat gives up after 5 s and retries; answer before that or fall back to the customer-service API
    reply_deadline_s: float = 4.5
    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WeChatSettings:
        env = os.environ if env is None else env
        return cls(
            token=env.get("WECHAT_TOKEN", "").strip(),
            app_id=env.get("WECHAT_APP_ID", "").strip(),
            app_secret=env.get("WECHAT_APP_SECRET", "").strip(),
            encoding_aes_key=env.get("WECHAT_ENCODING_AES_KEY", "").strip(),
            api_base=(env.get("WECHAT_API_BASE", "").strip() or DEFAULT_API_BASE).rstrip("/"),
            account_type=(env.get("WECHAT_ACCOUNT_TYPE", "").strip().lower() or "official"),
            reply_deadline_s=float(env.get("WECHAT_REPLY_DEADLINE_S", "") or 4.5),
            max_body_bytes=int(env.get("WECHAT_MAX_BODY_BYTES", "") or 64 * 1024),
        )

    @property
    def configured(self) -> bool:
        return bool(self.token)

    @property
    def safe_mode(self) -> bool:
        return bool(self.encoding_aes_key)

    @property
    def can_send(self) -> bool:
        """Whether the customer-service API (async delivery, agent pushes) is usable."""
        return bool(self.app_id and self.app_secret)

    def problems(self) -> list[tuple[str, str]]:
        """Configuration errors as (Chinese, English) pairs; the endpoint refuses to run with any."""
        found: list[tuple[str, str]] = []
        if not self.token:
            found.append(
                ("未配置 WECHAT_TOKEN，微信渠道未启用", "WECHAT_TOKEN is not set: the WeChat channel is disabled")
            )
        if self.encoding_aes_key:
            if len(self.encoding_aes_key) != 43 or not valid_aes_key(self.encoding_aes_key):
                found.append(
                    ("WECHAT_ENCODING_AES_KEY 必须是 43 个字符的有效密钥",
                     "WECHAT_ENCODING_AES_KEY must be a valid 43-character key")
                )
            if not self.app_id:
                found.append(("安全模式需要配置 WECHAT_APP_ID", "safe mode needs WECHAT_APP_ID"))
        if self.account_type not in ACCOUNT_TYPES:
            found.append(
                ("WECHAT_ACCOUNT_TYPE 只能是 official 或 miniprogram",
                 "WECHAT_ACCOUNT_TYPE must be official or miniprogram")
            )
        if self.reply_deadline_s <= 0 or self.reply_deadline_s >= 5:
            found.append(
                ("WECHAT_REPLY_DEADLINE_S 必须在 0 到 5 秒之间", "WECHAT_REPLY_DEADLINE_S must be between 0 and 5 seconds")
            )
        return found
