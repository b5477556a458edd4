"""The room directory's contract (rooms.directory), on the memory engine, Redis and a Redis
Cluster: create once, pages in name order with a cursor, expiry of rooms made with a TTL
unless touched, permanent rooms left alone by touch."""

from __future__ import annotations

import asyncio


async def test_rooms_are_made_once_and_paged_in_name_order(make_engine):
    engine = await make_engine()
    d = engine.directory
    names = [f"r{i:03d}" for i in range(250)]
    for name in reversed(names):
        assert await d.add(name, {"name": name})
    assert not await d.add("r007", {"name": "r007", "title": "again"})
    assert await d.get("r007") == {"name": "r007"}
    assert await d.get("nope") is None
    seen, after, pages = [], None, 0
    while True:
        page, more = await d.page(after=after, limit=100)
        seen += [m["name"] for m in page]
        pages += 1
        if not more:
            break
        after = page[-1]["name"]
    assert seen == names and pages == 3
    page, more = await d.page(after=None, limit=1000)
    assert len(page) == 100 and more  # a page is never more than 100


async def test_expiring_rooms_go_unless_touched_and_permanent_ones_stay(make_engine):
    engine = await make_engine()
    d = engine.directory
    assert await d.add("owned", {"name": "owned", "owner": "u"})
    assert await d.touch("owned", {"name": "owned", "owner": None}, 0.3) == {"name": "owned", "owner": "u"}
    # lobby's TTL is far above the 0.2 s between its visits, so a loaded machine's stall does
    # not expire it; quiet's is below the 0.8 s the visits take.
    assert await d.touch("lobby", {"name": "lobby"}, 3.0) == {"name": "lobby"}  # made
    assert await d.add("quiet", {"name": "quiet"}, ttl=0.5)
    for _ in range(4):  # lobby is visited, quiet is not
        await asyncio.sleep(0.2)
        await d.touch("lobby", {"name": "lobby", "title": "not this"}, 3.0)

    deadline = asyncio.get_running_loop().time() + 5
    while await d.get("quiet") is not None:
        assert asyncio.get_running_loop().time() < deadline, "the unvisited room did not expire"
        await asyncio.sleep(0.05)
    page, _ = await d.page(after=None, limit=100)
    assert [m["name"] for m in page] == ["lobby", "owned"]
    assert await d.get("lobby") == {"name": "lobby"}
    assert await d.add("quiet", {"name": "quiet", "title": "new"})  # the name is free again
