"""Queueing a conversation for a person and telling the citizen where they stand."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.conversations.models import Conversation, ConversationMode
from connectors.db import utcnow
from connectors.handoff.models import HandoffTicket, TicketStatus


def open_ticket(session: Session, conversation: Conversation) -> HandoffTicket | None:
    return session.scalar(
        select(HandoffTicket)
        .where(
            HandoffTicket.conversation_id == conversation.id,
            HandoffTicket.status.in_([TicketStatus.WAITING, TicketStatus.ASSIGNED]),
        )
        .order_by(HandoffTicket.id.desc())
    )


def queue_position(session: Session, ticket: HandoffTicket) -> int:
    """1-based place in the ticket's skill queue (tickets waiting longer come first)."""
    ahead = session.scalar(
        select(func.count())
        .select_from(HandoffTicket)
        .where(
            HandoffTicket.skill == ticket.skill,
            HandoffTicket.status == TicketStatus.WAITING,
            HandoffTicket.id < ticket.id,
        )
    )
    return int(ahead or 0) + 1


def request_handoff(session: Session, conversation: Conversation, skill: str, reason: str) -> HandoffTicket:
    """Put the conversation in the queue; asking again keeps the original place."""
    existing = open_ticket(session, conversation)
    if existing is not None:
        return existing
    ticket = HandoffTicket(conversation_id=conversation.id, skill=skill, reason=reason)
    session.add(ticket)
    conversation.mode = ConversationMode.QUEUED
    conversation.skill = skill
    conversation.updated_at = utcnow()
    session.flush()
    return ticket


def cancel_handoff(session: Session, conversation: Conversation) -> bool:
    """The citizen leaves the queue and the bot answers again."""
    ticket = open_ticket(session, conversation)
    if ticket is None or ticket.status != TicketStatus.WAITING:
        return False
    ticket.status = TicketStatus.ABANDONED
    ticket.closed_at = utcnow()
    conversation.mode = ConversationMode.BOT
    return True


def queue_notice(position: int) -> str:
    if position <= 1:
        return "正在为您转接人工客服，您已排在第一位，请稍候。"
    return f"正在为您转接人工客服，您前面还有 {position - 1} 人，请稍候。"
