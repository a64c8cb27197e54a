"""Reading what WeChat posts, without trusting it.

The body is capped before it is read in full; XML is parsed with defusedxml with DTDs forbidden, so
entity-expansion ("billion laughs") and external-entity payloads are rejected before any other
parser (wechatpy's xmltodict included) sees them. Both XML and JSON (mini-programs may push JSON)
become one flat dict, from which wechatpy's message classes give typed access.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from fastapi import Request
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage

from connectors.errors import ApiError

XML, JSON = "xml", "json"


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing (413) anything larger than ``max_bytes`` without buffering it all."""
    too_large = ApiError(
        413, "body_too_large", f"请求体过大，最多 {max_bytes} 字节", f"body too large: at most {max_bytes} bytes"
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise too_large
        except ValueError:
            raise ApiError(400, "bad_content_length", "Content-Length 不合法", "invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def sniff_format(raw: bytes | str) -> str:
    text = raw.lstrip()[:1]
    if text in (b"<", "<"):
        return XML
    if text in (b"{", "{"):
        return JSON
    raise ApiError(
        400, "unknown_format", "无法识别的消息格式（应为 XML 或 JSON）", "unrecognised payload: expected XML or JSON"
    )


def parse_xml(raw: bytes | str) -> dict[str, Any]:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise _forbidden()
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _forbidden() from None
    except (ParseError, ValueError):
        raise ApiError(400, "malformed_xml", "XML 格式错误", "malformed XML") from None
    if root.tag != "xml":
        raise ApiError(400, "malformed_xml", "XML 根元素必须是 <xml>", "the XML root element must be <xml>")
    value = _element_value(root)
    return value if isinstance(value, dict) else {}


def _forbidden() -> ApiError:
    return ApiError(400, "xml_forbidden", "消息中不允许 DOCTYPE 或实体声明", "DOCTYPE and ENTITY declarations are not allowed")


def _element_value(element: Element) -> Any:
    if len(element) == 0:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in element:
        value = _element_value(child)
        if child.tag in result:  # repeated elements (e.g. <item>) become a list
            previous = result[child.tag]
            result[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[child.tag] = value
    return result


def parse_json(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "请求体必须是 JSON 对象", "request body must be a JSON object")
    return data


def parse_payload(raw: bytes | str) -> tuple[str, dict[str, Any]]:
    fmt = sniff_format(raw)
    return fmt, (parse_xml(raw) if fmt == XML else parse_json(raw))


def to_message(data: dict[str, Any]) -> BaseMessage:
    """A wechatpy message or event object for a parsed payload (same class choice as ``wechatpy.parse_message``)."""
    msg_type = str(data.get("MsgType") or "").lower()
    if not msg_type or not str(data.get("FromUserName") or ""):
        raise ApiError(400, "invalid_message", "消息缺少 MsgType 或 FromUserName", "message lacks MsgType or FromUserName")
    if msg_type == "event":
        event = str(data.get("Event") or "").lower()
        key = str(data.get("EventKey") or "")
        if event == "subscribe" and key.startswith("qrscene_"):
            event = "subscribe_scan"
            data = {**data, "Event": event, "EventKey": key[len("qrscene_"):]}
        return EVENT_TYPES.get(event, UnknownMessage)(data)
    return MESSAGE_TYPES.get(msg_type, UnknownMessage)(data)


def channel_message_id(data: dict[str, Any]) -> str:
    """What dedupes WeChat's retries: ``MsgId`` for messages, sender + CreateTime (+ event) for events."""
    msg_id = str(data.get("MsgId") or data.get("MsgID") or "").strip()
    if msg_id:
        return msg_id[:128]
    sender = str(data.get("FromUserName") or "")
    created = str(data.get("CreateTime") or "")
    event = str(data.get("Event") or data.get("MsgType") or "")
    return f"evt:{sender}:{created}:{event}"[:128]
