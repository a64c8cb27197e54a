"""Map a tapped menu link or a typed number back to the button payload it stands for.

The buttons of the bot's latest answer are in the transcript (outbound messages after the
citizen's last message, ``payload["buttons"]``), numbered the way :mod:`connectors.wechat.render`
numbered them. Only a tap (``bizmsgmenuid``) or, in numbered style, a bare number is mapped: free
text is never rewritten.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from connectors.conversations.models import ChannelIdentity, Conversation, ConversationMode, Message, MessageDirection
from connectors.db import Database

_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.。]?\s*$")


def latest_buttons(db: Database, channel: str, external_id: str) -> list[dict[str, str]]:
    with db.session() as session:
        identity = session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if identity is None:
            return []
        conversation = session.scalar(
            select(Conversation)
            .where(Conversation.citizen_id == identity.citizen_id, Conversation.mode != ConversationMode.CLOSED)
            .order_by(Conversation.created_at.desc())
        )
        if conversation is None:
            return []
        last_inbound = session.scalar(
            select(Message.seq)
            .where(Message.conversation_id == conversation.id, Message.direction == MessageDirection.INBOUND)
            .order_by(Message.seq.desc())
            .limit(1)
        )
        outbound = session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == MessageDirection.OUTBOUND,
                Message.seq > (last_inbound or 0),
            )
            .order_by(Message.seq)
        )
        return [b for m in outbound for b in (m.payload or {}).get("buttons", []) if isinstance(b, dict)]


def resolve_choice(
    db: Database, channel: str, external_id: str, text: str, menu_id: str | None, numbered: bool
) -> str:
    """The payload the citizen chose, or ``text`` unchanged."""
    index: int | None = None
    if menu_id and menu_id.strip().isdigit():
        index = int(menu_id.strip())
    elif numbered and (match := _NUMBER.match(text)):
        index = int(match.group(1))
    if index is None:
        return text
    buttons = latest_buttons(db, channel, external_id)
    if 1 <= index <= len(buttons):
        payload = str(buttons[index - 1].get("payload") or "").strip()
        return payload or text
    return text
