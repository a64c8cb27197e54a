"""``govbot-bench faults``: break the stack while citizens talk to it, then count what was lost.

A private stack (free ports, its own SQLite files under /tmp; :mod:`connectors.bench.stack`), the
12345 simulator and a fake WeChat API are started; virtual citizens hold mixed conversations over
the web, app and WeChat channels (:mod:`connectors.bench.faults_traffic`) while, one after
another, Rasa is killed with SIGKILL and restarted, the action server likewise, 12345 is
unreachable for a minute, the gateway is stopped (SIGTERM) and killed (SIGKILL) and restarted,
and the database is locked by another process. Every WeChat message arrives three times.
After recovery the transcript, the outbox, 12345 and the WeChat sends are compared with what the
citizens sent (:mod:`connectors.bench.faults_account`), the bad-input corpus runs against the live
gateway (:mod:`connectors.bench.faults_badinput`), and the logs of all three processes are searched
for the personal data the citizens typed.

    govbot-bench faults [--quick] [--json] [--hotline-down 60] [--db-lock 8] [--users 6] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from connectors.bench import faults_inject as inject
from connectors.bench.faults_account import account, account_orders
from connectors.bench.faults_fakes import FakeWeChatApi, Hotline
from connectors.bench.faults_traffic import Load, citizen_loop
from connectors.bench.stack import CHANNEL_ENV, free_port, private_stack

CHANNELS = ("web", "app", "wechat")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="govbot-bench faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter outages and gaps (about 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--hotline-down", type=float, default=None, help="seconds 12345 is unreachable (60; quick 15)")
    parser.add_argument("--db-lock", type=float, default=None, help="seconds the database is locked (8; quick 4)")
    parser.add_argument("--users", type=int, default=None, help="concurrent citizens (6; quick 3)")
    parser.add_argument("--gap", type=float, default=None, help="seconds between faults (8; quick 2)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="sqlite: a private file, locked by another process; postgresql: a private "
                             "database on the local server, connections blocked")
    parser.add_argument("--pg-admin-url", default=os.environ.get("GOVBOT_FAULTS_PG_ADMIN_URL",
                                                                 "postgresql+psycopg2://root@127.0.0.1:5432/test"),
                        help="maintenance database used to create, block and drop the private one")
    parser.add_argument("--no-corpus", action="store_true", help="skip the bad-input corpus")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.hotline_down = args.hotline_down if args.hotline_down is not None else (15.0 if quick else 60.0)
    args.db_lock = args.db_lock if args.db_lock is not None else (4.0 if quick else 8.0)
    args.users = args.users if args.users is not None else (3 if quick else 6)
    args.gap = args.gap if args.gap is not None else (2.0 if quick else 8.0)
    return args


def stack_extra_env(hotline: Hotline, wechat: FakeWeChatApi, hotline_secret: str, secret_key: str) -> dict[str, str]:
    return {
        "GOVBOT_12345_SECRET": hotline_secret,
        "GOVBOT_HOTLINE12345_ENDPOINT": hotline.url,
        # an outage of a minute must not dead-letter an order, and recovery must not wait minutes
        "GOVBOT_HOTLINE12345_BACKOFF_BASE_S": "2",
        "GOVBOT_HOTLINE12345_BACKOFF_MAX_S": "8",
        "GOVBOT_HOTLINE12345_MAX_ATTEMPTS": "40",
        "GOVBOT_HOTLINE12345_TIMEOUT_S": "5",
        "GOVBOT_HOTLINE12345_LEASE_S": "20",
        "WECHAT_API_BASE": wechat.url,
        "GOVBOT_APP_KEYS": "bjapp:k-123,other:k-999",
        "GOVBOT_SECRET_KEY": secret_key,
        "GOVBOT_ADMIN_TOKEN": secrets.token_hex(16),
        # all citizens come from 127.0.0.1: the per-IP limit would measure itself, not the faults
        "GOVBOT_LIMITS_IP_PER_MINUTE": "1000000",
        "GOVBOT_LIMITS_IP_BURST": "1000000",
    }


async def run_faults(args: argparse.Namespace, stack: Any, hotline: Hotline, db_url: str, t0: float,
                     pg: inject.PrivatePostgres | None = None) -> list[dict[str, Any]]:
    """The faults, one after another (full); in ``--quick`` the independent ones overlap.

    Quick overlaps what does not interfere: 12345's outage runs beside the gateway restarts and the
    database lock (while Rasa and the action server are up, so complaints become orders that must
    wait in the outbox); then Rasa, then the action server are killed.
    """
    gap = args.gap
    results: list[inject.FaultResult] = []

    async def step(fn: Any, *a: Any, **kw: Any) -> None:
        results.append(await asyncio.to_thread(fn, *a, **kw))
        await asyncio.sleep(gap)

    async def gateway_and_database() -> None:
        await step(inject.restart_service, stack, "gateway", hard=False, down_s=1.0, t0=t0)
        await step(inject.restart_service, stack, "gateway", hard=True, down_s=1.0, t0=t0)
        if pg is not None:
            await step(inject.postgres_block, args.pg_admin_url, pg.name, down_s=args.db_lock, t0=t0)
        else:
            await step(inject.sqlite_lock, db_url.removeprefix("sqlite:///"), down_s=args.db_lock, t0=t0)

    if args.quick:
        await asyncio.gather(step(inject.hotline_outage, hotline, down_s=args.hotline_down, t0=t0),
                             gateway_and_database())
        await step(inject.restart_service, stack, "rasa", hard=True, down_s=2.0, t0=t0)
        await step(inject.restart_service, stack, "actions", hard=True, down_s=2.0, t0=t0)
    else:
        await step(inject.restart_service, stack, "rasa", hard=True, down_s=2.0, t0=t0)
        await step(inject.restart_service, stack, "actions", hard=True, down_s=2.0, t0=t0)
        await step(inject.hotline_outage, hotline, down_s=args.hotline_down, t0=t0)
        await gateway_and_database()
    return [r.as_dict() for r in sorted(results, key=lambda r: r.at_s)]


async def wait_recovered(db: Any, timeout_s: float) -> float:
    """Until every inbound has an outcome and every order left the outbox (or the timeout)."""
    from sqlalchemy import func, select

    from connectors.conversations.models import Message, MessageDirection
    from connectors.hotline12345.models import Outbox, OutboxStatus

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with db.session() as session:
            open_inbound = session.scalar(select(func.count()).select_from(Message).where(
                Message.direction == MessageDirection.INBOUND, Message.status == "received")) or 0
            open_orders = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.status.in_([OutboxStatus.PENDING, OutboxStatus.INFLIGHT]))) or 0
        if not open_inbound and not open_orders:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(3.0)  # late WeChat sends of the last answers
    return time.monotonic() - started


def pii_in_logs(log_dir: Path, raw: set[str]) -> dict[str, Any]:
    found: dict[str, int] = {}
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        hits = sum(1 for s in raw if s in text)
        if hits:
            found[path.name] = hits
    return {"pii_checked": len(raw), "pii_in_logs": sum(found.values()), "pii_log_files": found}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from connectors.db import Database

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="govbot-faults-"))
    hotline_secret, secret_key = secrets.token_hex(16), secrets.token_hex(32)
    os.environ["GOVBOT_SECRET_KEY"] = secret_key  # the harness issues app tokens the stack accepts
    pg = inject.PrivatePostgres(args.pg_admin_url) if args.database == "postgresql" else None
    wechat, hotline = FakeWeChatApi(), Hotline(hotline_secret, free_port())
    hotline.start()
    extra = stack_extra_env(hotline, wechat, hotline_secret, secret_key)
    if pg is not None:
        extra["GOVBOT_DATABASE_URL"] = pg.url
    stack = private_stack(work, extra)
    report: dict[str, Any] = {"mode": "quick" if args.quick else "full", "work_dir": str(work)}
    load: Load | None = None
    try:
        await asyncio.to_thread(stack.start, 300.0)
        report["startup_s"] = round(time.monotonic() - started, 1)
        db_url = pg.url if pg is not None else stack.settings.database_url
        report["database"] = args.database
        db = Database(db_url)
        load = Load(stack.base_url, CHANNEL_ENV["WECHAT_TOKEN"])
        # no keep-alive: a killed gateway must not leave the citizens stale sockets
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=40.0, limits=limits) as http:
            t0 = time.monotonic()
            citizens = [asyncio.create_task(citizen_loop(load, http, CHANNELS[i % 3], i, args.seed + i))
                        for i in range(args.users)]
            await asyncio.sleep(4.0 if args.quick else 10.0)  # warm: answers before the first fault
            report["faults"] = await run_faults(args, stack, hotline, db_url, t0, pg)
            await asyncio.sleep(3.0 if args.quick else 8.0)  # after the last repair, some normal traffic
            load.stop.set()
            await asyncio.wait(citizens, timeout=load.retry_window_s + 30)
            report["load_s"] = round(time.monotonic() - t0, 1)
        report["recovery_wait_s"] = round(await wait_recovered(db, 60.0 if args.quick else 120.0), 1)
        corpus_started = time.monotonic()
        acc = account(load.sent, db, wechat.sends_by_openid())
        statuses = [st for s in load.sent for st in s.statuses]
        report.update({
            "sent": len(load.sent), "accepted": acc.accepted, "answered": acc.answered, "lost": acc.lost,
            "duplicated": acc.duplicated, "http_5xx": sum(1 for st in statuses if isinstance(st, int) and st >= 500),
            # 503 database_unavailable is the intended answer during a database outage; anything else is a bug
            "http_5xx_not_503": sum(1 for st in statuses if isinstance(st, int) and st >= 500 and st != 503),
            "connection_errors": sum(1 for st in statuses if isinstance(st, str) and st != "throttled"),
            "throttled": sum(1 for st in statuses if st == 429 or st == "throttled"),
            "not_accepted": acc.not_accepted, "degraded_replies": acc.degraded,
            "routed_to_agents": acc.routed_to_agents, "duplicated_inbound": acc.duplicated_inbound,
            "duplicated_replies": acc.duplicated_replies, "duplicated_wechat_sends": acc.duplicated_wechat_sends,
            "lost_samples": acc.lost_samples, "duplicate_samples": acc.duplicate_samples,
            "not_accepted_samples": acc.not_accepted_samples,
        })
        report.update(account_orders(db, hotline.orders()))
        report["hotline_requests"] = hotline.requests()
        if not args.no_corpus:
            from connectors.bench.faults_badinput import run_corpus

            report.update(await asyncio.to_thread(run_corpus, stack.base_url, db, CHANNEL_ENV["WECHAT_TOKEN"],
                                                  hotline_secret))
            report["bad_input_s"] = round(time.monotonic() - corpus_started, 1)
        db.dispose()
    finally:
        await asyncio.to_thread(stack.stop)
        hotline.stop()
        wechat.close()
        if pg is not None:
            pg.drop()
    report.update(pii_in_logs(work / "logs", {p for s in (load.sent if load else []) for p in s.pii}))
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return report


KEYS = ("accepted", "answered", "lost", "duplicated", "http_5xx", "http_5xx_not_503", "degraded_replies", "orders_sent",
        "orders_delivered_once", "bad_inputs", "bad_input_5xx", "bad_input_state_changes", "pii_in_logs")


def print_table(report: dict[str, Any]) -> None:
    print(f"govbot-bench faults ({report['mode']}): {report.get('sent', 0)} messages sent, "
          f"{report.get('elapsed_s')} s in all")
    for key in KEYS:
        if key in report:
            print(f"  {key:<26} {report[key]}")
    for fault in report.get("faults", []):
        print(f"  fault {fault['name']:<20} at {fault['at_s']:>6}s  down {fault['down_s']:>5}s  "
              f"healthy again after {fault['recovery_s']}s {fault['note'][:80]}")
    for key in ("lost_samples", "duplicate_samples", "not_accepted_samples", "bad_input_failed_cases"):
        for sample in report.get(key) or []:
            print(f"  {key[:-8]}: {sample}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_table(report)
    clean = not (report.get("lost") or report.get("duplicated") or report.get("bad_input_5xx")
                 or report.get("http_5xx_not_503") or report.get("orders_undelivered")
                 or report.get("bad_input_state_changes") or report.get("pii_in_logs"))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
