"""Queueing a conversation for a person, handing it to an agent, and back to the bot.

Every function works inside the caller's unit of work (a SQLAlchemy session) and writes each mode
change into the transcript as a system message, so agents, the citizen's history and the audit
all tell the same story. Pushing to the citizen and to agent consoles happens after commit, in
:mod:`connectors.handoff.desk`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.conversations import service as store
from connectors.conversations.models import Conversation, ConversationMode, Message, MessageAuthor, MessageDirection
from connectors.db import as_utc, utcnow
from connectors.handoff.models import HandoffTicket, TicketStatus

CONTACT_12345_PAYLOAD = "/contact_12345"
WORK_ORDER_BUTTON = {"title": "提交12345工单", "payload": CONTACT_12345_PAYLOAD}
CANCEL_QUEUE_BUTTON = {"title": "取消排队，返回智能客服", "payload": "/cancel_handoff"}
RATING_BUTTONS = [
    {"title": "非常满意", "payload": '/rate{"score": 5}'},
    {"title": "满意", "payload": '/rate{"score": 4}'},
    {"title": "一般", "payload": '/rate{"score": 3}'},
    {"title": "不满意", "payload": '/rate{"score": 2}'},
    {"title": "非常不满意", "payload": '/rate{"score": 1}'},
]
OPEN_STATUSES = (TicketStatus.WAITING, TicketStatus.ASSIGNED)
# how many recent tickets feed the ETA
ETA_SAMPLE = 20


class HandoffError(Exception):
    """A refused handoff operation, with the HTTP status the API should answer."""

    def __init__(self, status: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status, self.code, self.message_zh, self.message_en = status, code, message_zh, message_en


@dataclass(frozen=True)
class Notice:
    """A system message for the citizen: stored in the transcript, then pushed on their channel."""

    conversation_id: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


# --- tickets and the queue ------------------------------------------------------------------------


def open_ticket(session: Session, conversation: Conversation) -> HandoffTicket | None:
    return session.scalar(
        select(HandoffTicket)
        .where(HandoffTicket.conversation_id == conversation.id, HandoffTicket.status.in_(OPEN_STATUSES))
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
    """Put the conversation in the queue; asking again keeps the original place (and is counted)."""
    existing = open_ticket(session, conversation)
    if existing is not None:
        existing.asks += 1
        return existing
    ticket = HandoffTicket(conversation_id=conversation.id, skill=skill, reason=reason)
    session.add(ticket)
    conversation.mode = ConversationMode.QUEUED
    conversation.skill = skill
    conversation.assigned_agent_id = None
    conversation.updated_at = utcnow()
    session.flush()
    ticket.last_position = queue_position(session, ticket)
    return ticket


def cancel_handoff(session: Session, conversation: Conversation, outcome: str = "abandoned") -> bool:
    """The citizen leaves the queue (gives up, or takes a 12345 work order) and the bot answers again."""
    ticket = open_ticket(session, conversation)
    if ticket is None or ticket.status != TicketStatus.WAITING:
        return False
    ticket.status = TicketStatus.ABANDONED if outcome == "abandoned" else TicketStatus.DIVERTED
    ticket.outcome = outcome
    ticket.closed_at = utcnow()
    conversation.mode = ConversationMode.BOT
    return True


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def queue_notice(position: int, eta_s: float | None = None) -> str:
    eta = f"预计等待约 {_minutes(eta_s)} 分钟，" if eta_s is not None else ""
    if position <= 1:
        return f"正在为您转接人工客服，您已排在第一位，{eta}请稍候。"
    return f"正在为您转接人工客服，您前面还有 {position - 1} 人，{eta}请稍候。"


# --- who can answer, and when ---------------------------------------------------------------------


def online_agents(session: Session, skill: str | None, window_s: int, now: dt.datetime | None = None) -> list[Any]:
    """Active agents seen within ``window_s`` that serve ``skill`` (any skill when None)."""
    from connectors.agents.models import Agent  # the agents package builds on handoff, not the reverse

    since = (now or utcnow()) - dt.timedelta(seconds=window_s)
    agents = session.scalars(select(Agent).where(Agent.active.is_(True), Agent.last_seen_at >= since))
    return [a for a in agents if skill is None or skill in (a.skills or [])]


def serving_skill(session: Session, skill: str, default_skill: str, window_s: int) -> str:
    """The queue to use: the topic's own if anyone serves it, else the general queue."""
    from connectors.agents.models import Agent

    if skill == default_skill:
        return skill
    for agent in session.scalars(select(Agent).where(Agent.active.is_(True))):
        if skill in (agent.skills or []):
            return skill
    return default_skill




