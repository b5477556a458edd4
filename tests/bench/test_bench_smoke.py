"""Smoke tests of the benchmarks: every scenario at a tiny size through the real CLI.

They check that a run produces its reports and that its numbers are sane (every sent message
reached every member, latencies positive); the figures themselves are not judged here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.sysinfo import descendants
from chatserver.cli import main

# A step of 0.5 s: each sender's first message is due at a random point within one interval
# (1 / its own rate: the room's rate over its senders) of the step's start, so every rate below
# gives each sender an interval under 0.5 s and every step sends something (the checks need
# messages_sent > 0 in every step of every run; 3 msg/s over 3 senders was 1 s each, and all
# six senders of a run once drew a first message past the step).
TINY = ["--duration", "0.5", "--drain", "3", "--workers", "1", "--no-progress"]


def run_cli(tmp_path, *args: str) -> dict:
    code = main(["bench", *args, "--out", str(tmp_path), "--name", "r"])
    assert code == 0
    for suffix in (".json", ".md"):
        assert (tmp_path / f"r{suffix}").stat().st_size > 0
    return json.loads((tmp_path / "r.json").read_text())


def check_memory(memory: dict) -> None:
    """The node's RSS was read before and after connecting.

    The per-connection figure is not judged: a handful of connections can fit in pages the
    allocator already holds, so at these sizes it is 0 (or below, after a collection) by chance.
    """
    assert memory["rss_base_mb"] and all(mb > 0 for mb in memory["rss_base_mb"] + memory["rss_connected_mb"])
    assert isinstance(memory["per_connection_kb"], (int, float))


def check_fanout(report: dict, servers: set[str]) -> None:
    assert {r["server"] for r in report["runs"]} == servers
    for run in report["runs"]:
        assert "error" not in run, run.get("error")
        assert run["connect"]["failed"] == 0
        assert run["steps"], run
        for step in run["steps"]:
            assert step["messages_sent"] > 0
            assert step["delivered"] == step["expected_deliveries"] > 0, step
            assert step["disconnects"] == 0
            assert 0 < step["min_ms"] <= step["p50_ms"] <= step["p99_ms"] <= step["max_ms"] < 5000
            assert step["deliveries_per_s"] > 0
            assert all(c >= 0 for c in step["server_cpu"]) and step["generator_cpu"] >= 0
        check_memory(run["memory"])
    assert report["ratios"], "each peer is reported as a ratio to LiveBridge"


@pytest.mark.timeout(60)
def test_bigroom_tiny(tmp_path):
    report = run_cli(tmp_path, "bigroom", "--members", "6", "--rates", "4", *TINY)
    check_fanout(report, {"livebridge", "raw", "socketio"})
    assert (tmp_path / "r-latency.png").exists() and (tmp_path / "r-throughput.png").exists()


@pytest.mark.timeout(60)
def test_smallrooms_tiny_msgpack(tmp_path):
    report = run_cli(tmp_path, "smallrooms", "--servers", "livebridge,raw", "--rooms", "3",
                     "--members", "3", "--senders", "3", "--rates", "9", *TINY)
    check_fanout(report, {"livebridge", "raw"})
    report = run_cli(tmp_path, "fanout", "--servers", "livebridge", "--members", "4",
                     "--codec", "msgpack", "--rates", "4", *TINY)
    assert report["runs"][0]["steps"][0]["delivered"] == report["runs"][0]["steps"][0]["expected_deliveries"] > 0


@pytest.mark.timeout(60)
def test_smallrooms_compare_root(tmp_path):
    """Another checkout's node runs beside this one's; the archive writer's CPU is counted."""
    root = Path(__file__).resolve().parents[2]
    report = run_cli(tmp_path, "smallrooms", "--servers", "livebridge,livebridge-compared", "--rooms", "2",
                     "--members", "3", "--senders", "3", "--rates", "9", "--compare-root", str(root), *TINY)
    check_fanout(report, {"livebridge", "livebridge-compared"})
    for run in report["runs"]:
        assert run["store"]["appended"] > 0, run["store"]  # both nodes ran the durable store
        assert all(c >= 0 for c in run["steps"][0]["server_child_cpu"])
    assert main(["bench", "smallrooms", "--servers", "livebridge-compared", "--out", str(tmp_path)]) == 2


def test_descendants_finds_grandchildren():
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10
        while not descendants(parent.pid):
            assert time.monotonic() < deadline, "the child never appeared"
            time.sleep(0.05)
        assert len(descendants(parent.pid)) == 1 and descendants(os.getpid()) != []
    finally:
        for pid in descendants(parent.pid):
            os.kill(pid, signal.SIGTERM)
        parent.terminate()
        parent.wait()


