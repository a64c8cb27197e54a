"""Security headers: ``nosniff`` and a referrer policy everywhere, a CSP on the HTML pages.

The widget demo page (``/``) loads ``/widget.js`` and talks to the gateway's own API and WebSocket;
host pages that embed the widget load the script cross-origin under *their* CSP, so nothing here
restricts them. The agent console (``/agent``) may never be framed: ``frame-ancestors 'none'`` and
``X-Frame-Options: DENY`` against clickjacking of a staff tool.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin")]


def _connect_src(host: str) -> str:
    # 'self' covers ws:/wss: of the same host only in CSP3 browsers; name them explicitly
    return f"'self' ws://{host} wss://{host}" if host else "'self'"


def widget_page_csp(host: str) -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"connect-src {_connect_src(host)}; object-src 'none'; base-uri 'self'; form-action 'self'")


def agent_console_csp(host: str) -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"connect-src {_connect_src(host)}; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def page_headers(path: str, host: str) -> list[tuple[bytes, bytes]]:
    if path == "/agent" or path.startswith("/agent/"):
        return [(b"content-security-policy", agent_console_csp(host).encode()), (b"x-frame-options", b"DENY")]
    if path == "/":
        return [(b"content-security-policy", widget_page_csp(host).encode())]
    if path == "/widget.js" or path == "/widget.css":
        # loaded by host pages of other origins: let them, and keep the MIME type authoritative
        return [(b"cross-origin-resource-policy", b"cross-origin")]
    return []


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        extra = COMMON + page_headers(scope["path"], host)

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in extra if h[0] not in present)]}
            await send(message)

        await self.app(scope, receive, _send)
