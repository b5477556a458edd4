"""Service-test fixtures: two Moderation instances ("nodes") over engine factories.

Each factory returns two engines that share state: for the in-memory engine both are one
object; the Redis factories return two RedisEngine instances (two nodes, each with its own
connections and pub/sub) on the session's private redis-server, or on the shared Redis
Cluster.

With Redis, events reach the recording subscriber asynchronously (pub/sub), while the tests
read ``nodes.events`` right after an action. So, for Redis, every ``publish`` and
``broadcast`` to ``ROOM`` returns only once the subscriber on node A has received that many
events (bounded wait): the tests then see the same list whichever engine runs below.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from moderation.ratelimit import Limits
from moderation.service import Actor, Moderation
from rooms.memory import MemoryEngine
from rooms.redis_engine import RedisEngine

ROOM = "lobby"
FAST = Limits(user_rate=100, user_burst=100, conn_rate=100, conn_burst=100,
              flood_window=30, flood_max=20)
DELIVERY_TIMEOUT = 2.0


async def _memory_pair(request):
    engine = MemoryEngine()
    return engine, engine


def _redis_engines(url: str):
    return (RedisEngine(url, node_id="node-a", heartbeat_interval=0.5, node_ttl=2.0),
            RedisEngine(url, node_id="node-b", heartbeat_interval=0.5, node_ttl=2.0))


async def _redis_pair(request):
    server = request.getfixturevalue("redis_server")
    server.cli("FLUSHALL")
    return _redis_engines(server.url)


async def _redis_cluster_pair(request):
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return _redis_engines(cluster.url)


FACTORIES = {"memory": _memory_pair, "redis": _redis_pair, "redis-cluster": _redis_cluster_pair}

OWNER = Actor("u-owner", "Olive", "member")
MOD = Actor("u-mod", "Mo", "member")
MOD2 = Actor("u-mod2", "Mia", "member")
BOB = Actor("u-bob", "Bob", "member")
CAROL = Actor("u-carol", "Carol", "member")
GUEST = Actor("g-guest", "Guest", "guest")
ADMIN = Actor("u-admin", "Ada", "member")


class _Delivery:
    """Counts events sent to ROOM through either engine and those the recorder received."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.changed = asyncio.Event()

    def got(self) -> None:
        self.received += 1
        self.changed.set()

    async def wait(self, target: int) -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while self.received < target:
            left = deadline - time.monotonic()
            if left <= 0:
                return  # the test's own assertions say what is missing
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                return

    def wrap(self, broker) -> None:
        for name in ("publish", "broadcast"):
            original = getattr(broker, name)

            async def delivered(room, event, *args, _original=original, **kwargs):
                result = await _original(room, event, *args, **kwargs)
                if room == ROOM and not getattr(result, "duplicate", False):
                    self.sent += 1
                    await self.wait(self.sent)
                return result

            setattr(broker, name, delivered)


@pytest.fixture(params=sorted(FACTORIES))
async def nodes(request):
    e1, e2 = await FACTORIES[request.param](request)
    engines = list({id(e1): e1, id(e2): e2}.values())
    for e in engines:
        await e.start()
    events: list[dict] = []
    delivery = _Delivery()

    async def record(room, event):
        events.append(event)
        delivery.got()

    await e1.broker.subscribe(ROOM, record)
    if request.param != "memory":
        for e in engines:
            delivery.wrap(e.broker)
    a = Moderation(e1, node_id="node-a", default_limits=FAST, admin_ids=[ADMIN.user_id])
    b = Moderation(e2, node_id="node-b", default_limits=FAST, admin_ids=[ADMIN.user_id])
    assert await a.set_owner(ROOM, OWNER.user_id)
    await a.act(ROOM, OWNER, "add_moderator", {"user_id": MOD.user_id})
    await b.act(ROOM, OWNER, "add_moderator", {"user_id": MOD2.user_id})
    events.clear()
    yield SimpleNamespace(a=a, b=b, engine=e1, engine_b=e2, events=events, kind=request.param)
    for e in engines:
        await e.close()


async def post(engine, author: Actor, text: str, msg_id: str) -> int:
    """Publish a chat message the way the server does; returns its offset."""
    result = await engine.broker.publish(ROOM, {
        "type": "message", "id": msg_id, "room": ROOM,
        "author": {"id": author.user_id, "name": author.name}, "text": text, "lang": "en"})
    return result.offset
