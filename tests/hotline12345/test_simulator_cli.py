"""The simulator as a process: ``python -m connectors.hotline12345.simulator --port N``."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from connectors.hotline12345.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from tests.conftest import ROOT, free_port
from tests.hotline12345.conftest import wait_for


def test_simulator_runs_standalone_checks_signatures_and_obeys_controls():
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "GOVBOT_12345_SECRET": "cli-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "connectors.hotline12345.simulator", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(f"{base}/_stats", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=20)
        body = json.dumps({"order_no": "GD20261126ABCDEF", "idempotency_key": "k1", "summary": "测试"}).encode()
        headers = {SIGNATURE_HEADER: sign("cli-secret", body), IDEMPOTENCY_HEADER: "k1"}
        assert httpx.post(f"{base}/api/orders", content=body,
                          headers={**headers, SIGNATURE_HEADER: sign("wrong", body)}).status_code == 401
        assert httpx.post(f"{base}/_control", json={"fail_next": 1}).status_code == 200
        assert httpx.post(f"{base}/api/orders", content=body, headers=headers).status_code == 503
        assert httpx.post(f"{base}/api/orders", content=body, headers=headers).json()["duplicate"] is False
        assert httpx.post(f"{base}/api/orders", content=body, headers=headers).json()["duplicate"] is True
        stats = httpx.get(f"{base}/_stats").json()
        assert stats["unique_orders"] == 1 and stats["requests"] == 4 and stats["rejected_signature"] == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_simulator_refuses_to_start_without_a_secret():
    result = subprocess.run([sys.executable, "-m", "connectors.hotline12345.simulator", "--port", str(free_port())],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "GOVBOT_12345_SECRET" in result.stderr
