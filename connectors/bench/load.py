"""``govbot-bench load``: how many citizens one machine serves, and how fast.

    govbot-bench load [--levels 50,200,500,1000] [--duration 60] [--json]
    govbot-bench load --url http://127.0.0.1:8000 --rasa-url http://127.0.0.1:5005 [...]

Without ``--url`` the bench starts its own private stack (free ports, SQLite files in a temporary
directory, the trained model of ``var/models``) exactly as ``make run`` does, and reports how long
that took (``cold_start_s``: start until all three processes are healthy). The load comes from this
process over HTTP and WebSocket on 127.0.0.1 (see :mod:`connectors.bench.load_run` for the
conversation model and :mod:`connectors.bench.traffic` for what citizens say):

1. warm-up, then one citizen alone: the same turns sent alternately through the gateway and
   straight to Rasa's REST webhook → ``p50_ms_single`` and ``rasa_only.p50_ms_single``;
2. open loop: N concurrent conversations, think time about ``--think`` s, for each level →
   throughput, p50/p95/p99 latency, errors (and the CPU each process spent per message);
3. closed loop (each conversation sends as soon as answered) straight to Rasa, then through the
   gateway → ``rasa_only.saturation_msgs_per_s`` and ``saturation_msgs_per_s``;
4. peak RSS of the gateway, action server and Rasa process trees over the whole run.

One load generator on one IP would hit the per-IP rate limit (``[limits] ip_per_minute``); the
private stack therefore runs with ``GOVBOT_LIMITS_IP_PER_MINUTE``/``_IP_BURST`` raised (the limiter
itself stays on and is measured). A stack given by ``--url`` keeps its own limits: 429s show up as
errors. ``--json`` prints exactly one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from connectors.bench.load_client import GatewayTarget, RasaTarget
from connectors.bench.load_procs import CpuMeter, RssSampler, listening_pid
from connectors.bench.load_run import percentile, run_slots, single_user_pair
from connectors.bench.traffic import Mix, Traffic, describe_mix
from connectors.rasa_model import rasa_env

# one load generator = one client IP: these overrides keep the per-IP bucket from throttling it
BENCH_LIMITS_ENV = {"GOVBOT_LIMITS_IP_PER_MINUTE": "6000000", "GOVBOT_LIMITS_IP_BURST": "100000"}
SERVICES = ("gateway", "actions", "rasa")
THREAD_VARS = ("TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS", "OMP_NUM_THREADS")


@dataclass
class Endpoints:
    gateway: str
    rasa: str | None
    pids: dict[str, int | None]
    cold_start_s: float | None = None
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def endpoints(args: argparse.Namespace) -> Iterator[Endpoints]:
    """A running stack named by URL, or a private one started (and stopped) here."""
    if args.url:
        pids = {"gateway": listening_pid(args.url),
                "actions": listening_pid(args.actions_url) if args.actions_url else None,
                "rasa": listening_pid(args.rasa_url) if args.rasa_url else None}
        notes = ["stack given by --url: its own [limits] apply (429s count as errors)"]
        yield Endpoints(args.url.rstrip("/"), args.rasa_url, pids, None, notes)
        return
    from connectors.bench.stack import private_stack

    work = Path(args.work or tempfile.mkdtemp(prefix="govbot-load-"))
    stack = private_stack(work, extra_env=dict(BENCH_LIMITS_ENV))
    log(f"starting a private stack in {work} …")
    started = time.perf_counter()
    stack.start(timeout=args.start_timeout)
    cold = time.perf_counter() - started
    log(f"stack healthy after {cold:.1f}s at {stack.base_url}")  # type: ignore[attr-defined]
    pids = {name: stack.service(name).process.pid for name in SERVICES}  # type: ignore[union-attr]
    notes = ["private stack with " + ", ".join(f"{k}={v}" for k, v in BENCH_LIMITS_ENV.items())
             + " (one load-generator IP; per-identity limits unchanged)"]
    try:
        yield Endpoints(stack.base_url, stack.settings.rasa.base_url, pids, round(cold, 1), notes)  # type: ignore[attr-defined]
    finally:
        stack.stop()
        if not args.work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            log(f"logs kept in {work / 'logs'}")


def per_message(cpu: dict[str, float | None], messages: int) -> dict[str, float | None]:
    return {k: (round(v * 1000 / messages, 2) if v is not None and messages else None) for k, v in cpu.items()}


async def bench(args: argparse.Namespace, ep: Endpoints) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    cpu_pids = {name: ep.pids.get(name) for name in SERVICES}
    ws = not args.no_websocket
    report: dict[str, Any] = {"levels": []}

    # 1. warm-up and one citizen alone, gateway and Rasa interleaved
    gw = GatewayTarget(ep.gateway, connections=4, timeout_s=args.timeout, websocket=ws)
    rasa = RasaTarget(ep.rasa, connections=4, timeout_s=args.timeout) if ep.rasa else None
    targets = [gw, *([rasa] if rasa else [])]
    log(f"warm-up ({args.warmup} messages) …")
    await single_user_pair(targets, messages=args.warmup, seed=args.seed + 1, user_prefix=f"load-{run_id}-warm")
    log(f"one user alone ({args.single_messages} messages, gateway and Rasa interleaved) …")
    for t in targets:
        t.errors.kinds.clear()
    single = await single_user_pair(targets, messages=args.single_messages, seed=args.seed,
                                    user_prefix=f"load-{run_id}-single")
    report["p50_ms_single"] = percentile(single["gateway"], 50)
    report["single_errors"] = sum(t.errors.total for t in targets)
    rasa_p50 = percentile(single["rasa"], 50) if rasa else None
    await gw.aclose()
    if rasa:
        await rasa.aclose()

    # 2. open loop, level by level
    for n in args.levels:
        target = GatewayTarget(ep.gateway, connections=n + 8, timeout_s=args.timeout, websocket=ws)
        log(f"open loop: {n} conversations, think ≈{args.think:g}s, {args.duration:g}s …")
        with CpuMeter(cpu_pids) as cpu:
            result = await run_slots(target, conversations=n, duration_s=args.duration, think_s=args.think,
                                     seed=args.seed, max_messages=args.max_messages,
                                     user_prefix=f"load-{run_id}-L{n}")
        await target.aclose()
        level = result.summary()
        level["offered_msgs_per_s"] = round(n / args.think, 1) if args.think else None
        level["websockets_opened"] = target.ws_opened
        level["cpu_ms_per_msg"] = per_message(cpu.used, len(result.samples))
        report["levels"].append(level)
        log(_level_line(level))
        await asyncio.sleep(args.pause)

    # 3. closed loop: Rasa alone first, then the gateway
    sat: dict[str, Any] = {}
    if args.saturation_duration > 0:
        phases = ([("rasa", RasaTarget(ep.rasa, connections=args.saturation_conversations + 8,
                                        timeout_s=args.timeout))] if ep.rasa else [])
        phases.append(("gateway", GatewayTarget(ep.gateway, connections=args.saturation_conversations + 8,
                                                timeout_s=args.timeout, websocket=ws)))
        for name, target in phases:
            log(f"closed loop ({name}): {args.saturation_conversations} conversations, {args.saturation_duration:g}s …")
            with CpuMeter(cpu_pids) as cpu:
                result = await run_slots(target, conversations=args.saturation_conversations,
                                         duration_s=args.saturation_duration, think_s=0.0, seed=args.seed + 2,
                                         max_messages=args.max_messages, user_prefix=f"load-{run_id}-S{name}",
                                         warmup_s=min(3.0, args.saturation_duration / 4))
            await target.aclose()
            sat[name] = {**result.summary(), "cpu_ms_per_msg": per_message(cpu.used, len(result.samples))}
            log(f"closed loop ({name}): {sat[name]['msgs_per_s']} msg/s, p50 {sat[name]['p50_ms']} ms, "
                f"errors {sat[name]['errors']}")
            await asyncio.sleep(args.pause)
    report["saturation_msgs_per_s"] = sat.get("gateway", {}).get("msgs_per_s")
    report["rasa_only"] = {"saturation_msgs_per_s": sat.get("rasa", {}).get("msgs_per_s"), "p50_ms_single": rasa_p50}
    report["saturation"] = sat
    return report


def _level_line(level: dict[str, Any]) -> str:
    return (f"{level['conversations']:>6} conv  {level['msgs_per_s']:>7.1f} msg/s  p50 {level['p50_ms']} ms  "
            f"p95 {level['p95_ms']} ms  p99 {level['p99_ms']} ms  errors {level['errors']}")


def targets(report: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, judged on this run (None when a figure is missing)."""
    by_n = {lv["conversations"]: lv for lv in report["levels"]}
    out: dict[str, bool | None] = {}
    if 500 in by_n:
        lv = by_n[500]
        out["500_conversations_p95_le_300ms_no_errors"] = lv["p95_ms"] is not None and lv["p95_ms"] <= 300 and not lv["errors"]
    if 1000 in by_n:
        out["1000_conversations_no_errors"] = not by_n[1000]["errors"]
    sat, rasa_sat = report["saturation_msgs_per_s"], report["rasa_only"]["saturation_msgs_per_s"]
    out["saturation_ge_0.8x_rasa"] = sat >= 0.8 * rasa_sat if sat is not None and rasa_sat else None
    p50, rasa_p50 = report["p50_ms_single"], report["rasa_only"]["p50_ms_single"]
    out["single_p50_le_rasa_plus_25ms"] = p50 <= rasa_p50 + 25 if p50 is not None and rasa_p50 is not None else None
    return out


