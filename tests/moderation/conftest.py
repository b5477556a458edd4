"""Service-test fixtures: two Moderation instances ("nodes") over engine factories.

Each factory returns two engines that share state: for the in-memory engine both are one
object; a Redis factory will return two engines on one Redis server (add it to FACTORIES).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moderation.ratelimit import Limits
from moderation.service import Actor, Moderation
from rooms.memory import MemoryEngine

ROOM = "lobby"
FAST = Limits(user_rate=100, user_burst=100, conn_rate=100, conn_burst=100,
              flood_window=30, flood_max=20)


async def _memory_pair():
    engine = MemoryEngine()
    return engine, engine


FACTORIES = {"memory": _memory_pair}

OWNER = Actor("u-owner", "Olive", "member")
MOD = Actor("u-mod", "Mo", "member")
MOD2 = Actor("u-mod2", "Mia", "member")
BOB = Actor("u-bob", "Bob", "member")
CAROL = Actor("u-carol", "Carol", "member")
GUEST = Actor("g-guest", "Guest", "guest")
ADMIN = Actor("u-admin", "Ada", "member")


@pytest.fixture(params=sorted(FACTORIES))
async def nodes(request):
    e1, e2 = await FACTORIES[request.param]()
    for e in {id(e1): e1, id(e2): e2}.values():
        await e.start()
    events: list[dict] = []

    async def record(room, event):
        events.append(event)

    await e1.broker.subscribe(ROOM, record)
    a = Moderation(e1, node_id="node-a", default_limits=FAST, admin_ids=[ADMIN.user_id])
    b = Moderation(e2, node_id="node-b", default_limits=FAST, admin_ids=[ADMIN.user_id])
    assert await a.set_owner(ROOM, OWNER.user_id)
    await a.act(ROOM, OWNER, "add_moderator", {"user_id": MOD.user_id})
    await b.act(ROOM, OWNER, "add_moderator", {"user_id": MOD2.user_id})
    events.clear()
    yield SimpleNamespace(a=a, b=b, engine=e1, engine_b=e2, events=events)
    for e in {id(e1): e1, id(e2): e2}.values():
        await e.close()


async def post(engine, author: Actor, text: str, msg_id: str) -> int:
    """Publish a chat message the way the server does; returns its offset."""
    result = await engine.broker.publish(ROOM, {
        "type": "message", "id": msg_id, "room": ROOM,
        "author": {"id": author.user_id, "name": author.name}, "text": text, "lang": "en"})
    return result.offset
