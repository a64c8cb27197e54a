"""Linking and unlinking channel identities through chat commands.

The citizen says "绑定账号" on one channel and gets a 6-digit code valid for 10 minutes; sending
"关联 123456" on another channel moves that channel identity to the same citizen, so history and an
open handoff continue wherever they write. Nothing is ever merged without the code. "解除关联"
gives the channel identity a citizen of its own again. The gateway handles these commands itself:
they are about identity, not dialogue, and Rasa never sees the codes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.conversations.models import ChannelIdentity, CitizenIdentity, Conversation, ConversationMode
from connectors.db import as_utc, utcnow
from connectors.identity.models import LinkCode

CODE_TTL = timedelta(minutes=10)
MAX_FAILURES = 5
CHANNEL_NAMES = {"web": "网页", "wechat": "微信", "app": "App"}

ISSUE_RE = re.compile(r"^\s*(/link|绑定账号|关联账号|账号关联|获取关联码)\s*$")
USE_RE = re.compile(r"^\s*(?:/link|关联|绑定)\s*(?:码)?\s*[:：]?\s*(\d{6})\s*$")
UNLINK_RE = re.compile(r"^\s*(/unlink|解除关联|取消关联|解除绑定)\s*$")


@dataclass(frozen=True)
class CommandResult:
    conversation: Conversation
    text: str


def _identity(session: Session, channel: str, external_id: str) -> ChannelIdentity:
    identity = session.scalar(
        select(ChannelIdentity).where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    assert identity is not None  # the router created it before calling us
    return identity


def _open_conversation(session: Session, citizen_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(Conversation.citizen_id == citizen_id, Conversation.mode != ConversationMode.CLOSED)
        .order_by(Conversation.created_at.desc())
    )


def handle_command(session: Session, conversation: Conversation, channel: str, external_id: str, text: str) -> CommandResult | None:
    """Apply an identity command if ``text`` is one; None lets the message take its normal path."""
    if ISSUE_RE.match(text):
        return _issue(session, conversation, channel)
    if (match := USE_RE.match(text)) is not None:
        return _use(session, conversation, channel, external_id, match.group(1))
    if UNLINK_RE.match(text):
        return _unlink(session, conversation, channel, external_id)
    return None


def _issue(session: Session, conversation: Conversation, channel: str) -> CommandResult:
    for _ in range(10):
        code = f"{secrets.randbelow(10**6):06d}"
        existing = session.get(LinkCode, code)
        if existing is None or existing.used_at is not None or as_utc(existing.expires_at) < utcnow():
            if existing is not None:
                session.delete(existing)
                session.flush()
            break
    session.add(LinkCode(code=code, citizen_id=conversation.citizen_id, issued_channel=channel,
                         expires_at=utcnow() + CODE_TTL))
    session.flush()
    return CommandResult(
        conversation,
        f"您的关联码是 {code}（10分钟内有效，仅可使用一次）。请在另一渠道（网页、微信或App）发送“关联 {code}”，"
        "即可在该渠道继续本次会话。请勿将关联码告诉他人。",
    )


def _use(session: Session, conversation: Conversation, channel: str, external_id: str, code: str) -> CommandResult:
    link = session.get(LinkCode, code)
    now = utcnow()
    if link is None or link.used_at is not None or link.failures >= MAX_FAILURES or as_utc(link.expires_at) < now:
        return CommandResult(conversation, "关联码无效或已过期，请在原渠道发送“绑定账号”重新获取。")
    identity = _identity(session, channel, external_id)
    if identity.citizen_id == link.citizen_id:
        return CommandResult(conversation, "该渠道已与您的账号关联，无需重复操作。")
    link.used_at = now
    previous_citizen = identity.citizen_id
    identity.citizen_id = link.citizen_id
    session.flush()
    # the conversation the citizen started here before linking ends; the linked one continues
    target = _open_conversation(session, link.citizen_id)
    if target is None:
        target = Conversation(citizen_id=link.citizen_id, channel=channel, mode=ConversationMode.BOT)
        session.add(target)
        session.flush()
    if conversation.citizen_id == previous_citizen and conversation.id != target.id and conversation.mode == ConversationMode.BOT:
        conversation.mode = ConversationMode.CLOSED
        conversation.closed_at = now
    target.channel = channel
    source = CHANNEL_NAMES.get(link.issued_channel, link.issued_channel)
    return CommandResult(target, f"关联成功！您在{source}渠道的会话将在这里继续，历史记录与人工排队均已同步。")


def _unlink(session: Session, conversation: Conversation, channel: str, external_id: str) -> CommandResult:
    identity = _identity(session, channel, external_id)
    others = session.scalar(
        select(func.count()).select_from(ChannelIdentity).where(
            ChannelIdentity.citizen_id == identity.citizen_id, ChannelIdentity.id != identity.id
        )
    )
    if not others:
        return CommandResult(conversation, "当前渠道没有与其他渠道关联，无需解除。")
    citizen = CitizenIdentity()
    session.add(citizen)
    session.flush()
    identity.citizen_id = citizen.id
    fresh = Conversation(citizen_id=citizen.id, channel=channel, mode=ConversationMode.BOT)
    session.add(fresh)
    session.flush()
    return CommandResult(fresh, "已解除关联。此后本渠道的会话将单独记录，其他渠道不受影响。")
