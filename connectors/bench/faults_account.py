"""Counting what happened to every message and order of a fault run, from the stores themselves.

The citizens' own records (:class:`~connectors.bench.faults_traffic.Sent`) say what the gateway
accepted; the conversation store says what became of it after recovery; the 12345 simulator and
the fake WeChat API say what reached the outside world. Definitions:

* ``accepted`` — a message the gateway answered 2xx at least once (any retry).
* ``answered`` — accepted, and the transcript holds a reply to it (bot, system or a degraded
  "系统繁忙" notice) or it was routed to the agents' queue.
* ``degraded`` — answered only by the "系统繁忙" notice (Rasa or the action server down).
* ``lost`` — accepted but not in the transcript, or in it with no reply and not routed to agents.
* ``duplicated`` — an inbound stored twice, a reply stored twice for one inbound, or a reply that
  reached a WeChat citizen more often than the transcript says it was sent.
* ``orders_delivered_once`` — work orders whose idempotency key 12345 holds exactly once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from connectors.bench.faults_traffic import BUSY_MARK, Sent
from connectors.conversations.models import ChannelIdentity, Conversation, ConversationMode, Message, MessageDirection
from connectors.db import Database


@dataclass
class Accounting:
    accepted: int = 0
    answered: int = 0
    degraded: int = 0
    routed_to_agents: int = 0
    lost: int = 0
    duplicated: int = 0
    duplicated_inbound: int = 0
    duplicated_replies: int = 0
    duplicated_wechat_sends: int = 0
    not_accepted: int = 0
    lost_samples: list[dict[str, Any]] = field(default_factory=list)
    not_accepted_samples: list[dict[str, Any]] = field(default_factory=list)
    duplicate_samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: str
    key: str | None
    status: str
    replies: tuple[str, ...]
    buttons: tuple[tuple[dict[str, str], ...], ...] = ()  # per reply, as the channel renders them


def load_store(db: Database) -> tuple[dict[tuple[str, str], set[str]], dict[str, list[StoredMessage]], dict[str, str]]:
    """(channel, external id) → conversation ids; inbound key → stored messages; conversation → mode."""
    with db.session() as session:
        identities = session.execute(select(ChannelIdentity.channel, ChannelIdentity.external_id,
                                            ChannelIdentity.citizen_id)).all()
        conversations = session.execute(select(Conversation.id, Conversation.citizen_id, Conversation.mode)).all()
        rows = session.execute(select(Message.id, Message.conversation_id, Message.channel_message_id,
                                      Message.status, Message.direction, Message.reply_to_id, Message.text,
                                      Message.seq, Message.payload)).all()
    by_citizen: dict[str, set[str]] = defaultdict(set)
    modes: dict[str, str] = {}
    for conv_id, citizen_id, mode in conversations:
        by_citizen[citizen_id].add(conv_id)
        modes[conv_id] = mode
    conv_of = {(channel, ext): by_citizen.get(citizen, set()) for channel, ext, citizen in identities}
    replies: dict[int, list[tuple[int, str, tuple[dict[str, str], ...]]]] = defaultdict(list)
    for row in rows:
        if row.direction == MessageDirection.OUTBOUND and row.reply_to_id is not None:
            buttons = tuple((row.payload or {}).get("buttons") or ()) if isinstance(row.payload, dict) else ()
            replies[row.reply_to_id].append((row.seq, row.text, buttons))
    inbound: dict[str, list[StoredMessage]] = defaultdict(list)
    for row in rows:
        if row.direction == MessageDirection.INBOUND and row.channel_message_id:
            ordered = sorted(replies.get(row.id, []), key=lambda r: r[0])
            inbound[row.channel_message_id].append(StoredMessage(
                row.id, row.conversation_id, row.channel_message_id, row.status,
                tuple(t for _, t, _ in ordered), tuple(b for _, _, b in ordered)))
    return conv_of, inbound, modes


def account(sent: list[Sent], db: Database, wechat_sends: dict[str, Counter[str]] | None = None) -> Accounting:
    conv_of, inbound, modes = load_store(db)
    acc = Accounting()
    expected_sends: dict[str, Counter[str]] = defaultdict(Counter)
    for s in sent:
        if not s.accepted:  # the client was told (error, refusal, or nothing at all): not ours to answer
            acc.not_accepted += 1
            acc.not_accepted_samples.append({"channel": s.channel, "text": s.text[:40], "statuses": s.statuses[-6:]})
            continue
        acc.accepted += 1
        conversations = conv_of.get((s.channel, s.external_id), set())
        stored = [m for m in inbound.get(s.key, []) if m.conversation_id in conversations]
        sample = {"channel": s.channel, "key": s.key, "text": s.text[:40], "statuses": s.statuses[-6:]}
        if not stored:
            acc.lost += 1
            acc.lost_samples.append({**sample, "why": "not in the transcript"})
            continue
        if len(stored) > 1:
            acc.duplicated_inbound += 1
            acc.duplicate_samples.append({**sample, "why": f"stored {len(stored)} times"})
        message = stored[0]
        if any(n > 1 for n in Counter(message.replies).values()):
            acc.duplicated_replies += 1
            acc.duplicate_samples.append({**sample, "why": "a reply stored twice", "replies": list(message.replies)})
        if message.replies:
            acc.answered += 1
            if all(BUSY_MARK in r for r in message.replies):
                acc.degraded += 1
        elif message.status == "routed" or modes.get(message.conversation_id) in (ConversationMode.QUEUED,
                                                                                  ConversationMode.AGENT):
            acc.answered += 1
            acc.routed_to_agents += 1
        else:
            acc.lost += 1
            acc.lost_samples.append({**sample, "why": f"no reply, status {message.status}"})
        if s.channel == "wechat":
            expected_sends[s.external_id].update(_custom_send_pieces(message, s.replies))
    if wechat_sends is not None:
        for openid, counts in wechat_sends.items():
            for text, n in counts.items():
                extra = n - expected_sends[openid][text]
                if extra > 0:
                    acc.duplicated_wechat_sends += extra
                    acc.duplicate_samples.append({"channel": "wechat", "openid": openid, "text": text[:40],
                                                  "why": f"sent {n} times, expected {n - extra}"})
    acc.duplicated = acc.duplicated_inbound + acc.duplicated_replies + acc.duplicated_wechat_sends
    acc.lost_samples, acc.duplicate_samples = acc.lost_samples[:10], acc.duplicate_samples[:10]
    acc.not_accepted_samples = acc.not_accepted_samples[:10]
    return acc


def _custom_send_pieces(message: StoredMessage, passive: list[str]) -> list[str]:
    """The customer-service messages the transcript allows for one WeChat message.

    Replies are rendered the way the channel renders them; those contained in the passive reply
    the citizen already got are not expected again.
    """
    from connectors.message_router import Reply
    from connectors.wechat.render import MENU, reply_texts, split_text

    pieces: list[str] = []
    buttons = message.buttons or ((),) * len(message.replies)
    for text in reply_texts([Reply(r, list(b)) for r, b in zip(message.replies, buttons)], MENU):
        if text and not any(text in p for p in passive):
            pieces += split_text(text)
    return pieces


def account_orders(db: Database, hotline_orders: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Orders in our outbox vs orders 12345 holds (its dict is keyed by idempotency key)."""
    from connectors.hotline12345.models import Outbox, WorkOrder

    with db.session() as session:
        orders = session.execute(select(WorkOrder.number, Outbox.idempotency_key, Outbox.status, Outbox.attempts)
                                 .join(Outbox, Outbox.work_order_id == WorkOrder.id, isouter=True)).all()
    numbers = Counter(o.get("order_no") for o in hotline_orders.values())
    delivered_once = sum(1 for o in orders if o.idempotency_key in hotline_orders and numbers[o.number] == 1)
    return {
        "orders_sent": len(orders),
        "orders_delivered_once": delivered_once,
        "orders_undelivered": sum(1 for o in orders if o.idempotency_key not in hotline_orders),
        "orders_duplicated_at_12345": sum(n - 1 for n in numbers.values() if n > 1),
        "orders_max_attempts": max((o.attempts or 0 for o in orders), default=0),
    }