def conditions(args: argparse.Namespace, ep: Endpoints) -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "machine": {"cpus": psutil.cpu_count(), "cpu_model": _cpu_model(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "loadavg_at_end": [round(x, 2) for x in load]},
        "gateway": ep.gateway, "rasa": ep.rasa, "think_s": args.think, "duration_s": args.duration,
        "saturation_conversations": args.saturation_conversations, "saturation_duration_s": args.saturation_duration,
        "single_messages": args.single_messages, "websocket": not args.no_websocket, "seed": args.seed,
        "traffic_mix": describe_mix(Traffic(args.seed, Mix()).sample(2000)),
        # a private stack's processes get these (connectors.rasa_model.rasa_env; set them to compare)
        "threads": {k: rasa_env().get(k) for k in THREAD_VARS} if not args.url else None,
        "notes": ep.notes,
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def render(report: dict[str, Any]) -> str:
    c = report["conditions"]
    lines = [
        f"govbot-bench load — {c['gateway']}  ({c['machine']['cpus']} CPUs, {c['machine']['cpu_model']})",
        *(f"note: {n}" for n in c["notes"]),
        f"cold start: {report['cold_start_s']} s" if report["cold_start_s"] is not None else "cold start: (stack given by --url)",
        "",
        f"open loop, think ≈{c['think_s']:g} s, {c['duration_s']:g} s per level:",
        f"{'conversations':>13} {'offered/s':>9} {'msgs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  cpu ms/msg (rasa/actions/gateway/client)",
    ]
    for lv in report["levels"]:
        cpu = lv["cpu_ms_per_msg"]
        lines.append(f"{lv['conversations']:>13} {lv['offered_msgs_per_s'] or '-':>9} {lv['msgs_per_s']:>8} "
                     f"{lv['p50_ms'] or '-':>8} {lv['p95_ms'] or '-':>8} {lv['p99_ms'] or '-':>8} {lv['errors']:>7}  "
                     + "/".join(str(cpu.get(k)) for k in ("rasa", "actions", "gateway", "client"))
                     + (f"  {lv['error_kinds']}" if lv["errors"] else ""))
    sat, rasa = report["saturation_msgs_per_s"], report["rasa_only"]
    ratio = f" (ratio {sat / rasa['saturation_msgs_per_s']:.2f})" if sat and rasa["saturation_msgs_per_s"] else ""
    lines += [
        "",
        f"saturation (closed loop, {c['saturation_conversations']} conversations): gateway {sat} msg/s · "
        f"Rasa alone {rasa['saturation_msgs_per_s']} msg/s{ratio}",
        f"one user, p50: gateway {report['p50_ms_single']} ms · Rasa alone {rasa['p50_ms_single']} ms",
        "peak RSS MB: " + ", ".join(f"{k} {v}" for k, v in report["rss_mb"].items()),
        "",
        "targets: " + ", ".join(f"{k} {'ok' if v else ('-' if v is None else 'MISSED')}" for k, v in report["targets"].items()),
    ]
    return "\n".join(lines)


def _levels(text: str) -> list[int]:
    levels = [int(x) for x in text.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("levels are positive integers, e.g. 50,200,500,1000")
    return levels


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="govbot-bench load", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="gateway of a running stack (default: start a private stack)")
    p.add_argument("--rasa-url", help="Rasa of that stack, for the Rasa-alone figures (with --url)")
    p.add_argument("--actions-url", help="action server of that stack, for its RSS (with --url)")
    p.add_argument("--levels", type=_levels, default=[50, 200, 500, 1000], help="concurrent conversations per level")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per open-loop level")
    p.add_argument("--think", type=float, default=10.0, help="mean think time between a citizen's messages, s")
    p.add_argument("--max-messages", type=int, default=50_000, help="cap on messages per level")
    p.add_argument("--saturation-conversations", type=int, default=32)
    p.add_argument("--saturation-duration", type=float, default=30.0, help="seconds per closed-loop run; 0 skips it")
    p.add_argument("--single-messages", type=int, default=40, help="messages of the one-user measurement")
    p.add_argument("--warmup", type=int, default=10, help="messages sent before measuring")
    p.add_argument("--timeout", type=float, default=60.0, help="client timeout per message, s")
    p.add_argument("--pause", type=float, default=2.0, help="seconds between phases")
    p.add_argument("--no-websocket", action="store_true", help="do not open the widget's push socket")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--work", help="directory for the private stack (default: a temporary one, removed)")
    p.add_argument("--keep", action="store_true", help="keep the private stack's directory and logs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.url and not args.url.startswith("http"):
        p.error("--url must be http://host:port")
    return args


def _run(coro: Any) -> Any:
    """uvloop when available: the load generator's own overhead is part of every latency."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)  # no global policy change: callers (tests) keep their own loops


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with endpoints(args) as ep, RssSampler(ep.pids) as rss:
        report = _run(bench(args, ep))
        report["rss_mb"] = rss.peaks_mb()
        report["cold_start_s"] = ep.cold_start_s
        report["conditions"] = conditions(args, ep)
    report["targets"] = targets(report)
    print(json.dumps(report, ensure_ascii=False) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
