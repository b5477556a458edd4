"""A big room in the browser: a count instead of every name, a paged member list, search.

210 viewers (each its own guest) join through plain WebSocket connections held by a thread
of the test; the page of one more user shows the count, 50 listed users, "show more", and
finds a viewer by name through the server's member search (docs/protocol.md, `members`).
"""

from __future__ import annotations

import asyncio
import json
import threading

from playwright.sync_api import expect
from websockets.asyncio.client import connect

from chatserver.auth import TokenIssuer
from tests.web.conftest import SECRET_ARGS, join_room

VIEWERS = 210  # past the 200 users from which presence sends counts, not names


class Viewers:
    """Guests held in a room by a background event loop until ``close``."""

    def __init__(self, server, room: str, n: int) -> None:
        self.server, self.room, self.n = server, room, n
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 60.0) -> "Viewers":
        self.thread.start()
        assert self.ready.wait(timeout), "the viewers did not all join in time"
        if self.error is not None:
            raise self.error
        return self

    def _run(self) -> None:
        self.loop.run_until_complete(self._hold())

    async def _hold(self) -> None:
        self._stop = asyncio.Event()
        sockets = []
        try:
            # Signed here with the server's secret (guest tokens are rate-limited per address).
            issuer = TokenIssuer(SECRET_ARGS[1], ttl=3600)
            tokens = [issuer.issue(name=f"Viewer {i:03d}", lang="en")[0] for i in range(self.n)]
            sem = asyncio.Semaphore(50)

            async def join(token: str) -> None:
                async with sem:
                    ws = await connect(self.server.url.replace("http", "ws") + f"/ws?token={token}",
                                       subprotocols=["livebridge.v1.json"], max_queue=None)
                    sockets.append(ws)
                    await ws.send(json.dumps({"type": "join", "room": self.room, "ref": 1}))
                    while json.loads(await ws.recv()).get("type") != "joined":
                        pass
            await asyncio.gather(*(join(t) for t in tokens))
        except BaseException as exc:  # reported by start()
            self.error = exc
        finally:
            self.ready.set()
        drains = [asyncio.ensure_future(self._drain(ws)) for ws in sockets]
        await self._stop.wait()
        for task in drains:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    @staticmethod
    async def _drain(ws) -> None:
        async for _ in ws:  # keep reading, so no viewer is a slow consumer
            pass

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


def test_a_big_room_shows_the_count_pages_members_and_finds_a_viewer(start_server, pages):
    srv = start_server(*SECRET_ARGS)
    viewers = Viewers(srv, "stream", VIEWERS).start()
    try:
        page = pages.new()
        join_room(page, srv.url, "stream", "Mia", "en")
        people = f"{VIEWERS + 1} people here"
        expect(page.locator(".people-count")).to_have_text(people)
        listed = page.locator(".member-list .member")
        expect(listed).to_have_count(50)  # a big room's joined frame lists 50
        more = page.locator("button.members-more")
        expect(more).to_have_text(f"and {VIEWERS + 1 - 50} more: show more")
        more.click()
        expect(listed).to_have_count(100)
        page.fill("input.member-search", "Viewer 123")
        expect(listed).to_have_count(1)
        expect(listed.first).to_contain_text("Viewer 123")
        page.fill("input.member-search", "nobody-like-this")
        expect(page.locator(".member-list .empty")).to_have_text("Nobody by that name")
        page.fill("input.member-search", "")
        expect(listed).to_have_count(100)
    finally:
        viewers.close()
    # With the viewers gone the room is small again and the count follows (a count-only diff
    # in a big room comes at most once a second).
    expect(page.locator(".people-count")).to_have_text("1 person here", timeout=15_000)
