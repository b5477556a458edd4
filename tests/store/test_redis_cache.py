"""Redis is a cache of the store: a node (in-process, on a real Redis and a real SQLite store)
builds up rooms and moderation state; every Redis key it leaves has a TTL or a bound; after
FLUSHALL every read comes back from the store."""

from __future__ import annotations

import pytest

from chatserver.app import LiveBridge
from chatserver.auth import User
from chatserver.config import Settings
from tests.security.redis_bounds import unbounded_keys
from chatserver.errors import ChatError

# Keys that are bounded instead of expiring (docs/deploy.md, "What is in Redis").


@pytest.fixture
async def make_bridge(redis_server, tmp_path):
    made = []

    async def make(name: str) -> LiveBridge:
        settings = Settings(redis_url=redis_server.url, node_id=name, secret="s" * 32, translation="off",
                            data_dir=str(tmp_path / "data"), rate_user=1000, rate_user_burst=1000,
                            rate_connection=1000, rate_connection_burst=1000, flood_max=0,
                            room_create_rate=1000, room_create_burst=1000)
        bridge = LiveBridge(settings)
        await bridge.start()
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.close()  # a second close does nothing


async def test_every_key_expires_and_an_empty_redis_loses_nothing(redis_server, make_bridge):
    redis_server.cli("FLUSHALL")
    bridge = await make_bridge("cache-a")
    chat = bridge.chat
    host = User(id="u-host", name="Host", lang="en", kind="member")
    pest = User(id="u-pest", name="Pest", lang="en", kind="member")
    admin = User(id="u-admin", name="Admin", lang="en", kind="member", admin=True)
    for i in range(20):
        await chat.create_room(f"room-{i}", title=f"Room {i}", owner=host)
        await chat.ensure_room(f"auto-{i}")  # ownerless, auto-created: not in the store
    room = "room-0"
    await chat.moderate(room, host, "ban", {"user_id": pest.id, "reason": "spam"})
    await chat.moderate(room, host, "timeout", {"user_id": "u-loud", "seconds": 600})
    await chat.moderate(room, host, "add_term", {"term": "forbiddenword", "action": "block"})
    await chat.moderate(room, host, "add_term", {"term": "holdword", "action": "hold"})
    await chat.moderate(room, admin, "add_term", {"term": "globalbad", "action": "block", "scope": "global"})
    await chat.moderate(room, host, "add_moderator", {"user_id": "u-mod"})
    await chat.moderate(room, host, "set_limits", {"user_rate": 50})
    await chat.moderate(room, host, "slow_mode", {"seconds": 2})
    sent = await chat.send(room, host, "owner", "hello")
    await sent.committed
    await chat.moderate(room, host, "pin", {"offset": sent.offset})
    held = await chat.send(room, User(id="u-g", name="G", lang="en"), "guest", "a holdword")
    assert unbounded_keys(redis_server) == []

    redis_server.cli("FLUSHALL")  # Redis comes back empty
    await holds_everything(bridge, room, host, pest, held.hold_id)
    await bridge.close()
    other = await make_bridge("cache-b")  # the next run of the node, on an empty Redis
    redis_server.cli("FLUSHALL")
    await holds_everything(other, room, host, pest, held.hold_id)
    listed = (await other.chat.list_rooms(limit=100))["rooms"]
    assert {r["name"] for r in listed} >= {f"room-{i}" for i in range(20)}
    # The first publish after the loss goes on from the archive's offset and epoch.
    archived = await other.store.position(room)  # "hello", then the "pinned" event
    assert (archived.offset, archived.epoch) == (sent.offset + 1, sent.epoch)
    redis_server.cli("FLUSHALL")
    again = await other.chat.send(room, host, "owner", "after")
    assert (again.offset, again.epoch) == (archived.offset + 1, archived.epoch)
    assert unbounded_keys(redis_server) == []


async def holds_everything(node: LiveBridge, room: str, host: User, pest: User, hold_id: str) -> None:
    c = node.chat
    assert (await c.room(room))["owner"]["id"] == host.id
    assert (await node.moderation.role_of(room, host)) == "owner"
    with pytest.raises(ChatError) as refused:
        await c.admit(room, pest)
    assert refused.value.code == "banned"
    for scope_room, text in ((room, "a forbiddenword"), ("room-5", "globalbad!")):
        guest = User(id=f"u-{node.node_id}-{scope_room}", name="Guest", lang="en")
        with pytest.raises(ChatError) as blocked:
            await c.send(scope_room, guest, "guest", text)
        assert blocked.value.code == "blocked_term"
    settings = await c.room_settings(room)
    assert settings["slow_mode"] == 2 and settings["pinned"]["text"] == "hello"
    assert (await node.moderation.moderation.limits(room)).user_rate == 50
    assert await node.moderation.role_of(room, User(id="u-mod", name="Mod", lang="en")) == "moderator"
    assert [i["id"] for i in await c.review_queue(room, host)] == [hold_id]
    await c.moderate(room, host, "kick", {"user_id": f"u-kicked-by-{node.node_id}"})  # a new one first
    audit = await c.audit_log(room, host, 100)
    assert {"kick", "ban", "timeout", "add_term", "add_moderator"} <= {e["action"] for e in audit}
    page = await c.history(room, before=None, limit=10)
    assert [e["text"] for e in page["events"] if e.get("type") == "message"] == ["hello"]
