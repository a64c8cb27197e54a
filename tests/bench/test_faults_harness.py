"""Small pieces of ``govbot-bench faults`` that decide its verdict: log audit, options, fakes."""

from __future__ import annotations

import httpx

from connectors.bench.faults import parse_args, pii_in_logs
from connectors.bench.faults_fakes import FakeWeChatApi, Hotline
from connectors.hotline12345.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from tests.conftest import free_port


def test_raw_personal_data_in_a_log_is_found(tmp_path) -> None:
    (tmp_path / "gateway.log").write_text("INFO ok\nWARNING insert failed [parameters: ('13812345678',)]\n")
    (tmp_path / "actions.log").write_text("INFO 身份证110105********002X\n")
    found = pii_in_logs(tmp_path, {"13812345678", "11010519491231002X"})
    assert found == {"pii_checked": 2, "pii_in_logs": 1, "pii_log_files": {"gateway.log": 1}}
    assert pii_in_logs(tmp_path, {"15900001111"})["pii_in_logs"] == 0


def test_quick_is_shorter_than_full() -> None:
    full, quick = parse_args([]), parse_args(["--quick"])
    assert (full.hotline_down, full.db_lock, full.database) == (60.0, 8.0, "sqlite")
    assert quick.hotline_down < full.hotline_down and quick.gap < full.gap and quick.users < full.users
    assert parse_args(["--quick", "--hotline-down", "5"]).hotline_down == 5.0


def test_hotline_keeps_its_orders_across_an_outage() -> None:
    hotline = Hotline("s3cret", free_port())
    hotline.start()
    body = b'{"idempotency_key": "k1", "order_no": "GD1"}'
    headers = {SIGNATURE_HEADER: sign("s3cret", body), IDEMPOTENCY_HEADER: "k1", "Content-Type": "application/json"}
    try:
        assert httpx.post(hotline.url, content=body, headers=headers).status_code == 200
        hotline.stop()
        try:
            httpx.post(hotline.url, content=body, headers=headers, timeout=2)
            raise AssertionError("12345 should be unreachable while stopped")
        except httpx.ConnectError:
            pass
        hotline.start()
        again = httpx.post(hotline.url, content=body, headers=headers)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert list(hotline.orders()) == ["k1"] and hotline.requests() == 2
    finally:
        hotline.stop()


def test_fake_wechat_counts_sends_per_citizen() -> None:
    wechat = FakeWeChatApi()
    try:
        token = httpx.get(f"{wechat.url}/cgi-bin/token").json()["access_token"]
        for text in ("答复", "答复", "另一条"):
            httpx.post(f"{wechat.url}/cgi-bin/message/custom/send", params={"access_token": token},
                       json={"touser": "o-1", "msgtype": "text", "text": {"content": text}})
        assert wechat.sends_by_openid() == {"o-1": {"答复": 2, "另一条": 1}}
    finally:
        wechat.close()
