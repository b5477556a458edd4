"""What only the Redis engine has to show: many nodes, gaps, outages, node death, a cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time

import pytest

from rooms import redis_keys as K
from rooms.engine import EngineUnavailable, Member
from rooms.redis_engine import RedisEngine
from rooms.redis_state import _entry
from tests.rooms.conftest import until

FAST = {"heartbeat_interval": 0.2, "node_ttl": 0.6}


def msg(text: str) -> dict:
    return {"type": "message", "text": text, "ts": int(time.time() * 1000)}


class Expiries:
    """Records every ``Presence.on_expired`` call of the engines it is given to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[Member]]] = []  # (node, room, removed)

    def hook(self, node: str):
        async def on_expired(room: str, members: list[Member]) -> None:
            self.calls.append((node, room, list(members)))
        return on_expired

    def removed(self, room: str) -> list[str]:
        return sorted(m.conn_id for _, r, members in self.calls if r == room for m in members)


@pytest.fixture
async def nodes(request):
    """``await nodes(url, "a", "b", expiries=...)``: started RedisEngines, closed at the end.
    With ``expiries`` (an :class:`Expiries`), each engine's ``on_expired`` hook records into
    it from before the engine starts."""
    started: list[RedisEngine] = []

    async def make(url, *names, expiries: Expiries | None = None, **kwargs):
        out = []
        for name in names:
            engine = RedisEngine(url, node_id=name, **{**FAST, **kwargs})
            if expiries is not None:
                engine.presence.on_expired = expiries.hook(name)
            await engine.start()
            started.append(engine)
            out.append(engine)
        return out

    yield make
    for engine in started:
        with contextlib.suppress(Exception):
            await engine.close()


@pytest.fixture
def clean_redis(redis_server):
    redis_server.cli("FLUSHALL")
    return redis_server


async def crash(engine: RedisEngine) -> None:
    """Stop a node the way SIGKILL would: no goodbye, its heartbeat just stops."""
    engine._closed = True
    for task in engine._tasks:
        task.cancel()
    for pubsub in list(engine._pubsubs.values()):
        await pubsub.close()
    await engine.redis.aclose()


def collector():
    seen: list[dict] = []
    return seen, (lambda room, event: seen.append(event))


async def test_nodes_see_one_order_under_concurrent_publishers(clean_redis, nodes):
    a, b, c = await nodes(clean_redis.url, "a", "b", "c")
    seen = {}
    for engine in (a, b, c):
        seen[engine.node_id], handler = collector()
        await engine.broker.subscribe("r", handler)

    async def sender(engine, tag):
        for i in range(40):
            await engine.broker.publish("r", msg(f"{tag}{i}"))

    await asyncio.gather(sender(a, "a"), sender(b, "b"), sender(c, "c"))
    for events in seen.values():
        await until(lambda: len(events) >= 120)
    await asyncio.sleep(0.05)
    orders = {name: [(e["offset"], e["text"]) for e in events] for name, events in seen.items()}
    assert [o for o, _ in orders["a"]] == list(range(1, 121))
    assert orders["a"] == orders["b"] == orders["c"]
    history = await c.broker.history("r", since=0, limit=500)
    assert [(e["offset"], e["text"]) for e in history.events] == orders["a"]


async def test_idempotency_key_holds_across_nodes(clean_redis, nodes):
    a, b = await nodes(clean_redis.url, "a", "b")
    first = await a.broker.publish("r", msg("once"), idempotency_key="u1:m1")
    retry = await b.broker.publish("r", msg("once (retried)"), idempotency_key="u1:m1")
    assert retry.duplicate and retry.offset == first.offset and retry.event == first.event
    looked = await b.broker.lookup("r", "u1:m1")
    assert looked.offset == first.offset and looked.epoch == first.epoch
    assert (await b.broker.position("r")).offset == 1


