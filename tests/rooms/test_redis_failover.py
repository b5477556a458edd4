"""The Redis engine through a dropped pub/sub connection and a Redis Cluster failover.

Real redis-servers: a 3-master cluster whose pub/sub connections are killed
(`CLIENT KILL TYPE pubsub`), and a 3 masters + 3 replicas cluster whose master is SIGKILLed
while rooms on every shard are live. Two engines (two nodes) in one event loop; a publisher
keeps publishing into every room (retrying with the same idempotency key, as clients do),
and each node's handler records what it is delivered live.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from rooms import redis_keys as K
from rooms.engine import EngineUnavailable
from rooms.redis_engine import RedisEngine, parse_cluster_url
from tests.rooms.conftest import until
from tests.rooms.redis_cluster import RedisClusterServers

FAST = {"heartbeat_interval": 0.2, "node_ttl": 5.0, "socket_timeout": 0.5}


def test_cluster_url_takes_several_seeds():
    seeds, options = parse_cluster_url("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002/0")
    assert seeds == [("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)]
    assert options == {"username": "u", "password": "p@ss"}
    assert parse_cluster_url("rediss+cluster://:secret@h:1")[1] == {"ssl": True, "password": "secret"}


def rooms_on_every_shard(cluster: RedisClusterServers, per_shard: int) -> dict[int, list[str]]:
    """``per_shard`` room names for each master (several per shard, in different slots)."""
    by_port: dict[int, list[str]] = {p: [] for p in cluster.masters()}
    i = 0
    while any(len(r) < per_shard for r in by_port.values()):
        room = f"fo-{i}"
        i += 1
        port = cluster.port_of(K.channel(room))
        if len(by_port[port]) < per_shard:
            by_port[port].append(room)
    return by_port


class Recorder:
    """What one node's handler is delivered, with arrival times."""

    def __init__(self) -> None:
        self.events: dict[str, list[tuple[float, dict]]] = {}

    def handler(self, room: str, event: dict) -> None:
        self.events.setdefault(room, []).append((time.monotonic(), event))

    def offsets(self, room: str) -> list[int]:
        return [e["offset"] for _, e in self.events.get(room, [])]

    def last_arrival(self, room: str) -> float:
        got = self.events.get(room)
        return got[-1][0] if got else 0.0

    def first_after(self, room: str, sent_after: float, sent_at: dict) -> float | None:
        """Arrival of the first event that was published (acked) after ``sent_after``."""
        for arrived, event in self.events.get(room, []):
            if sent_at.get((room, event["offset"]), 0) > sent_after:
                return arrived
        return None


class Publisher:
    """Publishes into every room in turn; retries a failed publish with the same key."""

    def __init__(self, engines: list[RedisEngine], rooms: list[str], pause: float = 0.01) -> None:
        self.engines = engines
        self.rooms = rooms
        self.pause = pause
        self.acked: dict[str, list[tuple[int, str]]] = {r: [] for r in rooms}
        self.sent_at: dict[tuple[str, int], float] = {}
        self.failures = 0
        self._stop = False
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(room, i)) for i, room in enumerate(self.rooms)]

    async def _run(self, room: str, i: int) -> None:
        n = 0
        while not self._stop:
            engine = self.engines[(i + n) % len(self.engines)]
            text = f"{room}:{n}"
            while True:
                try:
                    result = await engine.broker.publish(
                        room, {"type": "message", "text": text}, idempotency_key=f"k:{text}")
                    break
                except EngineUnavailable:
                    self.failures += 1
                    await asyncio.sleep(0.05)
                    if self._stop:
                        return
            self.acked[room].append((result.offset, text))
            self.sent_at[(room, result.offset)] = time.monotonic()
            n += 1
            await asyncio.sleep(self.pause)

    async def stop(self) -> None:
        self._stop = True
        await asyncio.gather(*self.tasks)


class SentToDownShards:
    """Commands a node sent through its cluster client to a shard it already knew was down.

    Each such command fails, and each failure makes redis-py re-read the slot map and the
    command table under a lock every other command waits on: rooms on healthy shards pause."""

    def __init__(self, engine: RedisEngine) -> None:
        self.sent: list[tuple] = []
        client = engine.redis
        execute = client.execute_command

        async def watched(*args, **kwargs):
            name = args[0].upper() if isinstance(args[0], str) else args[0]
            key = args[3] if name in ("EVALSHA", "EVAL") and int(args[2]) > 0 else args[1] if len(args) > 1 else None
            if isinstance(key, (str, bytes)) and "target_nodes" not in kwargs and engine.shard_failing(key):
                self.sent.append(args[:2])
            return await execute(*args, **kwargs)

        client.execute_command = watched


