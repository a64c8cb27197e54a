"""Every log record is masked once the filter is installed, whoever logs it and however."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from connectors.privacy.logfilter import PiiMaskingFilter, install_log_masking, uninstall_log_masking

ID_NUMBER, MOBILE, CARD = "11010519491231002X", "13812345678", "6222020000000000000"
ADDRESS = "朝阳区建国路88号院3号楼"
RAW = (ID_NUMBER, MOBILE, CARD, "88号院")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("govbot.test.pii")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    install_log_masking()
    yield logger, stream
    uninstall_log_masking()
    logger.removeHandler(handler)


def test_message_args_exceptions_and_stack_are_masked(captured) -> None:
    logger, stream = captured
    logger.info("citizen wrote %s", f"我的身份证{ID_NUMBER}，手机{MOBILE}")
    logger.warning(f"card {CARD} at {ADDRESS}")
    try:
        raise ValueError(f"[parameters: ('{ID_NUMBER}', '{MOBILE}')]")
    except ValueError:
        logger.exception("insert failed for %s", ADDRESS)
    logger.error("stack", stack_info=True, extra={"x": MOBILE})
    out = stream.getvalue()
    for raw in RAW:
        assert raw not in out, out
    assert "110105********002X" in out and "138****5678" in out and "6222***********0000" in out
    assert "建国路**号院*号楼" in out and "ValueError" in out


def test_url_credentials_are_masked(captured) -> None:
    logger, stream = captured
    logger.info('127.0.0.1 - "WebSocket /api/v1/web/ws?conversation_id=abc&token=%s&after=3" [accepted]', "f" * 40)
    logger.info("POST /cgi-bin/message/custom/send?access_token=TOKEN-123 signature=deadbeef&nonce=n")
    out = stream.getvalue()
    assert "f" * 40 not in out and "TOKEN-123" not in out and "deadbeef" not in out
    assert "token=***&after=3" in out and "conversation_id=abc" in out and "nonce=n" in out


def test_a_bad_format_string_is_kept_not_lost(captured) -> None:
    logger, stream = captured
    logger.info("two placeholders %s %s but one arg " + MOBILE, "x")
    out = stream.getvalue()
    assert "two placeholders" in out and MOBILE not in out


def test_filter_masks_records_made_before_installation() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "phone %s", (MOBILE,), None)
    assert PiiMaskingFilter().filter(record)
    assert record.getMessage() == "phone 138****5678"


def test_the_gateway_installs_it(tmp_path, monkeypatch) -> None:
    """create_app installs the masking: a record logged afterwards anywhere is masked."""
    from dataclasses import replace

    from connectors.app import create_app
    from connectors.config import load_settings

    base = load_settings()
    create_app(replace(base, database_url=f"sqlite:///{tmp_path / 'gw.db'}"))
    try:
        record = logging.getLogger("connectors.anything").makeRecord(
            "connectors.anything", logging.WARNING, __file__, 1, "id %s", (ID_NUMBER,), None)
        assert ID_NUMBER not in record.getMessage()
    finally:
        uninstall_log_masking()


def test_the_action_server_installs_it() -> None:
    import inspect

    from bot.actions import server

    assert "install_log_masking()" in inspect.getsource(server.main)
