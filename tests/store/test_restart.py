"""Nothing is forgotten across a restart (SQLite, the default): a real `livebridge serve` with
no store flags, stopped with SIGTERM or killed with SIGKILL, then started on the same data
directory. Rooms, their owner, bans, blocked terms, the audit log, history and every acked
message are there again, offsets go on, and a token from before still works."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from pathlib import Path

import pytest

from chatserver.auth import TokenIssuer
from chatserver.secret_file import FILE_NAME
from clients.client import LiveBridgeClient
from clients.livebridge_client import ServerError
from tests.harness import ServerProcess


@pytest.fixture
async def connect():
    made: list[LiveBridgeClient] = []

    async def make(server: ServerProcess, name: str, token: str) -> LiveBridgeClient:
        client = LiveBridgeClient(server.url, name=name, token=token, reconnect=False)
        await client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5)


def issuer_of(server: ServerProcess) -> TokenIssuer:
    """Member tokens signed with the secret the node keeps in its data directory."""
    secret = (Path(server.env["LIVEBRIDGE_DATA_DIR"]) / FILE_NAME).read_text().strip()
    return TokenIssuer(secret, ttl=600)


async def expect_error(coro, code: str) -> None:
    with pytest.raises(ServerError) as info:
        await coro
    assert info.value.code == code, info.value.frame


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_everything_survives_a_restart(start_server, connect, stop):
    server = start_server()
    issuer = issuer_of(server)
    host_token, host, _ = issuer.issue(name="Host", lang="en", kind="member")
    pest_token, pest, _ = issuer.issue(name="Pest", lang="en", kind="member")
    room = f"kept-{uuid.uuid4().hex[:6]}"
    status, body = await asyncio.to_thread(server.post, "/api/rooms", {"name": room, "title": "Kept"},
                                           host_token)
    assert status == 201, body
    owner = await connect(server, "Host", host_token)
    assert (await owner.join(room))["role"] == "owner"
    await owner.moderate(room, "ban", user_id=pest.id, reason="spam")
    await owner.moderate(room, "add_term", term="forbiddenword", action="block")
    acked = [await owner.send(room, f"message {i}") for i in range(20)]
    offsets = [a["offset"] for a in acked]
    epoch = (await owner.history(room, limit=1))["epoch"]
    await owner.close()

    server.stop(stop)  # SIGKILL: no shutdown at all; every acked message must be on disk
    server.start()

    reader = await connect(server, "Host", host_token)  # the token from before still works
    missed = await reader.join(room, since=offsets[14], epoch=epoch)  # recovering across it
    assert missed["recovered"] is True
    assert [e["offset"] for e in missed["history"]] == offsets[15:]
    await reader.close()
    owner = await connect(server, "Host", host_token)
    joined = await owner.join(room)
    assert joined["role"] == "owner" and joined["title"] == "Kept"
    assert joined["epoch"] == epoch
    page = await owner.history(room, limit=100)
    kept = [e for e in page["events"] if e.get("type") == "message"]
    assert [e["offset"] for e in kept] == offsets
    assert [e["text"] for e in kept] == [f"message {i}" for i in range(20)]
    later = await owner.send(room, "after the restart")
    assert later["offset"] > offsets[-1]
    await expect_error(owner.send(room, "a forbiddenword here"), "blocked_term")
    pest_client = await connect(server, "Pest", pest_token)
    await expect_error(pest_client.join(room), "banned")
    status, body = await asyncio.to_thread(server.get, f"/api/rooms/{room}/audit", host_token)
    assert status == 200, body
    assert {"ban", "add_term"} <= {e["action"] for e in body["entries"]}
    status, info = await asyncio.to_thread(server.get, f"/api/rooms/{room}")
    assert status == 200 and info["owner"]["id"] == host.id


async def test_history_pages_back_past_the_live_window_to_the_first_message(start_server, connect):
    server = start_server("--history-size", "10")
    token, _, _ = issuer_of(server).issue(name="Writer", lang="en", kind="member")
    room = f"long-{uuid.uuid4().hex[:6]}"
    writer = await connect(server, "Writer", token)
    await writer.join(room)
    acked = [await writer.send(room, f"line {i}") for i in range(35)]
    seen: list[int] = []
    before = None
    while True:
        page = await writer.history(room, before=before, limit=10)
        seen = [e["offset"] for e in page["events"]] + seen
        if not page["has_more"]:
            break
        before = page["events"][0]["offset"]
    assert seen == [a["offset"] for a in acked]
