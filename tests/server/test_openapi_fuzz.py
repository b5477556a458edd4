"""schemathesis against a real node: /openapi.json must describe what the server does.

The node runs as a subprocess (tests/harness.py); schemathesis runs as its CLI in a
subprocess too, with a JSON report (failures, errors) and an NDJSON event log (every
request and its status), which the assertions read. All checks, all four phases (the
stateful one follows the links from POST /api/rooms), a fixed seed and a bounded number of
examples, so a run is deterministic and takes a few seconds.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import schemathesis  # noqa: F401  (installed by `make test`; imported so a missing one fails loudly)
from websockets.sync.client import connect

from tests.harness import ROOT, ServerProcess

SEED = 20261201
MAX_EXAMPLES = 25
ROOM = "fuzz-room"
MESSAGES = 3  # offsets 1..3 in ROOM are messages, so reports, delete and pin can succeed
BLOCKED = {401, 403, 404}


@pytest.fixture(scope="module")
def node():
    server = ServerProcess().start()
    try:
        yield server
    finally:
        server.stop()


def _post_messages(node: ServerProcess, token: str, texts: list[str]) -> None:
    """Join ROOM with ``token`` and send ``texts``, waiting for every ack."""
    with connect(f"{node.ws_url}?token={token}", subprotocols=["livebridge.v1.json"]) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "join", "room": ROOM, "ref": "j"}))
        for i, text in enumerate(texts):
            ws.send(json.dumps({"type": "send", "room": ROOM, "text": text, "ref": i}))
        acks = 0
        deadline = time.monotonic() + 10
        while acks < len(texts) and time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=10))
            assert frame["type"] != "error", frame
            acks += frame["type"] == "ack"


def _seed_room(node: ServerProcess) -> tuple[str, str]:
    """A guest token that owns ROOM, in which it has posted MESSAGES messages, and the id of an
    open report (by the owner) on a message of another guest at offset MESSAGES + 1.

    The open report is what lets ``decide`` answer 2xx whatever the clock does: the stateful
    phase's own reports (report -> decide links) meet the report rate limit (5 at once, then
    one per 10 s per user and room) after the earlier phases' reports, so on a fast run they
    all answered 429 and ``decide`` never saw an item of its own (failed once in CI)."""
    token = node.token("Fuzzer")
    status, body = node.post("/api/rooms", {"name": ROOM, "title": "fuzzed"}, token=token)
    assert status == 201, body
    _post_messages(node, token, [f"message {i}" for i in range(MESSAGES)])
    _post_messages(node, node.token("Reported"), ["a message to report"])
    status, body = node.get(f"/api/rooms/{ROOM}/messages")
    assert status == 200 and [e["offset"] for e in body["events"]] == list(range(1, MESSAGES + 2)), body
    status, body = node.post(f"/api/rooms/{ROOM}/reports", {"offset": MESSAGES + 1, "reason": "seed"}, token=token)
    assert status == 201 and not body["result"]["duplicate"], body
    return token, body["result"]["id"]


def _config(tmp: Path, review_item: str | None = None) -> Path:
    """Half of the generated room names and offsets are the seeded room and its messages, so
    the fuzzing and coverage phases reach the routes' logic too, not only the stateful one;
    half of the review item ids are the seeded open report."""
    offsets = ", ".join(str(i) for i in range(1, MESSAGES + 1))
    path = tmp / "schemathesis.toml"
    items = (f'[dictionaries.items]\nvalues = ["{review_item}"]\n' if review_item else "")
    item_param = ('"path.item" = { dictionary = "items", probability = 0.5 }\n' if review_item else "")
    path.write_text(
        "[dictionaries.rooms]\n"
        f'values = ["{ROOM}"]\n'
        "[dictionaries.offsets]\n"
        f"values = [{offsets}]\n"
        + items +
        "[parameters]\n"
        '"path.room" = { dictionary = "rooms", probability = 0.5 }\n'
        '"body.offset" = { dictionary = "offsets", probability = 0.5 }\n'
        '"body.params.offset" = { dictionary = "offsets", probability = 0.5 }\n'
        + item_param)
    return path


# The admin routes answer a guest only 401/403: tests/server/test_openapi_fuzz_admin.py fuzzes
# them with an admin token.
ADMIN_PATHS = "^/api/admin/"
GUEST_SELECTION = ("--exclude-path-regex", ADMIN_PATHS)


def _run_schemathesis(node: ServerProcess, token: str, tmp: Path, selection: tuple[str, ...] = GUEST_SELECTION,
                      config: Path | None = None) -> tuple[dict, list[dict], str]:
    reports = tmp / "reports"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config or _config(tmp)),
        "run", f"{node.url}/openapi.json", *selection,
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
        "--generation-database", "none", "--request-timeout", "10",
        "--report", "json,ndjson", "--report-dir", str(reports), "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.server.schemathesis_hooks", "PYTHONPATH": str(ROOT),
           "LB_FUZZ_DROPPED": str(tmp / "dropped.ndjson")}
    proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=110)
    output = proc.stdout + proc.stderr
    json_reports = list(reports.glob("json-*.json"))
    assert json_reports, f"schemathesis wrote no report (exit {proc.returncode}):\n{output}"
    report = json.loads(json_reports[0].read_text())
    events = [json.loads(line) for path in reports.glob("ndjson-*.ndjson")
              for line in path.read_text().splitlines() if line.strip()]
    return report, events, output


def _statuses(events: list[dict]) -> dict[str, collections.Counter]:
    """Per operation ("POST /api/rooms"), the statuses it answered. (Requests with methods the
    description does not declare, schemathesis's probes for 405, appear as "TRACE /api/rooms".)"""
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for event in events:
        recorder = event.get("ScenarioFinished", {}).get("recorder") or {}
        for case_id, interaction in (recorder.get("interactions") or {}).items():
            request = interaction.get("request") or {}
            response = interaction.get("response") or {}
            if response.get("status_code") is None:
                continue
            case = (recorder.get("cases") or {}).get(case_id, {}).get("value") or {}
            # The case's own operation: a stateful scenario's recorder holds a chain of them.
            label = f"{case.get('method')} {case.get('path')}"
            if case and case.get("method") == request.get("method"):
                seen[label][response["status_code"]] += 1
    return seen


def test_schemathesis_finds_nothing(node, tmp_path):
    token, review_item = _seed_room(node)
    spec = node.get("/openapi.json")[1]
    # schemathesis leaves out the operation that serves the description it tests.
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items()
                  for method in item if not re.match(ADMIN_PATHS, path)} - {"GET /openapi.json"}

    started = time.monotonic()
    report, events, output = _run_schemathesis(node, token, tmp_path, config=_config(tmp_path, review_item))
    elapsed = time.monotonic() - started
    dropped_file = tmp_path / "dropped.ndjson"
    dropped = collections.Counter(
        (d["code"], d["operation"], d["reason"]) for d in map(json.loads, dropped_file.read_text().splitlines())
    ) if dropped_file.exists() else collections.Counter()
    print(f"schemathesis: {report['test_cases']['generated']} cases in {elapsed:.1f}s; "
          f"dropped by tests/server/schemathesis_hooks.py: {dict(dropped)}")
    assert sum(dropped.values()) == report.get("filtered", 0)

    assert report["complete"] and report["operations"]["selected"] == len(operations), output
    assert report["operations"]["tested"] == len(operations), output
    assert not report["errors"], output
    assert not report["failures"], output
    assert report["exit_code"] == 0, output
    assert report["phases"]["stateful"]["status"] == "success", report["phases"]

    statuses = {op: counts for op, counts in _statuses(events).items() if op in operations}
    print("statuses:", {op: dict(sorted(counts.items())) for op, counts in sorted(statuses.items())})
    assert set(statuses) == operations, sorted(operations - set(statuses))
    blocked = {op: dict(counts) for op, counts in statuses.items() if set(counts) <= BLOCKED}
    assert not blocked, f"operations answered only with 401/403/404: {blocked}"
    no_success = {op: dict(counts) for op, counts in statuses.items()
                  if not any(200 <= status < 300 for status in counts)}
    assert not no_success, f"operations never answered 2xx: {no_success}"
    assert elapsed < 60, f"schemathesis took {elapsed:.0f}s"
