"""Action server entry point: rasa-sdk's app plus knowledge-base routes.

The retriever lives in this process (it is what the actions search), so the routes that report on
it and rebuild it live here too: the gateway's ``/healthz`` and ``POST /api/v1/admin/kb/reload``
call ``/kb/status`` and ``/kb/reload``. The KB is loaded before the port opens, so the first
citizen never waits for an index build.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import warnings

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request

from connectors.privacy import install_log_masking
from knowledge_base.loader import KBValidationError

log = logging.getLogger("govbot.actions")


def build_app() -> Sanic:
    # rasa-sdk 3.21 warns that it is newer than Rasa 3.6; the HTTP protocol is the same
    warnings.filterwarnings("ignore", message=".*compatib.*")
    from bot.actions.knowledge import knowledge_service

    service = knowledge_service()
    from connectors.config import get_settings

    service.watch(get_settings().knowledge_base.watch_interval_s)

    executor = ActionExecutor()
    executor.register_package("bot.actions")
    app = create_app(executor)

    @app.get("/kb/status")
    async def kb_status(_: Request) -> response.HTTPResponse:
        return response.json(service.status())

    @app.post("/kb/reload")
    async def kb_reload(_: Request) -> response.HTTPResponse:
        try:
            await asyncio.get_running_loop().run_in_executor(None, service.reload)
        except KBValidationError as exc:
            return response.json({"reloaded": False, "errors": [str(p) for p in exc.problems]}, status=422)
        return response.json({"reloaded": True, **service.status()})

    @app.get("/kb/search")
    async def kb_search(request: Request) -> response.HTTPResponse:
        query = (request.args.get("q") or "").strip()
        if not query:
            return response.json({"error": "q is required"}, status=400)
        answer = service.search(query)
        return response.json(
            {
                "decision": answer.result.decision,
                "confidence": answer.result.confidence,
                "hits": [{"id": e.id, "question": e.question} for e in answer.entries],
            }
        )

    return app


def main(argv: list[str] | None = None) -> int:
    from connectors.config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description="govbot action server (rasa-sdk)")
    parser.add_argument("--host", default=settings.actions.host)
    parser.add_argument("--port", type=int, default=settings.actions.port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()  # PII never reaches a log line (connectors.privacy.logfilter)
    app = build_app()
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
