"""After the attacks of tests/security on a Redis-backed node, every Redis key they left has a
TTL or a bound stated in docs/deploy.md (tests/security/redis_bounds.py).

One run of what a crowd of guests from one address may do: mint tokens to the limit, make
rooms and auto-create more by joining, post with client_msg_ids, report every message over
HTTP, take WebSocket tickets, set their room's limits to extremes, and go.
"""

from __future__ import annotations

import json

from websockets.sync.client import connect

from tests.harness import ServerProcess
from tests.security.redis_bounds import keys_without_ttl, unbounded_keys

SUB = ["livebridge.v1.json"]


def ask(ws, frame: dict) -> dict:
    ws.send(json.dumps(frame))
    while True:
        got = json.loads(ws.recv(timeout=10))
        if got.get("ref") == frame.get("ref"):
            return got


def test_an_attacking_crowd_leaves_no_unbounded_key(start_server, fresh_redis):
    node: ServerProcess = start_server("--redis-url", fresh_redis.url, "--guest-token-burst", "20",
                                       "--room-create-burst", "3")
    tokens = []
    while True:
        status, body = node.post("/api/token", {"name": f"G{len(tokens)}"})
        if status != 201:
            assert status == 429
            break
        tokens.append(body["token"])
    assert len(tokens) >= 20
    for i, token in enumerate(tokens):
        node.post("/api/rooms", {"name": f"own-{i}"}, token=token)
        node.post("/api/rooms/own-{i}/moderation".format(i=i),
                  {"action": "set_limits", "params": {"user_rate": 0.01, "user_burst": 1e6}}, token=token)
        node.post("/api/ws-ticket", token=token)
        with connect(f"{node.ws_url}?token={token}", subprotocols=SUB) as ws:
            ws.recv(timeout=10)
            for room in (f"own-{i}", f"auto-{i}", "shared"):
                joined = ask(ws, {"type": "join", "room": room, "ref": f"j-{room}"})
                if joined["type"] != "joined":
                    assert joined["code"] == "rate_limited", joined
                    continue
                for n in range(3):
                    ask(ws, {"type": "send", "room": room, "text": f"spam {i} {n}", "client_msg_id": f"c{i}-{n}",
                             "ref": f"s-{room}-{n}"})
                    ws.send(json.dumps({"type": "typing", "room": room}))
        for offset in range(1, 4):
            node.post("/api/rooms/shared/reports", {"offset": offset, "reason": "x"}, token=token)
    assert len(keys_without_ttl(fresh_redis)) > 0  # the check has something to check
    assert unbounded_keys(fresh_redis) == []
