"""Driving conversations: open loop with think time, closed loop (saturation), and one user alone.

Every *slot* is one browser tab: it plays a citizen's conversation (a :mod:`traffic` script) turn
by turn, waits for each answer, thinks, sends the next turn; when the script ends, the citizen
leaves and a new citizen arrives in the slot after another think time. So N slots hold N
concurrent conversations for the whole run, and the offered load is about N / think messages per
second while answers are fast. Slots start spread over the first think interval, so a level does
not begin with N simultaneous first messages.

* open loop (``think_s > 0``): citizens' think time (uniform 0.5–1.5 × ``think_s``) sets the pace;
* closed loop (``think_s == 0``): each slot sends as soon as it is answered — the maximum rate.

A run is bounded by time (``duration_s``) and count (``max_messages``); messages in flight at the
deadline are waited for (bounded by the client timeout) and counted.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.bench.load_client import ErrorLog, Target
from connectors.bench.traffic import EXPECT_MODE, Traffic


@dataclass
class Sample:
    kind: str
    started: float  # monotonic seconds
    latency_ms: float
    error: str | None


@dataclass
class RunResult:
    conversations: int
    duration_s: float
    samples: list[Sample] = field(default_factory=list)
    errors: ErrorLog = field(default_factory=ErrorLog)
    warmup_s: float = 0.0
    mode_mismatches: int = 0  # a handoff not queued / a cancel not back to the bot (not an error)
    t0: float = 0.0  # monotonic start of the run

    def _window(self) -> tuple[float, float]:
        return self.t0, self.t0 + self.duration_s

    def msgs_per_s(self) -> float:
        """Answers completed inside the measured window (after warm-up), per second."""
        if not self.samples:
            return 0.0
        start, end = self._window()
        lo = start + self.warmup_s
        done = sum(1 for s in self.samples if s.error is None and lo <= s.started + s.latency_ms / 1000 <= end)
        return done / max(1e-9, end - lo)

    def latencies(self) -> list[float]:
        return sorted(s.latency_ms for s in self.samples if s.error is None)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies()
        return {
            "conversations": self.conversations,
            "msgs_per_s": round(self.msgs_per_s(), 2),
            "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95),
            "p99_ms": _pct(lat, 99),
            "errors": self.errors.total,
            "messages": len(self.samples),
            "error_kinds": dict(self.errors.kinds),
            "mode_mismatches": self.mode_mismatches,
        }


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
    return round(values[rank], 1)


def percentile(values: list[float], q: float) -> float | None:
    return _pct(sorted(values), q)


async def run_slots(
    target: Target,
    *,
    conversations: int,
    duration_s: float,
    think_s: float,
    seed: int,
    max_messages: int,
    user_prefix: str,
    warmup_s: float = 0.0,
    on_sample: Callable[[Sample], None] | None = None,
) -> RunResult:
    """N concurrent conversations against ``target`` (see the module docstring)."""
    result = RunResult(conversations, duration_s, warmup_s=warmup_s, t0=time.monotonic())
    target.errors = result.errors  # this run's errors only (sockets of the run report here too)
    deadline = result.t0 + duration_s
    sent = 0

    async def pause(rng: random.Random) -> None:
        if think_s > 0:
            await asyncio.sleep(max(0.0, min(rng.uniform(0.5, 1.5) * think_s, deadline - time.monotonic())))

    def done() -> bool:
        return time.monotonic() >= deadline or sent >= max_messages

    async def slot(index: int) -> None:
        nonlocal sent
        rng = random.Random(seed * 1_000_003 + index)
        traffic = Traffic(seed * 1_000_003 + index)
        if think_s > 0:
            await asyncio.sleep(rng.uniform(0, think_s))  # citizens arrive spread out
        visit = 0
        while not done():
            chat = target.conversation(f"{user_prefix}-{index}-{visit}")
            visit += 1
            try:
                for kind, text in traffic.conversation():
                    if done():
                        break
                    sent += 1
                    started = time.monotonic()
                    error = await chat.send(text)
                    sample = Sample(kind, started, (time.monotonic() - started) * 1000, error)
                    if error is not None:
                        result.errors.add(error)
                    elif kind in EXPECT_MODE and getattr(chat, "last_mode", EXPECT_MODE[kind]) != EXPECT_MODE[kind]:
                        result.mode_mismatches += 1
                    result.samples.append(sample)
                    if on_sample is not None:
                        on_sample(sample)
                    await pause(rng)
            finally:
                await chat.close()

    await asyncio.gather(*(slot(i) for i in range(conversations)))
    return result


async def single_user_pair(targets: list[Target], *, messages: int, seed: int, user_prefix: str) -> dict[str, list[float]]:
    """One citizen at a time, the same turn sent to each target in turn (interleaved, so noise from
    other work on the machine hits all targets alike). Returns the latencies (ms) per target name."""
    traffic = Traffic(seed)
    latencies: dict[str, list[float]] = {t.name: [] for t in targets}
    visit = 0
    sent = 0
    while sent < messages:
        chats = [t.conversation(f"{user_prefix}-{visit}") for t in targets]
        visit += 1
        for _, text in traffic.conversation():
            if sent >= messages:
                break
            sent += 1
            for target, chat in zip(targets, chats):
                started = time.monotonic()
                error = await chat.send(text)
                if error is None:
                    latencies[target.name].append((time.monotonic() - started) * 1000)
                else:
                    target.errors.add(error)  # type: ignore[attr-defined]
        for chat in chats:
            await chat.close()
    return latencies
