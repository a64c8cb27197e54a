"""The outside world of a fault run: WeChat's API servers and the 12345 hotline, both local.

* :class:`FakeWeChatApi` answers the access-token and customer-service-send calls the gateway makes
  for late answers, and records every send so the harness can count replies that reached a WeChat
  citizen twice.
* :class:`Hotline` runs :class:`connectors.hotline12345.simulator.Simulator12345` on a fixed port
  and can stop it (the port refuses connections) and start it again. Like the real 12345, whose
  orders survive its own outages, the restarted simulator keeps the orders it had received.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from connectors.hotline12345.simulator import Simulator12345


class FakeWeChatApi:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.token = f"TOKEN-{uuid.uuid4().hex[:8]}"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _json(self, data: dict[str, Any]) -> None:
                body = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                if urlparse(self.path).path == "/cgi-bin/token":
                    self._json({"access_token": fake.token, "expires_in": 7200})
                else:
                    self._json({"errcode": 404, "errmsg": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if urlparse(self.path).path != "/cgi-bin/message/custom/send":
                    return self._json({"errcode": 404, "errmsg": "not found"})
                with fake.lock:
                    fake.sent.append(json.loads(body.decode("utf-8")))
                self._json({"errcode": 0, "errmsg": "ok"})

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def sends_by_openid(self) -> dict[str, Counter[str]]:
        """openid → how often each text was sent to them."""
        out: dict[str, Counter[str]] = {}
        with self.lock:
            for message in self.sent:
                out.setdefault(message.get("touser", ""), Counter())[message.get("text", {}).get("content", "")] += 1
        return out

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Hotline:
    """The 12345 simulator on a fixed port, stoppable and restartable with its orders kept."""

    def __init__(self, secret: str, port: int) -> None:
        self.secret, self.port = secret, port
        self.sim: Simulator12345 | None = None
        self._state: tuple[dict[str, Any], dict[str, Any], list[Any]] = ({}, {}, [])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/orders"

    @property
    def running(self) -> bool:
        return self.sim is not None

    def start(self) -> None:
        sim = Simulator12345(self.secret, "127.0.0.1", self.port)
        sim.orders, sim.responses, sim.requests = self._state
        self.sim = sim.start()

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
            self._state = (self.sim.orders, self.sim.responses, self.sim.requests)
            self.sim = None

    def orders(self) -> dict[str, dict[str, Any]]:
        """Idempotency key → order body, of every order 12345 holds."""
        return dict(self.sim.orders if self.sim is not None else self._state[0])

    def requests(self) -> int:
        return len(self.sim.requests if self.sim is not None else self._state[2])
