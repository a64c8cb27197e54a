"""What keeps a citizen's message from being lost when the gateway itself fails.

Two things, installed on the app by :func:`install_reliability`:

* **Database unavailable → a clear 503.** A locked SQLite file or an unreachable PostgreSQL used to
  surface as a bare 500. Now any database error that escapes a request is answered with
  ``503 database_unavailable`` (bilingual, ``Retry-After``), so the widget and the app retry the
  same ``client_message_id`` — and nothing is half-written: every unit of work is one transaction,
  and an inbound that was stored but not answered is answered on the retry
  (:meth:`connectors.message_router.MessageRouter.handle`).
* **Start-up recovery.** A gateway killed between persisting a citizen's message and persisting
  the answer leaves the message in the transcript with status ``received`` and no reply. A client
  that retries gets it answered then; for citizens who do not retry (WeChat gives up after three
  tries, a closed browser tab), a background pass after start-up answers every such message and
  pushes the answer on the citizen's channel (WebSocket/history for the web, the customer-service
  API for WeChat, the long-poll for the app). It waits until such a message is older than
  :data:`~connectors.message_router.ORPHAN_AFTER_S`, and each gateway must win a claim on the
  message first (a lease its answering gateway keeps renewing), so a message another gateway is
  still answering is left alone and, of several gateways restarting together, one answers it. After that, every :data:`RETRY_EVERY_S` it answers the messages whose
  answer failed in this process (the database went away between storing and answering).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from connectors.conversations.models import ChannelIdentity, Conversation, Message, MessageDirection
from connectors.db import as_utc, utcnow
from connectors.errors import error_body
from connectors.message_router import Inbound

if TYPE_CHECKING:
    from connectors.channels.base import Channel
    from connectors.gateway import Gateway

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
# what "the database is not there right now" looks like (locked, refused, pool exhausted)
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
RETRY_EVERY_S = 5.0
# how far back the start-up pass looks; older unanswered messages are stale questions
RECOVER_WINDOW = timedelta(hours=24)


def install_reliability(app: FastAPI, gateway: Gateway, channels: Mapping[str, Channel]) -> None:
    """Mount the 503 handler and the start-up recovery pass (runs in the app's lifespan)."""

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)  # DATABASE_UNAVAILABLE
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
        return JSONResponse(
            error_body("database_unavailable", "系统繁忙，请稍后重试（您的消息未丢失，重试不会重复处理）",
                       "database temporarily unavailable; retry later (retries are never processed twice)",
                       retry_after_s=RETRY_AFTER_S),
            status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    recovery = StartupRecovery(gateway, channels)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        recovery.start()
        yield
        await recovery.stop()

    app.include_router(APIRouter(lifespan=lifespan))
    app.state.startup_recovery = recovery


class StartupRecovery:
    def __init__(self, gateway: Gateway, channels: Mapping[str, Channel]) -> None:
        self.gateway, self.channels = gateway, channels
        self.recovered = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="startup-recovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def orphans(self) -> list[tuple[int, Inbound, float]]:
        """Unanswered inbound messages: (id, how to answer it, its age in seconds)."""
        now = utcnow()
        with self.gateway.db.session() as session:
            rows = session.execute(
                select(Message, Conversation.citizen_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.direction == MessageDirection.INBOUND, Message.status == "received",
                       Message.created_at >= now - RECOVER_WINDOW)
                .order_by(Message.id)
            ).all()
            found = []
            for message, citizen_id in rows:
                external = session.scalar(select(ChannelIdentity.external_id).where(
                    ChannelIdentity.citizen_id == citizen_id, ChannelIdentity.channel == message.channel)
                    .order_by(ChannelIdentity.id.desc()))
                if external is None:
                    continue
                created = as_utc(message.created_at)
                inbound = Inbound(channel=message.channel, user_id=external, text=message.text,
                                  channel_message_id=message.channel_message_id)
                found.append((message.id, inbound, (now - created).total_seconds()))
            return found

    async def _run(self) -> None:
        router = self.gateway.router
        orphans: list[tuple[int, Inbound, float]] = []
        for _ in range(60):  # the database may be the thing that is down right now
            try:
                orphans = await run_in_threadpool(self.orphans)
                break
            except Exception as exc:
                log.warning("start-up recovery cannot read the transcript yet: %s", str(exc).splitlines()[0][:200])
                await asyncio.sleep(RETRY_EVERY_S)
        for message_id, inbound, age in orphans:
            if age < router.orphan_after_s:
                await asyncio.sleep(router.orphan_after_s - age)
            await self._answer(message_id, inbound)
        if self.recovered:
            log.warning("start-up recovery answered %s message(s) left unanswered by a stopped gateway",
                        self.recovered)
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            for message_id, inbound in list(router.unanswered.items()):
                await self._answer(message_id, inbound, owned=True)

    async def _answer(self, message_id: int, inbound: Inbound, owned: bool = False) -> None:
        """Answer one unanswered message and push the answer; a failure leaves it for the next round."""
        router = self.gateway.router
        try:
            outcome = await router.resume(message_id, inbound, owned=owned)
        except Exception as exc:
            log.warning("inbound message %s still cannot be answered: %s", message_id, str(exc).splitlines()[0][:200])
            return
        router.unanswered.pop(message_id, None)
        if outcome is None or outcome.duplicate:
            return  # answered meanwhile (a retry of the citizen, another gateway)
        self.recovered += 1
        channel = self.channels.get(inbound.channel)
        if channel is not None and outcome.replies:
            try:
                await channel.push(inbound.user_id, outcome.conversation_id, outcome.replies)
            except Exception:
                log.exception("pushing the recovered answer of message %s failed", message_id)
