"""The gateway's long-lived parts, built once per process and shared by every channel."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import httpx
from sqlalchemy.exc import IntegrityError

from connectors.cases.service import SqlCaseSystem
from connectors.config import Settings
from connectors.db import Database
from connectors.message_router import MessageRouter
from connectors.push import PushHub, RedisPushHub, build_push_hub
from connectors.rasa_client import RasaClient
from connectors.redis_bus import RedisBus

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    rasa: RasaClient
    router: MessageRouter
    actions_http: httpx.AsyncClient
    push_hub: PushHub | RedisPushHub
    # set when several gateways share [redis] url: pushes and agent events relay through it
    bus: RedisBus | None = None

    @classmethod
    def build(cls, settings: Settings) -> Gateway:
        db = Database(settings.database_url)
        db.create_all()
        _seed_cases(db)
        rasa = RasaClient(settings.rasa.base_url, timeout_s=settings.rasa.timeout_s)
        bus = RedisBus(settings.redis.url) if settings.redis.enabled else None
        return cls(
            settings=settings,
            db=db,
            rasa=rasa,
            router=MessageRouter(db, rasa, handoff_settings=settings.handoff),
            actions_http=httpx.AsyncClient(base_url=settings.actions.base_url, timeout=httpx.Timeout(10.0, connect=2.0)),
            push_hub=build_push_hub(bus, settings.redis.key_prefix),
            bus=bus,
        )

    async def close(self) -> None:
        await self.rasa.aclose()
        await self.actions_http.aclose()
        if self.bus is not None:
            await self.bus.aclose()
        self.db.dispose()


def _seed_cases(db: Database, attempts: int = 3) -> None:
    """Gateways (and the action server) starting together on one PostgreSQL database race to insert the
    sample cases; the loser's insert fails on the primary key and, retried, finds the rows there."""
    for attempt in range(attempts):
        try:
            SqlCaseSystem(db).seed()
            return
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            log.info("sample cases being seeded by another process; retrying")
            time.sleep(0.2 * (attempt + 1))