async def settle_and_check(engines, recorders, pub: Publisher) -> None:
    """Every acked message reached every node exactly once, in order, as in history."""
    for room in pub.rooms:
        last = pub.acked[room][-1][0]
        for rec in recorders:
            await until(lambda: rec.offsets(room)[-1:] == [last], timeout=5)
    for room in pub.rooms:
        history = await engines[0].broker.history(room, since=0, limit=5000)
        stored = [(e["offset"], e["text"]) for e in history.events]
        assert stored == pub.acked[room], f"{room}: history differs from the acks"
        assert [o for o, _ in stored] == list(range(1, len(stored) + 1))
        for rec in recorders:
            assert rec.offsets(room) == [o for o, _ in stored], f"{room}: lost or duplicated"


@pytest.fixture
async def engines():
    made: list[RedisEngine] = []

    async def make(url: str, *names: str) -> list[RedisEngine]:
        out = []
        for name in names:
            engine = RedisEngine(url, node_id=name, **FAST)
            await engine.start()
            made.append(engine)
            out.append(engine)
        return out

    yield make
    for engine in made:
        with contextlib.suppress(Exception):
            await engine.close()


async def test_killed_pubsub_connections_are_resubscribed_within_a_second(redis_cluster, engines):
    redis_cluster.flush()
    a, b = await engines(redis_cluster.url, "a", "b")
    by_port = rooms_on_every_shard(redis_cluster, per_shard=3)
    rooms = [r for rs in by_port.values() for r in rs]
    rec_a, rec_b = Recorder(), Recorder()
    for room in rooms:
        await a.broker.subscribe(room, rec_a.handler)
        await b.broker.subscribe(room, rec_b.handler)
    pub = Publisher([a, b], rooms)
    pub.start()
    await until(lambda: all(rec_b.offsets(r) for r in rooms))
    killed = time.monotonic()
    for port in redis_cluster.ports:  # every node's every pub/sub connection, on all shards
        redis_cluster.cli(port, "CLIENT", "KILL", "TYPE", "pubsub")
    # live again within a second: something published after the kill arrives in every room
    for rec in (rec_a, rec_b):
        await until(lambda: all(rec.first_after(r, killed, pub.sent_at) for r in rooms), timeout=1.0)
    worst = max(rec.first_after(r, killed, pub.sent_at) - killed for rec in (rec_a, rec_b) for r in rooms)
    await pub.stop()
    await settle_and_check([a, b], [rec_a, rec_b], pub)
    for engine in (a, b):
        health = engine.health()
        assert health["status"] == "ok" and health["reconnects"] >= 3
        assert health["resubscribed"] >= len(rooms)
        assert [s["status"] for s in health["shards"]] == ["ok"] * 3
    print(f"\nresubscribed {len(rooms)} rooms on 3 shards; live again after {worst:.3f}s")


@pytest.fixture(scope="module")
def cluster6():
    cluster = RedisClusterServers(masters=3, replicas=1, node_timeout_ms=1000).start()
    yield cluster
    cluster.close()


