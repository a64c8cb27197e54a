"""The bad-input corpus and its runner, shared by the CI test and ``govbot-bench faults``.

Every public endpoint fed malformed, hostile or unauthorised input. Cases are plain data so the
test can parametrize over them (one test id each) and the fault harness can replay them against a
live stack. Paths, headers and bodies may hold ``{placeholders}`` (``conv_a``, ``token_a`` …)
filled in from the live world at run time, because ids and tokens only exist once the gateway has
run. :func:`run_case` judges one case the same way in both places: it returns the problems found
(an empty list is a pass) instead of asserting, so the harness can count them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# outcome kinds
REJECT = "reject"  # a 4xx with the bilingual error shape
REPLY = "reply"  # 200 with bot replies
ANY = "any"  # either of the above, never a 5xx

SQL = ["' OR '1'='1", "1; DROP TABLE conversations; --", "\" UNION SELECT password_hash FROM agents --",
       "'); DELETE FROM messages; --"]
HTML = ["<script>alert('xss')</script>", "<img src=x onerror=alert(1)>", "\"><svg/onload=alert(document.cookie)>",
        "javascript:alert(1)", "<iframe src=//evil.example>", "{{7*7}}${7*7}<%= 7*7 %>"]
WEIRD = {
    "emoji": "社保卡丢了😭怎么补办🙏🏻👨‍👩‍👧",
    "mixed_script": "我要办 ID card 护照 паспорт جواز سفر パスポート",
    "rtl_override": "营业执照\u202e办理\u202c时间",
    "zero_width": "社\u200b保\u200d卡\ufeff补办",
    "combining": "社保卡̷̡̛补办̸",
    "long_chinese_2000": "社保卡补办" * 400,
    "fullwidth": "ｓｏｃｉａｌ　ｓｅｃｕｒｉｔｙ　社保",
    "newlines_tabs": "第一行\n第二行\t制表\r\n",
}
CONTROL = {"nul": "社保\x00卡", "escape": "\x1b[31m红色\x1b[0m", "bell_backspace": "办\x07理\x08",
           "c1_controls": "办理\x85\x9b", "lone_surrogate_escape": "\\ud800"}
BLANK = {"empty": "", "space": " ", "spaces": "     ", "tabs_newlines": "\t\n\r\n", "ideographic_space": "\u3000\u3000",
         "nbsp": "\u00a0", "mixed_blank": " \u3000\t\n "}
BAD_JSON = {
    "truncated_object": b'{"user_id": "u1", "text": "\xe7\xa4\xbe',
    "truncated_string": b'{"user_id": "u1", "text": "hello',
    "missing_brace": b'{"user_id": "u1", "text": "hi"',
    "trailing_comma": b'{"user_id": "u1", "text": "hi",}',
    "single_quotes": b"{'user_id': 'u1', 'text': 'hi'}",
    "unquoted_keys": b'{user_id: "u1", text: "hi"}',
    "nan": b'{"user_id": "u1", "text": NaN}',
    "comment": b'{"user_id": "u1", /* c */ "text": "hi"}',
    "two_objects": b'{"user_id": "u1"}{"text": "hi"}',
    "only_brace": b"{",
    "empty": b"",
    "whitespace": b"   \n ",
    "bom_garbage": b"\xef\xbb\xbf\xff\xfe{",
    "invalid_utf8": b'{"user_id": "u1", "text": "\xff\xfe\xfd"}',
    "overlong_utf8": b'{"user_id": "u1", "text": "\xc0\xaf"}',
    "deep_nesting": b"[" * 5000 + b"]" * 5000,
    "xml_instead": b"<xml><text>hi</text></xml>",
}
WRONG_SHAPE = {"array": [], "string": "社保", "number": 42, "null": None, "bool": True, "nested_array": [{"text": "hi"}]}


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    expect: str = REJECT
    inert: bool = True  # must cause no database change and no Rasa call
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    statuses: tuple[int, ...] = ()  # if set, the status must be one of these
    code: str | None = None  # expected error code, if it is specific
    ws: bool = False  # a WebSocket connect that must be refused
    check_inert_echo: str | None = None  # text that must come back as plain data and never in HTML pages


def _raw(case_id: str, method: str, path: str, content: bytes, ctype: str = "application/json", **kw: Any) -> Case:
    return Case(case_id, method, path, content=content, headers={"Content-Type": ctype, **kw.pop("headers", {})}, **kw)


def web_message_cases() -> list[Case]:
    path = "/api/v1/web/messages"
    cases = [_raw(f"web_msg-json-{k}", "POST", path, v, statuses=(400, 413, 422)) for k, v in BAD_JSON.items()]
    cases += [Case(f"web_msg-shape-{k}", "POST", path, json=v, statuses=(400, 422)) for k, v in WRONG_SHAPE.items()]
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"):
        cases.append(_raw(f"web_msg-ctype-{ctype.split(';')[0]}", "POST", path, b"user_id=u1&text=hi", ctype,
                          statuses=(400, 415, 422)))
    cases += [Case(f"web_msg-blank-{k}", "POST", path, json={"user_id": "blank-user", "text": v}, statuses=(422,),
                   code="empty_text") for k, v in BLANK.items()]
    cases += [
        Case("web_msg-missing-text", "POST", path, json={"user_id": "u1"}, statuses=(422,), code="missing_field"),
        Case("web_msg-missing-user", "POST", path, json={"text": "hi"}, statuses=(422,), code="missing_field"),
        Case("web_msg-empty-user", "POST", path, json={"user_id": "", "text": "hi"}, statuses=(422,)),
        Case("web_msg-long-user", "POST", path, json={"user_id": "u" * 129, "text": "hi"}, statuses=(422,)),
        Case("web_msg-long-client-id", "POST", path, json={"user_id": "u1", "text": "hi", "client_message_id": "c" * 129},
             statuses=(422,)),
        Case("web_msg-text-int", "POST", path, json={"user_id": "u1", "text": 123}, statuses=(422,)),
        Case("web_msg-text-list", "POST", path, json={"user_id": "u1", "text": ["hi"]}, statuses=(422,)),
        Case("web_msg-text-object", "POST", path, json={"user_id": "u1", "text": {"$ne": ""}}, statuses=(422,)),
        Case("web_msg-user-object", "POST", path, json={"user_id": {"$gt": ""}, "text": "hi"}, statuses=(422,)),
        Case("web_msg-text-2001-chinese", "POST", path, json={"user_id": "long-user", "text": "办" * 2001},
             statuses=(413,), code="text_too_long"),
        _raw("web_msg-1mb-body", "POST", path,
             json.dumps({"user_id": "big", "text": "社" * 350_000}, ensure_ascii=False).encode(), statuses=(413,)),
        _raw("web_msg-1mb-junk", "POST", path, b"x" * (1024 * 1024), statuses=(400, 413)),
    ]
    cases += [Case(f"web_msg-weird-{k}", "POST", path, json={"user_id": f"weird-{k}", "text": v}, expect=REPLY,
                   inert=False) for k, v in WEIRD.items()]
    cases += [Case(f"web_msg-control-{k}", "POST", path, json={"user_id": f"ctl-{k}", "text": v}, expect=ANY,
                   inert=False) for k, v in CONTROL.items()]
    for i, text in enumerate(SQL + HTML):
        cases.append(Case(f"web_msg-inject-{i}", "POST", path, json={"user_id": f"inj-{i}", "text": text}, expect=REPLY,
                          inert=False, check_inert_echo=text))
    return cases


def web_history_cases() -> list[Case]:
    h = "/api/v1/web/history"
    return [
        Case("history-unknown-conv", "GET", f"{h}?conversation_id=nope&token={{token_a}}", statuses=(404,),
             code="conversation_not_found"),
        Case("history-foreign-conv", "GET", f"{h}?conversation_id={{conv_b}}&token={{token_a}}", statuses=(403,),
             code="invalid_push_token"),
        Case("history-bad-token", "GET", f"{h}?conversation_id={{conv_a}}&token=deadbeef", statuses=(403,)),
        Case("history-empty-token", "GET", f"{h}?conversation_id={{conv_a}}&token=", statuses=(403, 422)),
        Case("history-no-params", "GET", h, statuses=(422,)),
        Case("history-no-token", "GET", f"{h}?conversation_id={{conv_a}}", statuses=(403, 422)),
        Case("history-after-negative", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_a}}&after=-1", statuses=(422,)),
        Case("history-after-text", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_a}}&after=abc", statuses=(422,)),
        Case("history-after-huge", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_a}}&after=" + "9" * 40,
             statuses=(422,)),
        Case("history-limit-zero", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_a}}&limit=0", statuses=(422,)),
        Case("history-limit-huge", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_a}}&limit=1000000000",
             statuses=(422,)),
        Case("history-sql-conv", "GET", f"{h}?conversation_id=' OR 1=1 --&token={{token_a}}", statuses=(404,)),
        Case("history-long-conv", "GET", f"{h}?conversation_id={'c' * 5000}&token={{token_a}}", statuses=(404, 422)),
        Case("history-token-of-a-for-b-swapped", "GET", f"{h}?conversation_id={{conv_a}}&token={{token_b}}",
             statuses=(403,)),
    ]


def web_ws_cases() -> list[Case]:
    w = "/api/v1/web/ws"
    return [
        Case("ws-unknown-conv", "WS", f"{w}?conversation_id=nope&token={{token_a}}", ws=True, statuses=(4404, 1008)),
        Case("ws-foreign-conv", "WS", f"{w}?conversation_id={{conv_b}}&token={{token_a}}", ws=True, statuses=(1008,)),
        Case("ws-bad-token", "WS", f"{w}?conversation_id={{conv_a}}&token=forged", ws=True, statuses=(1008,)),
        Case("ws-no-params", "WS", w, ws=True, statuses=(1008, 4404)),
        Case("ws-after-huge-bad-token", "WS", f"{w}?conversation_id={{conv_a}}&token=x&after={'9' * 40}", ws=True,
             statuses=(1008,)),
        Case("ws-after-text", "WS", f"{w}?conversation_id={{conv_a}}&token=forged&after=abc", ws=True,
             statuses=(1008,)),
    ]


WECHAT = "/channels/wechat"
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    b'<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>'
    b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    b"<MsgType>text</MsgType><Content>&lol5;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    b"<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"
)
XXE_PARAM = (
    b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY % ext SYSTEM "http://127.0.0.1:1/evil.dtd"> %ext;]>'
    b"<xml><MsgType>text</MsgType><Content>x</Content></xml>"
)
GOOD_XML = ("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o-sec]]></FromUserName>"
            "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[社保]]></Content><MsgId>987654321</MsgId></xml>").encode()


def wechat_cases() -> list[Case]:
    cases = [
        Case("wx_get-unsigned", "GET", f"{WECHAT}?echostr=abc", statuses=(403,), code="missing_signature"),
        Case("wx_get-forged", "GET", f"{WECHAT}?echostr=abc&signature={'0' * 40}&timestamp=1&nonce=n", statuses=(403,)),
        Case("wx_get-no-echostr", "GET", f"{WECHAT}?{{wx_sig}}", statuses=(400,), code="missing_echostr"),
        Case("wx_get-sig-for-other-token", "GET", f"{WECHAT}?echostr=abc&{{wx_sig_other}}", statuses=(403,)),
        Case("wx_get-tampered-nonce", "GET", f"{WECHAT}?echostr=abc&{{wx_sig}}x", statuses=(403,)),
        Case("wx_post-unsigned", "POST", WECHAT, content=GOOD_XML, statuses=(403,)),
        Case("wx_post-forged", "POST", f"{WECHAT}?signature={'f' * 40}&timestamp=1&nonce=n", content=GOOD_XML,
             statuses=(403,)),
        Case("wx_post-sig-other-token", "POST", f"{WECHAT}?{{wx_sig_other}}", content=GOOD_XML, statuses=(403,)),
        Case("wx_post-unexpected-aes", "POST", f"{WECHAT}?{{wx_sig}}&encrypt_type=aes", content=GOOD_XML,
             statuses=(400,)),
    ]
    bodies = {
        "billion_laughs": BILLION_LAUGHS, "xxe_file": XXE, "xxe_param": XXE_PARAM, "empty": b"", "spaces": b"   ",
        "truncated": GOOD_XML[: len(GOOD_XML) // 2], "unclosed_cdata": b"<xml><Content><![CDATA[abc</Content></xml>",
        "not_xml": b"hello world", "json_garbage": b'{"MsgType": ', "invalid_utf8": b"<xml><Content>\xff\xfe</Content></xml>",
        "deep_nesting": b"<a>" * 20000 + b"</a>" * 20000, "1mb": b"<xml><Content>" + b"A" * (1024 * 1024) + b"</Content></xml>",
        "root_only": b"<xml/>", "no_msgtype": b"<xml><FromUserName>o1</FromUserName></xml>",
        "processing_instruction": b"<?xml-stylesheet href='http://evil'?><xml></xml>",
    }
    entity = {"billion_laughs", "xxe_file", "xxe_param"}  # DOCTYPE/ENTITY must be refused outright
    cases += [Case(f"wx_post-body-{k}", "POST", f"{WECHAT}?{{wx_sig}}", content=v,
                   statuses=(400,) if k in entity else (200, 400, 413), expect=REJECT if k in entity else ANY)
              for k, v in bodies.items()]
    return cases


APP = "/api/v1/app"
APP_KEY = {"X-App-Id": "bjapp", "X-Api-Key": "k-123"}


def app_cases() -> list[Case]:
    bearer = {**APP_KEY, "Authorization": "Bearer {app_token}"}
    cases = [
        Case("app_tokens-no-key", "POST", f"{APP}/tokens", json={"user_id": "u1"}, statuses=(401,), code="invalid_api_key"),
        Case("app_tokens-wrong-key", "POST", f"{APP}/tokens", json={"user_id": "u1"},
             headers={"X-App-Id": "bjapp", "X-Api-Key": "k-999"}, statuses=(401,)),
        Case("app_tokens-unknown-app", "POST", f"{APP}/tokens", json={"user_id": "u1"},
             headers={"X-App-Id": "evil", "X-Api-Key": "k-123"}, statuses=(401,)),
        Case("app_tokens-missing-user", "POST", f"{APP}/tokens", json={}, headers=APP_KEY, statuses=(422,)),
        Case("app_tokens-user-int", "POST", f"{APP}/tokens", json={"user_id": 5}, headers=APP_KEY, statuses=(422,)),
        Case("app_tokens-blank-user", "POST", f"{APP}/tokens", json={"user_id": "   "}, headers=APP_KEY, statuses=(422,),
             code="invalid_user_id"),
        Case("app_tokens-negative-ttl", "POST", f"{APP}/tokens", json={"user_id": "u1", "ttl_s": -5}, headers=APP_KEY,
             statuses=(422,)),
        Case("app_tokens-huge-ttl", "POST", f"{APP}/tokens", json={"user_id": "u1", "ttl_s": 10**12}, headers=APP_KEY,
             statuses=(422,)),
        Case("app_msg-no-bearer", "POST", f"{APP}/messages", json={"text": "hi"}, headers=APP_KEY, statuses=(401,),
             code="missing_user_token"),
        Case("app_msg-forged-bearer", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={**APP_KEY, "Authorization": "Bearer forged.token.value"}, statuses=(401,)),
        Case("app_msg-other-apps-token", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={**APP_KEY, "Authorization": "Bearer {other_app_token}"}, statuses=(401, 403)),
        Case("app_msg-token-wrong-app-key", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={"X-App-Id": "other", "X-Api-Key": "k-999", "Authorization": "Bearer {app_token}"}, statuses=(401, 403)),
        Case("app_msg-tampered-token", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={**APP_KEY, "Authorization": "Bearer {app_token_tampered}"}, statuses=(401,)),
        Case("app_msg-expired-token", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={**APP_KEY, "Authorization": "Bearer {app_token_expired}"}, statuses=(401,)),
        Case("app_msg-no-key-with-bearer", "POST", f"{APP}/messages", json={"text": "hi"},
             headers={"Authorization": "Bearer {app_token}"}, statuses=(401,)),
        Case("app_msg-empty-text", "POST", f"{APP}/messages", json={"text": "  "}, headers=bearer, statuses=(422,)),
        Case("app_msg-too-long", "POST", f"{APP}/messages", json={"text": "办" * 2001}, headers=bearer, statuses=(413,)),
        Case("app_msg-text-null", "POST", f"{APP}/messages", json={"text": None}, headers=bearer, statuses=(422,)),
        Case("app_events-no-bearer", "GET", f"{APP}/events?wait=0", headers=APP_KEY, statuses=(401,)),
        Case("app_events-other-apps-token", "GET", f"{APP}/events?wait=0",
             headers={**APP_KEY, "Authorization": "Bearer {other_app_token}"}, statuses=(401, 403)),
        Case("app_events-after-negative", "GET", f"{APP}/events?after=-1&wait=0", headers=bearer, statuses=(422,)),
        Case("app_events-wait-huge", "GET", f"{APP}/events?wait=100000", headers=bearer, statuses=(422,)),
        Case("app_events-after-huge", "GET", f"{APP}/events?after={'9' * 40}&wait=0", headers=bearer, statuses=(422,)),
        Case("app_events-after-text", "GET", f"{APP}/events?after=x&wait=0", headers=bearer, statuses=(422,)),
    ]
    cases += [_raw(f"app_msg-json-{k}", "POST", f"{APP}/messages", v, headers=bearer, statuses=(400, 413, 422))
              for k, v in list(BAD_JSON.items())[:10] + [("deep_nesting", BAD_JSON["deep_nesting"])]]
    cases += [Case(f"app_msg-inject-{i}", "POST", f"{APP}/messages", json={"text": t}, headers=bearer, expect=REPLY,
                   inert=False) for i, t in enumerate(HTML[:3])]
    return cases


AGENT = "/api/v1/agent"


def agent_cases() -> list[Case]:
    conv = f"{AGENT}/conversations/{{conv_a}}"
    cases = [
        Case("agent_login-wrong-password", "POST", f"{AGENT}/login", json={"name": "sec-alice", "password": "nope"},
             statuses=(401, 403), inert=False),  # a failed login is audited on purpose
        Case("agent_login-unknown", "POST", f"{AGENT}/login", json={"name": "nobody", "password": "x"}, statuses=(401, 403)),
        Case("agent_login-sql", "POST", f"{AGENT}/login", json={"name": "' OR 1=1 --", "password": "' OR 1=1 --"},
             statuses=(401, 403)),
        Case("agent_login-empty", "POST", f"{AGENT}/login", json={"name": "", "password": ""}, statuses=(422,)),
        Case("agent_login-long-password", "POST", f"{AGENT}/login", json={"name": "sec-alice", "password": "p" * 257},
             statuses=(422,)),
        Case("agent_login-array", "POST", f"{AGENT}/login", json=["sec-alice"], statuses=(422,)),
        _raw("agent_login-bad-json", "POST", f"{AGENT}/login", b'{"name": "sec-alice", "password":', statuses=(400,)),
        _raw("agent_login-form", "POST", f"{AGENT}/login", b"name=sec-alice&password=x",
             "application/x-www-form-urlencoded", statuses=(400, 422)),
    ]
    who = {"none": {}, "forged": {"Cookie": "{cookie_name}=forged-session"},
           "expired": {"Cookie": "{cookie_name}={expired_cookie}"}, "logged_out": {"Cookie": "{cookie_name}={logged_out_cookie}"}}
    endpoints = [("me", "GET", f"{AGENT}/me", None), ("queue", "GET", f"{AGENT}/queue", None),
                 ("take", "POST", f"{AGENT}/tickets/{{ticket}}/take", None), ("read", "GET", conv, None),
                 ("reveal", "POST", f"{conv}/reveal", {"seq": 1}), ("reply", "POST", f"{conv}/reply", {"text": "你好"}),
                 ("transfer", "POST", f"{conv}/transfer", {"skill": "户政"}), ("end", "POST", f"{conv}/end", None),
                 ("suggestions", "GET", f"{conv}/suggestions", None), ("skills", "GET", f"{AGENT}/skills", None)]
    for who_name, headers in who.items():
        for name, method, path, body in endpoints:
            cases.append(Case(f"agent_{name}-{who_name}", method, path, json=body, headers=headers, statuses=(401,)))
    other = {"Cookie": "{cookie_name}={bob_cookie}"}
    for name, method, path, body in endpoints[2:9]:
        if name == "take":
            continue
        cases.append(Case(f"agent_{name}-other-agents-chat", method, path, json=body, headers=other,
                          statuses=(403, 404, 409)))
    alice = {"Cookie": "{cookie_name}={alice_cookie}"}
    unknown = f"{AGENT}/conversations/00000000-0000-0000-0000-000000000000"
    cases += [
        Case("agent_take-unknown-ticket", "POST", f"{AGENT}/tickets/999999/take", headers=alice, statuses=(404, 409, 422)),
        Case("agent_take-text-ticket", "POST", f"{AGENT}/tickets/abc/take", headers=alice, statuses=(404, 409, 422)),
        Case("agent_take-already-taken", "POST", f"{AGENT}/tickets/{{ticket}}/take", headers=other, statuses=(403, 409)),
        Case("agent_read-unknown-conv", "GET", unknown, headers=alice, statuses=(403, 404)),
        Case("agent_reply-unknown-conv", "POST", f"{unknown}/reply", json={"text": "hi"}, headers=alice, statuses=(403, 404)),
        Case("agent_reply-empty", "POST", f"{conv}/reply", json={"text": ""}, headers=alice, statuses=(422,)),
        Case("agent_reply-blank", "POST", f"{conv}/reply", json={"text": "   \u3000"}, headers=alice, statuses=(422,)),
        Case("agent_reply-too-long", "POST", f"{conv}/reply", json={"text": "办" * 2001}, headers=alice, statuses=(413, 422)),
        Case("agent_reply-not-string", "POST", f"{conv}/reply", json={"text": ["a"]}, headers=alice, statuses=(422,)),
        _raw("agent_reply-bad-json", "POST", f"{conv}/reply", b'{"text": "a', headers=alice, statuses=(400,)),
        Case("agent_reveal-seq-zero", "POST", f"{conv}/reveal", json={"seq": 0}, headers=alice, statuses=(422,)),
        Case("agent_reveal-seq-huge", "POST", f"{conv}/reveal", json={"seq": 10**9}, headers=alice, statuses=(404, 422)),
        Case("agent_reveal-seq-text", "POST", f"{conv}/reveal", json={"seq": "1 OR 1=1"}, headers=alice, statuses=(422,)),
        Case("agent_transfer-empty-skill", "POST", f"{conv}/transfer", json={"skill": ""}, headers=alice, statuses=(422,)),
        Case("agent_transfer-long-skill", "POST", f"{conv}/transfer", json={"skill": "s" * 65}, headers=alice,
             statuses=(422,)),
        Case("agent_workorder-other-agent", "POST", f"{conv}/work-order",
             json={"category": "咨询", "summary": "x"}, headers=other, statuses=(403, 404, 409)),
        Case("agent_workorder-empty", "POST", f"{conv}/work-order", json={}, headers=alice, statuses=(422,)),
        Case("agent_ws-forged", "WS", f"{AGENT}/ws", headers={"Cookie": "{cookie_name}=forged"}, ws=True, statuses=(4401,)),
        Case("agent_ws-expired", "WS", f"{AGENT}/ws", headers={"Cookie": "{cookie_name}={expired_cookie}"}, ws=True,
             statuses=(4401,)),
    ]
    return cases


ADMIN = "/api/v1/admin"


def admin_cases() -> list[Case]:
    endpoints = [("kb_reload", "POST", f"{ADMIN}/kb/reload"), ("feedback", "GET", f"{ADMIN}/feedback"),
                 ("work_orders", "GET", f"{ADMIN}/work-orders"), ("retry", "POST", f"{ADMIN}/work-orders/1/retry")]
    auths = {"none": {}, "wrong": {"Authorization": "Bearer wrong"}, "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
             "empty_bearer": {"Authorization": "Bearer "}, "agent_cookie": {"Cookie": "{cookie_name}={alice_cookie}"}}
    return [Case(f"admin_{name}-{a}", method, path, headers=h, statuses=(401,), code="unauthorized")
            for name, method, path in endpoints for a, h in auths.items()]


HOTLINE = "/api/v1/hotline12345/callback"


def hotline_cases() -> list[Case]:
    cases = [
        _raw("hotline-unsigned", "POST", HOTLINE, b'{"order_no": "x", "status": "accepted"}', statuses=(401,)),
        _raw("hotline-forged", "POST", HOTLINE, b'{"order_no": "x", "status": "accepted"}',
             headers={"X-Govbot-Signature": "sha256=" + "0" * 64}, statuses=(401,)),
        _raw("hotline-1mb", "POST", HOTLINE, b"{" + b" " * (1024 * 1024) + b"}", statuses=(401, 413)),
    ]
    signed = {"bad_json": b'{"order_no": ', "array": b"[]", "missing_status": b'{"order_no": "WO-1"}',
              "status_int": b'{"order_no": "WO-1", "status": 3}', "invalid_utf8": b'{"order_no": "\xff"}',
              "unknown_order": '{"order_no": "不存在-1", "status": "accepted"}'.encode(),
              "sql_order": b'{"order_no": "x\' OR 1=1 --", "status": "accepted"}'}
    cases += [_raw(f"hotline-signed-{k}", "POST", HOTLINE, v, headers={"X-Govbot-Signature": "{sign}"},
                   statuses=(400, 404)) for k, v in signed.items()]
    return cases


def rating_cases() -> list[Case]:
    r = "/api/v1/web/conversations/{conv_a}/rating"
    cases = [
        Case("rating-unknown-conv", "POST", "/api/v1/web/conversations/nope/rating", json={"score": 5, "token": "{token_a}"},
             statuses=(404,)),
        Case("rating-foreign-token", "POST", r, json={"score": 5, "token": "{token_b}"}, statuses=(403,)),
        Case("rating-no-token", "POST", r, json={"score": 5}, statuses=(403,)),
        Case("rating-comment-too-long", "POST", r, json={"score": 5, "token": "{token_a}", "comment": "评" * 501},
             statuses=(422,)),
        Case("rating-token-too-long", "POST", r, json={"score": 5, "token": "t" * 129}, statuses=(422,)),
        _raw("rating-bad-json", "POST", r, b'{"score": 5,', statuses=(400,)),
    ]
    for label, score in {"zero": 0, "six": 6, "negative": -1, "bool": True, "string": "5", "float": 4.5, "null": None,
                         "list": [5], "huge": 10**30}.items():
        cases.append(Case(f"rating-score-{label}", "POST", r, json={"score": score, "token": "{token_a}"}, statuses=(422,),
                          code="invalid_score"))
    return cases


def hours_cases() -> list[Case]:
    return [
        Case("hours_check-no-center", "GET", "/api/v1/hours/check", statuses=(422,)),
        Case("hours_check-long-center", "GET", "/api/v1/hours/check?center=" + "中" * 65, statuses=(422,)),
        Case("hours_check-unknown-center", "GET", "/api/v1/hours/check?center=不存在的中心", statuses=(404, 422)),
        Case("hours_check-sql-center", "GET", "/api/v1/hours/check?center=' OR 1=1 --", statuses=(404, 422)),
        Case("hours_check-html-center", "GET", "/api/v1/hours/check?center=<script>alert(1)</script>", statuses=(404, 422)),
        Case("hours_check-bad-at", "GET", "/api/v1/hours/check?center=东城区政务服务中心&at=yesterday", statuses=(404, 422)),
        Case("hours_check-bad-flexible", "GET", "/api/v1/hours/check?center=x&flexible=maybe", statuses=(422,)),
        Case("hours_check-long-category", "GET", "/api/v1/hours/check?center=x&category=" + "类" * 17, statuses=(422,)),
        Case("hours_deadline-none", "GET", "/api/v1/hours/deadline", statuses=(422,)),
        Case("hours_deadline-bad-date", "GET", "/api/v1/hours/deadline?submitted=2026-13-45", statuses=(400, 422)),
        Case("hours_deadline-text-date", "GET", "/api/v1/hours/deadline?submitted=明天", statuses=(400, 422)),
        Case("hours_deadline-negative-days", "GET", "/api/v1/hours/deadline?submitted=2026-11-26&working_days=-1",
             statuses=(422,)),
        Case("hours_deadline-too-many-days", "GET", "/api/v1/hours/deadline?submitted=2026-11-26&working_days=366",
             statuses=(422,)),
        Case("hours_deadline-bad-channel", "GET", "/api/v1/hours/deadline?submitted=2026-11-26&channel=evil",
             statuses=(422,)),
        Case("centers-post", "POST", "/api/v1/centers", json={}, statuses=(405,)),
    ]


def misc_cases() -> list[Case]:
    return [
        Case("misc-unknown-path", "GET", "/api/v1/nope", statuses=(404,)),
        Case("misc-path-traversal", "GET", "/agent/..%2f..%2fetc%2fpasswd", statuses=(404,)),
        Case("misc-widget-traversal", "GET", "/..%2fconnectors%2fconfig.py", statuses=(404,)),
        Case("misc-wrong-method-messages", "GET", "/api/v1/web/messages", statuses=(405,)),
        Case("misc-wrong-method-history", "DELETE", "/api/v1/web/history", statuses=(405,)),
        Case("misc-put-wechat", "PUT", WECHAT, statuses=(405,)),
    ]


def all_cases() -> list[Case]:
    cases = (web_message_cases() + web_history_cases() + web_ws_cases() + wechat_cases() + app_cases() + agent_cases()
             + admin_cases() + hotline_cases() + rating_cases() + hours_cases() + misc_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


# --------------------------------------------------------------------------- the runner


@dataclass
class CaseResult:
    """How one case went: ``problems`` empty means it passed."""

    case_id: str
    status: int | None
    problems: list[str] = field(default_factory=list)
    state_changed: bool = False

    @property
    def server_error(self) -> bool:
        return self.status is not None and self.status >= 500


def fill(value: str, fmt: dict[str, str]) -> str:
    for key, replacement in fmt.items():
        value = value.replace("{" + key + "}", replacement)
    return value


def fill_json(value: Any, fmt: dict[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, fmt)
    if isinstance(value, dict):
        return {k: fill_json(v, fmt) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_json(v, fmt) for v in value]
    return value


def error_shape_problems(response: Any) -> list[str]:
    """Every error is ``{"error": {"code", "message_zh", "message_en"}}``."""
    try:
        error = response.json()["error"]
        ok = all(isinstance(error.get(k), str) and error[k] for k in ("code", "message_zh", "message_en"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"error body has not the bilingual shape: {response.text[:200]}"]
    return [] if ok else [f"error body incomplete: {error}"]


def inert_echo_problems(client: Any, body: dict[str, Any], payload: str) -> list[str]:
    """The injection string comes back as plain JSON data and never appears unescaped in our pages."""
    history = client.get("/api/v1/web/history",
                         params={"conversation_id": body["conversation_id"], "token": body["push_token"]})
    if history.status_code != 200 or not history.headers.get("content-type", "").startswith("application/json"):
        return [f"history: {history.status_code} {history.headers.get('content-type')}"]
    texts = [m["text"] for m in history.json()["messages"] if m["author"] == "citizen"]
    problems = [] if payload.strip() in texts else ["injection text not stored verbatim as data"]
    for page in ("/", "/agent", "/widget.js"):
        served = client.get(page)
        if served.status_code != 200:
            problems.append(f"{page}: {served.status_code}")
        elif "<" in payload and payload in served.text:
            problems.append(f"{page} echoes the payload")
    if html.escape(payload) == payload and "<" in payload:
        problems.append("payload not escapable")
    return problems


def run_case(
    client: Any,
    case: Case,
    fmt: dict[str, str],
    *,
    hotline_secret: str,
    counts: Callable[[], dict[str, int]],
    ws_code: Callable[[str, dict[str, str]], int],
) -> CaseResult:
    """Send one case with ``client`` (an ``httpx.Client`` or Starlette ``TestClient``) and judge it.

    ``counts`` returns the row count of every table (compared around ``inert`` cases); ``ws_code``
    opens a WebSocket and returns the close code the server chose.
    """
    from connectors.hotline12345.signing import sign

    client.cookies.clear()
    path = fill(case.path, fmt)
    headers = {k: fill(v, fmt) for k, v in case.headers.items()}
    if headers.get("X-Govbot-Signature") == "{sign}":
        headers["X-Govbot-Signature"] = sign(hotline_secret, case.content or b"")
    before = counts() if case.inert else {}
    result = CaseResult(case.id, None)
    problems = result.problems
    if case.ws:
        code = ws_code(path, headers)
        if code not in case.statuses:
            problems.append(f"WebSocket closed with {code}, expected one of {case.statuses}")
    else:
        kwargs: dict[str, Any] = {"headers": headers}
        if case.content is not None:
            kwargs["content"] = case.content
        elif case.json is not None or case.method in ("POST", "PUT"):
            kwargs["json"] = fill_json(case.json, fmt)
        response = client.request(case.method, path, **kwargs)
        status = result.status = response.status_code
        text = response.text[:300]
        if status >= 500:
            problems.append(f"{status}: {text}")
        elif case.statuses and status not in case.statuses:
            problems.append(f"{status} not in {case.statuses}: {text}")
        if case.expect == REJECT or (case.expect == ANY and status >= 400):
            if not 400 <= status < 500:
                problems.append(f"expected a 4xx, got {status}")
            else:
                problems += error_shape_problems(response)
                if case.code and response.json().get("error", {}).get("code") != case.code:
                    problems.append(f"error code {response.json().get('error')} != {case.code}")
        elif case.expect == REPLY:
            if status != 200:
                problems.append(f"expected a reply, got {status}")
            else:
                body = response.json()
                if not body.get("replies") or not all(isinstance(r.get("text"), str) for r in body["replies"]):
                    problems.append(f"no replies: {text}")
                elif case.check_inert_echo:
                    problems += inert_echo_problems(client, body, case.check_inert_echo)
        elif case.expect == ANY and status == 200 and path.startswith("/api/") and response.json().get("replies") is None:
            problems.append("200 without replies")
    client.cookies.clear()
    if case.inert and counts() != before:
        result.state_changed = True
        problems.append("an input that must be refused changed the database")
    return result
