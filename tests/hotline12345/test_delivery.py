"""The outbox worker against the real-HTTP 12345 simulator: retries, dead letters, slowness, duplicates."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select

from connectors.conversations import service as store
from connectors.db import Database
from connectors.hotline12345.delivery import OutboxWorker, backoff_delay, requeue
from connectors.hotline12345.models import OrderStatus, Outbox, OutboxStatus, WorkOrder
from connectors.hotline12345.service import create_work_order
from connectors.hotline12345.settings import HotlineSettings
from connectors.hotline12345.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from connectors.hotline12345.target import DeliveryResult, HttpWorkOrderTarget


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    database.create_all()
    yield database
    database.dispose()


def settings_for(simulator, **kw) -> HotlineSettings:
    base = HotlineSettings(endpoint=simulator.url, secret=simulator.secret, timeout_s=1.0, max_attempts=4,
                           backoff_base_s=0.05, backoff_max_s=0.2, poll_interval_s=0.05, lease_s=30.0)
    return replace(base, **kw)


def make_orders(db, n: int) -> list[str]:
    numbers = []
    with db.session() as session:
        for i in range(n):
            conversation = store.current_conversation(session, "web", f"user-{i}")
            numbers.append(create_work_order(session, conversation, category="complaint", summary=f"问题{i}").number)
    return numbers


def outbox_rows(db) -> list[Outbox]:
    with db.session() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def drain(db, settings, *, until, timeout: float = 15.0, secret: str | None = None) -> None:
    """Run worker passes (as the background task would) until ``until()`` holds."""

    async def run() -> None:
        worker = OutboxWorker(db, HttpWorkOrderTarget(settings.endpoint, secret or settings.secret,
                                                      settings.timeout_s), settings)
        deadline = time.monotonic() + timeout
        try:
            while not until():
                assert time.monotonic() < deadline, "outbox did not settle in time"
                if not await worker.run_once():
                    await asyncio.sleep(0.02)
        finally:
            await worker.target.aclose()

    asyncio.run(run())


def test_failing_then_recovering_12345_gets_every_order_exactly_once(db, simulator):
    numbers = make_orders(db, 5)
    simulator.behaviour.fail_next = 7  # 5xx for the first seven requests, whichever orders they carry
    settings = settings_for(simulator)
    drain(db, settings, until=lambda: all(r.status == OutboxStatus.DELIVERED for r in outbox_rows(db)))
    assert simulator.unique_count == 5
    assert sorted(simulator.order_numbers()) == sorted(numbers)
    rows = outbox_rows(db)
    assert sum(r.attempts for r in rows) == 5 + 7  # every failure was retried, nothing sent after success
    assert all(simulator.attempts_for(r.idempotency_key) == r.attempts for r in rows)
    with db.session() as session:
        orders = list(session.scalars(select(WorkOrder)))
        assert all(o.status == OrderStatus.SUBMITTED and o.external_id.startswith("12345-") for o in orders)


def test_dead_letter_after_max_attempts_then_manual_retry(db, simulator):
    make_orders(db, 1)
    simulator.behaviour.fail_next = 1000
    settings = settings_for(simulator, max_attempts=3)
    drain(db, settings, until=lambda: outbox_rows(db)[0].status == OutboxStatus.DEAD)
    row = outbox_rows(db)[0]
    assert row.attempts == 3 and simulator.attempts_for(row.idempotency_key) == 3
    assert "503" in row.last_error and simulator.unique_count == 0
    with db.session() as session:
        assert session.get(WorkOrder, row.work_order_id).status == OrderStatus.DEAD
    # a dead row is never picked up again by itself
    drain(db, settings, until=lambda: True)
    assert simulator.attempts_for(row.idempotency_key) == 3

    simulator.behaviour.fail_next = 0
    requeued = requeue(db, row.work_order_id)
    assert requeued.status == OutboxStatus.PENDING and requeued.attempts == 0
    drain(db, settings, until=lambda: outbox_rows(db)[0].status == OutboxStatus.DELIVERED)
    assert simulator.unique_count == 1
    with db.session() as session:
        assert session.get(WorkOrder, row.work_order_id).status == OrderStatus.SUBMITTED


def test_slow_12345_times_out_and_the_retry_is_deduplicated(db, simulator):
    make_orders(db, 1)
    # 12345 stores the order, then answers after our timeout: we must retry, it must not double it
    simulator.behaviour.delay_s = 0.8
    settings = settings_for(simulator, timeout_s=0.3)
    key = outbox_rows(db)[0].idempotency_key

    def settle() -> bool:
        if simulator.attempts_for(key) >= 1:
            simulator.behaviour.delay_s = 0.0  # 12345 recovers after the first slow answer
        return outbox_rows(db)[0].status == OutboxStatus.DELIVERED

    drain(db, settings, until=settle)
    row = outbox_rows(db)[0]
    assert row.attempts >= 2 and simulator.attempts_for(key) >= 2
    assert simulator.unique_count == 1


def test_conflict_reply_for_a_known_key_counts_as_delivered(db, simulator):
    make_orders(db, 1)
    settings = settings_for(simulator)
    drain(db, settings, until=lambda: outbox_rows(db)[0].status == OutboxStatus.DELIVERED)
    # the acknowledgement was "lost": the row is due again and 12345 answers 409 for the known key
    with db.session() as session:
        row = session.scalar(select(Outbox))
        row.status, row.delivered_at = OutboxStatus.PENDING, None
    simulator.behaviour.duplicate_status = 409
    drain(db, settings, until=lambda: outbox_rows(db)[0].status == OutboxStatus.DELIVERED)
    assert simulator.attempts_for(outbox_rows(db)[0].idempotency_key) == 2
    assert simulator.unique_count == 1 and outbox_rows(db)[0].last_status_code == 409


def test_duplicate_replay_answers_are_accepted_without_a_second_order(db, simulator):
    make_orders(db, 1)
    row = outbox_rows(db)[0]
    # an earlier gateway (that crashed before recording success) already delivered this exact body
    body = row.body.encode()
    headers = {SIGNATURE_HEADER: sign(simulator.secret, body), IDEMPOTENCY_HEADER: row.idempotency_key}
    first = httpx.post(simulator.url, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    drain(db, settings_for(simulator), until=lambda: outbox_rows(db)[0].status == OutboxStatus.DELIVERED)
    assert simulator.unique_count == 1 and simulator.attempts_for(row.idempotency_key) == 2
    with db.session() as session:
        assert session.get(WorkOrder, row.work_order_id).external_id == first.json()["order_id"]


def test_wrong_secret_is_a_permanent_refusal(db, simulator):
    make_orders(db, 1)
    drain(db, settings_for(simulator), secret="not-the-shared-secret",
          until=lambda: outbox_rows(db)[0].status == OutboxStatus.DEAD)
    row = outbox_rows(db)[0]
    assert row.attempts == 1 and row.last_status_code == 401 and simulator.unique_count == 0


def test_claims_are_exclusive_and_leases_expire(db, simulator):
    make_orders(db, 3)
    settings = settings_for(simulator, lease_s=0.2)
    worker_a = OutboxWorker(db, HttpWorkOrderTarget(simulator.url, simulator.secret), settings)
    worker_b = OutboxWorker(db, HttpWorkOrderTarget(simulator.url, simulator.secret), settings)
    first = worker_a.claim(10)
    assert len(first) == 3 and worker_b.claim(10) == []
    time.sleep(0.3)  # worker A "died": its lease runs out
    second = worker_b.claim(10)
    assert sorted(c.id for c in second) == sorted(c.id for c in first)
    # A's late result is ignored: B owns the rows now
    worker_a.record(first[0], DeliveryResult(False, error="late"))
    assert next(r for r in outbox_rows(db) if r.id == first[0].id).status == OutboxStatus.INFLIGHT
    for target in (worker_a.target, worker_b.target):
        asyncio.run(target.aclose())


def test_body_bytes_are_identical_across_retries(db, simulator):
    make_orders(db, 1)
    simulator.behaviour.fail_next = 2
    drain(db, settings_for(simulator), until=lambda: outbox_rows(db)[0].status == OutboxStatus.DELIVERED)
    stored = json.loads(outbox_rows(db)[0].body)
    assert list(simulator.orders.values()) == [stored]


def test_backoff_grows_exponentially_with_bounded_jitter():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 30.0)]:
        delays = [backoff_delay(attempt, 1.0, 30.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
