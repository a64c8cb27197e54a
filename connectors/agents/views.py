"""Agent console API (``/api/v1/agent/...``), its WebSocket, the console page and handoff metrics.

Auth is a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS): the browser never hands it
to another site's requests, and scripts cannot read it. An agent sees only the queues of their
skills and the chats assigned to them; everything else answers 403. Raw (unmasked) text is shown
only on an explicit, audited reveal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Header, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from connectors.admin import _check_token
from connectors.agents import service as agents
from connectors.agents.models import Agent
from connectors.conversations import service as store
from connectors.conversations.models import (
    ChannelIdentity,
    Conversation,
    ConversationMode,
    MessageAuthor,
    MessageDirection,
)
from connectors.db import as_utc, utcnow
from connectors.errors import ApiError
from connectors.handoff import service as handoff
from connectors.handoff.desk import HandoffDesk
from connectors.handoff.models import HandoffTicket, TicketStatus

COOKIE = "govbot_agent"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HEARTBEAT_S = 25.0


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class TransferIn(BaseModel):
    skill: str = Field(min_length=1, max_length=64)


class RevealIn(BaseModel):
    seq: int = Field(ge=1)


class WorkOrderIn(BaseModel):
    category: str = Field(min_length=1, max_length=32)
    summary: str = Field(min_length=1, max_length=2000)
    matter: str | None = None
    enterprise_name: str | None = None
    credit_code: str | None = None
    case_code: str | None = None
    contact_phone: str | None = None
    contact_consent: bool = False


def _error(exc: handoff.HandoffError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message_zh, exc.message_en)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat()


def agent_view(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.name, "skills": list(agent.skills or []), "capacity": agent.capacity}


def message_view(message: Any) -> dict[str, Any]:
    payload = message.payload or {}
    return {"seq": message.seq, "author": message.author, "direction": message.direction,
            "text": message.masked_text, "masked": message.masked_text != message.text,
            "buttons": list(payload.get("buttons") or []), "status": message.status,
            "created_at": _iso(message.created_at)}


def _conversation_for(session: Any, agent: Agent, conversation_id: str, *, must_own: bool) -> Conversation:
    """The conversation if the agent may see it (assigned to them, or waiting in one of their queues)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise ApiError(404, "conversation_not_found", "会话不存在", "conversation not found")
    if conversation.assigned_agent_id == agent.id and conversation.mode == ConversationMode.AGENT:
        return conversation
    if not must_own:
        ticket = handoff.open_ticket(session, conversation)
        if ticket is not None and ticket.status == TicketStatus.WAITING and ticket.skill in (agent.skills or []):
            return conversation
    raise ApiError(403, "forbidden", "您无权查看该会话", "not your conversation")


# asking for a person is not the question an agent needs help with
_NOT_A_QUESTION = re.compile(r"^\s*(/\S*|(转|找|要|接)?人工(客服|服务)?(吧|呀|啊|谢谢)?|取消排队|你好|您好|在吗)\s*[。！!？?]*\s*$")


def _last_question(session: Any, conversation_id: str) -> str:
    for message in reversed(store.transcript(session, conversation_id)):
        if message.author == MessageAuthor.CITIZEN and not _NOT_A_QUESTION.match(message.text):
            return message.masked_text
    return ""


def _same_origin(request: Request) -> None:
    """Refuse state changes sent from other origins (SameSite=Strict still trusts sibling subdomains)."""
    origin = request.headers.get("origin")
    if request.method != "GET" and origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise ApiError(403, "cross_origin", "不允许跨站请求", "cross-origin request refused")


def install_agent_console(app: FastAPI, desk: HandoffDesk) -> None:
    """Mount the console page, its API and WebSocket, and the metrics endpoint; hook the router."""
    app.state.handoff_desk = desk
    desk.gateway.router.agent_events = desk.on_citizen_message
    app.include_router(agent_router(desk))
    app.include_router(metrics_router(desk))


