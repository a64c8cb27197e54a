"""Several gateways recovering the same orphaned message: exactly one of them answers it.

A gateway killed between storing a citizen's message and answering it leaves an orphan; every
surviving (or restarting) gateway runs the start-up recovery and honours client retries. The claim
is a lease in the database (``messages.claimed_at``): one conditional UPDATE decides, and the gateway
answering a slow message keeps renewing it. Tested on SQLite and on a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from connectors.config import HandoffSettings
from connectors.conversations import service as store
from connectors.conversations.models import Message, MessageAuthor, MessageDirection
from connectors.db import Database
from connectors.message_router import Inbound, MessageRouter
from connectors.rasa_client import RasaClient
from tests.connectors.conftest import fake_rasa  # noqa: F401  (fixture)
from tests.scale.conftest import PG_ADMIN_URL, postgres_available


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'claims.db'}"
        return
    if not postgres_available():
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    from connectors.bench.faults_inject import PrivatePostgres

    pg = PrivatePostgres(PG_ADMIN_URL, prefix="govbot_claims")
    try:
        yield pg.url
    finally:
        pg.drop()


def _orphan(db: Database, age_s: float) -> tuple[int, Inbound]:
    with db.session() as session:
        conversation = store.current_conversation(session, "web", "u-orphan")
        message = store.add_message(session, conversation, direction=MessageDirection.INBOUND,
                                    author=MessageAuthor.CITIZEN, text="社保卡丢了怎么办", channel="web",
                                    channel_message_id="c-1")
        message.created_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age_s)
        session.flush()
        return message.id, Inbound(channel="web", user_id="u-orphan", text="社保卡丢了怎么办",
                                   channel_message_id="c-1")


def _gateways(url: str, rasa_url: str, n: int) -> list[MessageRouter]:
    dbs = [Database(url) for _ in range(n)]
    dbs[0].create_all()
    return [MessageRouter(db, RasaClient(rasa_url), HandoffSettings()) for db in dbs]


def _replies(db: Database, message_id: int) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).where(Message.reply_to_id == message_id)) or 0)


def test_of_three_gateways_recovering_one_orphan_exactly_one_answers(database_url, fake_rasa) -> None:  # noqa: F811
    fake_rasa.delay_s = 0.3  # all three are inside resume() at once
    routers = _gateways(database_url, fake_rasa.url, 3)
    message_id, inbound = _orphan(routers[0].db, age_s=120)

    async def all_resume():
        return await asyncio.gather(*(r.resume(message_id, inbound) for r in routers))

    outcomes = asyncio.run(all_resume())
    assert sum(o is not None and not o.duplicate for o in outcomes) == 1
    assert len(fake_rasa.received) == 1  # Rasa saw the message once: the dialogue state is not doubled
    assert _replies(routers[0].db, message_id) == 1


def test_a_slow_answer_keeps_its_lease_so_no_other_gateway_takes_it_over(database_url, fake_rasa) -> None:  # noqa: F811
    fake_rasa.delay_s = 1.5
    first, second = _gateways(database_url, fake_rasa.url, 2)
    for router in (first, second):
        router.orphan_after_s = 0.6  # renewed every 0.2 s by the gateway answering it
    message_id, inbound = _orphan(first.db, age_s=120)

    async def race():
        owner = asyncio.create_task(first.resume(message_id, inbound))
        await asyncio.sleep(1.0)  # longer than the lease: only the renewals keep it
        intruder = await second.resume(message_id, inbound)
        return await owner, intruder

    owned, intruder = asyncio.run(race())
    assert owned is not None and not owned.duplicate and intruder is None
    assert len(fake_rasa.received) == 1 and _replies(first.db, message_id) == 1


def test_an_orphan_whose_gateway_died_is_taken_over_once_its_lease_expired(database_url, fake_rasa) -> None:  # noqa: F811
    first, second = _gateways(database_url, fake_rasa.url, 2)
    message_id, inbound = _orphan(first.db, age_s=120)
    with first.db.session() as session:  # the first gateway claimed it, then died (no renewals)
        assert store.claim_inbound(session, message_id, lease_s=20)
    assert asyncio.run(second.resume(message_id, inbound)) is None  # its lease is fresh
    second.orphan_after_s = 0.2
    asyncio.run(asyncio.sleep(0.3))
    outcome = asyncio.run(second.resume(message_id, inbound))
    assert outcome is not None and not outcome.duplicate and _replies(second.db, message_id) == 1
