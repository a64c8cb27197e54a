"""The outbox on PostgreSQL: ``FOR UPDATE SKIP LOCKED`` claims never wait on (or take) a locked row.

Starts a throwaway PostgreSQL cluster (initdb + pg_ctl); skipped where PostgreSQL is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from connectors.conversations import service as store
from connectors.db import Database
from connectors.hotline12345.delivery import OutboxWorker
from connectors.hotline12345.models import Outbox, OutboxStatus
from connectors.hotline12345.service import create_work_order
from connectors.hotline12345.target import HttpWorkOrderTarget
from tests.conftest import free_port
from tests.hotline12345.test_delivery import drain, outbox_rows, settings_for


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.exists():
            return str(candidate)
    return None


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="govbot-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        shutil.chown(workdir, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = workdir / "data"
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "govbot"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-w", "start", "-o",
                        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"],
                       check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, KeyError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc}")
    yield f"postgresql+psycopg2://govbot@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_db(pg_url) -> Iterator[Database]:
    db = Database(pg_url)
    db.create_all()
    yield db
    with db.engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox, work_orders, messages, conversations, channel_identities, "
                          "citizen_identities CASCADE"))
    db.dispose()


def make_orders(db, n: int) -> None:
    with db.session() as session:
        for i in range(n):
            conversation = store.current_conversation(session, "web", f"pg-user-{i}")
            create_work_order(session, conversation, category="consultation", summary=f"咨询{i}")


def test_skip_locked_claim_passes_over_a_row_another_transaction_holds(pg_db, simulator):
    make_orders(pg_db, 3)
    worker = OutboxWorker(pg_db, HttpWorkOrderTarget(simulator.url, simulator.secret), settings_for(simulator))
    locked = threading.Event()
    release = threading.Event()
    first_id = outbox_rows(pg_db)[0].id

    def hold_lock() -> None:
        with pg_db.session() as session:
            session.execute(select(Outbox).where(Outbox.id == first_id).with_for_update())
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        claimed = worker.claim(10)
        assert time.monotonic() - started < 2.0  # did not wait for the lock
        assert sorted(c.id for c in claimed) == sorted(r.id for r in outbox_rows(pg_db) if r.id != first_id)
    finally:
        release.set()
        holder.join()
    assert [c.id for c in worker.claim(10)] == [first_id]  # free now, and the others are leased


def test_rollback_and_exactly_once_delivery_on_postgresql(pg_db, simulator):
    with pytest.raises(RuntimeError):
        with pg_db.session() as session:
            conversation = store.current_conversation(session, "web", "pg-rollback")
            create_work_order(session, conversation, category="complaint", summary="回滚")
            raise RuntimeError("boom")
    assert outbox_rows(pg_db) == []
    make_orders(pg_db, 4)
    simulator.behaviour.fail_next = 3
    drain(pg_db, settings_for(simulator),
          until=lambda: all(r.status == OutboxStatus.DELIVERED for r in outbox_rows(pg_db)))
    assert simulator.unique_count == 4
