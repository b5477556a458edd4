"""A room's people as the edge shows them: member lists, and presence changes coalesced per
room (diffs every ~100 ms, counts in big rooms).

:class:`RoomPresence` is what the chat service asks when a connection enters or leaves a
room, types, or pages the member list. A join costs the same in a room of ten and of ten
thousand: the engine says in one call whether it is the user's first connection and how many
users the room has, and the member list a joiner gets (hosts first) is read fresh in small rooms
(all of them, at most :data:`MEMBER_LIST_MAX`) and in big ones comes from a snapshot at most
:data:`SNAPSHOT_TTL` old (:data:`BIG_ROOM_LIST_MAX` users of a sample the engine picks, hosts
first; the rest are paged in order).

A room hears who arrived and who left as one ``presence`` frame with event ``diff`` per
room per node per :data:`FLUSH_INTERVAL` (Phoenix Presence's model), not one broadcast per
join: filling a room of N costs O(N) deliveries per flush instead of O(N) per join. A user
who joins and leaves within one interval is not announced at all. Past ``detail_max`` users
the diff carries only ``member_count`` (people joining a 10,000-viewer stream are a number,
not a list), at most once per :data:`COUNT_INTERVAL` per :data:`COUNT_STEP` users (every
10 s at the most): each count costs a frame per member, so a huge room hears it less often.
``member_count`` is read from presence at flush time, so it counts every node's members.

Each node announces the joins and leaves of its own connections (and of dead nodes' members
that presence expiry reports to it); nodes never announce each other's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from chatserver import errors as E
from chatserver import frames
from chatserver.errors import ChatError
from rooms.engine import Arrival, Broker, EngineError, Member, Presence

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1  # seconds a room's presence changes are gathered before they are sent
COUNT_INTERVAL = 1.0  # seconds between count-only diffs of a big room, per COUNT_STEP users
COUNT_STEP = 1000  # a room of 5,000 hears its count every 5 s (one frame per member each time)
COUNT_INTERVAL_MAX = 10.0
DETAIL_MAX = 200  # past this many users a room's diffs say how many, not who; no typing either
MEMBER_LIST_MAX = 200  # users a joined frame lists (hosts first); member_count has them all
BIG_ROOM_LIST_MAX = 50  # users a joined frame lists in a big room (the rest: `members` pages)
PAGE_MAX = 100  # users one members page lists at most (the codec lowers larger limits to this)
SNAPSHOT_TTL = 1.0  # seconds a big room's member list snapshot is reused for joiners
SNAPSHOT_ROOMS = 1000  # big rooms whose snapshot a node keeps at most
_HOST_RANK = {"admin": 0, "owner": 1, "moderator": 2}


@dataclass(frozen=True, slots=True)
class RoomView:
    """What a joining member learns of the room's people."""

    members: list[dict[str, Any]]
    member_count: int
    first_connection: bool  # the user's first connection in the room (it is announced)


def _sort_key(m: dict[str, Any]) -> tuple[int, str, str]:
    return _HOST_RANK.get(m["role"], 3), m["name"].lower(), m["id"]


def _cursor(m: dict[str, Any]) -> str:
    return json.dumps(list(_sort_key(m)), ensure_ascii=False, separators=(",", ":"))


def _parse_cursor(cursor: str) -> tuple[int, str, str]:
    """A cursor made by :func:`_cursor`, or ChatError ``invalid_frame``."""
    try:
        rank, name, uid = json.loads(cursor)
        if isinstance(rank, int) and isinstance(name, str) and isinstance(uid, str):
            return rank, name, uid
    except (ValueError, TypeError):
        pass
    raise ChatError(E.INVALID_FRAME, "members: 'after' must be a cursor from a previous members reply")


def unique_members(members: list[Member]) -> list[dict[str, Any]]:
    """One entry per user, hosts first then by name."""
    seen: dict[str, dict[str, Any]] = {}
    for member in members:
        seen.setdefault(member.user_id, member.public())
    return sorted(seen.values(), key=_sort_key)


