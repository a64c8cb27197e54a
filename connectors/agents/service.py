"""Agent accounts, console sessions and the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.agents.models import Agent, AgentSession, AuditEvent
from connectors.agents.passwords import hash_password, verify_password
from connectors.db import as_utc, utcnow

# scrypt of a fixed password: failed logins for unknown names cost the same time as wrong passwords
_DUMMY_HASH = hash_password("not-a-real-password")


def parse_skills(raw: str | list[str]) -> list[str]:
    items = raw.replace("，", ",").split(",") if isinstance(raw, str) else raw
    skills = [s.strip() for s in items if s and s.strip()]
    if not skills:
        raise ValueError("an agent needs at least one skill")
    return list(dict.fromkeys(skills))


def create_agent(session: Session, name: str, password: str, skills: str | list[str], capacity: int = 3) -> Agent:
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    if session.scalar(select(Agent).where(Agent.name == name)) is not None:
        raise ValueError(f"agent {name!r} already exists")
    agent = Agent(name=name, password_hash=hash_password(password), skills=parse_skills(skills), capacity=capacity)
    session.add(agent)
    session.flush()
    return agent


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(session: Session, name: str, password: str, ttl_s: int) -> tuple[Agent, str] | None:
    """Check the password; on success a new session token (only its hash is stored)."""
    agent = session.scalar(select(Agent).where(Agent.name == name, Agent.active.is_(True)))
    if agent is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, agent.password_hash):
        audit(session, agent.id, "login_failed")
        return None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(AgentSession(token_hash=_digest(token), agent_id=agent.id, created_at=now,
                             expires_at=now + dt.timedelta(seconds=ttl_s)))
    agent.last_seen_at = now
    audit(session, agent.id, "login")
    return agent, token


def agent_for_token(session: Session, token: str | None, touch: bool = True) -> Agent | None:
    """The agent of a live (unexpired, unrevoked) session, or None."""
    if not token:
        return None
    row = session.get(AgentSession, _digest(token))
    if row is None or row.revoked or as_utc(row.expires_at) <= utcnow():
        return None
    agent = session.get(Agent, row.agent_id)
    if agent is None or not agent.active:
        return None
    if touch:
        agent.last_seen_at = utcnow()
    return agent


def logout(session: Session, token: str | None) -> None:
    if token and (row := session.get(AgentSession, _digest(token))) is not None:
        row.revoked = True
        audit(session, row.agent_id, "logout")
        agent = session.get(Agent, row.agent_id)
        if agent is not None:
            agent.last_seen_at = None  # leaving the console takes the agent offline at once


def audit(session: Session, agent_id: str | None, action: str, conversation_id: str | None = None,
          **detail: Any) -> None:
    session.add(AuditEvent(agent_id=agent_id, action=action, conversation_id=conversation_id, detail=detail or None))


def audit_trail(session: Session, conversation_id: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if conversation_id is not None:
        query = query.where(AuditEvent.conversation_id == conversation_id)
    return list(session.scalars(query))
