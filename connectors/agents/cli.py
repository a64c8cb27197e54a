"""``govbot agent ...``: manage agent accounts from the command line.

govbot agent create --name 王芳 --skills 社保,general --capacity 3   (password: prompt, or GOVBOT_AGENT_PASSWORD)
govbot agent list
govbot agent disable --name 王芳
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import select

from connectors.agents import service
from connectors.agents.models import Agent
from connectors.agents.passwords import MIN_PASSWORD_CHARS
from connectors.config import get_settings
from connectors.db import Database

PASSWORD_ENV = "GOVBOT_AGENT_PASSWORD"


def _password() -> str:
    """From the environment (scripts) or an interactive prompt typed twice; never from argv (shell history)."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    first = getpass.getpass(f"密码（至少 {MIN_PASSWORD_CHARS} 位）: ")
    if first != getpass.getpass("再次输入密码: "):
        raise ValueError("两次输入的密码不一致")
    return first


def _db(url: str | None) -> Database:
    db = Database(url or get_settings().database_url)
    db.create_all()
    return db


def _create(args: argparse.Namespace) -> int:
    db = _db(args.database_url)
    try:
        with db.session() as session:
            agent = service.create_agent(session, args.name, _password(), args.skills, args.capacity)
            print(f"[govbot] agent {agent.name} created: skills={','.join(agent.skills)} capacity={agent.capacity}")
    finally:
        db.dispose()
    return 0


def _list(args: argparse.Namespace) -> int:
    db = _db(args.database_url)
    try:
        with db.session() as session:
            for agent in session.scalars(select(Agent).order_by(Agent.name)):
                state = "active" if agent.active else "disabled"
                print(f"{agent.name}\t{','.join(agent.skills or [])}\tcapacity={agent.capacity}\t{state}")
    finally:
        db.dispose()
    return 0


def _disable(args: argparse.Namespace) -> int:
    db = _db(args.database_url)
    try:
        with db.session() as session:
            agent = session.scalar(select(Agent).where(Agent.name == args.name))
            if agent is None:
                raise ValueError(f"no agent named {args.name!r}")
            agent.active = False  # sessions stop working at once: agent_for_token checks ``active``
            print(f"[govbot] agent {agent.name} disabled")
    finally:
        db.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govbot agent", description="人工客服账号管理")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", default=None, help="defaults to the configured database")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", parents=[common],
                            help=f"create an agent (password from a prompt or {PASSWORD_ENV})")
    create.add_argument("--name", required=True)
    create.add_argument("--skills", required=True, help="comma-separated skill queues, e.g. 社保,general")
    create.add_argument("--capacity", type=int, default=3, help="chats handled at once")
    create.set_defaults(func=_create)
    sub.add_parser("list", parents=[common], help="list agents").set_defaults(func=_list)
    disable = sub.add_parser("disable", parents=[common], help="disable an agent (ends their sessions)")
    disable.add_argument("--name", required=True)
    disable.set_defaults(func=_disable)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"[govbot] {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
