"""One node, real server process, real WebSocket clients: chat, history, recovery, presence."""

import json

import msgpack
import pytest
import websockets

from clients.client import ConnectionLost, LiveBridgeClient, ServerError
from tests.harness import drain


async def connect(server, name="Ann", lang="en", **kw):
    client = LiveBridgeClient(server.url, name=name, lang=lang, **kw)
    await client.connect()
    return client


def messages(events):
    return [e for e in events if e.get("type") == "message"]



async def test_two_clients_chat_and_a_late_joiner_gets_history(server):
    ann, bo = await connect(server, "Ann", "en"), await connect(server, "波", "zh")
    try:
        await ann.join("chat1")
        joined = await bo.join("chat1")
        assert {m["name"] for m in joined["members"]} == {"Ann", "波"}
        ack = await ann.send("chat1", "hello Bo")
        assert ack["status"] == "published" and ack["offset"] == 1
        got = await bo.wait_for(lambda e: e["type"] == "message")
        assert (got["text"], got["author"]["name"], got["offset"], got["id"]) == ("hello Bo", "Ann", 1, ack["id"])
        await bo.send("chat1", "你好 Ann")
        own = await ann.wait_for(lambda e: e["type"] == "message")
        assert own["text"] == "hello Bo"  # senders get their own message like everyone else
        got = await ann.wait_for(lambda e: e["type"] == "message")
        assert got["text"] == "你好 Ann" and got["author"]["lang"] == "zh"

        late = await connect(server, "Cy", "en")
        joined = await late.join("chat1")
        assert [e["text"] for e in messages(joined["history"])] == ["hello Bo", "你好 Ann"]
        assert joined["offset"] == 2
        await late.close()
    finally:
        await ann.close()
        await bo.close()


async def test_presence_join_leave_and_typing(server):
    ann, bo = await connect(server, "Ann"), await connect(server, "Bo")
    try:
        await ann.join("pres")
        await bo.join("pres")
        # Presence changes come as diffs, gathered per room for 100 ms (docs/protocol.md).
        event = await ann.wait_for(lambda e: e["type"] == "presence" and e["event"] == "diff"
                                   and "Bo" in [m["name"] for m in e["joins"]])
        assert [(m["name"], m["lang"]) for m in event["joins"] if m["name"] == "Bo"] == [("Bo", "en")]
        assert event["member_count"] == 2
        await bo.typing("pres")
        event = await ann.wait_for(lambda e: e["type"] == "presence" and e["event"] == "typing")
        assert event["member"]["name"] == "Bo"
        await bo.leave("pres")
        event = await ann.wait_for(lambda e: e["type"] == "presence" and e["event"] == "diff" and e["leaves"])
        assert [m["name"] for m in event["leaves"]] == ["Bo"] and event["member_count"] == 1
    finally:
        await ann.close()
        await bo.close()


async def test_join_since_returns_exactly_what_was_missed(server):
    ann = await connect(server, "Ann")
    try:
        await ann.join("recover")
        acks = [await ann.send("recover", f"m{i}") for i in range(6)]
        epoch = acks[0]["epoch"]
        bo = await connect(server, "Bo")
        joined = await bo.join("recover", since=acks[2]["offset"], epoch=epoch)
        assert joined["recovered"] is True
        assert [e["text"] for e in messages(joined["history"])] == ["m3", "m4", "m5"]
        wrong_epoch = await connect(server, "Cy")
        joined = await wrong_epoch.join("recover", since=3, epoch="not-the-epoch")
        assert joined["recovered"] is False and joined["epoch"] == epoch
        await bo.close()
        await wrong_epoch.close()
    finally:
        await ann.close()


async def test_trimmed_history_is_reported_as_not_recovered(start_server):
    server = start_server("--history-size", "5")
    ann = await connect(server)
    try:
        await ann.join("small")
        acks = [await ann.send("small", f"m{i}") for i in range(10)]
        bo = await connect(server, "Bo")
        joined = await bo.join("small", since=2, epoch=acks[0]["epoch"])
        assert joined["recovered"] is False
        assert [e["offset"] for e in joined["history"]] == [6, 7, 8, 9, 10]
        history = await bo.history("small", limit=100)  # pages go on in the durable archive
        assert [e["offset"] for e in history["events"]] == list(range(1, 11))
        await bo.close()
    finally:
        await ann.close()


async def test_resent_client_msg_id_is_acked_again_not_published_twice(server):
    ann, bo = await connect(server, "Ann"), await connect(server, "Bo")
    try:
        await ann.join("idem")
        await bo.join("idem")
        first = await ann.send("idem", "once", client_msg_id="same-id")
        again = await ann.send("idem", "once", client_msg_id="same-id")
        assert again["status"] == "duplicate"
        assert (again["offset"], again["id"]) == (first["offset"], first["id"])
        await ann.send("idem", "after")
        seen = [e for e in await drain(bo) if e["type"] == "message"]
        assert [e["text"] for e in seen] == ["once", "after"]
    finally:
        await ann.close()
        await bo.close()


