"""The message path: persist inbound → decide who answers (bot or person) → persist outbound.

Every channel hands its parsed message to :class:`MessageRouter`; channels never talk to Rasa or
the database themselves. The inbound message is committed before anything else happens, so a slow
or dead Rasa never loses it: the citizen gets a clear "系统繁忙" reply and the message stays in the
transcript marked ``failed`` for agents to see.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.config import HandoffSettings
from connectors.conversations import service as store
from connectors.conversations.models import Conversation, ConversationMode, MessageAuthor, MessageDirection
from connectors.db import Database, as_utc, utcnow
from connectors.handoff import service as handoff
from connectors.hotline12345 import events as hotline_events
from connectors.identity import service as identity
from connectors.privacy import mask_pii
from connectors.rasa_client import BotReply, BotUnavailable, RasaClient

log = logging.getLogger(__name__)

BUSY_TEXT = "系统繁忙，请稍后再试。您的消息已记录，不会丢失。"
BUSY_OFFER_HUMAN_TEXT = "系统繁忙，暂时无法自动回复。您的消息已记录，可以为您转接人工客服。"
HUMAN_BUTTON = {"title": "转人工客服", "payload": "/request_human"}
CANCEL_QUEUE_BUTTON = {"title": "取消排队，返回智能客服", "payload": "/cancel_handoff"}
CANCEL_QUEUE_RE = re.compile(r"^\s*(/cancel_handoff|取消(排队|转人工)|不等了|返回(智能)?客服|返回机器人)\s*[。！!.]*\s*$")
# consecutive bot failures after which the busy reply offers a person
FAILURES_BEFORE_OFFER = 2
# an inbound stored this long ago without any outcome is no longer being answered by anyone (the
# gateway answering it died): longer than a Rasa call may take (rasa.timeout_s) plus persisting
ORPHAN_AFTER_S = 20.0


@dataclass(frozen=True)
class Inbound:
    channel: str
    user_id: str
    text: str
    channel_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    author: str = MessageAuthor.BOT

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": self.buttons}


@dataclass(frozen=True)
class Outcome:
    conversation_id: str
    mode: str
    replies: list[Reply]
    duplicate: bool = False


def _stored_replies(session: Any, message: Any) -> list[Reply]:
    """The replies already persisted for an inbound: what a retry of it gets again."""
    return [Reply(m.text, (m.payload or {}).get("buttons", []), m.author) for m in store.replies_to(session, message)]


class MessageRouter:
    def __init__(self, db: Database, rasa: RasaClient, handoff_settings: HandoffSettings | None = None) -> None:
        self.db = db
        self.rasa = rasa
        self.handoff_settings = handoff_settings or HandoffSettings()
        self.default_skill = self.handoff_settings.default_skill
        # set by the agent console: told (after commit) of every message agents must see
        self.agent_events: Callable[[str, str], Awaitable[None]] | None = None
        # inbound message id → the outcome being produced for it in this process
        self._inflight: dict[int, asyncio.Future[Outcome]] = {}
        # stored inbound messages whose answer failed in this process (message id → inbound)
        self.unanswered: dict[int, Inbound] = {}
        # a stored inbound without an outcome older than this was orphaned by a stopped gateway
        self.orphan_after_s = ORPHAN_AFTER_S

    async def handle(self, inbound: Inbound) -> Outcome:
        while True:
            action, value = self._accept(inbound)
            if action == "done":
                return value
            if action == "wait":  # the same message is being answered right now: that answer is ours too
                outcome = await asyncio.shield(value)
                return Outcome(outcome.conversation_id, outcome.mode, outcome.replies, duplicate=True)
            if action == "settle":  # stored by a process that may still answer it: give it time
                await asyncio.sleep(value)
                continue
            conversation_id, mode, message_id, entry_mode = value
            return await self._run(message_id, inbound,
                                   self._answer(conversation_id, mode, message_id, entry_mode, inbound))

    async def resume(self, message_id: int, inbound: Inbound, owned: bool = False) -> Outcome | None:
        """Answer a stored inbound that never got an outcome; None if it has one now or another gateway has it.

        ``owned``: its answer failed in this process (:attr:`unanswered`), so the lease is already ours;
        otherwise its gateway died and we must win the claim first.
        """
        if message_id in self._inflight:
            return None
        with self.db.session() as session:
            message = session.get(store.Message, message_id)
            if message is None or message.status != "received" or store.replies_to(session, message):
                return None
            if owned:
                store.renew_claim(session, message_id)
            elif not store.claim_inbound(session, message_id, self.orphan_after_s):
                return None  # another gateway is answering it (its lease is fresh)
            conversation = session.get(Conversation, message.conversation_id)
            assert conversation is not None
            ids = (conversation.id, conversation.mode, message.id, conversation.mode)
        log.info("answering inbound message %s left unanswered by a stopped gateway", message_id)
        return await self._run(message_id, inbound, self._answer(*ids, inbound))

    async def _run(self, message_id: int, inbound: Inbound, work: Awaitable[Outcome]) -> Outcome:
        """Run the answer of one stored inbound; retries of it arriving meanwhile await the same outcome.

        If answering fails (the database went away after the inbound was stored), the message is
        remembered in :attr:`unanswered` for the recovery loop (connectors.reliability).
        """
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[message_id] = future
        lease = asyncio.create_task(self._keep_claim(message_id), name=f"claim-{message_id}")
        try:
            outcome = await work
            future.set_result(outcome)
            self.unanswered.pop(message_id, None)
            return outcome
        except BaseException as exc:
            self.unanswered[message_id] = inbound
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            lease.cancel()
            self._inflight.pop(message_id, None)

    async def _keep_claim(self, message_id: int) -> None:
        """Renew the lease while a slow answer (a queue at Rasa) runs, so no other gateway takes it over."""
        while True:
            await asyncio.sleep(self.orphan_after_s / 3)
            try:
                with self.db.session() as session:
                    store.renew_claim(session, message_id)
            except Exception as exc:  # the database is away: the answer itself will fail or retry
                log.warning("renewing the claim on message %s failed: %s", message_id, str(exc).splitlines()[0][:200])

    def _accept(self, inbound: Inbound) -> tuple[str, Any]:
        """Persist the inbound (step 1). Returns what to do next:

        ``done`` + an Outcome (a retry of an answered message, or a gateway command), ``wait`` + the
        future of the same message being answered in this process, ``settle`` + seconds to wait for
        a possibly still running answer elsewhere, or ``answer`` + the ids to answer it with.
        A retry of a message that was stored but never answered (the gateway died or the database
        failed between persisting and answering) is answered now instead of getting no reply.
        """
        with self.db.session() as session:
            conversation = store.current_conversation(session, inbound.channel, inbound.user_id)
            if inbound.channel_message_id:
                seen = store.find_inbound(session, conversation.id, inbound.channel_message_id)
                if seen is not None:
                    pending = self._inflight.get(seen.id)
                    if pending is not None:
                        return "wait", pending
                    previous = _stored_replies(session, seen)
                    if previous or seen.status != "received":
                        return "done", Outcome(conversation.id, conversation.mode, previous, duplicate=True)
                    age = (utcnow() - as_utc(seen.created_at)).total_seconds()
                    if age < self.orphan_after_s or not store.claim_inbound(session, seen.id, self.orphan_after_s):
                        return "settle", max(0.05, min(1.0, self.orphan_after_s - age))
                    return "answer", (conversation.id, conversation.mode, seen.id, conversation.mode)
            message = store.add_message(
                session,
                conversation,
                direction=MessageDirection.INBOUND,
                author=MessageAuthor.CITIZEN,
                text=inbound.text,
                channel=inbound.channel,
                channel_message_id=inbound.channel_message_id,
            )
            # identity commands (link codes) are the gateway's business; Rasa never sees them
            command = identity.handle_command(session, conversation, inbound.channel, inbound.user_id, inbound.text)
            if command is not None:
                return "done", self._command_outcome(session, message, command, inbound.channel)
            thanks = handoff.rate_agent(session, conversation, inbound.text)  # satisfaction after an agent chat
            if thanks is not None:
                return "done", self._command_outcome(session, message, identity.CommandResult(conversation, thanks),
                                                     inbound.channel)
            conversation.channel = inbound.channel  # pushes go to the channel the citizen used last
            entry_mode = conversation.mode
            if conversation.mode == ConversationMode.QUEUED and inbound.text.strip() == handoff.CONTACT_12345_PAYLOAD:
                # the citizen takes the offered 12345 work order instead of waiting: the bot runs that flow
                handoff.cancel_handoff(session, conversation, outcome="diverted_12345")
            return "answer", (conversation.id, conversation.mode, message.id, entry_mode)

    async def _answer(self, conversation_id: str, mode: str, message_id: int, entry_mode: str,
                      inbound: Inbound) -> Outcome:
        """Steps 3 and 4 for a persisted inbound: ask whoever answers, persist the outcome."""
        if mode == ConversationMode.BOT:
            replies, handoff_request, failed, bot_events = await self._ask_bot(conversation_id, inbound)
        else:
            replies, handoff_request, failed, bot_events = [], None, False, []

        with self.db.session() as session:
            conversation = session.get(Conversation, conversation_id, with_for_update=True)
            assert conversation is not None
            message = session.get(store.Message, message_id)
            if message.status != "received":  # answered meanwhile by another gateway: never answer twice
                return Outcome(conversation.id, conversation.mode, _stored_replies(session, message), duplicate=True)
            if conversation.mode == ConversationMode.BOT:
                conversation.bot_failures = conversation.bot_failures + 1 if failed else 0
                if failed and conversation.bot_failures >= FAILURES_BEFORE_OFFER:
                    replies = [Reply(BUSY_OFFER_HUMAN_TEXT, [HUMAN_BUTTON], MessageAuthor.SYSTEM)]
                if handoff_request is not None:
                    replies += [
                        Reply(text, buttons, MessageAuthor.SYSTEM)
                        for text, buttons in handoff.admit(
                            session,
                            conversation,
                            skill=str(handoff_request.get("skill") or self.default_skill),
                            reason=str(handoff_request.get("reason") or "citizen_request"),
                            settings=self.handoff_settings,
                        )
                    ]
                # --- 12345 work orders / feedback: created in this same transaction ---
                for text, author in hotline_events.apply_bot_events(session, conversation, bot_events):
                    replies.append(Reply(text, [], author))
                # --- end 12345 ---
            elif conversation.mode == ConversationMode.QUEUED:
                replies = self._queued_replies(session, conversation, inbound.text)
            # in agent mode the message waits for the agent; nothing is said automatically
            message.status = "failed" if failed else ("answered" if conversation.mode == ConversationMode.BOT else "routed")
            for reply in replies:
                store.add_message(
                    session,
                    conversation,
                    direction=MessageDirection.OUTBOUND,
                    author=reply.author,
                    text=reply.text,
                    channel=inbound.channel,
                    payload={"buttons": reply.buttons} if reply.buttons else None,
                    status="sent",
                    reply_to=message,
                )
            outcome = Outcome(conversation.id, conversation.mode, replies)
        if self.agent_events is not None and (entry_mode, outcome.mode) != (ConversationMode.BOT, ConversationMode.BOT):
            # queued, with an agent, or just joined or left a queue: the agent consoles must know
            await self.agent_events(outcome.conversation_id, outcome.mode)
        return outcome

    async def _ask_bot(
        self, conversation_id: str, inbound: Inbound
    ) -> tuple[list[Reply], dict[str, Any] | None, bool, list[dict[str, Any]]]:
        # Rasa (and its tracker store) only ever sees masked text
        metadata = {"channel": inbound.channel, **inbound.metadata}
        try:
            bot_replies = await self.rasa.send(conversation_id, mask_pii(inbound.text), metadata)
        except BotUnavailable as exc:
            log.warning("rasa unavailable for conversation %s: %s", conversation_id, exc)
            return [Reply(BUSY_TEXT, [], MessageAuthor.SYSTEM)], None, True, []
        converted = _convert(bot_replies)
        if not converted[0] and converted[1] is None and not converted[3]:
            # Rasa answers 200 with nothing when a custom action fails (the action server is down):
            # silence would leave the citizen waiting for an answer that never comes
            log.warning("rasa gave no reply for conversation %s (action server down?)", conversation_id)
            return [Reply(BUSY_TEXT, [], MessageAuthor.SYSTEM)], None, True, []
        return converted

    def _command_outcome(self, session: Any, message: Any, command: identity.CommandResult, channel: str) -> Outcome:
        target = command.conversation
        if message.conversation_id != target.id:
            # the command belongs to the conversation that continues, so a retry finds it there
            message.conversation_id = target.id
            message.seq = store.next_seq(session, target.id)
            session.flush()
        message.status = "answered"
        reply = Reply(command.text, [], MessageAuthor.SYSTEM)
        store.add_message(session, target, direction=MessageDirection.OUTBOUND, author=reply.author, text=reply.text,
                          channel=channel, status="sent", reply_to=message)
        return Outcome(target.id, target.mode, [reply])

    def _queued_replies(self, session: Any, conversation: Conversation, text: str) -> list[Reply]:
        if CANCEL_QUEUE_RE.match(text):
            handoff.cancel_handoff(session, conversation)
            return [Reply("已为您取消人工排队，智能客服继续为您服务。请问还有什么可以帮您？", [], MessageAuthor.SYSTEM)]
        ticket = handoff.open_ticket(session, conversation)
        if ticket is None:  # inconsistent state: recover to bot rather than strand the citizen
            conversation.mode = ConversationMode.BOT
            return [Reply("人工排队已结束，智能客服继续为您服务。", [], MessageAuthor.SYSTEM)]
        return [
            Reply(
                f"您的消息已转给人工客服。{handoff.status_notice(session, ticket, self.handoff_settings)}",
                [CANCEL_QUEUE_BUTTON],
                MessageAuthor.SYSTEM,
            )
        ]


def _convert(bot_replies: list[BotReply]) -> tuple[list[Reply], dict[str, Any] | None, bool, list[dict[str, Any]]]:
    """Map Rasa's replies to ours; a ``govbot`` custom payload carries structured events."""
    replies: list[Reply] = []
    handoff_request: dict[str, Any] | None = None
    bot_events: list[dict[str, Any]] = []  # 12345 work orders and feedback (connectors.hotline12345.events)
    for item in bot_replies:
        event = (item.custom or {}).get("govbot") if isinstance(item.custom, dict) else None
        if isinstance(event, dict) and event.get("type") == "handoff":
            handoff_request = event
        elif isinstance(event, dict) and event.get("type") in hotline_events.EVENT_TYPES:
            bot_events.append(event)
        if item.text:
            replies.append(Reply(item.text, item.buttons))
    return replies, handoff_request, False, bot_events
