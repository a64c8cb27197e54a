"""The outbox worker: a background task in the gateway that delivers due rows until they stick.

Claiming is a compare-and-set on the row (status + lease), preceded on PostgreSQL by
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent gateways never wait on each other's rows; on
SQLite writes are serialized and the compare-and-set alone is safe. A claim is a lease: if the
worker dies mid-delivery the row becomes due again when the lease expires, and the idempotency key
makes the second delivery harmless. Failures back off exponentially with jitter; after
``max_attempts`` (or a permanent refusal) the row is dead-lettered for an operator.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from starlette.concurrency import run_in_threadpool

from connectors.db import Database, utcnow
from connectors.hotline12345.models import OrderStatus, Outbox, OutboxStatus, WorkOrder
from connectors.hotline12345.settings import HotlineSettings
from connectors.hotline12345.target import DeliveryResult, WorkOrderTarget

log = logging.getLogger(__name__)


def backoff_delay(attempts: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries of many rows spread out."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Claimed:
    id: int
    token: str
    idempotency_key: str
    body: str
    attempts: int


class OutboxWorker:
    def __init__(self, db: Database, target: WorkOrderTarget, settings: HotlineSettings) -> None:
        self.db, self.target, self.settings = db, target, settings
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if not self.settings.can_deliver:
            log.warning("GOVBOT_12345_SECRET is not set: 12345 work orders are stored but not delivered")
            return
        self._task = asyncio.create_task(self._run(), name="hotline12345-outbox")

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after an order is committed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Let a pass in progress record its results (bounded), then cancel.

        A delivery cut off here stays claimed until its lease expires and is then sent again; the
        idempotency key makes that harmless, finishing first just avoids the wait.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=min(self.settings.timeout_s + 1.0, 10.0))
            if not done:
                self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self.target.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.run_once()
            except Exception:  # the worker must outlive a database hiccup
                log.exception("outbox pass failed")
                delivered = 0
            if delivered:
                continue  # there may be more due rows
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    # ------------------------------------------------------------------ one pass
    async def run_once(self) -> int:
        """Claim due rows and deliver them concurrently; returns how many rows were attempted."""
        claimed = await run_in_threadpool(self.claim, self.settings.batch_size)
        if claimed:
            await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    def claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        due = or_(
            and_(Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now),
            and_(Outbox.status == OutboxStatus.INFLIGHT, Outbox.locked_until < now),
        )
        token = uuid.uuid4().hex
        lease = now + timedelta(seconds=self.settings.lease_s)
        claimed: list[Claimed] = []
        with self.db.session() as session:
            candidates = list(
                session.scalars(
                    select(Outbox.id).where(due).order_by(Outbox.next_attempt_at).limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            for row_id in candidates:
                result = session.execute(
                    update(Outbox).where(Outbox.id == row_id, due)
                    .values(status=OutboxStatus.INFLIGHT, claim_token=token, locked_until=lease,
                            attempts=Outbox.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    row = session.get(Outbox, row_id, populate_existing=True)
                    assert row is not None
                    claimed.append(Claimed(row.id, token, row.idempotency_key, row.body, row.attempts))
        return claimed

    async def _deliver(self, row: Claimed) -> None:
        try:
            result = await self.target.submit(row.body.encode("utf-8"), row.idempotency_key)
        except Exception as exc:  # a target bug must not kill the worker
            log.exception("work-order target raised")
            result = DeliveryResult(False, error=f"{type(exc).__name__}: {exc}")
        await run_in_threadpool(self.record, row, result)

    def record(self, row: Claimed, result: DeliveryResult) -> None:
        with self.db.session() as session:
            outbox = session.get(Outbox, row.id, with_for_update=True)
            if outbox is None or outbox.claim_token != row.token:
                return  # our lease expired and someone else owns the row now
            outbox.claim_token, outbox.locked_until = None, None
            outbox.last_status_code = result.status_code
            order = session.get(WorkOrder, outbox.work_order_id) if outbox.work_order_id else None
            if result.ok:
                outbox.status, outbox.delivered_at, outbox.last_error = OutboxStatus.DELIVERED, utcnow(), None
                if order is not None:
                    if order.status in (OrderStatus.PENDING, OrderStatus.DEAD):
                        order.status = OrderStatus.SUBMITTED
                    order.external_id = result.external_id or order.external_id
                return
            outbox.last_error = result.error[:1000]
            if result.permanent or outbox.attempts >= self.settings.max_attempts:
                outbox.status = OutboxStatus.DEAD
                if order is not None and order.status == OrderStatus.PENDING:
                    order.status = OrderStatus.DEAD
                log.error("work order outbox row %s dead-lettered after %s attempts: %s",
                          outbox.id, outbox.attempts, result.error)
                return
            outbox.status = OutboxStatus.PENDING
            delay = backoff_delay(outbox.attempts, self.settings.backoff_base_s, self.settings.backoff_max_s)
            outbox.next_attempt_at = utcnow() + timedelta(seconds=delay)


def requeue(db: Database, order_id: int) -> Outbox | None:
    """Operator retry: a dead (or pending) row becomes due now with a fresh attempt budget."""
    with db.session() as session:
        outbox = session.scalar(select(Outbox).where(Outbox.work_order_id == order_id).with_for_update())
        if outbox is None or outbox.status in (OutboxStatus.DELIVERED, OutboxStatus.INFLIGHT):
            return outbox
        outbox.status, outbox.attempts, outbox.next_attempt_at = OutboxStatus.PENDING, 0, utcnow()
        order = session.get(WorkOrder, order_id)
        if order is not None and order.status == OrderStatus.DEAD:
            order.status = OrderStatus.PENDING
        return outbox
