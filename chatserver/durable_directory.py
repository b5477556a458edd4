"""The room directory with the durable store behind it.

:class:`DurableDirectory` wraps the engine's :class:`~rooms.directory.RoomDirectory` (the
room list and the expiry of ownerless rooms, see :mod:`chatserver.room_catalog`) and
promises:

- an owned room (``POST /api/rooms``) is written to the store first, then to the engine, where
  it is a cache entry that expires after :data:`CACHE_TTL` (so no Redis key of it lives for
  ever); a name the store already has is refused there (the engine is refilled with it);
- an ownerless auto-created room lives in the engine only (it expires there) until something
  durable happens in it (a message archived, a role, a setting, ...): :meth:`record` then
  gives it its row in the store;
- a room the engine does not know (Redis came back empty, a new node, the memory engine after
  a restart, an owned room's cache entry expired) is read from the store and put back in the
  engine: owned rooms for :data:`CACHE_TTL`, recorded ownerless ones with the TTL the caller
  asked for;
- the list is paged in name order from the engine's page and the store's page after the same
  cursor, merged: the cost of two pages, never of all rooms.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.directory import PAGE_MAX, RoomDirectory
from rooms.store import RoomRecord, Store

RECORDED_REMEMBERED = 10_000  # rooms this node knows to have their row in the store
CACHE_TTL = 2 * 3600.0  # an owned room's entry in the engine, refilled from the store after


class DurableDirectory(RoomDirectory):
    """``inner`` with ``store`` behind it (see the module docstring). ``guard`` turns the
    store's errors into the engine's (:meth:`chatserver.durable_state.DurableState.guard`)."""

    def __init__(self, inner: RoomDirectory, store: Store,
                 guard: Callable[[Awaitable[Any]], Awaitable[Any]]) -> None:
        self.inner = inner
        self.store = store
        self._s = guard
        self._recorded: OrderedDict[str, None] = OrderedDict()

    def _remember(self, name: str) -> None:
        self._recorded[name] = None
        if len(self._recorded) > RECORDED_REMEMBERED:
            self._recorded.popitem(last=False)

    async def record(self, name: str) -> None:
        """Make sure ``name`` has its row in the store (something durable happens in it)."""
        if not name or name in self._recorded:
            return
        meta = await self.inner.get(name) or {}
        await self._s(self.store.create_room(record_of(name, meta)))
        self._remember(name)

    async def _from_store(self, name: str, ttl: float | None) -> dict[str, Any] | None:
        rec = await self._s(self.store.get_room(name))
        if rec is None:
            return None
        meta = meta_of(rec)
        self._remember(name)
        await self.inner.add(name, meta, ttl=CACHE_TTL if rec.owner else ttl)
        return await self.inner.get(name) or meta

    async def add(self, name, meta, *, ttl=None):
        if meta.get("owner") is None:  # auto-created: durable once something happens in it
            if await self.inner.get(name) is None and await self._from_store(name, ttl) is not None:
                return False
            return await self.inner.add(name, meta, ttl=ttl)
        if not await self._s(self.store.create_room(record_of(name, meta))):
            if await self.inner.get(name) is None:
                await self._from_store(name, ttl)
            return False
        self._remember(name)
        return await self.inner.add(name, meta, ttl=CACHE_TTL)

    async def touch(self, name, meta, ttl):
        if await self.inner.get(name) is None:
            stored = await self._from_store(name, ttl)
            if stored is not None:
                return stored
        return await self.inner.touch(name, meta, ttl)

    async def get(self, name):
        meta = await self.inner.get(name)
        return meta if meta is not None else await self._from_store(name, None)

    async def page(self, *, after, limit):
        limit = max(1, min(limit, PAGE_MAX))
        live, live_more = await self.inner.page(after=after, limit=limit)
        stored = await self._s(self.store.list_rooms(after=after or "", limit=limit + 1))
        merged = {m["name"]: m for m in (meta_of(r) for r in stored)}
        merged.update({m["name"]: m for m in live})  # the engine's copy is the live one
        names = sorted(merged)
        more = live_more or len(stored) > limit or len(names) > limit
        return [merged[n] for n in names[:limit]], more


def record_of(name: str, meta: dict[str, Any]) -> RoomRecord:
    created = meta.get("created_at")
    return RoomRecord(name=name, title=str(meta.get("title") or name), owner=meta.get("owner"),
                      created_at=int(created) if isinstance(created, (int, float)) else int(time.time() * 1000))


def meta_of(rec: RoomRecord) -> dict[str, Any]:
    return {"name": rec.name, "title": rec.title, "created_at": rec.created_at, "owner": rec.owner}
