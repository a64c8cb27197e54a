"""A scriptable HTTP server speaking Rasa's REST webhook protocol, for the gateway's failure paths.

The real Rasa is exercised in tests/e2e; here we need Rasa to misbehave on demand (die, stall,
answer with a handoff) which the real one will not do.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from tests.conftest import free_port


@dataclass
class FakeRasa:
    port: int
    replies: list[dict] = field(default_factory=lambda: [{"text": "您好"}])
    delay_s: float = 0.0
    status: int = 200
    received: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.received.append(body)
            time.sleep(fake.delay_s)
            payload = json.dumps(
                [{"recipient_id": body["sender"], **r} for r in fake.replies], ensure_ascii=False
            ).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", fake.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def make_client(tmp_path, rasa_url: str, timeout_s: float = 3.0) -> TestClient:
    from connectors.app import create_app
    from connectors.config import load_settings

    base = load_settings()
    settings = replace(
        base,
        database_url=f"sqlite:///{tmp_path / 'gw.db'}",
        rasa=replace(base.rasa, url=rasa_url, timeout_s=timeout_s),
        actions=replace(base.actions, url=f"http://127.0.0.1:{free_port()}"),
    )
    return TestClient(create_app(settings))


@pytest.fixture
def client_for(tmp_path):
    clients: list[TestClient] = []

    def build(rasa_url: str, timeout_s: float = 3.0) -> TestClient:
        client = make_client(tmp_path, rasa_url, timeout_s)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
