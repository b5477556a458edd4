"""Finding 2 of issue 14 (rooms): one token created ~650 rooms/s, joins auto-created them
too (no owner, for ever), and ``GET /api/rooms`` returned every room (on Redis, a 26-29 ms
script over all of them per call, blocking the Redis every node shares).

Now room creation (POST and by join) spends tokens of a per-user and a per-address bucket;
an empty ownerless room is forgotten --auto-room-ttl after its last visit (memory and Redis);
the list comes a page at a time (at most 100, by cursor) from an index, never a scan.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import threading
import time

import pytest
import redis
from websockets.sync.client import connect

from rooms.redis_directory import PAGE
from tests.harness import ServerProcess
from tests.security.conftest import p99
from tests.security.redis_bounds import unbounded_keys

SUB = ["livebridge.v1.json"]


def ws_ask(ws, frame: dict) -> dict:
    ws.send(json.dumps(frame))
    while True:
        got = json.loads(ws.recv(timeout=10))
        if got.get("ref") == frame["ref"]:
            return got


def test_room_creation_is_limited_per_user_and_per_address(start_server, fresh_redis):
    node: ServerProcess = start_server("--redis-url", fresh_redis.url, "--room-create-burst", "5",
                                       "--room-create-rate", "0.01")
    first = node.token("Ann")
    made = [node.post("/api/rooms", {"name": f"a-{i}"}, token=first)[0] for i in range(7)]
    assert made == [201] * 5 + [429] * 2, made
    status, body = node.post("/api/rooms", {"name": "a-9"}, token=first)
    assert body["error"]["code"] == "rate_limited" and body["error"]["retry_after"] > 0
    # fresh tokens from the same address: the address has three users' worth (15), then 429
    statuses = [node.post("/api/rooms", {"name": f"b-{i}"}, token=node.token(f"G{i}"))[0] for i in range(14)]
    assert statuses == [201] * 10 + [429] * 4, statuses
    # making a room by joining it counts too; joining a room that exists does not
    with connect(f"{node.ws_url}?token={node.token('Joe')}", subprotocols=SUB) as ws:
        ws.recv(timeout=10)
        refused = ws_ask(ws, {"type": "join", "room": "c-new", "ref": "j1"})
        assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
        assert ws_ask(ws, {"type": "join", "room": "a-0", "ref": "j2"})["type"] == "joined"
    assert unbounded_keys(fresh_redis) == []


@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_empty_ownerless_rooms_expire(engine, start_server, fresh_redis):
    args = ["--auto-room-ttl", "1"] + (["--redis-url", fresh_redis.url] if engine == "redis" else [])
    node = start_server(*args)
    owner = node.token("Owner")
    assert node.post("/api/rooms", {"name": "kept"}, token=owner)[0] == 201
    with connect(f"{node.ws_url}?token={node.token('Vic')}", subprotocols=SUB) as ws:
        ws.recv(timeout=10)
        for i in range(9):  # a connection may be in 10 rooms
            assert ws_ask(ws, {"type": "join", "room": f"ghost-{i}", "ref": f"j{i}"})["type"] == "joined"
        assert ws_ask(ws, {"type": "join", "room": "kept", "ref": "k"})["type"] == "joined"
        listed = node.get("/api/rooms?limit=100")[1]["rooms"]
        assert len(listed) == 10
    deadline = time.monotonic() + 20  # a TTL after they emptied, and a sweep (memory: every 5 s)
    while time.monotonic() < deadline:
        names = [r["name"] for r in node.get("/api/rooms?limit=100")[1]["rooms"]]
        if names == ["kept"]:
            break
        time.sleep(0.1)
    assert names == ["kept"]
    assert node.get("/api/rooms/ghost-3")[0] == 404
    if engine == "memory":
        deadline = time.monotonic() + 15
        while node.get("/healthz")[1]["engine"]["rooms"] > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.get("/healthz")[1]["engine"]["rooms"] == 1  # freed, not just hidden
    else:
        r = redis.Redis(port=fresh_redis.port, decode_responses=True)
        assert r.zrange("lb:{~global}:rooms:names", 0, -1) == ["kept"]
        # The owned room is the store's, cached in Redis with a TTL (so it is in the expiry set
        # too); the ghosts are gone from every key.
        assert r.zrange("lb:{~global}:rooms:expiry", 0, -1) == ["kept"]
        assert r.hkeys("lb:{~global}:state:rooms") == ["kept"]
        r.close()
        assert unbounded_keys(fresh_redis) == []


ROOMS = 5000
ATTACK_PAGES = 60  # list pages the four attackers make while the bystander pings, at least


def create_rooms(node: ServerProcess, token: str, names: list[str], connections: int = 4) -> None:
    """POST /api/rooms for every name, from a few keep-alive connections at once (the list is
    in name order, whatever order they were made in). One at a time, each on a new
    connection, the test also waited out every round trip: 5000 rooms took ~20 s, now ~16 s,
    which is the node's own work (~4 ms of CPU per created room)."""
    def create(share: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        try:
            for name in share:
                conn.request("POST", "/api/rooms", json.dumps({"name": name}),
                             {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                body = response.read()
                assert response.status == 201, (name, response.status, body)
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for done in [pool.submit(create, names[i::connections]) for i in range(connections)]:
            done.result()


def test_the_room_list_is_paged_and_costs_the_page(start_server, fresh_redis):
    node = start_server("--redis-url", fresh_redis.url)
    r = redis.Redis(port=fresh_redis.port, decode_responses=True)
    token = node.token("Maker")
    create_rooms(node, token, [f"r{i:05d}" for i in range(ROOMS)])
    seen, after = [], None
    while True:
        status, page = node.get("/api/rooms?limit=100" + (f"&after={after}" if after else ""))
        assert status == 200 and len(page["rooms"]) <= 100
        seen += [room["name"] for room in page["rooms"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [f"r{i:05d}" for i in range(ROOMS)]
    assert len(node.get("/api/rooms?limit=100000")[1]["rooms"]) == 100
    assert node.get("/api/rooms?after=Robert%27%29%3B%20DROP")[0] == 422

    # four clients loop on the list while a bystander pings
    r.config_set("slowlog-log-slower-than", 5000)  # microseconds
    r.slowlog_reset()
    stop = threading.Event()
    calls = [0]

    def attacker() -> None:
        while not stop.is_set():
            node.get("/api/rooms?limit=100&after=r01000")
            calls[0] += 1

    threads = [threading.Thread(target=attacker) for _ in range(4)]
    for t in threads:
        t.start()
    pings = []
    try:
        with connect(f"{node.ws_url}?token={token}", subprotocols=SUB) as ws:
            ws.recv(timeout=10)
            # At least 150 pings, and on until the attackers have made their 60 pages (a slow
            # host makes fewer per second: the bystander is measured for the whole attack).
            deadline = time.monotonic() + 60
            i = 0
            while i < 150 or calls[0] < ATTACK_PAGES:
                assert time.monotonic() < deadline, f"the attackers made {calls[0]} pages in 60 s"
                started = time.perf_counter()
                ws_ask(ws, {"type": "ping", "ref": i})
                pings.append(time.perf_counter() - started)
                i += 1
                time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    sha = hashlib.sha1(PAGE.encode()).hexdigest()
    slow_pages = [e for e in r.slowlog_get(128) if sha in " ".join(map(str, e.get("command", b"")))]
    r.close()
    print(f"\n{ROOMS} rooms, {calls[0]} list pages by 4 clients: bystander ping p99 "
          f"{p99(pings) * 1e3:.1f} ms, max {max(pings) * 1e3:.1f} ms")
    assert calls[0] >= ATTACK_PAGES, calls
    assert not slow_pages, slow_pages  # no page took 5 ms of the shared Redis (a full scan: ~11 ms)
    assert p99(pings) < 0.05, (p99(pings), calls)
    assert unbounded_keys(fresh_redis) == []
