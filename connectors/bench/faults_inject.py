"""The faults themselves: each one breaks a part of the running stack and repairs it again.

Every fault is a blocking function (run in a thread, so the citizens keep talking meanwhile) that
returns a :class:`FaultResult` with how long the part was down and how long it took to be healthy
again after the repair. Nothing here waits for the gateway to "notice": recovery must happen
without manual steps, which is what the accounting afterwards checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from connectors.bench.faults_fakes import Hotline
from connectors.launcher import Service, Stack


@dataclass
class FaultResult:
    name: str
    at_s: float  # seconds after the load started
    down_s: float  # how long the part was unavailable on purpose
    recovery_s: float | None  # repair → healthy again (None: never healthy)
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "at_s": round(self.at_s, 1), "down_s": round(self.down_s, 1),
                "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 1), "note": self.note}


def _wait_healthy(service: Service, timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not service.alive():
            return None
        if service.healthy():
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def restart_service(stack: Stack, name: str, *, hard: bool, down_s: float, t0: float,
                    timeout_s: float = 180.0) -> FaultResult:
    """``kill -9`` (hard) or SIGTERM (graceful) a stack process, keep it down ``down_s``, start it again."""
    service = stack.service(name)
    at = time.monotonic() - t0
    began = time.monotonic()
    if hard and service.process is not None:
        try:
            os.killpg(service.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        service.process.wait(timeout=10)
    service.stop()  # graceful stop, or (already killed) only closes the log file
    time.sleep(down_s)
    service.start()
    recovery = _wait_healthy(service, timeout_s)
    label = f"{name}_{'kill9' if hard else 'sigterm'}"
    note = "" if recovery is not None else f"not healthy after {timeout_s:.0f}s:\n{service.tail(15)}"
    return FaultResult(label, at, time.monotonic() - began - (recovery or 0.0), recovery, note)


def hotline_outage(hotline: Hotline, *, down_s: float, t0: float) -> FaultResult:
    """12345 unreachable (connection refused) for ``down_s``; orders pile up in the outbox meanwhile."""
    at = time.monotonic() - t0
    hotline.stop()
    time.sleep(down_s)
    hotline.start()
    return FaultResult("hotline12345_down", at, down_s, 0.0)


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def sqlite_lock(db_path: str, *, down_s: float, t0: float) -> FaultResult:
    """Another process holds an exclusive lock on the gateway's SQLite file for ``down_s``."""
    at = time.monotonic() - t0
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, db_path, str(down_s)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    proc.wait(timeout=down_s + 60)
    return FaultResult("database_locked", at, down_s, 0.0, "" if line.strip() == "locked" else "lock not taken")


def postgres_block(admin_url: str, database: str, *, down_s: float, t0: float) -> FaultResult:
    """PostgreSQL refuses new connections to ``database`` and drops the open ones for ``down_s``."""
    import sqlalchemy as sa

    at = time.monotonic() - t0
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                     {"d": database})
        time.sleep(down_s)
        conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
    engine.dispose()
    return FaultResult("database_blocked", at, down_s, 0.0)


class PrivatePostgres:
    """A database of our own on the local PostgreSQL server, created for one run and dropped after."""

    def __init__(self, admin_url: str, prefix: str = "govbot_faults") -> None:
        import secrets

        import sqlalchemy as sa

        self.admin_url = admin_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self._sa = sa
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()
        self.url = engine.url.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        sa = self._sa
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": self.name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        engine.dispose()
