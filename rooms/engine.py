"""The engine interface: what a room needs from the machinery that carries it.

An engine is three narrow parts, each with an in-memory implementation (one process) and a
Redis implementation (many nodes):

- :class:`Broker` gives every persistent room event one offset, appends it to the room's
  bounded history and delivers it to every node subscribed to the room, in offset order.
  Ephemeral events (presence, typing, control) are delivered without an offset.
- :class:`Presence` knows who is in a room, on every node.
- :class:`StateStore` keeps the small shared state that must hold across nodes: room
  metadata, moderation state (bans, mutes, held messages), atomic rate-limit buckets and
  bounded append-only logs (audit).

Nothing here knows about WebSockets, codecs, moderation rules or translation; the callers
give meaning to the dicts they store.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rooms.directory import RoomDirectory

Event = dict[str, Any]
# Called once per event per node for each room the node subscribes to. Persistent events
# carry "offset" and "epoch"; ephemeral ones carry neither.
EventHandler = Callable[[str, Event], Awaitable[None] | None]
# Called with (room, members) when presence removes members on its own (a dead node's
# connections swept): the caller decides what, if anything, to tell the room.
ExpiryHandler = Callable[[str, list["Member"]], Awaitable[None]]
# Called with a room whose history the engine does not have (never published here, expired,
# or Redis lost it): where its offsets go on from (the durable archive's last offset and
# epoch), or None to start a new epoch at offset 1.
OriginHook = Callable[[str], Awaitable["StreamPosition | None"]]


class EngineError(Exception):
    """Base class of engine failures the edge turns into error frames."""

    code = "engine_error"


class EngineUnavailable(EngineError):
    """The engine cannot accept writes right now (for example, Redis is unreachable)."""

    code = "unavailable"


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a room's history stands: the last offset given out, and the history's epoch.

    The epoch changes whenever a room's history is lost or reset, so a client holding an
    offset from another epoch knows that its offset means nothing any more.
    """

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The outcome of :meth:`Broker.publish`.

    ``duplicate`` is true when the idempotency key had been seen: nothing was published and
    ``event`` is the event first published under that key. ``committed``, when not None, is
    a future that resolves once the event is in the durable store (or fails with
    :class:`EngineUnavailable`): what a sender's ack waits for (set by the edge's archive).
    """

    offset: int
    epoch: str
    event: Event
    duplicate: bool = False
    committed: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """Events read from a room's history, oldest first.

    ``recovered`` is false when the caller asked for everything after an offset and the
    history no longer reaches back that far (or the epoch changed); ``events`` then holds
    what the history does have.
    """

    events: list[Event]
    position: StreamPosition
    recovered: bool = True


@dataclass(frozen=True, slots=True)
class Member:
    """One connection's membership of a room. A user with two tabs is two members."""

    conn_id: str
    user_id: str
    name: str
    lang: str
    role: str = "member"
    node: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "lang": self.lang, "role": self.role}


