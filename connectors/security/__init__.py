"""Edge protection of the gateway: request size limits, rate limits and security headers.

All three are pure ASGI middleware so they see the raw byte stream (a size limit enforced after
a framework has parsed the body is no limit at all) and answer before any channel code runs.
"""

from connectors.security.install import install_security
from connectors.security.settings import LimitSettings, load_limit_settings

__all__ = ["LimitSettings", "install_security", "load_limit_settings"]
