"""WeChat plumbing used by :mod:`connectors.channels.wechat`.

Official accounts (公众号) and mini-programs (小程序) push citizen messages to the same endpoint;
this package holds the parts that know WeChat's rules: settings from the environment, safe
payload parsing and signature/AES checks (built on wechatpy), the single owner of the
``access_token`` and the customer-service (客服消息) send client, and the reply rendering.
"""

from connectors.wechat.api import CustomerServiceClient, SendResult
from connectors.wechat.settings import WeChatSettings
from connectors.wechat.token import AccessTokenManager, WeChatApiError

__all__ = ["AccessTokenManager", "CustomerServiceClient", "SendResult", "WeChatApiError", "WeChatSettings"]
