"""Citizens of a fault run: mixed conversations over the web, app and WeChat channels.

Each virtual citizen behaves like the real clients do when the gateway misbehaves: the widget and
the app retry a message with the same ``client_message_id`` until the gateway answers (connection
refused, timeouts, 5xx); WeChat sends every message up to three times with the same ``MsgId``
(here always three times, the second while the first is still in flight — the replay fault).
Every message and every response is recorded in :class:`Sent` for the accounting.

The conversations come from :mod:`connectors.bench.traffic` (knowledge-base questions, hours,
case status, handoff and back); the harness adds what a fault run needs on top: messages carrying
personal data (to audit the logs afterwards) and complaints that become 12345 work orders.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.bench.traffic import Traffic, Turn

BUSY_MARK = "系统繁忙"
APP_HEADERS = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}
WECHAT_OUR_ID = "gh_faults000001"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_number(rng: random.Random) -> str:
    """A 身份证号 with a valid GB 11643 check digit (so the masking must catch it)."""
    body = f"{rng.choice(['110101', '110105', '110108', '110114'])}19{rng.randint(50, 99)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    return body + _ID_CHECK[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11]


def bank_card(rng: random.Random) -> str:
    """A 19-digit card number passing the Luhn check."""
    digits = [6, 2, 2, 2] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = d * 2 if i % 2 == 0 else d
        total += n - 9 if n > 9 else n
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def pii_turn(rng: random.Random) -> tuple[Turn, list[str]]:
    """A message with personal data, and the raw strings that must never show up in a log."""
    mobile = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
    number, card = id_number(rng), bank_card(rng)
    house = f"{rng.randint(10, 199)}号院{rng.randint(2, 19)}号楼"
    address = f"朝阳区建国路{house}"
    text = rng.choice([
        f"我的身份证号是{number}，手机{mobile}，帮我查一下社保",
        f"我住在{address}，电话{mobile}，想办居住证",
        f"银行卡号{card}绑定社保卡怎么弄，身份证{number}",
        f"我家地址{address}，联系电话{mobile}，身份证{number}",
    ])
    return Turn("pii", text), [s for s in (mobile, number, card, house) if s in text]


COMPLAINTS = (
    "我要投诉3号窗口的工作人员态度很差",
    "投诉一下，朝阳区政务服务中心的王同志办事推诿",
    "我要投诉工号1023的工作人员，让我来回跑了三趟",
    "投诉海淀区政务服务中心社保窗口排队两个小时没人管",
)
WORK_ORDER_FLOW = (("contact_12345", "我要打12345反映小区噪音扰民"), ("affirm", "确认"))


@dataclass
class Sent:
    channel: str
    external_id: str  # the channel identity the gateway stores (web user id, app:user, openid)
    key: str  # client_message_id or MsgId
    text: str
    kind: str
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    accepted: bool = False
    statuses: list[Any] = field(default_factory=list)  # every attempt: HTTP status or an error name
    replies: list[str] = field(default_factory=list)
    pii: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return any(BUSY_MARK in r for r in self.replies)


@dataclass
class Load:
    """Shared state of the citizens of one run."""

    base_url: str
    wechat_token: str
    retry_window_s: float = 90.0
    sent: list[Sent] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    app_tokens: dict[str, str] = field(default_factory=dict)


def _wechat_params(token: str) -> dict[str, str]:
    from wechatpy.utils import WeChatSigner

    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return {"timestamp": timestamp, "nonce": nonce, "signature": signer.signature, "openid": "o"}


def wechat_xml(openid: str, text: str, msg_id: str) -> bytes:
    safe = text.replace("]]>", "]] >")
    return (f"<xml><ToUserName><![CDATA[{WECHAT_OUR_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{safe}]]></Content><MsgId>{msg_id}</MsgId></xml>").encode("utf-8")


_CONTENT_RE = re.compile(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", re.S)
# the rate limiter's passive reply (connectors.security.identity): the message was not processed
THROTTLED_XML = "<Content>请稍后再试</Content>"


class Citizen:
    def __init__(self, load: Load, http: httpx.AsyncClient, channel: str, name: str) -> None:
        self.load, self.http, self.channel, self.name = load, http, channel, name

    @property
    def external_id(self) -> str:
        return f"bjapp:{self.name}" if self.channel == "app" else self.name

    async def say(self, turn: Turn, pii: list[str] | None = None) -> Sent:
        key = str(random.randint(10**17, 10**18 - 1)) if self.channel == "wechat" else f"flt-{uuid.uuid4().hex}"
        sent = Sent(self.channel, self.external_id, key, turn.text, turn.kind, pii=pii or [])
        self.load.sent.append(sent)
        if self.channel == "wechat":
            await self._wechat(sent)
        else:
            await self._rest(sent)
        sent.finished = time.monotonic()
        return sent

    async def _rest(self, sent: Sent) -> None:
        deadline = time.monotonic() + self.load.retry_window_s
        while time.monotonic() < deadline:
            try:
                if self.channel == "web":
                    response = await self.http.post("/api/v1/web/messages", json={
                        "user_id": self.name, "text": sent.text, "client_message_id": sent.key})
                else:
                    headers = {**APP_HEADERS, "Authorization": f"Bearer {await self._app_token()}"}
                    response = await self.http.post("/api/v1/app/messages", headers=headers,
                                                    json={"text": sent.text, "client_message_id": sent.key})
            except httpx.HTTPError as exc:
                sent.statuses.append(type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            sent.statuses.append(response.status_code)
            if response.status_code < 300:
                sent.accepted = True
                sent.replies = [r.get("text", "") for r in response.json().get("replies", [])]
                return
            if response.status_code < 500 and response.status_code != 429:
                return  # refused for good: the client knows, nothing was accepted
            await asyncio.sleep(float(response.headers.get("Retry-After", "1") or 1))

    async def _app_token(self) -> str:
        token = self.load.app_tokens.get(self.name)
        while token is None:
            try:
                response = await self.http.post("/api/v1/app/tokens", headers=APP_HEADERS, json={"user_id": self.name})
                if response.status_code == 200:
                    token = self.load.app_tokens[self.name] = response.json()["token"]
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
        return token

    async def _wechat(self, sent: Sent) -> None:
        """WeChat's delivery: the same signed message three times (one replay overlaps the first)."""
        body = wechat_xml(self.name, sent.text, sent.key)

        async def post() -> None:
            try:
                response = await self.http.post("/channels/wechat", params=_wechat_params(self.load.wechat_token),
                                                 content=body, timeout=15.0)
            except httpx.HTTPError as exc:
                sent.statuses.append(type(exc).__name__)
                return
            if response.status_code == 200 and THROTTLED_XML in response.text:
                sent.statuses.append("throttled")  # told 请稍后再试; WeChat would not retry a delivered reply
                return
            sent.statuses.append(response.status_code)
            if response.status_code == 200:
                sent.accepted = True
                match = _CONTENT_RE.search(response.text)
                if match and match.group(1) not in sent.replies:
                    sent.replies.append(match.group(1))

        first = asyncio.create_task(post())
        await asyncio.sleep(0.3)
        await post()  # a retry while the first is being answered
        await first
        if not sent.accepted:
            await asyncio.sleep(5.0)  # WeChat waits before its last try
        await post()


async def citizen_loop(load: Load, http: httpx.AsyncClient, channel: str, worker: int, seed: int,
                       think_s: tuple[float, float] = (0.3, 1.2)) -> None:
    """One virtual citizen after another on ``channel`` until the run stops."""
    rng = random.Random(seed)
    traffic = Traffic(seed=seed)
    n = 0
    while not load.stop.is_set():
        n += 1
        citizen = Citizen(load, http, channel, f"flt-{channel}-{worker}-{n}-{uuid.uuid4().hex[:6]}")
        script: list[tuple[Turn, list[str]]] = [(t, []) for t in traffic.conversation()]
        if rng.random() < 0.35:
            script.insert(min(1, len(script)), pii_turn(rng))
        if rng.random() < 0.25:
            script.insert(len(script) // 2, (Turn("complain", rng.choice(COMPLAINTS)), []))
        if rng.random() < 0.15:
            script[len(script) // 2:len(script) // 2] = [(Turn(k, t), []) for k, t in WORK_ORDER_FLOW]
        for turn, pii in script:
            if load.stop.is_set():
                return
            await citizen.say(turn, pii)
            await asyncio.sleep(rng.uniform(*think_s))