class _Pending:
    """A room's changes not yet announced by this node."""

    __slots__ = ("joins", "leaves", "handle", "owed")

    def __init__(self) -> None:
        self.joins: dict[str, Member] = {}
        self.leaves: dict[str, Member] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.owed = False  # a big room's count changed and is due at the next count interval


class RoomPresence:
    """Member lists and coalesced presence announcements for every room on this node."""

    def __init__(self, presence: Presence, broker: Broker, *, detail_max: int = DETAIL_MAX,
                 interval: float = FLUSH_INTERVAL, count_interval: float = COUNT_INTERVAL) -> None:
        self._presence = presence
        self._broker = broker
        self.detail_max = detail_max
        self.interval = interval
        self.count_interval = count_interval
        self._rooms: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sizes: dict[str, int] = {}  # the last user count this node saw per room
        self._counted_at: dict[str, float] = {}  # when a big room's count last went out
        self._snapshots: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._refreshing: dict[str, asyncio.Future] = {}

    # What the chat service calls ----------------------------------------------------------

    async def enter(self, room: str, member: Member) -> RoomView:
        """Record the member; the room's people as the joiner sees them. The user's arrival
        is announced with the next diff when this is their first connection."""
        return await self.entered(room, member, await self._presence.add(room, member))

    async def entered(self, room: str, member: Member, arrival: Arrival) -> RoomView:
        """As :meth:`enter` for a member the engine recorded already (``arrival``)."""
        count = self._sizes[room] = arrival.users
        if arrival.first:
            self._joined(room, member)
        return RoomView(await self._member_list(room, count), count, arrival.first)

    async def exit(self, room: str, member: Member) -> None:
        """Remove the member; the user's departure is announced with its last connection."""
        if await self._presence.remove(room, member.conn_id):
            self._left(room, member)

    async def expired(self, room: str, removed: list[Member]) -> None:
        """Presence dropped a dead node's members: announce the users who are now gone."""
        present = {m.user_id for m in await self._presence.members(room)}
        for member in removed:
            if member.user_id not in present:
                self._left(room, member)

    async def refresh(self, room: str, member: Member) -> None:
        """Re-record a member whose role changed, so member lists show the new role."""
        await self._presence.add(room, member)
        self._snapshots.pop(room, None)

    async def typing(self, room: str, member: Member) -> None:
        """Pass a typing indicator on; big rooms have none (nobody reads 10,000 of them)."""
        if self._sizes.get(room, 0) <= self.detail_max:
            await self._broker.broadcast(room, frames.presence(room, "typing", member))

    async def page(self, room: str, *, after: str | None = None, limit: int,
                   query: str = "") -> tuple[list[dict], int, str | None]:
        """Up to ``limit`` users of the member list (hosts first, then by name) that come after
        the cursor ``after`` (a previous page's ``next``), those whose name contains ``query``
        when given; how many match in all; and the cursor of the next page (None at the end).
        A cursor names a place in the order, not an index, so people arriving or leaving
        between two pages neither repeat nor skip anyone who stays."""
        listed = unique_members(await self._presence.members(room))
        if query:
            needle = query.casefold()
            listed = [m for m in listed if needle in m["name"].casefold()]
        start = 0
        if after is not None:
            mark = _parse_cursor(after)
            start = next((i for i, m in enumerate(listed) if _sort_key(m) > mark), len(listed))
        limit = max(1, min(limit, PAGE_MAX))
        page = listed[start:start + limit]
        more = start + limit < len(listed)
        return page, len(listed), (_cursor(page[-1]) if more and page else None)

    async def _member_list(self, room: str, count: int) -> list[dict[str, Any]]:
        if count <= self.detail_max:
            self._snapshots.pop(room, None)
            return unique_members(await self._presence.members(room))[:MEMBER_LIST_MAX]
        snapshot = self._snapshots.get(room)
        if snapshot is not None and snapshot[0] > time.monotonic():
            return snapshot[1]
        # One read per room at a time, however many join at once: a join storm must not read
        # a 10,000-member list once per joiner. While it runs, joiners get the old list.
        refresh = self._refreshing.get(room)
        if refresh is None:
            refresh = self._refreshing[room] = asyncio.ensure_future(self._snapshot(room))
            refresh.add_done_callback(lambda _: self._refreshing.pop(room, None))
        if snapshot is not None:
            return snapshot[1]
        return await asyncio.shield(refresh)

    async def _snapshot(self, room: str) -> list[dict[str, Any]]:
        # Each joiner's frame carries the list: in a big room a short one keeps joins cheap,
        # and it is drawn from a sample (a few more than listed, as users have several
        # connections) rather than the whole room.
        sample = await self._presence.sample(room, BIG_ROOM_LIST_MAX * 2)
        listed = unique_members(sample)[:BIG_ROOM_LIST_MAX]
        now = time.monotonic()
        if len(self._snapshots) >= SNAPSHOT_ROOMS:
            self._snapshots = {r: v for r, v in self._snapshots.items() if v[0] > now}
        self._snapshots[room] = (now + SNAPSHOT_TTL, listed)
        return listed

    # Coalescing ---------------------------------------------------------------------------

    def _joined(self, room: str, member: Member) -> None:
        """``member``'s user arrived (its first connection in the room)."""
        pending = self._pending(room)
        if pending.leaves.pop(member.user_id, None) is None:
            pending.joins[member.user_id] = member

    def _left(self, room: str, member: Member) -> None:
        """``member``'s user left (its last connection in the room)."""
        pending = self._pending(room)
        if pending.joins.pop(member.user_id, None) is None:
            pending.leaves[member.user_id] = member

    def _pending(self, room: str) -> _Pending:
        pending = self._rooms.get(room)
        if pending is None:
            pending = self._rooms[room] = _Pending()
        if pending.handle is None:
            pending.handle = asyncio.get_running_loop().call_later(self.interval, self._due, room)
        return pending

    def _due(self, room: str) -> None:
        task = asyncio.get_running_loop().create_task(self._flush(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, room: str) -> None:
        pending = self._rooms.get(room)
        if pending is None:
            return
        pending.handle = None
        # Changes that arrive while this flush awaits go to the next one.
        joins, leaves = pending.joins, pending.leaves
        pending.joins, pending.leaves = {}, {}
        if not joins and not leaves and not pending.owed:
            del self._rooms[room]
            return
        count = -1
        try:
            count = self._sizes[room] = await self._presence.user_count(room)
            if count > self.detail_max:
                now = time.monotonic()
                interval = min(COUNT_INTERVAL_MAX, self.count_interval * max(1.0, count / COUNT_STEP))
                wait = self._counted_at.get(room, 0.0) + interval - now
                if wait > 0:  # a big room's count goes out at most once per count interval
                    pending.owed = True
                    if pending.handle is None:
                        pending.handle = asyncio.get_running_loop().call_later(wait, self._due, room)
                    return
                self._counted_at[room] = now
                joins, leaves = {}, {}
            pending.owed = False
            await self._broker.broadcast(room, frames.presence_diff(
                room, list(joins.values()), list(leaves.values()), count))
        except EngineError as exc:
            log.warning("room %s: presence changes not announced: %s", room, exc)
        if pending.handle is None and not pending.joins and not pending.leaves and not pending.owed:
            self._rooms.pop(room, None)
            if count == 0:
                self._sizes.pop(room, None)
                self._counted_at.pop(room, None)

    async def flush_all(self) -> None:
        """Send what is gathered now (the node is stopping)."""
        for room, pending in list(self._rooms.items()):
            if pending.handle is not None:
                pending.handle.cancel()
            pending.handle = None
            self._counted_at.pop(room, None)
            await self._flush(room)
        await asyncio.gather(*self._tasks, return_exceptions=True)
