"""The in-memory engine: a whole LiveBridge on one process with nothing else installed.

It keeps the promises of :mod:`rooms.engine` within one process: offsets are given out under
the event loop's single thread, so history order and delivery order are the same; history is
a bounded deque per room; expiry is checked when an entry is read, and a sweep every
``sweep_interval`` seconds (5) frees what nothing reads any more: expired state entries, token
buckets that are full again (the same as no bucket), and the history of rooms whose events all
expired. Memory then follows what is live, not what was ever made (``health()`` counts it).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import itertools
import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from rooms.directory import PAGE_MAX, PURGE_BATCH, RoomDirectory
from rooms.engine import (
    Arrival,
    Broker,
    Engine,
    Event,
    EventHandler,
    HistoryResult,
    Member,
    Presence,
    PublishResult,
    StateStore,
    StreamPosition,
)

log = logging.getLogger(__name__)


_ATOMIC = (str, int, float, bool, type(None))


def _copied(value: Any) -> Any:
    """A copy of a stored value, as a round trip through Redis would give a fresh one.
    Values are JSON-like: dicts and lists are copied by hand (``copy.deepcopy`` was a fifth
    of a message's moderation check, which reads several of them), anything else deeply."""
    if isinstance(value, _ATOMIC):
        return value
    if type(value) is dict:
        return {k: v if isinstance(v, _ATOMIC) else _copied(v) for k, v in value.items()}
    if type(value) is list:
        return [v if isinstance(v, _ATOMIC) else _copied(v) for v in value]
    return copy.deepcopy(value)


def _copier(stored: Any) -> Callable[[Any], Any] | None:
    """How a reader's copy of ``stored`` (a value as :func:`_copied` gave it) is made: None
    for an atomic value (shared: it cannot change), a shallow copy for a dict or list of
    atomic values (the common case: a C call instead of a walk), else :func:`_copied`."""
    if isinstance(stored, _ATOMIC):
        return None
    if type(stored) is dict:
        return dict.copy if all(isinstance(v, _ATOMIC) for v in stored.values()) else _copied
    if type(stored) is list:
        return list.copy if all(isinstance(v, _ATOMIC) for v in stored) else _copied
    return _copied


_Entry = tuple[Any, "float | None", "Callable[[Any], Any] | None"]  # value, expires_at, copier


def _read(entry: _Entry) -> Any:
    """A reader's copy of an entry's value."""
    value, _, copier = entry
    return value if copier is None else copier(value)


@dataclass
class _RoomStream:
    epoch: str
    offset: int = 0
    events: deque[Event] = field(default_factory=deque)
    # Highest offset dropped by the size or age bound. Retracted (deleted) events leave
    # holes on purpose and do not count: a client that missed them lost nothing.
    trimmed: int = 0
    touched: float = 0.0  # when an event was last appended
    asked: bool = False  # the origin hook was asked where this room goes on from


class MemoryBroker(Broker):
    """Bounded per-room history and synchronous in-process delivery."""

    def __init__(
        self, *, history_size: int = 1000, history_ttl: float | None = None,
        idempotency_ttl: float = 300.0, clock=time.time,
    ) -> None:
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.idempotency_ttl = idempotency_ttl
        self._clock = clock
        self._streams: dict[str, _RoomStream] = {}
        self._handlers: dict[str, EventHandler] = {}
        # (room, key) -> (expires_at, PublishResult); insertion order is expiry order.
        self._seen: OrderedDict[tuple[str, str], tuple[float, PublishResult]] = OrderedDict()

    def _stream(self, room: str) -> _RoomStream:
        stream = self._streams.get(room)
        if stream is None:
            stream = self._streams[room] = _RoomStream(epoch=secrets.token_hex(4))
        return stream

    async def _open(self, room: str) -> None:
        """A room with no offsets yet goes on from :attr:`origin`'s position, if it gives one."""
        stream = self._streams.get(room)
        if self.origin is None or (stream is not None and (stream.offset or stream.asked)):
            return
        position = await self.origin(room)
        stream = self._streams.get(room)
        if stream is not None and (stream.offset or stream.asked):
            return  # another caller opened it meanwhile
        if position is not None and position.offset > 0:
            self._streams[room] = _RoomStream(epoch=position.epoch, offset=position.offset,
                                              trimmed=position.offset, asked=True)
        else:
            self._stream(room).asked = True

    def _expire(self, stream: _RoomStream) -> None:
        if self.history_ttl is None:
            return
        horizon = self._clock() - self.history_ttl
        while stream.events and stream.events[0].get("ts", math.inf) / 1000 < horizon:
            stream.trimmed = stream.events.popleft()["offset"]

    async def publish(self, room, event, *, idempotency_key=None):
        stream = self._streams.get(room)
        if stream is None or not (stream.offset or stream.asked):  # (no coroutine per message)
            await self._open(room)
        now = self._clock()
        while self._seen and next(iter(self._seen.values()))[0] < now:
            self._seen.popitem(last=False)
        if idempotency_key is not None:
            seen = self._seen.get((room, idempotency_key))
            if seen is not None:
                first = seen[1]
                return PublishResult(first.offset, first.epoch, first.event, duplicate=True)
        stream = self._stream(room)
        stream.offset += 1
        stream.touched = now
        stored = {**event, "offset": stream.offset, "epoch": stream.epoch}
        stream.events.append(stored)
        while len(stream.events) > self.history_size:
            stream.trimmed = stream.events.popleft()["offset"]
        result = PublishResult(stream.offset, stream.epoch, stored)
        if idempotency_key is not None:
            self._seen[(room, idempotency_key)] = (now + self.idempotency_ttl, result)
        await self._deliver(room, stored)
        return result

    async def lookup(self, room, idempotency_key):
        seen = self._seen.get((room, idempotency_key))
        if seen is None or seen[0] < self._clock():
            return None
        first = seen[1]
        return PublishResult(first.offset, first.epoch, first.event, duplicate=True)

    async def broadcast(self, room, event):
        await self._deliver(room, event)

    def sweep(self) -> None:
        """Expire every room's old events; forget a room whose history is empty and older than
        the history TTL and that no one subscribes to (as its Redis history expires: a later
        event starts a new epoch, so a client's old offset reads as not recovered)."""
        if self.history_ttl is None:
            return
        horizon = self._clock() - self.history_ttl
        for room, stream in list(self._streams.items()):
            self._expire(stream)
            if not stream.events and stream.touched < horizon and room not in self._handlers:
                del self._streams[room]

    def rooms(self) -> int:
        return len(self._streams)

    async def _deliver(self, room: str, event: Event) -> None:
        handler = self._handlers.get(room)
        if handler is None:
            return
        try:
            result = handler(room, event)
            # (None first: iscoroutine(None) is an ABC check, once per event and subscriber)
            if result is not None and asyncio.iscoroutine(result):
                await result
        except Exception:  # a subscriber's bug must not fail the publisher
            log.exception("room %s: subscriber failed on event", room)

    async def subscribe(self, room, handler):
        self._handlers[room] = handler

    async def unsubscribe(self, room):
        self._handlers.pop(room, None)

    async def history(self, room, *, since=None, epoch=None, before=None, limit=50):
        await self._open(room)
        stream = self._stream(room)
        self._expire(stream)
        position = StreamPosition(stream.offset, stream.epoch)
        events = stream.events
        if since is not None:
            if epoch is not None and epoch != stream.epoch:
                return HistoryResult(_tail(events, limit), position, recovered=False)
            if since > stream.offset:
                return HistoryResult([], position, recovered=False)
            missed = [e for e in events if e["offset"] > since]
            return HistoryResult(missed[:limit], position, recovered=since >= stream.trimmed)
        if before is not None:
            events = [e for e in events if e["offset"] < before]
        return HistoryResult(_tail(events, limit), position)

    async def position(self, room):
        await self._open(room)
        stream = self._stream(room)
        return StreamPosition(stream.offset, stream.epoch)

    async def retract(self, room, offsets):
        stream = self._stream(room)
        doomed = set(offsets)
        kept = deque(e for e in stream.events if e["offset"] not in doomed)
        removed = len(stream.events) - len(kept)
        stream.events = kept
        return removed

    async def get_event(self, room, offset):
        for event in reversed(self._stream(room).events):
            if event["offset"] == offset:
                return event
        return None


def _tail(events, limit: int) -> list[Event]:
    if limit <= 0:
        return []
    return list(itertools.islice(events, max(0, len(events) - limit), None))


class MemoryPresence(Presence):
    """Members per room in a dict, and connections per user; a connection that closes is
    removed by its session."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, Member]] = {}
        self._users: dict[str, dict[str, int]] = {}  # room -> user id -> connections

    async def add(self, room, member):
        members = self._rooms.setdefault(room, {})
        known = member.conn_id in members
        members[member.conn_id] = member
        users = self._users.setdefault(room, {})
        if known:
            return Arrival(False, len(users))
        users[member.user_id] = users.get(member.user_id, 0) + 1
        return Arrival(users[member.user_id] == 1, len(users))

    async def remove(self, room, conn_id):
        members = self._rooms.get(room)
        member = members.pop(conn_id, None) if members is not None else None
        if member is None:
            return False
        if not members:
            del self._rooms[room]
        users = self._users[room]
        left = users[member.user_id] - 1
        if left:
            users[member.user_id] = left
            return False
        del users[member.user_id]
        if not users:
            del self._users[room]
        return True

    async def members(self, room):
        return list(self._rooms.get(room, {}).values())

    async def user_count(self, room):
        return len(self._users.get(room, ()))

    async def counts(self):
        return {room: len(members) for room, members in self._rooms.items()}


class MemoryStateStore(StateStore):
    """Dicts with lazy expiry; token buckets refilled on use. :meth:`sweep` frees expired
    entries and full buckets.

    Entries are kept per scope, then per namespace, so a read of several keys of one scope
    (a send's moderation check reads six, most absent) finds the scope once. Each entry keeps
    how a reader's copy of its value is made (:func:`_copier`), worked out when it is written."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        # scope -> ns -> key -> (value, expires_at or None, copier or None)
        self._data: dict[str, dict[str, dict[str, _Entry]]] = {}
        # key -> (tokens, stamp, when the bucket is full again)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._logs: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._log_ids = itertools.count(1)

    def _entries(self, scope: str, ns: str) -> dict[str, _Entry] | None:
        spaces = self._data.get(scope)
        return None if spaces is None else spaces.get(ns)

    def _live(self, scope: str, ns: str) -> dict[str, _Entry]:
        entries = self._entries(scope, ns)
        if entries is None:
            return {}
        now = self._clock()
        for key in [k for k, (_, exp, _) in entries.items() if exp is not None and exp <= now]:
            del entries[key]
        return entries

    @staticmethod
    def _entry(entries: dict[str, _Entry] | None, key: str, now: float) -> _Entry | None:
        """One live entry of a namespace's ``entries`` (an expired one is removed), without
        looking at its neighbours."""
        entry = entries.get(key) if entries is not None else None
        if entry is not None and entry[1] is not None and entry[1] <= now:
            del entries[key]  # type: ignore[union-attr]
            return None
        return entry

    async def get(self, scope, ns, key):
        entry = self._entry(self._entries(scope, ns), key, self._clock())
        return None if entry is None else _read(entry)

    async def get_many(self, scope, reads):
        spaces = self._data.get(scope)
        if spaces is None:
            return [None] * len(reads)
        now, entry = self._clock(), self._entry
        return [None if (e := entry(spaces.get(ns), key, now)) is None else _read(e) for ns, key in reads]

    async def set(self, scope, ns, key, value, *, ttl=None):
        expires = None if ttl is None else self._clock() + ttl
        stored = _copied(value)
        self._data.setdefault(scope, {}).setdefault(ns, {})[key] = (stored, expires, _copier(stored))

    async def add(self, scope, ns, key, value, *, ttl=None):
        if self._entry(self._entries(scope, ns), key, self._clock()) is not None:
            return False
        await self.set(scope, ns, key, value, ttl=ttl)
        return True

    async def delete(self, scope, ns, key):
        entries = self._entries(scope, ns)
        if self._entry(entries, key, self._clock()) is None:
            return False
        del entries[key]  # type: ignore[union-attr]
        return True

    async def items(self, scope, ns):
        return {k: _read(entry) for k, entry in self._live(scope, ns).items()}

    async def take_token(self, key, *, rate, burst, cost=1.0):
        now = self._clock()
        tokens, stamp, _ = self._buckets.get(key, (burst, now, now))
        tokens = min(burst, tokens + (now - stamp) * rate)
        taken = tokens >= cost
        if taken:
            tokens -= cost
        full_at = now + (burst - tokens) / rate if rate > 0 else math.inf
        self._buckets[key] = (tokens, now, full_at)
        if taken:
            return 0.0
        return (cost - tokens) / rate if rate > 0 else math.inf

    async def log_append(self, scope, log, entry, *, maxlen):
        entries = self._logs.setdefault((scope, log), deque(maxlen=maxlen))
        entry_id = str(next(self._log_ids))
        entries.append({**_copied(entry), "id": entry_id})
        return entry_id

    async def log_read(self, scope, log, *, limit=100):
        entries = self._logs.get((scope, log), ())
        return [_copied(e) for e in reversed(entries)][:limit]

    def sweep(self) -> None:
        """Drop expired entries (and emptied namespaces) and buckets that are full again."""
        now = self._clock()
        for scope, spaces in list(self._data.items()):
            for ns in list(spaces):
                if not self._live(scope, ns):
                    del spaces[ns]
            if not spaces:
                del self._data[scope]
        for key in [k for k, (_, _, full_at) in self._buckets.items() if full_at <= now]:
            del self._buckets[key]

    def sizes(self) -> dict[str, int]:
        entries = sum(len(e) for spaces in self._data.values() for e in spaces.values())
        return {"state_entries": entries, "buckets": len(self._buckets)}


class MemoryRoomDirectory(RoomDirectory):
    """Rooms in a dict plus their names in a sorted list (pages by bisection); an expired
    room reads as absent and is freed by :meth:`sweep`."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._rooms: dict[str, tuple[dict[str, Any], float | None]] = {}  # name -> (meta, expires)
        self._names: list[str] = []

    def _live(self, name: str) -> tuple[dict[str, Any], float | None] | None:
        entry = self._rooms.get(name)
        if entry is not None and entry[1] is not None and entry[1] <= self._clock():
            return None
        return entry

    def _put(self, name: str, meta: dict[str, Any], expires: float | None) -> None:
        if name not in self._rooms:
            bisect.insort(self._names, name)
        self._rooms[name] = (_copied(meta), expires)

    async def add(self, name, meta, *, ttl=None):
        if self._live(name) is not None:
            return False
        self._put(name, meta, None if ttl is None else self._clock() + ttl)
        return True

    async def touch(self, name, meta, ttl):
        entry = self._live(name)
        if entry is not None and entry[1] is None:
            return _copied(entry[0])
        kept = entry[0] if entry is not None else meta
        self._put(name, kept, self._clock() + ttl)
        return _copied(kept)

    async def get(self, name):
        entry = self._live(name)
        return None if entry is None else _copied(entry[0])

    async def page(self, *, after, limit):
        limit = max(1, min(limit, PAGE_MAX))
        out: list[dict[str, Any]] = []
        i = bisect.bisect_right(self._names, after) if after else 0
        while i < len(self._names) and len(out) < limit:
            entry = self._live(self._names[i])
            if entry is not None:
                out.append(_copied(entry[0]))
            i += 1
        more = any(self._live(n) is not None for n in itertools.islice(self._names, i, i + PURGE_BATCH))
        return out, more

    def sweep(self) -> None:
        now = self._clock()
        dead = {n for n, (_, exp) in self._rooms.items() if exp is not None and exp <= now}
        if dead:
            for name in dead:
                del self._rooms[name]
            self._names = [n for n in self._names if n not in dead]

    def __len__(self) -> int:
        return len(self._rooms)


class MemoryEngine(Engine):
    """The embedded default engine: one process, nothing else to run. Between ``start`` and
    ``close`` it sweeps every ``sweep_interval`` seconds."""

    def __init__(self, *, history_size: int = 1000, history_ttl: float | None = None,
                 node_id: str = "local", sweep_interval: float = 5.0) -> None:
        self.node_id = node_id
        self.broker = MemoryBroker(history_size=history_size, history_ttl=history_ttl)
        self.presence = MemoryPresence()
        self.state = MemoryStateStore()
        self.directory = MemoryRoomDirectory()
        self.sweep_interval = sweep_interval
        self._sweeper: asyncio.Task | None = None

    def sweep(self) -> None:
        """Free what expired: state entries, full buckets, rooms' expired history."""
        self.state.sweep()
        self.broker.sweep()
        self.directory.sweep()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                self.sweep()
            except Exception:  # a bug here must not stop the node
                log.exception("memory engine sweep failed")

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    def health(self):
        return {"status": "ok", "engine": "memory", "rooms": len(self.directory),
                "history_rooms": self.broker.rooms(),
                **self.state.sizes()}