def eta_seconds(session: Session, skill: str, position: int, agents_online: int, default_handle_s: int) -> float:
    """Expected wait: median recent handling time × the rounds of service needed before this place."""
    rows = session.execute(
        select(HandoffTicket.assigned_at, HandoffTicket.closed_at)
        .where(HandoffTicket.skill == skill, HandoffTicket.status == TicketStatus.CLOSED,
               HandoffTicket.assigned_at.is_not(None), HandoffTicket.closed_at.is_not(None))
        .order_by(HandoffTicket.closed_at.desc())
        .limit(ETA_SAMPLE)
    ).all()
    durations = [(as_utc(c) - as_utc(a)).total_seconds() for a, c in rows]
    handle = statistics.median(durations) if durations else float(default_handle_s)
    return handle * math.ceil(position / max(1, agents_online))


def staffed_now(center_id: str, category: str, now: dt.datetime | None = None) -> tuple[bool, str]:
    """Whether the agent desk is staffed, by the hours engine; (open, plain reason for the citizen)."""
    if not center_id:
        return True, ""
    from connectors.hours.views import hours_data
    from knowledge_base.hours import check_open, to_beijing

    centers, calendar = hours_data()
    center = centers.get(center_id)
    if center is None:  # a misconfigured desk must not strand citizens in a queue nobody watches
        return False, "人工客服暂未开通"
    status = check_open(center, category, to_beijing(now or utcnow()), calendar)
    if status.open:
        return True, ""
    when = ""
    if status.next_open is not None:
        from knowledge_base.hours.engine import fmt_moment

        when = f"，下次服务时间为 {fmt_moment(to_beijing(status.next_open))}"
    return False, f"现在不在人工客服服务时间{when}"


# --- the citizen asks for a person ----------------------------------------------------------------


def admit(
    session: Session,
    conversation: Conversation,
    *,
    skill: str,
    reason: str,
    settings: Any,
    now: dt.datetime | None = None,
) -> list[tuple[str, list[dict[str, str]]]]:
    """Queue the conversation or say plainly why not; returns the system replies (text, buttons).

    Outside staffed hours nobody is queued: a ticket records the diverted request (for metrics)
    and the citizen is offered a 12345 work order. With nobody online the citizen keeps a place in
    the queue but is told so and offered the work order as well.
    """
    open_, why = staffed_now(settings.staffed_center, settings.staffed_category, now)
    if not open_:
        session.add(HandoffTicket(conversation_id=conversation.id, skill=skill, reason=reason,
                                  status=TicketStatus.DIVERTED, outcome="outside_hours", closed_at=utcnow()))
        return [(f"{why}。您可以提交12345工单，工作人员会在工作时间联系您处理。", [WORK_ORDER_BUTTON])]
    skill = serving_skill(session, skill, settings.default_skill, settings.agent_online_s)
    ticket = request_handoff(session, conversation, skill=skill, reason=reason)
    position = queue_position(session, ticket)
    online = len(online_agents(session, ticket.skill, settings.agent_online_s, now))
    if online == 0:
        return [
            (queue_notice(position), [CANCEL_QUEUE_BUTTON]),
            ("目前暂无人工客服在线，等待时间可能较长。您可以继续等待，也可以提交12345工单，由工作人员联系您。",
             [WORK_ORDER_BUTTON, CANCEL_QUEUE_BUTTON]),
        ]
    eta = eta_seconds(session, ticket.skill, position, online, settings.default_handle_s)
    return [(queue_notice(position, eta), [CANCEL_QUEUE_BUTTON])]


def status_notice(session: Session, ticket: HandoffTicket, settings: Any) -> str:
    """Where a waiting citizen stands now (answers their messages while queued)."""
    position = queue_position(session, ticket)
    ticket.last_position = position
    online = len(online_agents(session, ticket.skill, settings.agent_online_s))
    if online == 0:
        return queue_notice(position) + "目前暂无人工客服在线。"
    return queue_notice(position, eta_seconds(session, ticket.skill, position, online, settings.default_handle_s))


# --- agents ---------------------------------------------------------------------------------------


def _system(session: Session, conversation: Conversation, text: str, buttons: list[dict[str, str]] | None = None) -> Message:
    return store.add_message(session, conversation, direction=MessageDirection.OUTBOUND, author=MessageAuthor.SYSTEM,
                             text=text, channel=conversation.channel,
                             payload={"buttons": buttons} if buttons else None, status="sent")


