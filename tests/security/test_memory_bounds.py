"""Finding 6 of issue 14 (memory engine): it never freed rate buckets or expired history.

Now the memory engine sweeps every 5 s: a token bucket that is full again, an expired state
entry, and a room whose history all expired (and that no one is in) are freed. /healthz's
``engine`` counts what it holds. Many users in many rooms, then quiet: the counts fall back.
"""

from __future__ import annotations

import asyncio
import json
import time

import websockets

from tests.harness import ServerProcess

USERS, ROOMS = 20, 10


async def _chatter(node: ServerProcess, token: str, user: int) -> None:
    async with websockets.connect(f"{node.ws_url}?token={token}", subprotocols=["livebridge.v1.json"]) as ws:
        await ws.recv()
        for r in range(ROOMS):
            room = f"m{user}-{r}"
            await ws.send(json.dumps({"type": "join", "room": room, "ref": "j"}))
            await ws.send(json.dumps({"type": "send", "room": room, "text": "hi", "ref": "s"}))
        acks = 0
        while acks < ROOMS:
            acks += json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "ack"


def _engine(node: ServerProcess) -> dict:
    status, body = node.get("/healthz")
    assert status == 200
    return body["engine"]


def test_buckets_and_expired_history_are_freed(start_server):
    # buckets are full again 1 s after their last use (rate 1000, burst 1000); history lasts 2 s
    node = start_server("--history-ttl", "2", "--guest-token-burst", "100")
    tokens = [node.token(f"u{i}") for i in range(USERS)]

    async def attack() -> None:
        await asyncio.gather(*(_chatter(node, t, i) for i, t in enumerate(tokens)))

    asyncio.run(attack())
    busy = _engine(node)
    assert busy["buckets"] >= USERS * ROOMS and busy["history_rooms"] >= USERS * ROOMS, busy
    deadline = time.monotonic() + 30  # two sweeps past the history TTL, with slack for load
    while time.monotonic() < deadline:
        quiet = _engine(node)
        if quiet["buckets"] <= 1 and quiet["history_rooms"] == 0:
            break
        time.sleep(0.2)
    # what is left: the token bucket of the test's own address (full only after 100 s)
    assert quiet["buckets"] <= 1 and quiet["history_rooms"] == 0, (busy, quiet)