async def test_history_pages_back_by_offset(server):
    ann = await connect(server)
    try:
        await ann.join("pages")
        for i in range(1, 8):
            await ann.send("pages", f"m{i}")
        page = await ann.history("pages", limit=3)
        assert [e["offset"] for e in page["events"]] == [5, 6, 7] and page["has_more"]
        page = await ann.history("pages", before=5, limit=3)
        assert [e["offset"] for e in page["events"]] == [2, 3, 4]
        page = await ann.history("pages", before=2, limit=3)
        assert [e["offset"] for e in page["events"]] == [1] and not page["has_more"]
        status, body = server.get("/api/rooms/pages/messages?before=3&limit=1")
        assert status == 200 and [e["text"] for e in body["events"]] == ["m2"]
    finally:
        await ann.close()


async def test_one_connection_in_several_rooms_and_the_room_cap(start_server):
    server = start_server("--max-rooms-per-connection", "2")
    ann, bo = await connect(server), await connect(server, "Bo")
    try:
        await ann.join("r1")
        await ann.join("r2")
        with pytest.raises(ServerError) as info:
            await ann.join("r3")
        assert info.value.code == "too_many_rooms"
        await bo.join("r2")
        await bo.send("r2", "to r2")
        got = await ann.wait_for(lambda e: e["type"] == "message")
        assert got["room"] == "r2"
    finally:
        await ann.close()
        await bo.close()


async def test_raw_websockets_client_with_msgpack_following_the_protocol_doc(server):
    token = server.token("Raw", "zh")
    async with websockets.connect(f"{server.ws_url}?token={token}",
                                  subprotocols=["livebridge.v1.msgpack"]) as ws:
        assert ws.subprotocol == "livebridge.v1.msgpack"
        welcome = msgpack.unpackb(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["user"]["name"] == "Raw"
        await ws.send(msgpack.packb({"type": "join", "room": "raw", "ref": 1}))
        joined = msgpack.unpackb(await ws.recv())
        assert joined["type"] == "joined" and joined["ref"] == 1
        await ws.send(msgpack.packb({"type": "send", "room": "raw", "text": "二进制", "client_msg_id": "c", "ref": 2}))
        frames = [msgpack.unpackb(await ws.recv()) for _ in range(2)]
        kinds = {f["type"]: f for f in frames}
        assert kinds["ack"]["ref"] == 2 and kinds["message"]["text"] == "二进制"
        await ws.send(msgpack.packb({"type": "ping", "ref": "p"}))
        assert msgpack.unpackb(await ws.recv())["type"] == "pong"


async def test_json_client_without_subprotocol_gets_json(server):
    token = server.token("Plain")
    async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
        assert ws.subprotocol is None
        assert json.loads(await ws.recv())["type"] == "welcome"


async def test_shutdown_closes_with_1001_and_a_stale_token_ends_the_client(start_server):
    server = start_server()
    # A fixed token (not a token source): the client cannot get a new one.
    ann = LiveBridgeClient(server.url, token=server.token("Ann"), backoff_min=0.05, backoff_max=0.5)
    await ann.connect()
    try:
        await ann.join("again")
        await ann.send("again", "before restart")
        server.stop()
        server.forget_data()  # a new machine: the node makes a new secret
        server.start()
        # The token was signed with the old node's secret: a restart on an empty data
        # directory invalidates it, and the client says so instead of looping.
        event = await ann.wait_for(lambda e: e["type"] == "disconnected")
        assert event["code"] == 1001
        with pytest.raises(ConnectionLost) as info:
            await ann.wait_for(lambda e: False, timeout=15)
        assert info.value.code == 4401
    finally:
        await ann.close()


async def test_reconnect_with_secret_resumes_rooms_and_reports_reset_history(start_server):
    server = start_server("--secret", "s" * 32)
    token = _member_token("s" * 32)
    ann = LiveBridgeClient(server.url, token=token, backoff_min=0.05, backoff_max=0.5)
    await ann.connect()
    try:
        await ann.join("again")
        await ann.send("again", "before restart")
        server.stop()
        server.forget_data()  # a new machine with the same secret: its store is empty
        server.start()
        await ann.wait_for(lambda e: e["type"] == "disconnected")
        resumed = await ann.wait_for(lambda e: e["type"] == "resumed", timeout=15)
        # The history is gone (tests/store/test_restart.py keeps it): a new epoch, said plainly.
        assert resumed["recovered"] is False
        ack = await ann.send("again", "after restart")
        assert ack["offset"] == 1
    finally:
        await ann.close()


def _member_token(secret, name="Ann"):
    from chatserver.auth import TokenIssuer

    return TokenIssuer(secret, ttl=600).issue(name=name, lang="en", kind="member")[0]
