"""Telling a citizen about their order later, on the channel they used: transcript first, then push."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from connectors.conversations.models import ChannelIdentity, Conversation

if TYPE_CHECKING:
    from connectors.channels.base import Channel
    from connectors.db import Database
    from connectors.message_router import Reply


def external_user_id(db: Database, conversation_id: str) -> tuple[str, str] | None:
    """(channel, the citizen's id on it) for the conversation, or None."""
    with db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        external = session.scalar(
            select(ChannelIdentity.external_id).where(
                ChannelIdentity.citizen_id == conversation.citizen_id, ChannelIdentity.channel == conversation.channel
            ).order_by(ChannelIdentity.id.desc())
        )
        return (conversation.channel, external) if external else None


async def push_to_citizen(db: Database, channels: Mapping[str, Channel], conversation_id: str,
                          replies: list[Reply]) -> bool:
    """Deliver already-stored replies; False when the citizen cannot be reached now (they stay in the transcript)."""
    found = await run_in_threadpool(external_user_id, db, conversation_id)
    if found is None:
        return False
    channel = channels.get(found[0])
    if channel is None:
        return False
    return await channel.push(found[1], conversation_id, replies)
