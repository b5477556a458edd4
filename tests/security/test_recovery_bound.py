"""Finding 6 of issue 14 (recovery): a 50-byte ``join`` with ``since=0`` returned 2.1 MiB.

A recovery is now bounded (200 events, 256 KiB of text): past that the join is answered as
one whose history no longer reaches back (``recovered: false``, the recent events), which
clients already handle by starting again. A short gap is still recovered exactly.
"""

from __future__ import annotations

import json
import time

from websockets.sync.client import connect

from tests.harness import ServerProcess

TEXT = "长" * 2000  # the longest message, 6 KB of UTF-8


def test_a_join_since_zero_gets_a_bounded_reply(start_server):
    node: ServerProcess = start_server()
    token = node.token()
    with connect(f"{node.ws_url}?token={token}", subprotocols=["livebridge.v1.json"],
                 max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "join", "room": "big", "ref": "j"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "joined"
        for i in range(400):  # 2.4 MB of text in history
            ws.send(json.dumps({"type": "send", "room": "big", "text": TEXT, "ref": f"m{i}"}))
        acked = 0
        deadline = time.monotonic() + 60
        while acked < 400 and time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=30))
            acked += frame["type"] == "ack"
        assert acked == 400
    with connect(f"{node.ws_url}?token={token}", subprotocols=["livebridge.v1.json"],
                 max_size=None) as ws:
        ws.recv(timeout=10)
        started = time.monotonic()
        ws.send(json.dumps({"type": "join", "room": "big", "since": 0, "ref": "j"}))
        raw = ws.recv(timeout=10)
        took = time.monotonic() - started
        joined = json.loads(raw)
        assert joined["type"] == "joined" and joined["recovered"] is False
        assert len(raw.encode()) < 300 * 1024, len(raw)  # was 2.1 MiB
        assert joined["history"] and joined["history"][-1]["offset"] == joined["offset"]
        assert took < 5, took
        ws.send(json.dumps({"type": "leave", "room": "big", "ref": "l"}))
        json.loads(ws.recv(timeout=10))
        # a short gap is still recovered exactly
        ws.send(json.dumps({"type": "join", "room": "big", "since": joined["offset"] - 10,
                            "epoch": joined["epoch"], "ref": "k"}))
        again = json.loads(ws.recv(timeout=10))
        assert again["recovered"] is True and len(again["history"]) == 10