def agent_router(desk: HandoffDesk) -> APIRouter:  # noqa: C901 - one closure per endpoint reads best here
    router = APIRouter(tags=["agent"])
    settings = desk.gateway.settings.handoff

    async def current(request: Request) -> Agent:
        _same_origin(request)
        token = request.cookies.get(COOKIE)
        agent = await desk.run(agents.agent_for_token, token)
        if agent is None:
            raise ApiError(401, "login_required", "请先登录或登录已过期", "login required or session expired")
        return agent

    @router.get("/agent", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                                                                "frame-ancestors 'none'"})

    for name, media in (("console.js", "application/javascript; charset=utf-8"), ("console.css", "text/css; charset=utf-8")):
        def asset(name: str = name, media: str = media) -> FileResponse:
            return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "no-cache"})

        router.add_api_route(f"/agent/{name}", asset, methods=["GET"], include_in_schema=False)

    @router.post("/api/v1/agent/login")
    async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
        _same_origin(request)
        result = await desk.run(agents.login, body.name.strip(), body.password, settings.session_ttl_s)
        if result is None:
            raise ApiError(401, "bad_credentials", "用户名或密码错误", "wrong name or password")
        agent, token = result
        response.set_cookie(COOKIE, token, max_age=settings.session_ttl_s, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        await desk.refresh_queues()
        return {"agent": agent_view(agent)}

    @router.post("/api/v1/agent/logout")
    async def logout(request: Request, response: Response) -> dict[str, Any]:
        _same_origin(request)
        await desk.run(agents.logout, request.cookies.get(COOKIE))
        response.delete_cookie(COOKIE, path="/")
        return {"ok": True}

    @router.get("/api/v1/agent/me")
    async def me(request: Request) -> dict[str, Any]:
        agent = await current(request)
        return {"agent": agent_view(agent)}

    def _queue(session: Any, agent: Agent) -> dict[str, Any]:
        skills = list(agent.skills or [])
        tickets = list(session.scalars(select(HandoffTicket).where(
            HandoffTicket.status == TicketStatus.WAITING, HandoffTicket.skill.in_(skills)).order_by(HandoffTicket.id)))
        now = utcnow()
        positions: dict[str, int] = {}
        waiting = []
        for ticket in tickets:
            positions[ticket.skill] = positions.get(ticket.skill, 0) + 1
            conversation = session.get(Conversation, ticket.conversation_id)
            created = as_utc(ticket.created_at)
            waiting.append({"ticket_id": ticket.id, "conversation_id": ticket.conversation_id, "skill": ticket.skill,
                            "position": positions[ticket.skill], "channel": conversation.channel if conversation else "",
                            "waited_s": int((now - created).total_seconds()),
                            "last_question": _last_question(session, ticket.conversation_id)})
        mine = []
        for ticket in session.scalars(select(HandoffTicket).where(
                HandoffTicket.status == TicketStatus.ASSIGNED, HandoffTicket.agent_id == agent.id)):
            conversation = session.get(Conversation, ticket.conversation_id)
            mine.append({"ticket_id": ticket.id, "conversation_id": ticket.conversation_id, "skill": ticket.skill,
                         "channel": conversation.channel if conversation else "",
                         "last_question": _last_question(session, ticket.conversation_id)})
        return {"skills": skills, "waiting": waiting, "mine": mine, "capacity": agent.capacity}

    @router.get("/api/v1/agent/queue")
    async def queue(request: Request) -> dict[str, Any]:
        agent = await current(request)
        return await desk.run(_queue, agent)

    @router.post("/api/v1/agent/tickets/{ticket_id}/take")
    async def take(ticket_id: int, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> tuple[str, str, str]:
            fresh = session.get(Agent, agent.id)
            ticket = handoff.take(session, ticket_id, fresh)
            agents.audit(session, agent.id, "take", ticket.conversation_id, ticket_id=ticket_id)
            last = store.transcript(session, ticket.conversation_id)[-1]
            return ticket.conversation_id, ticket.skill, last.masked_text

        try:
            conversation_id, skill, greeting = await desk.run(work)
        except handoff.HandoffError as exc:
            raise _error(exc) from None
        await desk.push_citizen(conversation_id, greeting)
        await desk.queue_moved(skill)
        return {"conversation_id": conversation_id}

    @router.get("/api/v1/agent/conversations/{conversation_id}")
    async def conversation(conversation_id: str, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> dict[str, Any]:
            conv = _conversation_for(session, agent, conversation_id, must_own=False)
            agents.audit(session, agent.id, "view_transcript", conversation_id)
            external = session.scalar(select(ChannelIdentity.external_id).where(
                ChannelIdentity.citizen_id == conv.citizen_id, ChannelIdentity.channel == conv.channel))
            return {"conversation_id": conv.id, "mode": conv.mode, "channel": conv.channel, "skill": conv.skill,
                    "assigned_to_me": conv.assigned_agent_id == agent.id,
                    "citizen": {"channel": conv.channel, "external_id_tail": (external or "")[-4:]},
                    "messages": [message_view(m) for m in store.transcript(session, conv.id)]}

        return await desk.run(work)

    @router.post("/api/v1/agent/conversations/{conversation_id}/reveal")
    async def reveal(conversation_id: str, body: RevealIn, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> dict[str, Any]:
            _conversation_for(session, agent, conversation_id, must_own=True)
            message = next((m for m in store.transcript(session, conversation_id) if m.seq == body.seq), None)
            if message is None:
                raise ApiError(404, "message_not_found", "消息不存在", "message not found")
            agents.audit(session, agent.id, "reveal", conversation_id, seq=body.seq)
            return {"seq": message.seq, "text": message.text}

        return await desk.run(work)

    @router.post("/api/v1/agent/conversations/{conversation_id}/reply")
    async def reply(conversation_id: str, body: ReplyIn, request: Request) -> dict[str, Any]:
        agent = await current(request)
        text = body.text.strip()
        if not text:
            raise ApiError(422, "empty_text", "消息内容不能为空", "text must not be empty")

        def work(session: Any) -> int:
            conv = _conversation_for(session, agent, conversation_id, must_own=True)
            message = store.add_message(session, conv, direction=MessageDirection.OUTBOUND, author=MessageAuthor.AGENT,
                                        text=text, channel=conv.channel, status="sent")
            agents.audit(session, agent.id, "reply", conversation_id, seq=message.seq)
            return message.seq

        seq = await desk.run(work)
        delivered = await desk.push_citizen(conversation_id, text, author=MessageAuthor.AGENT)
        await desk.hub.to_agent(agent.id, {"type": "message", "conversation_id": conversation_id, "mode": "agent"})
        return {"seq": seq, "delivered": delivered}

    @router.post("/api/v1/agent/conversations/{conversation_id}/transfer")
    async def transfer(conversation_id: str, body: TransferIn, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> tuple[str, str]:
            ticket = handoff.assigned_ticket(session, conversation_id, agent.id)
            successor = handoff.transfer(session, ticket, body.skill.strip())
            agents.audit(session, agent.id, "transfer", conversation_id, skill=successor.skill)
            return store.transcript(session, conversation_id)[-1].masked_text, successor.skill

        try:
            notice, skill = await desk.run(work)
        except handoff.HandoffError as exc:
            raise _error(exc) from None
        await desk.push_citizen(conversation_id, notice, [handoff.CANCEL_QUEUE_BUTTON])
        await desk.refresh_queues(skill)
        return {"ok": True, "skill": skill}

    @router.post("/api/v1/agent/conversations/{conversation_id}/end")
    async def end(conversation_id: str, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> str:
            ticket = handoff.assigned_ticket(session, conversation_id, agent.id)
            handoff.end(session, ticket)
            agents.audit(session, agent.id, "end", conversation_id)
            return store.transcript(session, conversation_id)[-1].masked_text

        try:
            notice = await desk.run(work)
        except handoff.HandoffError as exc:
            raise _error(exc) from None
        await desk.push_citizen(conversation_id, notice, handoff.RATING_BUTTONS)
        await desk.refresh_queues()
        return {"ok": True, "mode": "bot"}

    @router.get("/api/v1/agent/conversations/{conversation_id}/suggestions")
    async def suggestions(conversation_id: str, request: Request) -> dict[str, Any]:
        agent = await current(request)

        def work(session: Any) -> str:
            _conversation_for(session, agent, conversation_id, must_own=False)
            return _last_question(session, conversation_id)

        question = await desk.run(work)
        if not question:
            return {"question": "", "hits": []}
        try:
            response = await desk.gateway.actions_http.get("/kb/search", params={"q": question})
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            raise ApiError(503, "actions_unavailable", "知识库暂不可用", "action server unavailable") from None
        return {"question": question, "decision": body.get("decision"), "hits": body.get("hits", [])[:5]}

    @router.get("/api/v1/agent/skills")
    async def skills(request: Request) -> dict[str, Any]:
        await current(request)

        def work(session: Any) -> list[str]:
            found = {settings.default_skill}
            for agent in session.scalars(select(Agent).where(Agent.active.is_(True))):
                found.update(agent.skills or [])
            return sorted(found)

        return {"skills": await desk.run(work)}

    @router.post("/api/v1/agent/conversations/{conversation_id}/work-order")
    async def work_order(conversation_id: str, body: WorkOrderIn, request: Request) -> dict[str, Any]:
        agent = await current(request)
        if importlib.util.find_spec("connectors.hotline12345.service") is None:
            raise ApiError(501, "work_orders_unavailable", "12345工单功能尚未启用", "12345 work orders not available")
        from connectors.hotline12345.service import WorkOrderError, create_work_order

        def work(session: Any) -> dict[str, Any]:
            conv = _conversation_for(session, agent, conversation_id, must_own=True)
            order = create_work_order(session, conv, category=body.category, summary=body.summary, matter=body.matter,
                                      enterprise_name=body.enterprise_name, credit_code=body.credit_code,
                                      case_code=body.case_code, contact_phone=body.contact_phone,
                                      contact_consent=body.contact_consent, created_by=f"agent:{agent.id}")
            agents.audit(session, agent.id, "work_order", conversation_id, number=order.number)
            return {"work_order_id": order.id, "number": order.number}

        try:
            return await desk.run(work)
        except WorkOrderError as exc:
            raise ApiError(422, exc.code, exc.message_zh, exc.message_en) from None

    @router.websocket("/api/v1/agent/ws")
    async def agent_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        # cookies ride along on WebSockets and browsers apply no CORS: accept only our own pages
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        if origin is not None and origin.split("://", 1)[-1] != host:
            await websocket.close(code=1008, reason="origin_not_allowed")
            return
        agent = await desk.run(agents.agent_for_token, websocket.cookies.get(COOKIE))
        if agent is None:
            await websocket.close(code=4401, reason="login_required")
            return
        token = websocket.cookies.get(COOKIE)
        async with desk.hub.subscribe(agent.id, list(agent.skills or [])) as queue:
            await websocket.send_json({"type": "hello", "agent": agent_view(agent)})
            reader = asyncio.create_task(_read(websocket))
            try:
                while not reader.done():
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({getter, reader}, timeout=HEARTBEAT_S,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if getter in done:
                        await websocket.send_json(getter.result())
                        continue
                    getter.cancel()
                    if not done:  # heartbeat: keeps the agent "online" and notices an expired session
                        if await desk.run(agents.agent_for_token, token) is None:
                            await websocket.close(code=4401, reason="session_expired")
                            return
                        await websocket.send_json({"type": "ping"})
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    return router


async def _read(websocket: WebSocket) -> None:
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        return


def metrics_router(desk: HandoffDesk) -> APIRouter:
    router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

    @router.get("/metrics")
    async def metrics(since: str | None = None, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        """Handoff quality: one-time connection rate, wait p50/p90 (seconds), abandonment."""
        _check_token(authorization)
        moment = None
        if since:
            try:
                moment = dt.datetime.fromisoformat(since)
            except ValueError:
                raise ApiError(400, "invalid_datetime", "since 不是有效的 ISO 8601 时间", "since is not ISO 8601") from None
        return {"handoff": await desk.run(handoff.metrics, moment)}

    return router
