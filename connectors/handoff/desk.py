"""The live side of handoff: agent console fan-out and pushes to citizens after each commit.

:mod:`connectors.handoff.service` changes the database; the desk runs those changes in a worker
thread, then tells the agents (WebSocket events through :class:`AgentHub`, or :class:`RedisAgentHub`
when several gateways share ``[redis] url``) and the citizen (their channel's ``push``). A background
sweep offers a 12345 work order to citizens who waited too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from connectors.conversations.models import ChannelIdentity, Conversation
from connectors.handoff import service as handoff
from connectors.handoff.service import Notice
from connectors.redis_bus import RedisBus

if TYPE_CHECKING:
    from connectors.channels.base import Channel
    from connectors.gateway import Gateway

log = logging.getLogger(__name__)
T = TypeVar("T")


class AgentHub:
    """In-process fan-out to connected agent consoles, by agent id and by skill.

    The sending methods are coroutines so that :class:`RedisAgentHub` (several gateways) can share
    the interface; here they never wait.
    """

    def __init__(self, queue_size: int = 200) -> None:
        self._sockets: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._skills: dict[str, set[str]] = {}
        self._size = queue_size

    @asynccontextmanager
    async def subscribe(self, agent_id: str, skills: list[str]) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._size)
        self._sockets[agent_id].add(queue)
        self._skills[agent_id] = set(skills)
        try:
            yield queue
        finally:
            self._sockets[agent_id].discard(queue)
            if not self._sockets[agent_id]:
                del self._sockets[agent_id]
                self._skills.pop(agent_id, None)

    def _put(self, agent_id: str, event: dict[str, Any]) -> int:
        sent = 0
        for queue in list(self._sockets.get(agent_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
                sent += 1
        return sent

    async def to_agent(self, agent_id: str | None, event: dict[str, Any]) -> int:
        return self._put(agent_id, event) if agent_id else 0

    async def to_skill(self, skill: str | None, event: dict[str, Any]) -> int:
        return sum(self._put(a, event) for a, skills in list(self._skills.items()) if skill in skills)

    async def to_all(self, event: dict[str, Any]) -> int:
        return sum(self._put(a, event) for a in list(self._sockets))

    def connected(self) -> list[str]:
        return list(self._sockets)


class RedisAgentHub:
    """:class:`AgentHub` across gateways: every event goes through one Redis channel, ``<prefix>:agents``.

    Agents are few (tens, not thousands), so one channel that every gateway with a console open
    listens on is simpler than a channel per agent or skill; each socket keeps only the events for
    its agent or skills. The counts returned are gateways reached, not sockets.
    """

    def __init__(self, bus: RedisBus, key_prefix: str, queue_size: int = 200) -> None:
        self._bus = bus
        self._channel = f"{key_prefix}:agents"
        self._size = queue_size
        self._local: dict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def subscribe(self, agent_id: str, skills: list[str]) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._size)
        mine = set(skills)

        def deliver(message: dict[str, Any]) -> None:
            to, key = message.get("to"), message.get("key")
            if to == "all" or (to == "agent" and key == agent_id) or (to == "skill" and key in mine):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(message["event"])

        self._local[agent_id] += 1
        try:
            async with self._bus.listen(self._channel, deliver):
                yield queue
        finally:
            self._local[agent_id] -= 1
            if not self._local[agent_id]:
                del self._local[agent_id]

    async def to_agent(self, agent_id: str | None, event: dict[str, Any]) -> int:
        return await self._bus.publish(self._channel, {"to": "agent", "key": agent_id, "event": event}) if agent_id else 0

    async def to_skill(self, skill: str | None, event: dict[str, Any]) -> int:
        return await self._bus.publish(self._channel, {"to": "skill", "key": skill, "event": event})

    async def to_all(self, event: dict[str, Any]) -> int:
        return await self._bus.publish(self._channel, {"to": "all", "key": None, "event": event})

    def connected(self) -> list[str]:
        """Agents with a console open on this gateway."""
        return list(self._local)


def build_agent_hub(bus: RedisBus | None, key_prefix: str = "govbot") -> AgentHub | RedisAgentHub:
    return RedisAgentHub(bus, key_prefix) if bus is not None else AgentHub()


class HandoffDesk:
    def __init__(self, gateway: Gateway, channels: dict[str, Channel], sweep_interval_s: float = 15.0) -> None:
        self.gateway = gateway
        self.channels = channels
        self.hub = build_agent_hub(gateway.bus, gateway.settings.redis.key_prefix)
        self.sweep_interval_s = sweep_interval_s
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Any:
        return self.gateway.settings.handoff

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in one committed unit of work, off the event loop."""

        def work() -> T:
            with self.gateway.db.session() as session:
                return fn(session, *args)

        return await run_in_threadpool(work)

    # --- citizens ---------------------------------------------------------------------------

    def _address(self, session: Any, conversation_id: str) -> tuple[str, str] | None:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        external = session.scalar(select(ChannelIdentity.external_id).where(
            ChannelIdentity.citizen_id == conversation.citizen_id, ChannelIdentity.channel == conversation.channel))
        return (conversation.channel, external) if external else None

    async def push_citizen(self, conversation_id: str, text: str, buttons: list[dict[str, str]] | None = None,
                           author: str = "system") -> bool:
        """Deliver an already-stored message on the citizen's own channel."""
        from connectors.message_router import Reply

        address = await self.run(self._address, conversation_id)
        if address is None or address[0] not in self.channels:
            return False
        channel, external_id = address
        try:
            return await self.channels[channel].push(external_id, conversation_id,
                                                     [Reply(text, list(buttons or []), author)])
        except Exception:  # an unreachable citizen must not fail the agent's action; the transcript has it
            log.exception("push to conversation %s failed", conversation_id)
            return False

    async def announce(self, notices: list[Notice]) -> None:
        for notice in notices:
            await self.push_citizen(notice.conversation_id, notice.text, notice.buttons)
        if notices:
            await self.refresh_queues()

    async def refresh_queues(self, skill: str | None = None) -> None:
        """Consoles re-read the queue; cheap, and never out of step with the database."""
        await self.hub.to_all({"type": "queue", "skill": skill})

    async def queue_moved(self, skill: str) -> None:
        notices = await self.run(handoff.queue_moves, skill, self.settings)
        for notice in notices:
            await self.push_citizen(notice.conversation_id, notice.text, notice.buttons)
        await self.refresh_queues(skill)

    # --- the message router's hook ------------------------------------------------------------

    async def on_citizen_message(self, conversation_id: str, mode: str) -> None:
        """A citizen wrote while queued or with an agent (or just asked for one): tell the consoles."""

        def look(session: Any) -> tuple[str | None, str | None]:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                return None, None
            return (conversation.assigned_agent_id if mode == "agent" else None), conversation.skill

        agent_id, skill = await self.run(look)
        event = {"type": "message", "conversation_id": conversation_id, "mode": mode}
        if agent_id:
            await self.hub.to_agent(agent_id, event)
        elif mode == "bot" and skill:  # the citizen left the queue: the ones behind move up
            await self.queue_moved(skill)
        else:
            await self.hub.to_skill(skill, event)
            await self.refresh_queues(skill)

    # --- overdue sweep ------------------------------------------------------------------------

    async def sweep_once(self) -> int:
        notices = await self.run(handoff.overdue, self.settings)
        for notice in notices:
            await self.push_citizen(notice.conversation_id, notice.text, notice.buttons)
        return len(notices)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep_once()
            except Exception:  # keep sweeping; one bad round must not end the loop
                log.exception("handoff sweep failed")

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