class Broker(abc.ABC):
    """Room events in offset order, with bounded history and live delivery to subscribers.

    When :attr:`origin` is set, a room whose history the engine does not have is first asked
    of it, and its offsets and epoch go on from the position it gives (the history before it
    reads as trimmed), instead of restarting at 1 in a new epoch.
    """

    #: Set by the edge (the durable archive's position); see :data:`OriginHook`.
    origin: OriginHook | None = None

    @abc.abstractmethod
    async def publish(
        self, room: str, event: Event, *, idempotency_key: str | None = None
    ) -> PublishResult:
        """Give ``event`` the room's next offset, append it to history and deliver it.

        The stored and delivered event is ``event`` plus ``offset`` and ``epoch``. With an
        ``idempotency_key`` seen before (within the key's lifetime), nothing is published and
        the first result is returned with ``duplicate=True``. Raises
        :class:`EngineUnavailable` when the write cannot be made.
        """

    @abc.abstractmethod
    async def lookup(self, room: str, idempotency_key: str) -> PublishResult | None:
        """The result of the publish made under ``idempotency_key``, if it is remembered."""

    @abc.abstractmethod
    async def broadcast(self, room: str, event: Event) -> None:
        """Deliver an ephemeral event (no offset, not stored) to every subscribed node."""

    @abc.abstractmethod
    async def subscribe(self, room: str, handler: EventHandler) -> None:
        """Start delivering the room's events to ``handler`` (one handler per room per node)."""

    @abc.abstractmethod
    async def unsubscribe(self, room: str) -> None:
        """Stop delivering the room's events to this node."""

    @abc.abstractmethod
    async def history(
        self,
        room: str,
        *,
        since: int | None = None,
        epoch: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> HistoryResult:
        """Read history.

        With ``since``: every event with an offset greater than ``since`` (up to ``limit``,
        oldest first), and ``recovered=False`` if some of them are gone or ``epoch`` is not
        the room's epoch. Otherwise: the newest ``limit`` events with offsets below
        ``before`` (or the newest overall), oldest first.
        """

    @abc.abstractmethod
    async def position(self, room: str) -> StreamPosition:
        """The room's current offset and epoch (offset 0 when nothing was ever published)."""

    @abc.abstractmethod
    async def retract(self, room: str, offsets: list[int]) -> int:
        """Remove events from history by offset (deleted messages). Returns how many went."""

    @abc.abstractmethod
    async def get_event(self, room: str, offset: int) -> Event | None:
        """One event from history by offset, or None when it is not (or no longer) there."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """What :meth:`Presence.add` found: ``first`` connection of its user in the room (on any
    node), and the room's ``users`` after it. Truthy when first."""

    first: bool
    users: int

    def __bool__(self) -> bool:
        return self.first


class Presence(abc.ABC):
    """Who is in each room, across every node.

    Members leave through :meth:`remove`, or, when the node that added them dies, through
    expiry: the engine removes them and reports them to :attr:`on_expired` (set by the
    edge), which decides what the room is told. Presence itself builds no room events.
    """

    #: Set by the edge; called once per room with the members expiry removed from it.
    on_expired: ExpiryHandler | None = None

    @abc.abstractmethod
    async def add(self, room: str, member: Member) -> "Arrival":
        """Record (or re-record) a connection's membership, in one round trip: whether it is
        the first connection of ``member.user_id`` in the room on any node, and how many users
        the room has now."""

    @abc.abstractmethod
    async def remove(self, room: str, conn_id: str) -> bool:
        """Forget a connection's membership. True when it was its user's last connection in
        the room, on any node (False when other connections remain or it was unknown)."""

    @abc.abstractmethod
    async def members(self, room: str) -> list[Member]:
        """Every connection in the room (a user with two tabs is two members)."""

    async def sample(self, room: str, limit: int) -> list[Member]:
        """Some of the room's members, at least ``limit`` when it has that many (which ones is
        the engine's choice): a big room's short member list without reading all of it."""
        return (await self.members(room))[: max(limit, 0)]

    @abc.abstractmethod
    async def user_count(self, room: str) -> int:
        """How many users are in the room, on every node, in one cheap call."""

    @abc.abstractmethod
    async def counts(self) -> dict[str, int]:
        """Member count of every room that has members."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What :meth:`Engine.enter` found: the state ``values`` read (in the order asked), the
    room's ``history``, and the member's ``arrival`` (None when it was not recorded)."""

    values: list[Any]
    history: HistoryResult
    arrival: Arrival | None


class StateStore(abc.ABC):
    """Small shared state, grouped by scope (a room name, or "" for global) and namespace.

    Values are JSON-serialisable. Entries may expire; an expired entry reads as absent.
    """

    @abc.abstractmethod
    async def get(self, scope: str, ns: str, key: str) -> Any | None: ...

    async def get_many(self, scope: str, reads: list[tuple[str, str]]) -> list[Any | None]:
        """Several ``(ns, key)`` reads of one scope at once (one round trip where the engine
        can), in order."""
        return [await self.get(scope, ns, key) for ns, key in reads]

    @abc.abstractmethod
    async def set(
        self, scope: str, ns: str, key: str, value: Any, *, ttl: float | None = None
    ) -> None: ...

    @abc.abstractmethod
    async def add(
        self, scope: str, ns: str, key: str, value: Any, *, ttl: float | None = None
    ) -> bool:
        """Set only if absent (or expired). Returns whether it was set."""

    @abc.abstractmethod
    async def delete(self, scope: str, ns: str, key: str) -> bool: ...

    @abc.abstractmethod
    async def items(self, scope: str, ns: str) -> dict[str, Any]:
        """Every live entry of a namespace."""

    @abc.abstractmethod
    async def take_token(
        self, key: str, *, rate: float, burst: float, cost: float = 1.0
    ) -> float:
        """Atomic token bucket: take ``cost`` tokens from bucket ``key``.

        The bucket refills at ``rate`` tokens per second up to ``burst``. Returns 0.0 when
        the tokens were taken, or the seconds to wait until they could be (nothing taken).
        """

    @abc.abstractmethod
    async def log_append(self, scope: str, log: str, entry: dict[str, Any], *, maxlen: int) -> str:
        """Append to a bounded log; returns the entry's id (ids increase)."""

    @abc.abstractmethod
    async def log_read(self, scope: str, log: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first, each with its ``id``."""


class Engine(abc.ABC):
    """An engine: a broker, presence, a state store and a room directory
    (:class:`rooms.directory.RoomDirectory`) that share one lifetime."""

    broker: Broker
    presence: Presence
    state: StateStore
    directory: "RoomDirectory"
    #: Name of this node, unique among the nodes sharing the engine.
    node_id: str

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def enter(self, room: str, member: Member, *, reads: list[tuple[str, str]],
                    since: int | None = None, epoch: str | None = None, limit: int = 50,
                    record_unless: tuple[int, ...] = (), record_if: tuple[int, ...] = ()) -> Entry:
        """A join's engine work at once (one round trip on Redis): the room's state ``reads``
        (as :meth:`StateStore.get_many` of scope ``room``), its history (as
        :meth:`Broker.history` with ``since``/``epoch``, or the newest ``limit`` events), and
        ``member`` recorded (as :meth:`Presence.add`) only when none of the reads at the
        indices ``record_unless`` has a value and all of those at ``record_if`` have one.
        Otherwise ``arrival`` is None and nothing was recorded: the caller's guess of those
        reads was wrong, and it decides again with the values. On Redis the reads, the
        history and the record are one script, so no write comes between them."""
        values = await self.state.get_many(room, reads)
        history = await self.broker.history(room, since=since, epoch=epoch, limit=limit)
        if any(values[i] is not None for i in record_unless) or any(values[i] is None for i in record_if):
            return Entry(values, history, None)
        return Entry(values, history, await self.presence.add(room, member))

    def health(self) -> dict[str, Any]:
        """{"status": "ok" | "degraded", ...} for /healthz."""
        return {"status": "ok", "engine": type(self).__name__}
