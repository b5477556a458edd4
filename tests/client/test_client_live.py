"""The Python client against real server processes: events (handlers, streams, waits, own
messages, the end of iteration), requests (rate limits waited out, held acks, timeouts while
disconnected), connecting with backoff, token refresh across a restart of a default server and
for expiring tokens, kicked rooms never rejoined."""

from __future__ import annotations

import asyncio
import time

import pytest

from clients.livebridge_client import (MSGPACK, ClientClosed, ConnectionLost, ConnectTimeout,
                                       LiveBridgeClient, MessageHeld, RequestTimeout, ServerError, State,
                                       guest_token)
from tests.harness import free_port, until

FAST = {"backoff_min": 0.05, "backoff_max": 0.3}




@pytest.fixture
async def make():
    """``await make(server, name, lang, **options)``: a connected client, closed at the end."""
    made: list[LiveBridgeClient] = []

    async def make(server, name: str, lang: str = "en", **kw) -> LiveBridgeClient:
        kw = {**FAST, **kw}
        if "token" not in kw:
            kw["name"] = name
        client = LiveBridgeClient(server.url, lang=lang, **kw)
        made.append(client)
        await client.connect()
        return client

    yield make
    for client in made:
        await asyncio.wait_for(client.close(), 10)


async def texts_until(source, last: str, timeout: float = 10.0) -> list[str]:
    """Message texts from a stream or client, up to and including ``last``."""
    seen: list[str] = []
    while not seen or seen[-1] != last:
        event = await source.get(timeout) if hasattr(source, "get") else await source.next_event(timeout)
        if event["type"] == "message":
            seen.append(event["text"])
    return seen


async def test_handlers_streams_and_own_messages(server, make):
    ann, bo = await make(server, "Ann"), await make(server, "Bo", "zh", codec=MSGPACK)
    assert bo.welcome["codec"] == MSGPACK
    others, everything, in_one = [], [], []

    async def on_one(event):
        in_one.append((event["room"], event["text"]))

    ann.on("message", lambda e: others.append(e["text"]))                    # skips own
    ann.on("message", lambda e: everything.append((e["text"], e["own"])), include_own=True)
    ann.on("message", on_one, room="h-one")                                  # async, one room
    two = ann.events("message", room="h-two")
    for room in ("h-one", "h-two"):
        await ann.join(room)
        await bo.join(room)
    ack = await ann.send("h-one", "mine")
    assert ack["status"] == "published"
    mine = await ann.wait_for(lambda e: e["type"] == "message" and e["text"] == "mine")
    assert mine["own"] is True                     # marked, and here before the ack returned
    await bo.send("h-one", "bo one")
    await bo.send("h-two", "bo two")
    assert await texts_until(two, "bo two") == ["bo two"]        # its room only, own skipped
    await until(lambda: len(everything) == 3, what="handlers")
    assert everything == [("mine", True), ("bo one", False), ("bo two", False)]
    assert others == ["bo one", "bo two"]
    assert in_one == [("h-one", "bo one")]
    theirs = await bo.wait_for(lambda e: e["type"] == "message" and e["text"] == "mine")
    assert theirs["own"] is False
    two.close()
    with pytest.raises(StopAsyncIteration):
        await two.__anext__()


async def test_wait_for_takes_only_its_match_and_iteration_ends_cleanly_after_close(server, make):
    ann, bo = await make(server, "Ann"), await make(server, "Bo")
    await ann.join("waits")
    await bo.join("waits")
    for text in ("a", "b", "c"):
        await bo.send("waits", text)
    b = await ann.wait_for(lambda e: e.get("text") == "b")
    assert b["text"] == "b"
    # What the wait skipped is still there, in order, for iteration.
    assert await texts_until(ann, "c") == ["a", "c"]

    got: list[str] = []

    async def consume() -> str:
        async for event in ann:
            if event["type"] == "message":
                got.append(event["text"])
        return "ended"

    consumer = asyncio.create_task(consume())
    waiter = asyncio.create_task(ann.wait_for("message", room="waits", timeout=10))
    await until(lambda: len(ann._waiters) == 1, what="the wait is registered")
    for text in ("d", "e"):
        await bo.send("waits", text)
    assert (await waiter)["text"] == "d"                      # the oldest wait gets it first
    await until(lambda: got == ["e"], what="the iterator got the rest")
    await ann.close()
    assert await asyncio.wait_for(consumer, 5) == "ended"      # no ConnectionLost after close()
    assert ann.state is State.CLOSED and ann.closed and not ann.connected
    assert isinstance(ann.close_reason, ClientClosed)
    assert isinstance(await asyncio.wait_for(ann.wait_closed(), 1), ClientClosed)
    with pytest.raises(ClientClosed):
        await ann.next_event(1)
    with pytest.raises(ConnectionLost):
        await ann.send("waits", "after close")


async def test_rate_limits_are_waited_out_and_held_acks_surfaced(start_server, make):
    server = start_server("--rate-user", "20", "--rate-user-burst", "2", relaxed_limits=False)
    host_token = server.token("Host")
    assert server.post("/api/rooms", {"name": "paced", "title": "Paced"}, token=host_token)[0] == 201
    host = await make(server, "Host", token=host_token)
    await host.join("paced")
    await host.moderate("paced", "add_term", term="坏蛋", action="hold")

    patient = await make(server, "Patient")
    await patient.join("paced")
    started = time.monotonic()
    acks = [await patient.send("paced", f"quick {i}") for i in range(5)]
    assert [a["status"] for a in acks] == ["published"] * 5
    assert time.monotonic() - started >= 0.1              # 3 of them waited for the bucket

    blunt = await make(server, "Blunt", wait_rate_limited=False)
    await blunt.join("paced")
    with pytest.raises(ServerError) as info:
        for i in range(5):
            await blunt.send("paced", f"blunt {i}")
    assert info.value.code == "rate_limited" and info.value.retry_after > 0

    ack = await patient.send("paced", "你 是 坏 蛋")
    assert ack["status"] == "held"
    held = await patient.wait_for("held")
    assert held["hold_id"] == ack["hold_id"] and held["room"] == "paced"
    strict = await make(server, "Strict", raise_on_held=True)
    await strict.join("paced")
    with pytest.raises(MessageHeld) as info:
        await strict.send("paced", "坏蛋!")
    assert info.value.hold_id