def assigned_count(session: Session, agent_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(HandoffTicket).where(
        HandoffTicket.agent_id == agent_id, HandoffTicket.status == TicketStatus.ASSIGNED)) or 0)


def take(session: Session, ticket_id: int, agent: Any) -> HandoffTicket:
    """Assign a waiting ticket to ``agent``; exactly one of several racing agents wins.

    The conditional UPDATE (``… WHERE status = 'waiting'``) is the arbiter: the database applies it
    to one transaction at a time, and a loser sees ``rowcount == 0`` and gets 409.
    """
    ticket = session.get(HandoffTicket, ticket_id)
    if ticket is None:
        raise HandoffError(404, "ticket_not_found", "排队记录不存在", "ticket not found")
    if ticket.skill not in (agent.skills or []):
        raise HandoffError(403, "skill_forbidden", "您不负责该技能队列", "not one of your skill queues")
    full = HandoffError(409, "capacity_reached", f"您同时接待的会话已达上限（{agent.capacity} 个）", "capacity reached")
    # PostgreSQL: one take per agent at a time (the row lock); SQLite serializes writers anyway
    from connectors.agents.models import Agent

    session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())
    if assigned_count(session, agent.id) >= agent.capacity:
        raise full
    now = utcnow()
    result = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status == TicketStatus.WAITING)
        .values(status=TicketStatus.ASSIGNED, agent_id=agent.id, assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise HandoffError(409, "already_taken", "该会话已被其他客服接入或已结束", "already taken or no longer waiting")
    if assigned_count(session, agent.id) > agent.capacity:  # a concurrent take by the same agent won; undo ours
        raise full
    session.refresh(ticket)
    conversation = session.get(Conversation, ticket.conversation_id)
    assert conversation is not None
    conversation.mode = ConversationMode.AGENT
    conversation.assigned_agent_id = agent.id
    _system(session, conversation, f"人工客服（{agent.name}）已接入，请问有什么可以帮您？")
    return ticket


def assigned_ticket(session: Session, conversation_id: str, agent_id: str) -> HandoffTicket:
    ticket = session.scalar(select(HandoffTicket).where(
        HandoffTicket.conversation_id == conversation_id, HandoffTicket.status == TicketStatus.ASSIGNED))
    if ticket is None or ticket.agent_id != agent_id:
        raise HandoffError(403, "not_assigned", "该会话未分配给您", "conversation is not assigned to you")
    return ticket


def transfer(session: Session, ticket: HandoffTicket, skill: str) -> HandoffTicket:
    """Send the chat to another skill's queue; a new ticket continues the same request."""
    conversation = session.get(Conversation, ticket.conversation_id)
    assert conversation is not None
    ticket.status, ticket.outcome, ticket.closed_at = TicketStatus.TRANSFERRED, "transferred", utcnow()
    successor = HandoffTicket(conversation_id=conversation.id, skill=skill, reason="transfer",
                              transferred_from=ticket.transferred_from or ticket.id)
    session.add(successor)
    conversation.mode, conversation.skill, conversation.assigned_agent_id = ConversationMode.QUEUED, skill, None
    session.flush()
    successor.last_position = queue_position(session, successor)
    _system(session, conversation, f"您的会话已转接至“{skill}”人工客服队列。{queue_notice(successor.last_position)}",
            [CANCEL_QUEUE_BUTTON])
    return successor


def end(session: Session, ticket: HandoffTicket) -> Conversation:
    """The agent is done: back to the bot, with a satisfaction prompt for the citizen."""
    conversation = session.get(Conversation, ticket.conversation_id)
    assert conversation is not None
    ticket.status, ticket.outcome, ticket.closed_at = TicketStatus.CLOSED, "served", utcnow()
    # assigned_agent_id stays: it names the agent the citizen's satisfaction rating is about
    conversation.mode = ConversationMode.BOT
    _system(session, conversation, "人工服务已结束，智能客服继续为您服务。请您对本次人工服务进行评价：", RATING_BUTTONS)
    return conversation


RATE_RE = re.compile(r'^\s*/rate\s*\{\s*"score"\s*:\s*([1-5])\s*\}\s*$')


def rate_agent(session: Session, conversation: Conversation, text: str) -> str | None:
    """A press on the satisfaction buttons after an agent chat, stored as that agent's rating.

    Returns the thank-you reply, or None when ``text`` is not such a rating (the bot handles it).
    Rating again updates the score (one rating per conversation and agent, as the feedback API does).
    """
    match = RATE_RE.match(text)
    if match is None or conversation.mode != ConversationMode.BOT or not conversation.assigned_agent_id:
        return None
    from connectors.feedback.models import Rating  # feedback owns the table; handoff only feeds it

    subject = f"agent:{conversation.assigned_agent_id}"
    row = session.scalar(select(Rating).where(Rating.conversation_id == conversation.id, Rating.subject == subject))
    if row is None:
        session.add(Rating(conversation_id=conversation.id, subject=subject, score=int(match.group(1))))
    else:
        row.score = int(match.group(1))
    return "感谢您的评价！智能客服继续为您服务，请问还有什么可以帮您？"


# --- queue movement and overdue waits --------------------------------------------------------------


def queue_moves(session: Session, skill: str, settings: Any) -> list[Notice]:
    """Tell every waiting citizen of ``skill`` whose place changed where they stand now."""
    notices: list[Notice] = []
    waiting = session.scalars(select(HandoffTicket).where(
        HandoffTicket.skill == skill, HandoffTicket.status == TicketStatus.WAITING).order_by(HandoffTicket.id))
    for position, ticket in enumerate(list(waiting), start=1):
        if ticket.last_position == position:
            continue
        ticket.last_position = position
        conversation = session.get(Conversation, ticket.conversation_id)
        if conversation is None:
            continue
        online = len(online_agents(session, skill, settings.agent_online_s))
        eta = eta_seconds(session, skill, position, online, settings.default_handle_s) if online else None
        text = "排队更新：" + queue_notice(position, eta)
        _system(session, conversation, text, [CANCEL_QUEUE_BUTTON])
        notices.append(Notice(conversation.id, text, [CANCEL_QUEUE_BUTTON]))
    return notices


def overdue(session: Session, settings: Any, now: dt.datetime | None = None) -> list[Notice]:
    """Citizens who waited longer than ``max_wait_s``: told plainly, offered a 12345 work order (once)."""
    limit = (now or utcnow()) - dt.timedelta(seconds=settings.max_wait_s)
    notices: list[Notice] = []
    for ticket in session.scalars(select(HandoffTicket).where(
            HandoffTicket.status == TicketStatus.WAITING, HandoffTicket.overdue_notified.is_(False),
            HandoffTicket.created_at <= limit).with_for_update(skip_locked=True)):  # one sweep per ticket
        ticket.overdue_notified = True
        conversation = session.get(Conversation, ticket.conversation_id)
        if conversation is None:
            continue
        text = (f"很抱歉，您已等待超过 {_minutes(settings.max_wait_s)} 分钟，人工客服仍然繁忙。"
                "您可以继续等待，也可以提交12345工单，由工作人员联系您。")
        buttons = [WORK_ORDER_BUTTON, CANCEL_QUEUE_BUTTON]
        _system(session, conversation, text, buttons)
        notices.append(Notice(conversation.id, text, buttons))
    return notices


# --- metrics --------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(q * len(ordered)) - 1)  # nearest-rank
    return round(ordered[rank], 1)


def metrics(session: Session, since: dt.datetime | None = None) -> dict[str, Any]:
    """Handoff quality over requests made since ``since`` (transfers belong to their original request).

    * one-time connection rate: requests that reached an agent with no repeated ask and no diversion,
      over requests that have an outcome (still-waiting requests are not yet decided);
    * wait p50/p90: seconds from request to an agent taking it;
    * abandonment: requests the citizen gave up on while waiting.
    """
    query = select(HandoffTicket).where(HandoffTicket.transferred_from.is_(None))
    if since is not None:
        query = query.where(HandoffTicket.created_at >= since)
    originals = list(session.scalars(query))
    decided = [t for t in originals if t.status != TicketStatus.WAITING]
    connected = [t for t in decided if t.assigned_at is not None or t.status == TicketStatus.ASSIGNED]
    one_time = [t for t in connected if t.asks <= 1 and t.status != TicketStatus.DIVERTED]
    abandoned = [t for t in decided if t.status == TicketStatus.ABANDONED]
    diverted = [t for t in decided if t.status == TicketStatus.DIVERTED]
    waits = [(as_utc(t.assigned_at) - as_utc(t.created_at)).total_seconds() for t in connected if t.assigned_at]
    return {
        "requests": len(originals),
        "decided": len(decided),
        "waiting": len(originals) - len(decided),
        "connected": len(connected),
        "abandoned": len(abandoned),
        "diverted": len(diverted),
        "one_time_connection_rate": round(len(one_time) / len(decided), 4) if decided else None,
        "abandonment_rate": round(len(abandoned) / len(decided), 4) if decided else None,
        "wait_seconds_p50": _percentile(waits, 0.5),
        "wait_seconds_p90": _percentile(waits, 0.9),
    }
