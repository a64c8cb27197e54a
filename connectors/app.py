"""FastAPI app factory: one app, every registered channel mounted on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from connectors.admin import admin_router
from connectors.channels import registered_channels
from connectors.config import Settings, get_settings
from connectors.errors import install_error_handlers
from connectors.gateway import Gateway
from connectors.health import health_router
from connectors.hours.views import hours_router
from connectors.web.views import install_widget


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    gateway = Gateway.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.close()

    app = FastAPI(
        title="govbot gateway",
        version="0.1.0",
        description="北京政务服务智能客服网关 / Government-service customer-service gateway",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_error_handlers(app)
    for channel_cls in registered_channels().values():
        app.include_router(channel_cls(gateway).router())
    app.include_router(health_router())
    app.include_router(admin_router())
    app.include_router(hours_router())
    install_widget(app)
    return app