async def test_failover_of_a_master_resumes_live_delivery_on_every_node(cluster6, engines):
    a, b = await engines(cluster6.seeds_url, "a", "b")
    by_port = rooms_on_every_shard(cluster6, per_shard=2)
    rooms = [r for rs in by_port.values() for r in rs]
    victim = cluster6.port_of(K.NODES)  # the shard every node's heartbeat writes to
    replica = cluster6.replica_of(victim)
    healthy = [r for port, rs in by_port.items() if port != victim for r in rs]
    rec_a, rec_b = Recorder(), Recorder()
    for room in rooms:
        await a.broker.subscribe(room, rec_a.handler)
        await b.broker.subscribe(room, rec_b.handler)
    pub = Publisher([a, b], rooms, pause=0.02)
    pub.start()
    await until(lambda: all(len(rec_b.offsets(r)) >= 3 for r in rooms))
    # The victim's replica has what was acked so far (acks wait for a replica, but give up
    # after a while when none confirms: docs/deploy.md), so what follows tests the failover.
    # The publisher keeps writing: wait for the offset of now, not for "everything".
    written = cluster6.master_offset(victim)
    await until(lambda: cluster6.replica_caught_up(victim, written), timeout=5)

    watched = [SentToDownShards(a), SentToDownShards(b)]
    killed = time.monotonic()
    cluster6.kill(victim)
    statuses = set()
    # redis-cli in a thread: a blocking call here would stall the very loop whose gaps are measured
    while await asyncio.to_thread(cluster6.role, replica) != "master":
        statuses |= {a.health()["status"], b.health()["status"]}
        assert time.monotonic() - killed < 15, "the replica was never promoted"
        await asyncio.sleep(0.02)
    promoted = time.monotonic()
    # within 2 s of the promotion, every room on every node is live again
    for rec in (rec_a, rec_b):
        await until(lambda: all(rec.first_after(r, promoted, pub.sent_at) for r in rooms), timeout=2.0)
    resumed = max(rec.first_after(r, promoted, pub.sent_at) - promoted
                  for rec in (rec_a, rec_b) for r in rooms)
    # rooms on healthy shards kept flowing meanwhile (no gap beyond a fraction of a second)
    worst_gap = 0.0
    for rec in (rec_a, rec_b):
        for room in healthy:
            times = [t for t, _ in rec.events[room] if killed - 0.2 <= t <= promoted + 0.5]
            worst_gap = max([worst_gap] + [t2 - t1 for t1, t2 in zip(times, times[1:])])
    await pub.stop()
    await settle_and_check([a, b], [rec_a, rec_b], pub)
    assert "degraded" not in statuses and "partial" in statuses  # one shard down: not all
    for engine in (a, b):
        await until(lambda: engine.health()["status"] == "ok", timeout=3)
    # Nothing was sent to the dead shard once it was known down: heartbeats and index writes
    # included (each failure there made every room on the node wait for a slot-map re-read).
    assert [w.sent for w in watched] == [[], []]
    # Measured 0.10-0.16 s with both cores busy with other work (0.25-0.42 s, and 1.01 s once
    # in CI, while heartbeats still went to the dead shard). The promise is "a fraction of a
    # second", so the bound is under one second.
    assert worst_gap < 1.0, f"a room on a healthy shard paused {worst_gap:.2f}s"
    print(f"\npromoted {promoted - killed:.2f}s after SIGKILL; live again {resumed:.3f}s after "
          f"promotion; worst gap in healthy rooms {worst_gap:.3f}s; {pub.failures} publishes retried")


async def test_sends_on_healthy_shards_survive_the_global_shards_outage(cluster6, engines):
    """Everything a send touches is its room's or is kept on the node: with the master that
    holds the global scope (term versions, room metadata) SIGKILLed, a room on another shard still
    gates and publishes at once, new users included; per-connection buckets go local."""
    from moderation.ratelimit import Limits, conn_bucket
    from moderation.service import Actor, Moderation

    (a,) = await engines(cluster6.seeds_url, "g")
    limits = Limits(user_rate=100, user_burst=100, conn_rate=100, conn_burst=100, flood_max=2)
    mod = Moderation(a, default_limits=limits)
    global_port = cluster6.port_of(K.state("", "admins"))
    # A room on a shard that still has its replica: on one without (the earlier test's promoted
    # replica), the first ack waits wait_ms for a replica that is not there (docs/deploy.md).
    replicated = {p for p in cluster6.masters()
                  if "connected_slaves:0" not in cluster6.cli(p, "info", "replication")}
    room = next(f"g-{i}" for i in range(1000)
                if cluster6.port_of(K.channel(f"g-{i}")) in replicated - {global_port})
    conn = next(f"c{i}" for i in range(1000)
                if cluster6.port_of(K.bucket(conn_bucket(f"c{i}"))) == global_port)
    ann, admin = Actor("u1", "Ann", "member"), Actor("u-admin", "Ad", "member", admin=True)
    assert (await mod.check_send(room, ann, "hello", conn_id=conn)).action == "allow"
    assert await mod.role_of(room, admin) == "admin"
    await until(lambda: "meta" in a.state._snapshots, timeout=3)

    cluster6.kill(global_port)
    started = time.monotonic()
    for i in range(10):
        for actor in (ann, Actor(f"new-{i}", "Newcomer", "member")):  # never read before
            decision = await mod.check_send(room, actor, f"m{i}", conn_id=conn)
            assert decision.action == "allow", decision
            await a.broker.publish(room, {"type": "message", "text": f"m{i}"})
    assert await mod.role_of(room, admin) == "admin"
    elapsed = time.monotonic() - started
    health = a.health()
    # The dead shard's replica may already be promoted (node timeout 2 s) by the time this is
    # read; what must hold is that the sends never waited for it.
    assert health["status"] in ("partial", "ok"), health
    assert health["local_token_buckets"] > 0, health
    assert elapsed < 1.0, f"20 sends took {elapsed:.2f}s with the global shard down"
    # the per-connection limit still holds, locally
    tight = Limits(user_rate=100, user_burst=100, conn_rate=0.1, conn_burst=1, flood_max=0)
    assert await mod.limiter.take(room, "u9", "tight-conn", tight) is None
    assert (await mod.limiter.take(room, "u9", "tight-conn", tight)).code == "rate_limited"
    print(f"\n20 gated sends + publishes with the global shard down: {elapsed:.3f}s")
