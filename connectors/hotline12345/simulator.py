"""A local 12345 hotline: a real HTTP server that receives work orders and calls back with status.

Runs standalone (``python -m connectors.hotline12345.simulator --port 8345``, secret from
``GOVBOT_12345_SECRET`` or ``--secret``) or inside tests (:class:`Simulator12345`). It behaves like
a receiver we cannot trust to be well: it can fail the next N requests (5xx), answer slowly (after
or before storing the order), and answer repeated idempotency keys with a replay (200,
``duplicate: true``) or 409. It checks the signature and dedupes by ``Idempotency-Key``, so
``unique_count`` is the number of orders 12345 really has.

Control API (JSON): ``GET /_stats``; ``POST /_control`` {fail_next, fail_status, delay_s,
commit_before_delay, duplicate_status}; ``POST /_callback`` {order_no, status, reply, event_id,
callback_url} sends a signed status callback to the gateway.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from connectors.hotline12345.settings import SECRET_ENV
from connectors.hotline12345.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign, verify

log = logging.getLogger(__name__)
ORDERS_PATH = "/api/orders"


@dataclass
class Behaviour:
    fail_next: int = 0  # answer this many coming order requests with fail_status
    fail_status: int = 503
    delay_s: float = 0.0  # answer this much later
    # True: store the order, then stall (a client timeout then retries an order 12345 already has)
    commit_before_delay: bool = True
    duplicate_status: int = 200  # 200: replay of the first answer with duplicate=true; or 409


@dataclass
class Received:
    idempotency_key: str
    status: int
    signature_ok: bool
    at: float = field(default_factory=time.time)


class Simulator12345:
    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.behaviour = Behaviour()
        self.orders: dict[str, dict[str, Any]] = {}  # idempotency key → order body
        self.responses: dict[str, dict[str, Any]] = {}  # idempotency key → first answer
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}{ORDERS_PATH}"

    def start(self) -> Simulator12345:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sim12345")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ what 12345 has
    @property
    def unique_count(self) -> int:
        with self._lock:
            return len(self.orders)

    def order_numbers(self) -> list[str]:
        with self._lock:
            return [o.get("order_no", "") for o in self.orders.values()]

    def attempts_for(self, key: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.idempotency_key == key)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "unique_orders": len(self.orders),
                "requests": len(self.requests),
                "rejected_signature": sum(1 for r in self.requests if not r.signature_ok),
                "failed": sum(1 for r in self.requests if r.status >= 500),
                "orders": [{"order_no": o.get("order_no"), "category": o.get("category"), "summary": o.get("summary")}
                           for o in self.orders.values()],
            }

    # ------------------------------------------------------------------ callbacks to the gateway
    def callback(self, callback_url: str, order_no: str, status: str, reply: str | None = None,
                 event_id: str | None = None, secret: str | None = None) -> httpx.Response:
        """Send a signed status callback (``secret`` overrides ours, to forge one)."""
        body = json.dumps({"order_no": order_no, "status": status, "reply": reply,
                           "event_id": event_id or uuid.uuid4().hex}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret or self.secret, body)}
        return httpx.post(callback_url, content=body, headers=headers, timeout=10.0)

    # ------------------------------------------------------------------ HTTP
    def _receive(self, key: str, body: bytes, signature: str | None) -> tuple[int, dict[str, Any], float]:
        """Decide the answer to one order request: (status, JSON body, seconds to stall before answering)."""
        signature_ok = verify(self.secret, body, signature)
        with self._lock:
            b = self.behaviour
            if not signature_ok:
                self.requests.append(Received(key, 401, False))
                return 401, {"error": "invalid signature"}, 0.0
            if b.fail_next > 0:
                b.fail_next -= 1
                self.requests.append(Received(key, b.fail_status, True))
                return b.fail_status, {"error": "simulated failure"}, b.delay_s
            try:
                order = json.loads(body)
            except ValueError:
                self.requests.append(Received(key, 400, True))
                return 400, {"error": "invalid json"}, 0.0
            if not key or not isinstance(order, dict) or order.get("idempotency_key") != key:
                self.requests.append(Received(key, 400, True))
                return 400, {"error": "Idempotency-Key header missing or not matching the body"}, 0.0
            if key in self.responses:
                self.requests.append(Received(key, b.duplicate_status, True))
                return b.duplicate_status, {**self.responses[key], "duplicate": True}, b.delay_s
            answer = {"order_id": f"12345-{len(self.orders) + 1:06d}", "order_no": order.get("order_no"),
                      "duplicate": False}
            if b.commit_before_delay or b.delay_s == 0:
                self.orders[key], self.responses[key] = order, answer
                self.requests.append(Received(key, 200, True))
                return 200, answer, b.delay_s
        # stall first, then store (a client that gave up never created anything here)
        time.sleep(b.delay_s)
        with self._lock:
            self.orders.setdefault(key, order)
            answer = self.responses.setdefault(key, answer)
            self.requests.append(Received(key, 200, True))
        return 200, answer, 0.0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/_stats":
                    self._send(200, sim.stats())
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                if self.path == ORDERS_PATH:
                    status, data, stall = sim._receive(self.headers.get(IDEMPOTENCY_HEADER, ""), body,
                                                       self.headers.get(SIGNATURE_HEADER))
                    if stall:
                        time.sleep(stall)
                    try:
                        self._send(status, data)
                    except OSError:  # the client gave up waiting
                        pass
                elif self.path == "/_control":
                    data = json.loads(body or b"{}")
                    with sim._lock:
                        for name, value in data.items():
                            if hasattr(sim.behaviour, name):
                                setattr(sim.behaviour, name, value)
                    self._send(200, {"ok": True})
                elif self.path == "/_callback":
                    data = json.loads(body or b"{}")
                    response = sim.callback(data["callback_url"], data["order_no"], data["status"],
                                            data.get("reply"), data.get("event_id"))
                    self._send(200, {"status": response.status_code, "body": response.json()})
                else:
                    self._send(404, {"error": "not found"})

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("sim12345: " + fmt, *args)

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local 12345 hotline simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8345)
    parser.add_argument("--secret", default=os.environ.get(SECRET_ENV, ""), help=f"default: ${SECRET_ENV}")
    parser.add_argument("--fail-next", type=int, default=0, help="answer the first N orders with 503")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error(f"a shared secret is required: set {SECRET_ENV} or pass --secret")
    sim = Simulator12345(args.secret, args.host, args.port)
    sim.behaviour.fail_next, sim.behaviour.delay_s = args.fail_next, args.delay
    print(f"12345 simulator listening on {sim.url}  (stats: GET /_stats)", flush=True)
    try:
        sim._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim._server.server_close()


if __name__ == "__main__":
    main()
