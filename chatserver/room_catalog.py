"""Rooms: made, found, listed a page at a time, and bounded.

Promises:

- a room is made by ``POST /api/rooms`` (its owner is the caller; kept until an operator
  removes it) or, with ``--auto-create-rooms``, by the first join (no owner). Either way the
  maker spends one token of a per-user and a per-client-address bucket
  (``--room-create-burst`` at once, then ``--room-create-rate`` per second; an address gets
  three times the user's), so one guest, or one address minting guests, cannot make rooms
  without end.
- an ownerless room is forgotten ``--auto-room-ttl`` seconds (at least 90% of it) after its
  last join or leave (the engine's :class:`~rooms.directory.RoomDirectory` expires it); its
  name is free again. A node renews a room at most every tenth of the TTL, so joins and
  leaves of a busy ownerless room cost no write each.
- the list is paged in name order (``after`` cursor, at most 100 a page), at the cost of the
  page, with each room's user count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chatserver import errors as E
from chatserver import frames
from chatserver.auth import User, clean_line
from chatserver.errors import ChatError
from chatserver.protocol import valid_room
from rooms.directory import PAGE_MAX
from rooms.engine import Engine

TITLE_MAX = 100
KNOWN_ROOMS_MAX = 10_000  # owned rooms whose metadata a node remembers
TOUCH_EVERY = 0.1  # of the ownerless TTL: how often one node renews an ownerless room at most
ADDRESS_FACTOR = 3  # an address's room-creation bucket is this many users' (NAT, offices)


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """How rooms are bounded: creation per user (and ADDRESS_FACTOR times that per address),
    and how long an ownerless room outlives its last visitor."""

    create_rate: float = 0.02
    create_burst: float = 10.0
    ownerless_ttl: float = 86400.0


class RoomCatalog:
    """Room metadata through the engine's directory, with creation limits and a per-node copy
    of owned rooms (they never change: every join needs them)."""

    def __init__(self, engine: Engine, *, auto_create: bool, limits: RoomLimits = RoomLimits()) -> None:
        self.engine = engine
        self.auto_create = auto_create
        self.limits = limits
        self._known: dict[str, dict] = {}  # owned rooms, oldest first
        # Ownerless rooms this node touched lately: (when, metadata). A room touched less than
        # TOUCH_EVERY of its TTL ago cannot have expired, so a join or leave skips the write.
        self._touched: dict[str, tuple[float, dict]] = {}

    async def _may_create(self, user: User | None, address: str) -> None:
        lim = self.limits
        checks = [(f"rl:rooms:u:{user.id}", lim.create_rate, lim.create_burst, "too many new rooms")] if user else []
        if address:  # after the user's own: a user over their limit does not drain their address's
            checks.append((f"rl:rooms:a:{address}", lim.create_rate * ADDRESS_FACTOR,
                           lim.create_burst * ADDRESS_FACTOR, "too many new rooms from your address"))
        for key, rate, burst, message in checks:
            wait = await self.engine.state.take_token(key, rate=rate, burst=burst)
            if wait > 0:
                raise ChatError(E.RATE_LIMITED, f"{message}: retry in {wait:.1f}s", status=429,
                                retry_after=round(wait, 3))

    async def create(self, name: Any, *, title: Any, owner: User | None, address: str = "") -> dict:
        if not valid_room(name):
            raise ChatError(E.INVALID_ROOM, "room name must be 1-64 characters of a-z, 0-9, '-' or '_'",
                            status=422)
        if title is not None and (not isinstance(title, str) or len(title) > TITLE_MAX):
            raise ChatError(E.INVALID_FRAME, f"title must be a string of at most {TITLE_MAX} characters",
                            status=422)
        try:  # shown to everyone: no bidi overrides or control characters ("Official \u202egnp.exe")
            title = clean_line(title, max_chars=TITLE_MAX, what="title") if title else name
        except ValueError:  # nothing showable left: the room goes by its name, as with no title
            title = name
        if await self.get(name) is not None:
            raise ChatError(E.ROOM_EXISTS, f"room {name!r} already exists", status=409)
        await self._may_create(owner, address)
        meta = {"name": name, "title": title, "created_at": frames.now_ms(),
                "owner": owner.public() if owner else None}
        ttl = None if owner is not None else self.limits.ownerless_ttl
        if not await self.engine.directory.add(name, meta, ttl=ttl):
            raise ChatError(E.ROOM_EXISTS, f"room {name!r} already exists", status=409)
        return meta

    async def get(self, name: str) -> dict | None:
        meta = self._known.get(name)
        if meta is None:
            meta = await self.engine.directory.get(name)
            if meta is not None and meta.get("owner"):
                if len(self._known) >= KNOWN_ROOMS_MAX:
                    self._known.pop(next(iter(self._known)))
                self._known[name] = meta
        return meta

    async def ensure(self, name: str, *, user: User | None = None, address: str = "") -> dict:
        """The room a join enters: an owned room as it is; an ownerless one kept for another
        TTL, or made (spending the joiner's room-creation tokens) when auto-creation is on."""
        recent = self._recently_touched(name)
        if recent is not None:
            return recent
        meta = await self.get(name)
        if meta is not None and meta.get("owner"):
            return meta
        if meta is None:
            if not self.auto_create:
                raise ChatError(E.ROOM_NOT_FOUND, f"room {name!r} does not exist", status=404)
            await self._may_create(user, address)
        return await self._touch(name)

    async def visited(self, name: str) -> None:
        """Someone left an ownerless room: it is kept for another TTL from now."""
        if name not in self._known and self._recently_touched(name) is None:
            await self._touch(name)

    def _recently_touched(self, name: str) -> dict | None:
        entry = self._touched.get(name)
        if entry is None or time.monotonic() - entry[0] > self.limits.ownerless_ttl * TOUCH_EVERY:
            return None
        return entry[1]

    async def _touch(self, name: str) -> dict:
        fresh = {"name": name, "title": name, "created_at": frames.now_ms(), "owner": None}
        meta = await self.engine.directory.touch(name, fresh, self.limits.ownerless_ttl)
        if not meta.get("owner"):
            self._touched.pop(name, None)
            if len(self._touched) >= KNOWN_ROOMS_MAX:
                self._touched.pop(next(iter(self._touched)))
            self._touched[name] = (time.monotonic(), meta)
        return meta

    async def page(self, *, after: str | None, limit: int) -> dict:
        """``{"rooms": [...with "members" (users)], "next": cursor or None, "limit"}``."""
        limit = max(1, min(limit, PAGE_MAX))
        rooms, more = await self.engine.directory.page(after=after, limit=limit)
        listed = [{**meta, "members": await self.engine.presence.user_count(meta["name"])} for meta in rooms]
        return {"rooms": listed, "next": rooms[-1]["name"] if more and rooms else None, "limit": limit}
