"""FastAPI app factory: one app, every registered channel mounted on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from connectors.admin import admin_router
from connectors.agents.views import install_agent_console
from connectors.channels import registered_channels
from connectors.config import Settings, get_settings
from connectors.errors import install_error_handlers
from connectors.feedback.views import feedback_router
from connectors.gateway import Gateway
from connectors.handoff.desk import HandoffDesk
from connectors.health import health_router
from connectors.hours.views import hours_router
from connectors.hotline12345.views import install as install_hotline12345
from connectors.privacy import install_log_masking
from connectors.reliability import install_reliability
from connectors.retention import RetentionJob, load_retention_settings
from connectors.security import install_security
from connectors.web.views import install_widget


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_log_masking()  # PII never reaches a log line (connectors.privacy.logfilter)
    gateway = Gateway.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hotline.start()  # 12345 outbox worker
        desk.start()  # handoff: overdue-wait sweep
        retention.start()  # transcripts older than [retention] days: anonymise / purge
        yield
        await retention.stop()
        if rate_limiter is not None:
            await rate_limiter.close()
        await desk.stop()
        await hotline.stop()
        await gateway.close()

    app = FastAPI(
        title="govbot gateway",
        version="0.1.0",
        description="北京政务服务智能客服网关 / Government-service customer-service gateway",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    # --- limits: body size, rate limits, security headers; before the widget's CORS so 413/429 carry CORS ---
    rate_limiter = install_security(app)
    retention = RetentionJob(gateway.db, load_retention_settings())
    # --- end limits ---
    channels = {name: channel_cls(gateway) for name, channel_cls in registered_channels().items()}
    for channel in channels.values():
        app.include_router(channel.router())
    app.state.channels = channels
    install_reliability(app, gateway, channels)  # DB errors → 503; unanswered messages answered after a crash
    # --- 12345 work orders + feedback (connectors.hotline12345, connectors.feedback) ---
    hotline = install_hotline12345(app, gateway, channels)
    app.include_router(feedback_router(gateway, channels))
    # --- end 12345 ---
    app.include_router(health_router())
    app.include_router(admin_router())
    app.include_router(hours_router())
    install_widget(app)
    # --- human handoff: agent console at /agent, its API and WebSocket, metrics (connectors.agents) ---
    desk = HandoffDesk(gateway, channels)
    install_agent_console(app, desk)
    return app
