"""The gateway's long-lived parts, built once per process and shared by every channel."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.cases.service import SqlCaseSystem
from connectors.config import Settings
from connectors.db import Database
from connectors.message_router import MessageRouter
from connectors.push import PushHub
from connectors.rasa_client import RasaClient


@dataclass
class Gateway:
    settings: Settings
    db: Database
    rasa: RasaClient
    router: MessageRouter
    actions_http: httpx.AsyncClient
    push_hub: PushHub

    @classmethod
    def build(cls, settings: Settings) -> Gateway:
        db = Database(settings.database_url)
        db.create_all()
        SqlCaseSystem(db).seed()
        rasa = RasaClient(settings.rasa.base_url, timeout_s=settings.rasa.timeout_s)
        return cls(
            settings=settings,
            db=db,
            rasa=rasa,
            router=MessageRouter(db, rasa, handoff_settings=settings.handoff),
            actions_http=httpx.AsyncClient(base_url=settings.actions.base_url, timeout=httpx.Timeout(10.0, connect=2.0)),
            push_hub=PushHub(),
        )

    async def close(self) -> None:
        await self.rasa.aclose()
        await self.actions_http.aclose()
        self.db.dispose()
