"""Our replies in WeChat's shapes.

Buttons: an official account renders each button as a menu link
``<a href="weixin://bizmsgmenu?msgmenucontent=标题&msgmenuid=N">标题</a>`` — tapping it sends the
title back as the citizen's text together with ``bizmsgmenuid`` = N, which the channel maps back to
the button's payload (see :mod:`connectors.wechat.menus`). Mini-programs cannot show such links, so
there buttons become numbered lines and a reply of just the number chooses. N counts buttons across
all replies of one answer, starting at 1, in both styles.

Size: a text message holds at most 2048 bytes. A passive reply is one message: the replies that fit
go there, the rest follow through the customer-service API (a single reply too long for any one
message is split at line breaks).
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from wechatpy.replies import TextReply

if TYPE_CHECKING:
    from connectors.message_router import Reply

MENU, NUMBERED = "menu", "numbered"
MAX_TEXT_BYTES = 2048
_LINK_UNSAFE = re.compile(r'[&"<>#?=\s]+')


def menu_link(title: str, index: int) -> str:
    content = _LINK_UNSAFE.sub(" ", title).strip() or str(index)
    return f'<a href="weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={index}">{html.escape(title)}</a>'


def reply_texts(replies: list[Reply], style: str) -> list[str]:
    """One text per reply (aligned with ``replies``; "" for an empty one), buttons numbered across the answer."""
    texts: list[str] = []
    index = 0
    for reply in replies:
        lines = [reply.text.strip()] if reply.text.strip() else []
        options: list[str] = []
        for button in reply.buttons:
            title = str(button.get("title") or button.get("payload") or "").strip()
            if not title:
                continue
            index += 1
            options.append(menu_link(title, index) if style == MENU else f"{index}. {title}")
        if options:
            lines.extend(options)
            if style == NUMBERED:
                lines.append("（回复数字即可选择）")
        texts.append("\n".join(lines))
    return texts


def fits_one_message(text: str) -> bool:
    return len(text.encode("utf-8")) <= MAX_TEXT_BYTES


def passive_prefix(texts: list[str]) -> int:
    """How many leading replies fit together in one passive message (the rest must follow by custom send)."""
    count, joined = 0, ""
    for text in texts:
        candidate = f"{joined}\n\n{text}" if joined and text else (joined or text)
        if not fits_one_message(candidate):
            break
        count, joined = count + 1, candidate
    return count


def passive_part(texts: list[str]) -> tuple[str, int]:
    """The passive reply text (may be "") and how many replies it covers."""
    fit = passive_prefix(texts)
    return "\n\n".join(t for t in texts[:fit] if t), fit


def split_text(text: str, max_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces of at most ``max_bytes`` UTF-8 bytes, cut at line breaks where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= max_bytes:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        while len(line.encode("utf-8")) > max_bytes:  # a single over-long line: cut by characters
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > max_bytes:
                cut = cut * max_bytes // len(line[:cut].encode("utf-8")) or 1
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def passive_xml(text: str, *, our_id: str, citizen: str, create_time: int | None = None) -> str:
    """A passive text reply; ``]]>`` is defused so bot text can never end the CDATA section early.

    ``create_time`` pins the reply's timestamp: WeChat's retries of one message must get byte-identical
    replies, so the channel passes the citizen message's own ``CreateTime`` (seconds apart at most).
    """
    reply = TextReply(source=our_id, target=citizen, content=text.replace("]]>", "]] >"))
    if create_time is not None:
        reply.time = create_time
    return reply.render()
