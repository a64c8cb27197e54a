"""Wire the limits into an app: one call from the app factory, one limiter per process."""

from __future__ import annotations

from fastapi import FastAPI

from connectors.security.body_limit import BodyLimitMiddleware
from connectors.security.headers import SecurityHeadersMiddleware
from connectors.security.limiter import RateLimiter, build_limiter
from connectors.security.rate_limit import RateLimitMiddleware
from connectors.security.settings import LimitSettings, load_limit_settings

# WeChat reads its body with its own cap (connectors.wechat.payload, WECHAT_MAX_BODY_BYTES)
BODY_LIMIT_EXEMPT = ("/channels/wechat",)


def install_security(app: FastAPI, settings: LimitSettings | None = None,
                     limiter: RateLimiter | None = None) -> RateLimiter | None:
    """Add headers (outermost), then the body limit, then rate limits. Returns the limiter to close.

    Headers are always on; ``enabled = false`` turns off only the size and rate limits.
    """
    settings = settings or load_limit_settings()
    app.state.limit_settings = settings
    rate_limiter: RateLimiter | None = None
    if settings.enabled:
        if limiter is None:
            from connectors.config import get_settings

            limiter = build_limiter(settings.backend, settings.redis_url, get_settings().redis.key_prefix)
        rate_limiter = limiter
        # add_middleware wraps: the last added runs first
        app.add_middleware(RateLimitMiddleware, limiter=rate_limiter, settings=settings)
        app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, exempt_prefixes=BODY_LIMIT_EXEMPT)
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.rate_limiter = rate_limiter
    return rate_limiter