@pytest.mark.timeout(60)
def test_storm_and_redis_tiny(tmp_path):
    report = run_cli(tmp_path, "storm", "--servers", "livebridge", "--rooms", "2", "--members", "10",
                     "--connect-rate", "100", "--idle", "0.3", "--rates", "4", *TINY)
    assert {r["server"] for r in report["runs"]} == {"livebridge"}
    for run in report["runs"]:
        assert run["steps"][0]["delivered"] == run["steps"][0]["expected_deliveries"] > 0
        assert run["connect"]["connected"] == 20
        check_memory(run["memory"])
        assert all(mb > 0 for mb in run["memory"]["rss_idle_mb"])
        assert isinstance(run["memory"]["per_connection_idle_kb"], (int, float))
    report = run_cli(tmp_path / "redis", "redis2", "--members", "4", "--rates", "4", *TINY)
    check_fanout(report, {"livebridge", "socketio"})
    assert all(len(run["steps"][0]["server_cpu"]) == 2 for run in report["runs"])


@pytest.mark.timeout(60)
def test_translate_tiny(tmp_path):
    report = run_cli(tmp_path, "translate", "--tiny", "--batch-sizes", "1,4", "--concurrency", "1,4",
                     "--messages", "8", "--naive-messages", "2", "--output-tokens", "4", "--input-tokens", "6")
    assert report["naive"]["messages"] == 2 and report["naive"]["msgs_per_s"] > 0
    assert [r["batch"] for r in report["batches"]] == [1, 4]
    assert all(r["msgs_per_s"] > 0 and r["p50_ms"] > 0 for r in report["batches"])
    assert [r["concurrency"] for r in report["batcher"]] == [1, 4]
    assert report["batcher"][1]["mean_batch"] > 1
    assert report["summary"]["direct_over_naive"] > 0


@pytest.mark.timeout(60)
def test_fanout_with_distinct_users_tiny(tmp_path):
    report = run_cli(tmp_path, "fanout", "--servers", "livebridge,raw", "--members", "6", "--rates", "4",
                     "--distinct-users", *TINY)
    check_fanout(report, {"livebridge", "raw"})
    assert report["config"]["distinct_users"] is True


@pytest.mark.timeout(60)
def test_joinstorm_tiny(tmp_path):
    cores = len(os.sched_getaffinity(0))
    code = main(["bench", "joinstorm", "--members", "120,40", "--concurrency", "20", "--out", str(tmp_path),
                 "--name", "r"])
    assert code == 0
    result, second = json.loads((tmp_path / "r.json").read_text())
    # Every run is pinned alike (the generator pinning itself once must not unpin the next).
    assert second["joined"] == 40 and second["pinned"] == result["pinned"] == (cores > 1)
    assert result["joined"] == 120 and result["failed"] == 0
    assert result["joins_per_second"] > 0 and 0 < result["join_p50_ms"] <= result["join_p99_ms"]
    assert result["server_cpu_ms_per_join"] > 0
    assert result["limited_by"] in ("generator", "server", "neither") and result["server_core_share"] > 0
    # Presence is coalesced: far fewer frames per member than members.
    assert result["frames_per_member"] < 60
    assert "| livebridge | memory | 1 | 120 |" in (tmp_path / "r.md").read_text()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["ctranslate2", "transformers"])
def test_translate_mixed_long_and_short_tiny(tmp_path, model_cache, backend):
    from tests.tinymodel import ensure_tiny_models

    models = ensure_tiny_models()
    report = run_cli(tmp_path, "translate", "--scenario", "mixed", "--backend", backend,
                     "--model-en-zh", str(models["en-zh"]), "--model-zh-en", str(models["zh-en"]),
                     "--model-cache-dir", str(model_cache), "--seconds", "2", "--rate", "5",
                     "--long-chars", "400")
    assert report["kind"] == "translate-mixed" and report["translator"]["backend"] == backend
    for phase in ("short_only", "mixed"):
        short = report[phase]["short"]
        assert report[phase]["short_sent"] == 10 and short["ok"] + short["failed"] == 10
        assert 0 < short["p50_ms"] <= short["p99_ms"] <= short["max_ms"]
        assert report[phase]["short_en_zh"]["ok"] > 0 and report[phase]["short_zh_en"]["ok"] > 0
    assert report["mixed"]["long"]["ok"] + report["mixed"]["long"]["failed"] >= 2  # both directions
    assert report["mixed"]["long"]["chars"]["zh"] >= 400
