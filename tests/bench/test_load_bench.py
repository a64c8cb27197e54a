"""Smoke test of ``govbot-bench load``: a tiny run against the session's real stack.

It checks the benchmark works end to end (its JSON keys, no errors); the speed figures themselves
are the benchmark's output, never asserted here.
"""

from __future__ import annotations

import json

import pytest

from connectors.bench import load
from connectors.bench.traffic import CANCEL_HANDOFF, EXPECT_MODE, KINDS, Traffic, describe_mix
from connectors.message_router import CANCEL_QUEUE_RE

pytestmark = pytest.mark.e2e


def test_tiny_run_reports_every_figure_without_errors(stack, capsys):
    argv = [
        "--url", stack.base_url, "--rasa-url", stack.settings.rasa.base_url,
        "--actions-url", stack.settings.actions.base_url,
        "--levels", "2,4", "--duration", "3", "--think", "0.5",
        "--saturation-conversations", "2", "--saturation-duration", "2",
        "--single-messages", "3", "--warmup", "2", "--pause", "0", "--json",
    ]
    assert load.main(argv) == 0
    report = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout

    assert set(report) >= {"levels", "saturation_msgs_per_s", "rasa_only", "p50_ms_single", "rss_mb", "cold_start_s"}
    assert [lv["conversations"] for lv in report["levels"]] == [2, 4]
    for level in report["levels"]:
        assert set(level) >= {"conversations", "msgs_per_s", "p50_ms", "p95_ms", "p99_ms", "errors"}
        assert level["errors"] == 0, level["error_kinds"]
        assert level["messages"] > 0 and level["msgs_per_s"] > 0
        assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert level["mode_mismatches"] == 0
    assert set(report["rasa_only"]) == {"saturation_msgs_per_s", "p50_ms_single"}
    assert report["saturation_msgs_per_s"] > 0 and report["rasa_only"]["saturation_msgs_per_s"] > 0
    assert report["p50_ms_single"] > 0 and report["rasa_only"]["p50_ms_single"] > 0
    assert report["single_errors"] == 0
    assert all(s["errors"] == 0 for s in report["saturation"].values())
    assert set(report["rss_mb"]) == {"gateway", "actions", "rasa"}
    assert report["cold_start_s"] is None  # a stack given by --url was not started by the bench


def test_traffic_is_deterministic_and_mixed():
    first, again, other = Traffic(11).sample(400), Traffic(11).sample(400), Traffic(12).sample(400)
    assert first == again and first != other
    mix = describe_mix(first)
    assert set(mix) <= set(KINDS)
    assert mix["faq"] > 0.2 and mix["hours"] > 0.05 and mix["greet"] > 0.05
    assert mix.get("handoff", 0) < 0.05  # a small share: the bench must not measure queue notices


def test_every_handoff_is_followed_by_a_return_to_the_bot():
    traffic = Traffic(5)
    scripts = [traffic.conversation() for _ in range(500)]
    with_handoff = [s for s in scripts if any(kind == "handoff" for kind, _ in s)]
    assert with_handoff
    for script in with_handoff:
        at = [kind for kind, _ in script].index("handoff")
        assert script[at + 1].kind == "cancel_handoff"
    assert EXPECT_MODE["handoff"] == "queued" and EXPECT_MODE["cancel_handoff"] == "bot"
    # the return uses the gateway's own command, so the conversation really leaves the queue
    assert all(CANCEL_QUEUE_RE.match(text) for text in CANCEL_HANDOFF)