async def test_connect_retries_until_the_server_is_up_and_gives_up_on_final_refusals(start_server):
    port = free_port()
    early = LiveBridgeClient(f"http://127.0.0.1:{port}", name="Early", **FAST)
    try:
        connecting = asyncio.create_task(early.connect(timeout=60))
        await until(lambda: early.state is State.CONNECTING)
        with pytest.raises(RequestTimeout):     # no connection yet: requests time out, not hang
            await early.request({"type": "ping"}, timeout=0.2)
        server = await asyncio.to_thread(start_server, port=port)
        welcome = await asyncio.wait_for(connecting, 30)
        assert welcome["user"]["name"] == "Early" and early.connected
    finally:
        await early.close()

    nowhere = LiveBridgeClient(f"http://127.0.0.1:{free_port()}", name="Nobody", **FAST)
    started = time.monotonic()
    with pytest.raises(ConnectTimeout):
        await nowhere.connect(timeout=0.5)
    assert time.monotonic() - started < 3
    assert nowhere.state is State.IDLE

    stale = LiveBridgeClient(server.url, token="not.a.token", **FAST)  # a fixed token: no refresh
    with pytest.raises(ConnectionLost) as info:
        await asyncio.wait_for(stale.connect(), 10)
    assert info.value.code == 4401 and stale.closed


async def test_a_restarted_default_server_gets_new_guest_tokens_and_nothing_is_lost(start_server, make):
    server = start_server()
    calls = {"sync": 0, "async": 0}

    def sync_source() -> str:
        calls["sync"] += 1
        return guest_token(server.url, "Sync", "en")

    async def async_source() -> str:
        calls["async"] += 1
        return await asyncio.to_thread(guest_token, server.url, "Async", "zh")

    guest = await make(server, "Guest")                     # name only: guest tokens
    sync = await make(server, "Sync", token=sync_source)
    reader = await make(server, "Async", token=async_source)
    clients = (guest, sync, reader)
    seen = reader.events("message", include_own=True)
    for client in clients:
        await client.join("restart")
    before = {c: (c.token, c.user["id"]) for c in clients}
    await guest.send("restart", "before")

    await asyncio.to_thread(server.stop)
    for client in clients:
        assert (await client.wait_for("disconnected", timeout=10))["code"] == 1001
    assert guest.state is State.RECONNECTING and not guest.connected
    with pytest.raises(RequestTimeout):
        await guest.history("restart", timeout=0.3)
    during = asyncio.create_task(guest.send("restart", "during", timeout=30))
    # The node comes back on an empty data directory (a new machine): a new token secret, so
    # every old token gets 4401 and the clients must fetch new ones.
    server.forget_data()
    await asyncio.to_thread(server.start)

    for client in clients:
        resumed = await client.wait_for("resumed", timeout=20)
        assert resumed["room"] == "restart" and resumed["recovered"] is False  # new process, new history
    ack = await asyncio.wait_for(during, 30)
    assert ack["status"] == "published"
    await guest.send("restart", "after")
    assert await texts_until(seen, "after", timeout=10) == ["before", "during", "after"]
    assert calls == {"sync": 2, "async": 2}
    for client in clients:
        assert client.connected and "restart" in client.rooms
        assert client.token != before[client][0] and client.user["id"] != before[client][1]


async def test_kicked_rooms_are_not_rejoined_and_expiring_tokens_are_renewed(start_server, make):
    from chatserver.auth import TokenIssuer

    secret = "k" * 32
    issuer = TokenIssuer(secret, ttl=600)
    server = start_server("--secret", secret)
    host_token = issuer.issue(name="Host", lang="en", user_id="u_host", kind="member")[0]
    assert server.post("/api/rooms", {"name": "hosted", "title": "Hosted"}, token=host_token)[0] == 201
    host = await make(server, "Host", token=host_token)
    await host.join("hosted")
    issued = []

    def kim_token() -> str:  # 20 s tokens: always about to expire, so renewed at every connect
        issued.append(time.monotonic())
        return issuer.issue(name="Kim", lang="zh", user_id="u_kim", kind="member", ttl=20)[0]

    kim = await make(server, "Kim", token=kim_token)
    await kim.join("hosted")
    await kim.join("stay")
    await host.moderate("hosted", "kick", user_id="u_kim", reason="test")
    left = await kim.wait_for("left", timeout=10)
    assert left["reason"] == "kicked" and set(kim.rooms) == {"stay"}

    kim._ws.transport.abort()  # the network drops
    assert (await kim.wait_for("disconnected", timeout=10))["code"] == 1006
    resumed = await kim.wait_for("resumed", timeout=10)
    assert resumed["room"] == "stay"
    await until(lambda: kim.connected, what="connected again")
    assert set(kim.rooms) == {"stay"} and len(issued) == 2
    status, info = server.get("/api/rooms/hosted")
    assert status == 200 and "u_kim" not in [m["id"] for m in info["members"]]
    assert not [e for e in kim._buffer.items if e["type"] == "resumed" and e["room"] == "hosted"]
