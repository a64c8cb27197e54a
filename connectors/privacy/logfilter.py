"""Masking of personal data in every log record of a process (gateway, action server).

A citizen's 身份证号, mobile or bank card number, or home address can reach a log line in many ways
that no code review catches: an exception message quoting SQL parameters, a library logging a
request, a warning that names the text it choked on. So masking is not left to each call site:
:func:`install_log_masking` wraps the process's log-record factory, and every record — from any
logger, before any handler or formatter sees it — gets its formatted message, its traceback text
and its stack text masked with :func:`~connectors.privacy.masking.mask_pii`; credentials in URLs
(``token=``, ``access_token=``, ``signature=`` … — uvicorn logs every WebSocket URL, and a web push
token opens a transcript) are replaced by ``***``. A
:class:`PiiMaskingFilter` does the same for handlers configured elsewhere (belt and braces: a
record created before installation is masked when a filtered handler emits it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from connectors.privacy.masking import mask_pii

_formatter = logging.Formatter()
URL_SECRET_RE = re.compile(r"(?i)(?<![A-Za-z_])((?:access_)?token|(?:msg_)?signature|secret|api_key)=([^&\s\"'<>]+)")


def mask_log_text(text: str) -> str:
    """Personal data and URL credentials masked, for log output."""
    return URL_SECRET_RE.sub(r"\1=***", mask_pii(text))
_installed: dict[str, Any] = {}


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message (args merged in), traceback and stack text by masked copies."""
    if getattr(record, "_pii_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record; keep the template
        message = str(record.msg)
    record.msg, record.args = mask_log_text(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _formatter.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_log_text(record.stack_info)
    record._pii_masked = True  # type: ignore[attr-defined]
    return record


class PiiMaskingFilter(logging.Filter):
    """A handler/logger filter that masks the record and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_log_masking() -> None:
    """Mask every log record created from now on in this process; idempotent.

    Also adds :class:`PiiMaskingFilter` to the handlers that exist now (root's and every named
    logger's), so records made by a foreign record factory are masked as well.
    """
    if not _installed:
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return mask_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed["factory"], _installed["previous"] = factory, previous
        _installed["filter"] = PiiMaskingFilter()
    flt = _installed["filter"]
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if flt not in handler.filters:
                handler.addFilter(flt)


def uninstall_log_masking() -> None:
    """Undo :func:`install_log_masking` (for tests)."""
    if _installed:
        if logging.getLogRecordFactory() is _installed["factory"]:
            logging.setLogRecordFactory(_installed["previous"])
        flt = _installed["filter"]
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                for handler in logger.handlers:
                    handler.removeFilter(flt)
        _installed.clear()
