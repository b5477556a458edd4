"""Rooms through the durable directory (chatserver/durable_directory.py), in-process on the
memory engine and a real SQLite store: owned rooms outlive the node and page in name order
with the rooms only the engine knows; an ownerless room reaches the store only once something
durable happens in it."""

from __future__ import annotations

import pytest

from chatserver import errors as E
from chatserver.app import LiveBridge
from chatserver.auth import User
from chatserver.config import Settings
from chatserver.errors import ChatError

HOST = User(id="u-host", name="Host", lang="en", kind="member")


async def node(tmp_path) -> LiveBridge:
    settings = Settings(secret="s" * 32, translation="off", data_dir=str(tmp_path / "data"),
                        room_create_rate=1000, room_create_burst=1000)
    bridge = LiveBridge(settings)
    await bridge.start()
    return bridge


async def all_pages(bridge: LiveBridge, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = await bridge.chat.list_rooms(after=after, limit=limit)
        pages.append([r["name"] for r in page["rooms"]])
        after = page["next"]
        if after is None:
            return pages


async def test_rooms_outlive_the_node_and_page_with_the_engines_own(tmp_path):
    first = await node(tmp_path)
    try:
        for name in ("b-owned", "d-owned"):
            await first.chat.create_room(name, title=name.upper(), owner=HOST)
        await first.chat.ensure_room("c-spoken")  # ownerless: durable once a message is archived
        sent = await first.chat.send("c-spoken", HOST, "owner", "hello")
        await sent.committed
        await first.chat.ensure_room("a-silent")  # ownerless and nothing durable: engine only
    finally:
        await first.close()

    second = await node(tmp_path)  # the next run of the node: the memory engine starts empty
    try:
        assert await all_pages(second, 2) == [["b-owned", "c-spoken"], ["d-owned"]]
        assert (await second.chat.room("b-owned"))["owner"]["id"] == HOST.id
        assert (await second.chat.room("d-owned"))["title"] == "D-OWNED"
        await second.chat.ensure_room("e-new")  # an engine-only room pages in name order too
        assert await all_pages(second, 2) == [["b-owned", "c-spoken"], ["d-owned", "e-new"]]
        assert await all_pages(second, 100) == [["b-owned", "c-spoken", "d-owned", "e-new"]]
        # A name the store holds cannot be taken by a new owner.
        other = User(id="u-other", name="Other", lang="en", kind="member")
        with pytest.raises(ChatError) as taken:
            await second.chat.create_room("b-owned", title="mine", owner=other)
        assert taken.value.code == E.ROOM_EXISTS
        assert (await second.chat.room("b-owned"))["owner"]["id"] == HOST.id
    finally:
        await second.close()