async def test_concurrent_retries_of_one_key_publish_once(clean_redis, nodes):
    a, b = await nodes(clean_redis.url, "a", "b")
    results = await asyncio.gather(*[n.broker.publish("r", msg("x"), idempotency_key="k")
                                     for n in (a, b) for _ in range(5)])
    assert len({r.offset for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1


async def test_one_subscription_per_room_per_node_and_one_connection_per_node(clean_redis, nodes):
    a, b = await nodes(clean_redis.url, "a", "b")
    channel = K.channel("r")

    def numsub():
        return int(clean_redis.cli("PUBSUB", "NUMSUB", channel).split()[1])

    def pubsub_clients():
        return len([l for l in clean_redis.cli("CLIENT", "LIST", "TYPE", "pubsub").splitlines() if l])

    seen, handler = collector()
    await a.broker.subscribe("r", handler)
    await a.broker.subscribe("r", handler)  # once is once
    assert numsub() == 1
    await b.broker.subscribe("r", lambda room, e: None)
    assert numsub() == 2
    for i in range(5):
        await a.broker.subscribe(f"room{i}", handler)
    assert pubsub_clients() == 2
    await a.broker.unsubscribe("r")
    await until(lambda: numsub() == 1)
    await b.broker.publish("r", msg("not for a"))
    await asyncio.sleep(0.1)
    assert seen == []


async def test_a_gap_on_the_live_stream_is_filled_from_history(clean_redis, nodes):
    a, b = await nodes(clean_redis.url, "a", "b")
    seen, handler = collector()
    await b.broker.subscribe("r", handler)
    first = await a.broker.publish("r", msg("one"))
    await until(lambda: len(seen) == 1)
    # Two events reach the stream but never the channel (as if their PUBLISH was lost).
    for offset in (2, 3):
        clean_redis.cli("HINCRBY", K.meta("r"), "offset", "1")
        payload = json.dumps({"offset": offset, "epoch": first.epoch, "type": "message",
                              "text": f"hidden{offset}"})
        clean_redis.cli("XADD", K.stream("r"), f"{offset}-0", "e", payload)
    await a.broker.publish("r", msg("four"))
    await a.broker.publish("r", msg("five"))
    await until(lambda: len(seen) >= 5)
    await asyncio.sleep(0.05)
    assert [(e["offset"], e["text"]) for e in seen] == [
        (1, "one"), (2, "hidden2"), (3, "hidden3"), (4, "four"), (5, "five")]


async def test_lost_pubsub_connection_resubscribes_and_fills(clean_redis, nodes):
    a, b = await nodes(clean_redis.url, "a", "b")
    seen, handler = collector()
    await b.broker.subscribe("r", handler)
    await a.broker.publish("r", msg("before"))
    await until(lambda: len(seen) == 1)
    clean_redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
    killed = time.monotonic()
    for i in range(5):  # these land while b is reconnecting: only the refill brings them
        await a.broker.publish("r", msg(f"during{i}"))
    await until(lambda: len(seen) >= 6, timeout=1.0)
    await a.broker.publish("r", msg("probe"))  # live only once b has resubscribed
    await until(lambda: len(seen) >= 7, timeout=max(0.0, killed + 1.0 - time.monotonic()))
    for i in range(15):
        await a.broker.publish("r", msg(f"after{i}"))
    await until(lambda: len(seen) >= 22)
    await asyncio.sleep(0.1)
    assert [e["offset"] for e in seen] == list(range(1, 23))
    assert b.reconnects >= 1 and b.health()["status"] == "ok"


async def test_redis_restart_fails_fast_then_recovers_with_a_new_epoch(fresh_redis, nodes):
    (a,) = await nodes(fresh_redis.url, "a")
    seen, handler = collector()
    await a.broker.subscribe("r", handler)
    await a.presence.add("r", Member("c1", "u1", "Ann", "en", node="a"))
    old = [await a.broker.publish("r", msg(f"m{i}")) for i in range(3)]
    await until(lambda: len(seen) == 3)
    assert a.health()["status"] == "ok"

    fresh_redis.kill()
    started = time.monotonic()
    with pytest.raises(EngineUnavailable):
        await a.broker.publish("r", msg("lost?"))
    with pytest.raises(EngineUnavailable):
        await a.broker.broadcast("r", {"type": "presence"})
    assert time.monotonic() - started < 5
    await until(lambda: a.health()["status"] == "degraded", timeout=3)
    assert a.health()["engine"] == "redis"

    fresh_redis.start()
    await until(lambda: a.health()["status"] == "ok", timeout=8)
    new = await a.broker.publish("r", msg("after"))
    assert new.offset == 1 and new.epoch != old[0].epoch
    await until(lambda: len(seen) == 4)
    assert seen[-1]["text"] == "after" and seen[-1]["epoch"] == new.epoch
    gone = await a.broker.history("r", since=3, epoch=old[0].epoch)
    assert not gone.recovered and [e["text"] for e in gone.events] == ["after"]
    # The node writes its members back into the new Redis. "ok" is reported as soon as the
    # server answers again, and the write-back follows in the same repair pass, behind the
    # scripts' first load: wait for it (bounded), do not assume it is done.
    deadline = time.monotonic() + 5
    while [m.conn_id for m in await a.presence.members("r")] != ["c1"]:
        assert time.monotonic() < deadline, "the node did not write its members back"
        await asyncio.sleep(0.02)


async def test_unresponsive_redis_times_out_instead_of_hanging(fresh_redis, nodes):
    (a,) = await nodes(fresh_redis.url, "a", socket_timeout=0.5)
    await a.broker.publish("r", msg("one"))
    fresh_redis.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):
            await a.broker.publish("r", msg("two"))
        assert time.monotonic() - started < 2.5
    finally:
        fresh_redis.proc.send_signal(signal.SIGCONT)
    await until(lambda: a.health()["status"] == "ok", timeout=8)
    assert (await a.broker.publish("r", msg("three"))).offset >= 2


async def test_members_of_a_dead_node_are_reported_once_within_the_bound(clean_redis, nodes):
    expiries = Expiries()
    a, b, c = await nodes(clean_redis.url, "a", "b", "c", expiries=expiries)
    seen_b, handler_b = collector()
    await b.broker.subscribe("r", handler_b)
    await a.presence.add("r", Member("c1", "u1", "Ann", "en", node="a"))
    await a.presence.add("r", Member("c2", "u1", "Ann", "en", node="a"))  # second tab
    await a.presence.add("r", Member("c3", "u3", "Cy", "zh", role="owner", node="a"))
    await a.presence.add("s", Member("c4", "u4", "Di", "en", node="a"))
    await b.presence.add("r", Member("c5", "u5", "Bo", "zh", node="b"))
    await b.presence.add("r", Member("c6", "u3", "Cy", "zh", node="b"))  # Cy is on b too
    assert (await b.presence.counts()) == {"r": 5, "s": 1}

    await crash(a)
    started = time.monotonic()
    bound = a.node_ttl + a.heartbeat_interval + 1.0
    await until(lambda: expiries.removed("r") and expiries.removed("s"), timeout=bound + 1)
    assert time.monotonic() - started <= bound
    await asyncio.sleep(3 * b.heartbeat_interval)  # no second report from anyone
    # one sweeper, one call per room, with every connection it removed (the edge decides
    # that Ann leaves once for two tabs and that Cy stays through b)
    assert sorted((node, room) for node, room, _ in expiries.calls) in (
        [("b", "r"), ("b", "s")], [("c", "r"), ("c", "s")])
    assert expiries.removed("r") == ["c1", "c2", "c3"] and expiries.removed("s") == ["c4"]
    [ann] = [m for _, r, ms in expiries.calls if r == "r" for m in ms if m.conn_id == "c1"]
    assert (ann.user_id, ann.name, ann.lang, ann.role, ann.node) == ("u1", "Ann", "en", "member", "a")
    # the engine itself told the room nothing: no event is built in rooms/
    assert seen_b == []
    assert sorted(m.conn_id for m in await b.presence.members("r")) == ["c5", "c6"]
    assert await c.presence.counts() == {"r": 2}


async def test_a_restarted_node_clears_what_its_previous_life_left(clean_redis, nodes):
    expiries = Expiries()
    a, b = await nodes(clean_redis.url, "a", "b", heartbeat_interval=30, node_ttl=60)
    await a.presence.add("r", Member("c1", "u1", "Ann", "en", node="a"))
    await crash(a)
    await nodes(clean_redis.url, "a", heartbeat_interval=30, node_ttl=60, expiries=expiries)
    await until(lambda: expiries.removed("r") == ["c1"])
    assert [(node, room) for node, room, _ in expiries.calls] == [("a", "r")]
    assert await b.presence.members("r") == []


async def test_cluster_uses_sharded_pubsub_on_the_rooms_shard(redis_cluster, nodes):
    a, b = await nodes(redis_cluster.url, "a", "b")
    rooms = [f"shard-room-{i}" for i in range(6)]
    seen = {}
    for room in rooms:
        seen[room], handler = collector()
        await b.broker.subscribe(room, handler)
        await a.broker.subscribe(room, lambda r, e: None)
    for i in range(5):
        for room in rooms:
            await a.broker.publish(room, msg(f"{room}:{i}"))
    for room in rooms:
        await until(lambda: len(seen[room]) == 5)
        assert [e["offset"] for e in seen[room]] == [1, 2, 3, 4, 5]
        channel = K.channel(room)
        port = redis_cluster.port_of(channel)
        assert redis_cluster.cli(port, "PUBSUB", "SHARDNUMSUB", channel).split()[1] == "2"
        assert redis_cluster.cli(port, "PUBSUB", "NUMSUB", channel).split()[1] == "0"
        # the room's keys live on the room's shard
        assert redis_cluster.cli(port, "EXISTS", K.meta(room), K.stream(room)).strip() == "2"
    assert len({redis_cluster.port_of(K.channel(r)) for r in rooms}) > 1
    # presence sweeping works across shards too
    expiries = Expiries()
    b.presence.on_expired = expiries.hook("b")
    await a.presence.add(rooms[0], Member("c1", "u1", "Ann", "en", node="a"))
    await crash(a)
    await until(lambda: expiries.removed(rooms[0]) == ["c1"], timeout=3)


async def test_a_heartbeat_during_joins_in_flight_is_not_taken_for_a_sweep(clean_redis, nodes):
    # A join storm: members known locally whose index entry is still being written must not
    # look like entries a sweep removed (the node would rewrite every member it has).
    (a,) = await nodes(clean_redis.url, "a")
    await a.presence.add("r", Member("c1", "u1", "Ann", "en", node="a"))
    assert await a.presence._beat() is False
    gate = asyncio.Event()
    index = a.presence._index

    async def slow_index(room, conn_id):
        await gate.wait()
        await index(room, conn_id)

    a.presence._index = slow_index
    joining = asyncio.ensure_future(a.presence.add("r", Member("c2", "u2", "Bo", "zh", node="a")))
    await until(lambda: "c2" in a.presence._local.get("r", {}))
    assert await a.presence._beat() is False  # c2 is in flight, not missing
    gate.set()
    await joining
    assert await a.presence._beat() is False
    await a.redis.srem(K.node_members("a"), _entry("r", "c2"))
    assert await a.presence._beat() is True  # an entry really gone is still noticed


async def test_a_join_is_one_script_and_concurrent_joins_share_one_index_write(clean_redis, nodes):
    # A join storm on one node: each join's reads, history and record are one command, and the
    # node-index entries of all the joins of one loop turn go out as one SADD per key.
    (a,) = await nodes(clean_redis.url, "a")
    # the script cached in Redis (a first EVALSHA falls back to EVAL) and index writes settled
    await a.enter("warm", Member("c0", "u0", "Zed", "en", node="a"), reads=[])
    sent_before, adds = a.batcher.commands, a.presence._index_adds
    writes_before = adds.writes
    members = [Member(f"c{i}", f"u{i}", f"U{i}", "en", node="a") for i in range(1, 41)]
    entries = await asyncio.gather(*(a.enter("r", m, reads=[("roles", m.user_id), ("bans", m.user_id)],
                                             record_unless=(0, 1)) for m in members))
    assert sorted(e.arrival.users for e in entries) == list(range(1, 41))
    assert all(e.arrival.first for e in entries)
    assert adds.writes - writes_before == 2  # the node's member list and the room index, once each
    assert a.batcher.commands - sent_before == 40 + 2
    listed = await a.redis.smembers(K.node_members("a"))
    assert {json.loads(raw)[1] for raw in listed} == {"c0", *(m.conn_id for m in members)}
    assert b"r" in await a.redis.smembers(K.PRESENCE_ROOMS)
    assert sorted(m.conn_id for m in await a.presence.members("r")) == sorted(m.conn_id for m in members)
    assert await a.presence._beat() is False  # every index entry is there


async def test_a_storm_of_first_script_calls_loads_the_script_without_new_connections(clean_redis, nodes):
    # Each script's first EVALSHA in a Redis fails with NOSCRIPT and falls back to EVAL. In a
    # join storm a hundred calls do so at once: the fallbacks share pipelines like the calls
    # did, instead of each taking (and so opening) a connection of its own.
    (a,) = await nodes(clean_redis.url, "a")
    await a.enter("warm", Member("c0", "u0", "Zed", "en", node="a"), reads=[])

    def clients() -> int:
        return int(clean_redis.cli("INFO", "clients").split("connected_clients:")[1].split()[0])

    before = clients()
    clean_redis.cli("SCRIPT", "FLUSH")
    members = [Member(f"c{i}", f"u{i}", f"U{i}", "en", node="a") for i in range(1, 101)]
    entries = await asyncio.gather(*(a.enter("storm", m, reads=[]) for m in members))
    assert sorted(e.arrival.users for e in entries) == list(range(1, 101))
    await asyncio.gather(*(a.presence.remove("storm", m.conn_id) for m in members))
    assert await a.presence.members("storm") == []
    assert clients() - before <= 2, (before, clients())
