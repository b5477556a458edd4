"""Many nodes, one room: real server processes on one Redis, real WebSocket clients."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from clients.client import ServerError
from tests.cluster.conftest import HEARTBEAT, NODE_TTL


async def messages(client, room: str, count: int, timeout: float = 15.0) -> list[dict]:
    """The next ``count`` message events of ``room`` (fails on a duplicate offset)."""
    got: list[dict] = []

    async def scan():
        while len(got) < count:
            event = await client.next_event()
            if event.get("type") == "message" and event.get("room") == room:
                got.append(event)

    await asyncio.wait_for(scan(), timeout)
    return got


async def wait_health(server, status: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await asyncio.to_thread(server.get, "/healthz")
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return body
        await asyncio.sleep(0.1)


async def chat_in_order(servers, clients, room: str, per_sender: int = 25) -> list[tuple]:
    """Clients on every node send concurrently; each sees one and the same order."""
    people = [await clients(server, f"P{i}", "en" if i % 2 else "zh")
              for i, server in enumerate(servers)]
    for person in people:
        await person.join(room)

    async def talk(person, i):
        acks = []
        for n in range(per_sender):
            acks.append(await person.send(room, f"{i}-{n}"))
        return acks

    total = per_sender * len(people)
    receiving = [asyncio.create_task(messages(p, room, total)) for p in people]
    acks = await asyncio.gather(*[talk(p, i) for i, p in enumerate(people)])
    seen = await asyncio.gather(*receiving)
    orders = [[(e["offset"], e["text"], e["id"]) for e in events] for events in seen]
    for order in orders:
        assert order == orders[0]
    assert [o for o, _, _ in orders[0]] == list(range(1, total + 1))
    assert sorted(t for _, t, _ in orders[0]) == sorted(f"{i}-{n}" for i in range(len(people))
                                                     for n in range(per_sender))
    by_offset = {o: t for o, t, _ in orders[0]}
    for i, person_acks in enumerate(acks):
        for n, ack in enumerate(person_acks):
            assert ack["status"] == "published" and by_offset[ack["offset"]] == f"{i}-{n}"
    return orders[0]


async def test_clients_on_three_nodes_see_the_same_messages_in_the_same_order(trio, clients):
    await chat_in_order(trio, clients, "order-" + uuid.uuid4().hex[:6])
    # each node holds one subscription for the room, whatever its connections
    for server in trio:
        code, body = await asyncio.to_thread(server.get, "/healthz")
        assert code == 200 and body["engine"]["engine"] == "redis"


async def test_recovery_on_another_node_is_exact(trio, clients):
    a, b, c = trio
    room = "recover-" + uuid.uuid4().hex[:6]
    token = await asyncio.to_thread(a.token, "Roamer", "en")
    roamer = await clients(a, "Roamer", token=token)
    talker = await clients(c, "Talker")
    joined = await roamer.join(room)
    await talker.join(room)
    for n in range(5):
        await talker.send(room, f"before-{n}")
    seen = await messages(roamer, room, 5)
    last, epoch = seen[-1]["offset"], joined["epoch"]
    await roamer.close()  # drops from node A
    missed = [await talker.send(room, f"missed-{n}") for n in range(7)]
    back = await clients(b, "Roamer", token=token)  # comes back on node B
    rejoined = await back.join(room, since=last, epoch=epoch)
    assert rejoined["recovered"] is True and rejoined["epoch"] == epoch
    assert [e["offset"] for e in rejoined["history"]] == [m["offset"] for m in missed]
    assert [e["text"] for e in rejoined["history"]] == [f"missed-{n}" for n in range(7)]
    await talker.send(room, "live again")
    (live,) = await messages(back, room, 1)
    assert live["text"] == "live again" and live["offset"] == missed[-1]["offset"] + 1
    # an offset from another epoch is not honoured
    other = await clients(c, "Stranger")
    stale = await other.join(room, since=2, epoch="someotherepoch")
    assert stale["recovered"] is False


async def test_idempotent_send_across_nodes(trio, clients):
    a, b, c = trio
    room = "idem-" + uuid.uuid4().hex[:6]
    token = await asyncio.to_thread(a.token, "Retry", "en")
    on_a = await clients(a, "Retry", token=token)
    on_b = await clients(b, "Retry", token=token)
    watcher = await clients(c, "Watcher")
    for client in (on_a, on_b, watcher):
        await client.join(room)
    first = await on_a.send(room, "only once", client_msg_id="cmid-1")
    again = await on_b.send(room, "only once", client_msg_id="cmid-1")
    assert first["status"] == "published"
    assert again["status"] == "duplicate"
    assert (again["offset"], again["id"], again["epoch"]) == (first["offset"], first["id"], first["epoch"])
    after = await on_b.send(room, "next")
    got = await messages(watcher, room, 2)
    assert [(e["text"], e["offset"]) for e in got] == [("only once", first["offset"]),
                                                      ("next", after["offset"])]
    assert after["offset"] == first["offset"] + 1


async def test_members_of_a_killed_node_leave_within_the_bound(redis_server, start_nodes, clients):
    redis_server.cli("FLUSHALL")
    a, b = start_nodes(redis_server.url, "ka", "kb")
    room = "presence-" + uuid.uuid4().hex[:6]
    ann = await clients(a, "Ann")
    bo = await clients(b, "Bo", "zh")
    await ann.join(room)
    joined = await bo.join(room)
    assert sorted(m["name"] for m in joined["members"]) == ["Ann", "Bo"]
    ann_id = ann.welcome["user"]["id"]
    a.kill()  # SIGKILL: no goodbye from node A
    started = time.monotonic()
    bound = NODE_TTL + HEARTBEAT + 1.0  # docs/deploy.md: node TTL + one sweep interval
    diff = await bo.wait_for(lambda e: e.get("type") == "presence" and e.get("event") == "diff"
                             and e.get("leaves"), timeout=bound + 2)
    assert time.monotonic() - started <= bound + 0.5
    assert diff["room"] == room and [m["id"] for m in diff["leaves"]] == [ann_id]
    assert diff["leaves"][0]["name"] == "Ann" and diff["member_count"] == 1
    code, info = await asyncio.to_thread(b.get, f"/api/rooms/{room}")
    assert code == 200, info
    assert [m["name"] for m in info["members"]] == ["Bo"] and info["member_count"] == 1


async def test_redis_restart_while_chatting(fresh_redis, start_nodes, clients):
    a, b = start_nodes(fresh_redis.url, "ra", "rb")
    room = "outage"
    ann = await clients(a, "Ann")
    bo = await clients(b, "Bo", "zh")
    await ann.join(room)
    old = await bo.join(room)
    await ann.send(room, "before the outage")
    await messages(bo, room, 1)

    fresh_redis.kill()
    started = time.monotonic()
    with pytest.raises(ServerError) as refused:
        await ann.send(room, "during the outage")
    assert refused.value.code == "unavailable"
    assert time.monotonic() - started < 5
    for server in (a, b):
        body = await wait_health(server, 503)
        assert body["status"] == "degraded" and body["engine"]["status"] == "degraded"

    fresh_redis.start()
    for server in (a, b):
        await wait_health(server, 200, timeout=10)
    ack = await ann.send(room, "after the outage")
    # Redis lost the room's history, the durable archive did not: offsets go on in its epoch,
    # and a client resuming from before the outage gets exactly what it missed.
    assert ack["status"] == "published" and ack["epoch"] == old["epoch"]
    assert ack["offset"] == old["offset"] + 2
    late = await clients(b, "Late")
    resumed = await late.join(room, since=old["offset"] + 1, epoch=old["epoch"])
    assert resumed["recovered"] is True and resumed["epoch"] == ack["epoch"]
    assert [e["text"] for e in resumed["history"]] == ["after the outage"]
    await ann.send(room, "and chat goes on")
    (live,) = await messages(late, room, 1)
    assert live["text"] == "and chat goes on" and live["epoch"] == ack["epoch"]
    # A member connected through the outage follows the new epoch without rejoining.
    texts = [m["text"] for m in await messages(bo, room, 2)]
    assert texts == ["after the outage", "and chat goes on"]


async def test_core_scenario_on_a_redis_cluster(redis_cluster, start_nodes, clients):
    a, b = start_nodes(redis_cluster.url, "ca", "cb")
    for server in (a, b):
        code, body = await asyncio.to_thread(server.get, "/healthz")
        assert code == 200 and body["engine"]["cluster"] is True
    await chat_in_order([a, b], clients, "cluster-" + uuid.uuid4().hex[:6], per_sender=20)
    room = "cluster-idem-" + uuid.uuid4().hex[:6]
    token = await asyncio.to_thread(a.token, "Retry", "en")
    on_a = await clients(a, "Retry", token=token)
    on_b = await clients(b, "Retry", token=token)
    await on_a.join(room)
    await on_b.join(room)
    first = await on_a.send(room, "once", client_msg_id="c-1")
    again = await on_b.send(room, "once", client_msg_id="c-1")
    assert again["status"] == "duplicate" and again["offset"] == first["offset"]
    rejoin = await clients(b, "Late")
    joined = await rejoin.join(room, since=0, epoch=first["epoch"])
    assert joined["recovered"] and [e["text"] for e in joined["history"]] == ["once"]
