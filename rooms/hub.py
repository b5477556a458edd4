"""The node-local hub: one broker subscription per room, each event encoded once per codec.

Local members of a room are :class:`Subscriber` objects (one per connection per room). The
hub subscribes to a room when its first local member joins and unsubscribes when the last
leaves, so however many connections a node has in a room, the broker delivers each event to
the node once. Each event is handed to every local member together with an
:class:`Encoded`, which encodes the event at most once per codec, on first demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from rooms.engine import Broker, Event

log = logging.getLogger(__name__)


class Encoded:
    """An event's encodings, made lazily and shared by every recipient of one codec.

    It also carries what every recipient reads of the event (``kind``, ``offset``, ``epoch``),
    read from the event once here rather than once per recipient."""

    __slots__ = ("event", "kind", "offset", "epoch", "frames", "_encode")

    def __init__(self, event: Event, encode: Callable[[Event, str], Any]) -> None:
        self.event = event
        self.kind = event.get("type")
        self.offset = event.get("offset")
        self.epoch = event.get("epoch")
        self._encode = encode
        #: The encodings made so far, by codec (and by variant key and codec); read it per
        #: recipient, and call :meth:`get` on a miss.
        self.frames: dict[str, Any] = {}

    def get(self, codec: str) -> Any:
        encoded = self.frames.get(codec)
        if encoded is None:
            encoded = self.frames[codec] = self._encode(self.event, codec)
        return encoded

    def variant(self, key: str, codec: str, transform: Callable[[Event], Event]) -> Any:
        """The encoding of ``transform(event)``, made once per key and codec and shared."""
        cache_key = f"{key}\0{codec}"
        encoded = self.frames.get(cache_key)
        if encoded is None:
            encoded = self.frames[cache_key] = self._encode(transform(self.event), codec)
        return encoded


class Subscriber(Protocol):
    """A local member of a room. ``deliver`` must not block: it queues and returns."""

    def deliver(self, room: str, event: Event, encoded: Encoded) -> None: ...


class _RoomLock:
    """A room's lock and how many joins and leaves hold it or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Hub:
    """Fan-out of a room's events to this node's members.

    A room's subscribe and unsubscribe are serialised by a lock that exists only while a join
    or leave of that room needs it (holds it or waits for it): a long-lived node keeps no lock
    per room it ever saw. A join into a room already subscribed, and a leave that is not the
    room's last, change the member set at once without one."""

    def __init__(self, broker: Broker, encode: Callable[[Event, str], Any]) -> None:
        self._broker = broker
        self._encode = encode
        self._members: dict[str, set[Subscriber]] = {}
        # Each room's members as a tuple for fan-out, made on the first event after a join or
        # a leave instead of a copy of the set per event.
        self._snapshots: dict[str, tuple[Subscriber, ...]] = {}
        self._locks: dict[str, _RoomLock] = {}
        #: Called after each fan-out with (room, event, recipients); for metrics.
        self.on_fanout: Callable[[str, Event, int], None] | None = None

    def members(self, room: str) -> set[Subscriber]:
        return self._members.get(room, set())

    def rooms(self) -> list[str]:
        return list(self._members)

    def room_count(self) -> int:
        return len(self._members)

    async def join(self, room: str, subscriber: Subscriber) -> None:
        members = self._members.get(room)
        if members is not None and room not in self._locks:  # subscribed, nothing under way
            members.add(subscriber)
            self._snapshots.pop(room, None)
            return
        async with self._room_lock(room):
            members = self._members.get(room)
            if members is None:
                await self._broker.subscribe(room, self._on_event)
                members = self._members[room] = set()
            members.add(subscriber)
            self._snapshots.pop(room, None)

    async def leave(self, room: str, subscriber: Subscriber) -> None:
        members = self._members.get(room)
        if room not in self._locks:  # nothing under way: decide at once where that is enough
            if members is None:
                return
            if len(members) > 1 or subscriber not in members:
                members.discard(subscriber)  # not the last member: nothing to unsubscribe
                self._snapshots.pop(room, None)
                return
        async with self._room_lock(room):
            members = self._members.get(room)
            if members is None:
                return
            members.discard(subscriber)
            self._snapshots.pop(room, None)
            if not members:
                del self._members[room]
                await self._broker.unsubscribe(room)

    def locks(self) -> int:
        """Rooms with a join or leave holding or waiting for their lock (bounded by those)."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def _room_lock(self, room: str) -> AsyncIterator[None]:
        """Hold the room's lock; it is made on first need and dropped when nobody holds or
        waits for it (counted before waiting: a lock someone waits for is never dropped)."""
        held = self._locks.get(room)
        if held is None:
            held = self._locks[room] = _RoomLock()
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0 and self._locks.get(room) is held:
                del self._locks[room]

    def _on_event(self, room: str, event: Event) -> None:
        recipients = self._snapshots.get(room)
        if recipients is None:
            members = self._members.get(room)
            if not members:
                return
            # A member that joins or leaves during this fan-out changes the set, not the tuple.
            recipients = self._snapshots[room] = tuple(members)
        encoded = Encoded(event, self._encode)
        for member in recipients:
            try:
                member.deliver(room, event, encoded)
            except Exception:  # one broken member must not cost the others their event
                log.exception("room %s: delivery to a member failed", room)
        if self.on_fanout is not None:
            self.on_fanout(room, event, len(recipients))
