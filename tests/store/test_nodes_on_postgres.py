"""Many nodes on PostgreSQL: Redis is transport and cache. Two real `livebridge serve` nodes
share one Redis and one PostgreSQL; the test empties Redis (FLUSHALL) mid-run and nothing the
store keeps is lost; a node whose PostgreSQL goes away answers sends with `unavailable`,
says `degraded`, and recovers by itself."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import pytest

from chatserver.auth import TokenIssuer
from clients.livebridge_client import ServerError
from tests.store.pg import PostgresServer
from tests.store.test_restart import connect, expect_error  # noqa: F401  (fixture)

SECRET = "pg-nodes-secret-" + secrets.token_hex(8)
ISSUER = TokenIssuer(SECRET, ttl=600)


def node_args(redis_url: str, database_url: str, node: str) -> list[str]:
    return ["--redis-url", redis_url, "--database-url", database_url, "--node-id", node,
            "--secret", SECRET]


def member(name: str):
    token, user, _ = ISSUER.issue(name=name, lang="en", kind="member")
    return token, user


async def messages_until(client, offset: int) -> list[dict]:
    seen = []
    while not seen or seen[-1]["offset"] < offset:
        event = await client.next_event(15)
        if event.get("type") == "message":
            seen.append(event)
    return seen


async def test_two_nodes_lose_nothing_when_redis_comes_back_empty(postgres_server, redis_server,
                                                                  start_server, connect):
    database = await asyncio.to_thread(postgres_server.create_database, f"nodes{secrets.token_hex(3)}")
    redis_server.cli("FLUSHALL")
    a = start_server(*node_args(redis_server.url, database, "pg-a"))
    b = start_server(*node_args(redis_server.url, database, "pg-b"))
    host_token, host = member("Host")
    pest_token, pest = member("Pest")
    reader_token, _ = member("Reader")
    room = f"pg-{uuid.uuid4().hex[:6]}"
    status, body = await asyncio.to_thread(a.post, "/api/rooms", {"name": room, "title": "Shared"}, host_token)
    assert status == 201, body
    owner = await connect(a, "Host", host_token)
    assert (await owner.join(room))["role"] == "owner"
    await owner.moderate(room, "ban", user_id=pest.id, reason="spam")
    await owner.moderate(room, "add_term", term="forbiddenword", action="block")
    reader = await connect(b, "Reader", reader_token)
    await reader.join(room)
    before = [await owner.send(room, f"before {i}") for i in range(5)]
    seen = await messages_until(reader, before[-1]["offset"])
    last_seen, epoch = seen[-1]["offset"], seen[-1]["epoch"]
    await reader.close()

    redis_server.cli("FLUSHALL")  # a restart without persistence, a failover to an empty replica

    after = [await owner.send(room, f"after {i}") for i in range(3)]
    assert [a_["offset"] for a_ in after] == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert {a_["epoch"] for a_ in after} == {epoch}  # offsets went on in the archive's epoch
    reader = await connect(b, "Reader", reader_token)
    missed = await reader.join(room, since=last_seen, epoch=epoch)
    assert missed["recovered"] is True
    assert [e["text"] for e in missed["history"] if e.get("type") == "message"] == [f"after {i}" for i in range(3)]
    # What the hosts built up holds on the other node too.
    owner_b = await connect(b, "Host", host_token)
    assert (await owner_b.join(room))["role"] == "owner"
    pest_client = await connect(b, "Pest", pest_token)
    await expect_error(pest_client.join(room), "banned")
    await expect_error(reader.send(room, "a forbiddenword"), "blocked_term")
    page = await reader.history(room, limit=100)
    assert [e["text"] for e in page["events"] if e.get("type") == "message"] == \
        [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(3)]
    status, audit = await asyncio.to_thread(b.get, f"/api/rooms/{room}/audit", host_token)
    assert status == 200 and {"ban", "add_term"} <= {e["action"] for e in audit["entries"]}


async def test_a_node_whose_postgres_goes_away_refuses_sends_then_recovers(redis_server, start_server, connect):
    pg = await asyncio.to_thread(lambda: PostgresServer().start())
    try:
        node = start_server("--database-url", pg.url(), "--secret", SECRET)
        token, _ = member("Ann")
        room = f"lost-{uuid.uuid4().hex[:6]}"
        ann = await connect(node, "Ann", token)
        await ann.join(room)
        first = await ann.send(room, "before")
        await asyncio.to_thread(pg.stop, "immediate")
        with pytest.raises(ServerError) as info:
            await ann.send(room, "while down")
        assert info.value.code == "unavailable"  # never a false ack
        status, health = await asyncio.to_thread(node.get, "/healthz")
        assert status == 503 and health["status"] == "degraded" and health["store"]["status"] == "degraded"
        await asyncio.to_thread(pg.start_again)

        async def acked() -> bool:
            try:
                await ann.send(room, "after", client_msg_id="after-1")
                return True
            except ServerError as exc:
                assert exc.code == "unavailable", exc.frame
                await asyncio.sleep(0.2)
                return False

        for _ in range(60):
            if await acked():
                break
        else:
            raise AssertionError("the node did not recover when PostgreSQL came back")
        for _ in range(150):  # the next commit succeeded: healthy again
            if (await asyncio.to_thread(node.get, "/healthz"))[0] == 200:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("/healthz stayed degraded after PostgreSQL came back")
        page = await ann.history(room, limit=10)
        texts = [e["text"] for e in page["events"] if e.get("type") == "message"]
        assert texts[0] == "before" and texts[-1] == "after" and first["offset"] == page["events"][0]["offset"]
    finally:
        await asyncio.to_thread(pg.close)
