"""The durable store: what people build up in LiveBridge, kept across restarts.

The engine (:mod:`rooms.engine`) carries live state that may be lost: pub/sub, presence, rate
buckets, the recent-history window. What hosts and members build up must not be lost, and lives
here, behind this one interface, with two implementations that pass one contract suite
(tests/store/): :class:`rooms.store_sqlite.SqliteStore` (a file in the data directory, the
embedded default) and :class:`rooms.store_postgres.PostgresStore` (one database shared by many
nodes). Both share their SQL and their logic (:mod:`rooms.store_sql`) and their schema
(:mod:`rooms.store_schema`, versioned migrations applied by :meth:`Store.start`).

What it keeps, and what it promises
-----------------------------------

- **Rooms**: name, title, owner (the owner's public user dict), ``created_at`` (milliseconds
  since the epoch, as room metadata has it), ``settings`` and ``limits`` (JSON objects).
- **Roles** per room (``owner``, ``moderator``, ...; a user without a row is a member).
- **Restrictions**: bans and timeouts per room (or :data:`GLOBAL`), each with its expiry
  (``until``, seconds since the epoch; ``None`` for ever). An expired one reads as absent and is
  removed by :meth:`Store.purge`.
- **Blocked terms** per scope: a room, or :data:`GLOBAL` for every room.
- **Held messages** and their outcome (``approved`` or ``rejected``, by whom, when): deciding
  is atomic, so of two moderators on two nodes exactly one decides.
- **Reports**, kept apart from the audit log: no number of reports can evict a moderation action.
- **The audit log** (moderation actions), newest first, with ids that only increase; kept for
  ``audit_retention`` seconds (default 90 days).
- **The message archive**: every persistent room event (messages, translations, ...) with its
  room, offset and epoch. :meth:`Store.append` is group-committed: appends made within a few
  milliseconds share one transaction, and each append's awaitable resolves only once its
  transaction has committed (so "the ack means durable"). Pages go back with ``before`` to the
  room's first message; :meth:`Store.retract` deletes events for good (a retracted offset stays
  retracted even if its append commits later, on any node); :meth:`Store.position` is the last
  offset ever archived for the room and its epoch, so offsets can go on from there when Redis
  comes back empty.

Every method is a coroutine (or returns an awaitable) and never blocks the event loop: SQLite
runs in worker threads, PostgreSQL through an async driver.

Bounds (every table a visitor can add rows to has one; :class:`StoreLimits` holds them):

============================  ==========================================================
table                         bound (default)
============================  ==========================================================
rooms                         ``rooms``: 100,000 rooms; a new one past it is :class:`StoreFull`
roles                         ``roles_per_room``: 10,000 per room (:class:`StoreFull`)
restrictions                  ``restrictions_per_room``: 100,000 per room; expired ones are
                              removed first, then :class:`StoreFull`
terms                         ``terms_per_scope``: 5,000 per scope (:class:`StoreFull`)
held messages                 ``held_per_room``: 10,000 per room; the oldest decided ones
                              go first, then :class:`StoreFull` (all pending); decided ones
                              older than ``audit_retention`` are purged
reports                       ``reports_per_room``: 10,000 per room, as held messages
audit log                     ``audit_per_room``: 100,000 per room (the oldest go), and
                              ``audit_retention``: 90 days
archive                       ``archive_per_room``: 1,000,000 offsets per room (the oldest
                              go); ``max_event_bytes``: 64 KiB per event; at most
                              ``max_pending_appends`` (20,000) appends waiting to commit,
                              past which :meth:`Store.append` raises :class:`StoreUnavailable`
============================  ==========================================================

Multi-node note: bounds are checked and then written in one transaction; on PostgreSQL two
nodes racing may overshoot a bound by the number of nodes racing, never by more.

Errors: every failure is a :class:`StoreError` with one message that names the problem (the
data directory, the file, the server, the user), fit to print and exit on at start;
:class:`StoreUnavailable` (also an :class:`rooms.engine.EngineUnavailable`) while running.
"""

from __future__ import annotations

import abc
import asyncio
import errno
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rooms.engine import EngineUnavailable, Event, StreamPosition

log = logging.getLogger(__name__)

#: The scope of global restrictions and blocked terms (not a valid room name).
GLOBAL = ""

OUTCOMES = ("approved", "rejected")


# Errors ---------------------------------------------------------------------------------------


class StoreError(Exception):
    """Base class of store failures; ``str(error)`` is one line naming the problem."""

    code = "store_error"


class DataDirError(StoreError):
    """The data directory cannot be used (missing and not creatable, not writable, not a
    directory, read-only file system)."""

    code = "data_dir"


class StoreLocked(StoreError):
    """The database is locked or in use by another process."""

    code = "store_locked"


class StoreCorrupt(StoreError):
    """The database file is not a database, or is damaged."""

    code = "store_corrupt"


class StoreUnreachable(StoreError):
    """The database server cannot be reached (refused, timed out, unknown host)."""

    code = "store_unreachable"


class StoreAuthError(StoreError):
    """The database server refused the credentials (wrong password, unknown user)."""

    code = "store_auth"


class StoreConfigError(StoreError):
    """The store's address or configuration is wrong (bad URL, no such database)."""

    code = "store_config"


class StoreSchemaError(StoreError):
    """The schema cannot be brought to this version (newer than this code, or a failed
    migration)."""

    code = "store_schema"


class StoreFull(StoreError):
    """A bound of :class:`StoreLimits` is reached; the message says which."""

    code = "store_full"


class StoreUnavailable(StoreError, EngineUnavailable):
    """The store cannot take this operation now (lost its database, or the archive writer is
    too far behind). Never a false success: the caller must not ack."""

    code = "unavailable"


# Records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """The bounds of the store (see the module's table) and its retention."""

    rooms: int = 100_000
    roles_per_room: int = 10_000
    restrictions_per_room: int = 100_000
    terms_per_scope: int = 5_000
    held_per_room: int = 10_000
    reports_per_room: int = 10_000
    audit_per_room: int = 100_000
    audit_retention: float = 90 * 86400.0
    archive_per_room: int = 1_000_000
    max_event_bytes: int = 64 * 1024
    max_pending_appends: int = 20_000


@dataclass(frozen=True, slots=True)
class RoomRecord:
    name: str
    title: str
    owner: dict[str, Any] | None = None
    created_at: int = 0  # ms since the epoch
    settings: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Restriction:
    """A ban or a timeout of ``user_id`` in ``room`` (or :data:`GLOBAL`) until ``until``
    (seconds since the epoch; None: for ever). ``data``: the caller's whole record of it (a
    JSON object, given back as stored), so fields the columns do not name survive."""

    room: str
    user_id: str
    kind: str  # "ban" | "timeout"
    until: float | None = None
    created_at: float = 0.0
    by: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A held message or a report, with its outcome once decided.

    ``item`` is the caller's JSON object (text, author, ...); ``offset`` is the reported
    message's offset (reports only) and ``reporter`` who reported it.
    """

    room: str
    id: str
    created_at: float
    user_id: str | None
    item: dict[str, Any]
    outcome: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    offset: int | None = None
    reporter: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    room: str
    at: float
    action: str
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """Archived events, oldest first; ``at_start`` when nothing older is left."""

    events: list[Event]
    at_start: bool


class ArchiveRecord(NamedTuple):
    """One event as the archive writes it (its columns and its JSON). A tuple, not a frozen
    dataclass: one is made per published event in the node and again in the archive's
    process, and a frozen dataclass sets each of its seven fields through
    ``object.__setattr__``."""

    room: str
    offset: int
    epoch: str
    kind: str | None
    author: str | None
    ref: int | None
    event_json: str


# The interface --------------------------------------------------------------------------------


_UNSET: Any = object()


class Store(abc.ABC):
    """The durable store (see the module docstring for what it promises)."""

    limits: StoreLimits

    # Lifetime
    @abc.abstractmethod
    async def start(self) -> None:
        """Open, check and migrate the database; raises a :class:`StoreError` naming the
        problem (unwritable data directory, locked or corrupt file, unreachable server, wrong
        password, schema newer than this code)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Commit what the archive writer holds, then close."""

    @abc.abstractmethod
    def health(self) -> dict[str, Any]:
        """{"status": "ok" | "degraded", "backend": ..., "pending_appends": n, ...}."""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    # Rooms
    @abc.abstractmethod
    async def create_room(self, room: RoomRecord) -> bool:
        """Insert the room if no room has its name; False if one has."""

    @abc.abstractmethod
    async def update_room(self, name: str, *, title: str = _UNSET, owner: dict | None = _UNSET,
                          settings: dict = _UNSET, limits: dict = _UNSET) -> bool:
        """Change the given fields; False if there is no such room."""

    @abc.abstractmethod
    async def get_room(self, name: str) -> RoomRecord | None: ...

    @abc.abstractmethod
    async def list_rooms(self, *, after: str = "", limit: int = 100) -> list[RoomRecord]:
        """Rooms by name, those after ``after``."""

    @abc.abstractmethod
    async def delete_room(self, name: str) -> bool:
        """The room and everything of it (roles, restrictions, terms, review items, audit,
        archive) go."""

    # Roles
    @abc.abstractmethod
    async def set_role(self, room: str, user_id: str, role: str | None, *,
                       by: str | None = None) -> None:
        """Give ``user_id`` a role in ``room``; ``None`` takes it away."""

    @abc.abstractmethod
    async def get_role(self, room: str, user_id: str) -> str | None: ...

    @abc.abstractmethod
    async def roles(self, room: str) -> dict[str, str]: ...

    # Restrictions
    @abc.abstractmethod
    async def restrict(self, restriction: Restriction) -> None:
        """Record (or replace) a ban or timeout."""

    @abc.abstractmethod
    async def lift(self, room: str, user_id: str, kind: str) -> bool: ...

    @abc.abstractmethod
    async def restrictions(self, room: str, *, user_id: str | None = None,
                           now: float | None = None) -> list[Restriction]:
        """Live (not expired) restrictions of a room, or of one user in it."""

    # Terms
    @abc.abstractmethod
    async def put_term(self, scope: str, key: str, term: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def delete_term(self, scope: str, key: str) -> bool: ...

    @abc.abstractmethod
    async def terms(self, scope: str) -> dict[str, dict[str, Any]]: ...

    @abc.abstractmethod
    async def replace_terms(self, scope: str, terms: dict[str, dict[str, Any]]) -> None:
        """The scope's whole list at once (atomic)."""

    # Held messages
    @abc.abstractmethod
    async def hold(self, room: str, item_id: str, item: dict[str, Any], *,
                   user_id: str | None, at: float | None = None) -> None: ...

    @abc.abstractmethod
    async def decide_held(self, room: str, item_id: str, outcome: str, *, by: str,
                          at: float | None = None) -> ReviewItem | None:
        """Decide a pending held message; None if it is unknown or already decided (exactly
        one of racing deciders gets the item)."""

    @abc.abstractmethod
    async def held(self, room: str, *, pending: bool = True, limit: int = 100) -> list[ReviewItem]:
        """Oldest first; ``pending=False`` for decided ones too."""

    @abc.abstractmethod
    async def get_held(self, room: str, item_id: str) -> ReviewItem | None: ...

    # Reports
    @abc.abstractmethod
    async def report(self, room: str, item_id: str, item: dict[str, Any], *, offset: int,
                     reporter: str, user_id: str | None, at: float | None = None) -> str:
        """Record a report of the message at ``offset``; returns its id, or the id of the
        report ``reporter`` already made of it (one report per reporter per message)."""

    @abc.abstractmethod
    async def decide_report(self, room: str, item_id: str, outcome: str, *, by: str,
                            at: float | None = None) -> ReviewItem | None: ...

    @abc.abstractmethod
    async def reports(self, room: str, *, pending: bool = True, limit: int = 100) -> list[ReviewItem]: ...

    # Audit log
    @abc.abstractmethod
    async def audit(self, room: str, action: str, entry: dict[str, Any], *,
                    at: float | None = None) -> int:
        """Append a moderation action; returns its id (ids only increase)."""

    @abc.abstractmethod
    async def audit_log(self, room: str, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """Newest first; ``before`` an id to page back."""

    # Archive
    @abc.abstractmethod
    def append(self, room: str, offset: int, epoch: str, event: Event) -> Awaitable[None]:
        """Queue ``event`` for the archive and return an awaitable that resolves when it is
        committed (group commit) or raises :class:`StoreUnavailable` if its batch failed.
        Raises at once :class:`StoreUnavailable` when too many appends wait, and
        :class:`ValueError` for an event that is not JSON or too big. Re-appending an offset
        replaces the event (retries are idempotent)."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Wait until every append queued so far has committed (or failed)."""

    @abc.abstractmethod
    async def page(self, room: str, *, before: int | None = None, limit: int = 50) -> ArchivePage:
        """The newest ``limit`` events with offsets below ``before`` (or the newest), oldest
        first."""

    @abc.abstractmethod
    async def after(self, room: str, offset: int, *, limit: int = 1000) -> list[Event]:
        """Events with offsets above ``offset``, oldest first (recovery)."""

    @abc.abstractmethod
    async def get_event(self, room: str, offset: int) -> Event | None: ...

    @abc.abstractmethod
    async def retract(self, room: str, offsets: list[int]) -> int:
        """Delete events for good (a deleted message and its translations); returns how many
        archived events went. An offset retracted before its append commits stays out."""

    @abc.abstractmethod
    async def position(self, room: str) -> StreamPosition | None:
        """The last offset ever archived for the room and its epoch; None if none."""

    @abc.abstractmethod
    async def translations(self, room: str, offsets: list[int]) -> dict[int, list[Event]]:
        """The archived translations of the messages at ``offsets``: offset -> translation
        events, oldest first (a transcript's export)."""

    @abc.abstractmethod
    async def delete_user(self, user_id: str, *, room: str | None = None) -> dict[str, int]:
        """Delete for good a user's archived messages (in ``room``, or everywhere), their
        translations and the user's held messages (a deletion request); returns how many
        ``messages``, archived ``events`` and ``held`` messages went."""

    # Upkeep
    @abc.abstractmethod
    async def purge(self, now: float | None = None) -> dict[str, int]:
        """Remove expired restrictions, and audit entries and decided review items older than
        ``audit_retention``; returns how many of each went. Also run every
        ``maintenance_interval`` seconds by the store itself."""


# Shared helpers ------------------------------------------------------------------------------


def compact_json_encoder(*, ascii_only: bool, allow_nan: bool) -> Callable[[Any], str]:
    """Compact JSON (``ascii_only``: non-ASCII escaped) of trees of dicts and lists: the C
    encoder made once and called directly, without the cycle check (``JSONEncoder.encode``
    builds an encoder and a markers dict per call: 6.6 us an event where this takes 3.5). A
    cyclic value raises RecursionError, refused like any value that is not JSON."""
    fallback = json.JSONEncoder(ensure_ascii=ascii_only, separators=(",", ":"), allow_nan=allow_nan)
    try:
        from _json import encode_basestring, encode_basestring_ascii, make_encoder
    except ImportError:  # no C accelerator: the pure-Python encoder
        return fallback.encode
    strings = encode_basestring_ascii if ascii_only else encode_basestring
    encoder = make_encoder(None, fallback.default, strings, None, ":", ",", False, False, allow_nan)
    join = "".join
    return lambda value: join(encoder(value, 0))


# An event's JSON: not ASCII-escaped, no NaN (the wire's, so fan-out's encoding can be reused).
_encode_event = compact_json_encoder(ascii_only=False, allow_nan=False)


class LastEncoded:
    """The compact JSON (``_encode_event``'s, which is also the wire's) of the event that
    was encoded last, so the archive does not encode again the event fan-out just encoded (the
    memory engine fans out before its publish returns). One slot, taken once: the archive
    uses it only for the very object that was encoded, and only for its next append. The
    slot is one (event, JSON) pair, set and read in one step each, so no encoding can ever be
    paired with another event."""

    __slots__ = ("pair",)

    def __init__(self) -> None:
        self.pair: tuple[Any, str] | None = None

    def take(self, event: Any) -> str | None:
        pair = self.pair
        if pair is None or pair[0] is not event:
            return None
        self.pair = None
        return pair[1]


#: Set by the wire's JSON codec (``chatserver.protocol``) after each frame it encodes.
LAST_ENCODED = LastEncoded()


def encode_event(room: str, offset: int, epoch: str, event: Event, max_bytes: int) -> ArchiveRecord:
    """Check and encode one event for the archive (in the caller, so a bad event fails its own
    append, not its batch)."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 1:
        raise ValueError(f"archive offsets are positive integers, got {offset!r}")
    if not isinstance(event, dict):
        raise ValueError("an archived event is a JSON object")
    # The engine's stored event already carries its offset and epoch: no copy to add them.
    if event.get("offset") == offset and event.get("epoch") == epoch:
        stored = event
    else:
        stored = {**event, "offset": offset, "epoch": epoch}
    text = LAST_ENCODED.take(stored) if stored is event else None
    if text is None:
        try:
            text = _encode_event(stored)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"event is not JSON: {exc}") from None
    try:
        size = len(text) if text.isascii() else len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): keep it escaped
        text = json.dumps(stored, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        size = len(text)
    if size > max_bytes:
        raise ValueError(f"event of {size} bytes is over the archive's {max_bytes}")
    author = event.get("author")
    author_id = author.get("id") if isinstance(author, dict) else None
    ref = event.get("message_offset")
    return ArchiveRecord(room, offset, epoch, event.get("type"),
                         author_id if isinstance(author_id, str) else None,
                         ref if isinstance(ref, int) and not isinstance(ref, bool) else None, text)


def ensure_data_dir(path: str | os.PathLike[str]) -> Path:
    """Create the data directory if needed (mode 0700) and prove it writable by writing a file
    there, so a bad directory is one clear :class:`DataDirError` (root bypasses permission bits,
    so ``os.access`` would not tell)."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirError(f"data directory {directory} is not a directory") from None
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {directory}: {_why(exc)}") from None
    if not directory.is_dir():
        raise DataDirError(f"data directory {directory} is not a directory")
    probe = directory / f".write-test-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataDirError(f"data directory {directory} is not writable: {_why(exc)}") from None
    return directory


def _why(exc: OSError) -> str:
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
               errno.ENOTDIR: "a part of the path is not a directory",
               errno.EDQUOT: "disk quota exceeded"}
    return reasons.get(exc.errno, exc.strerror or str(exc))


# Seconds a busy archive gathers appends before the next commit: the most an ack waits
# beyond its own commit. Commits every 5 ms were a batch of ~10 events at 2,000 messages/s,
# and the archive process's CPU per event is about half again as much at 10 as at 40.
COMMIT_INTERVAL = 0.02


class GroupCommitter:
    """The archive's writer: appends made while a commit runs (or, under load, within
    ``interval`` seconds of the last commit) go into the next batch, one transaction; each
    append's future resolves when its batch commits, or fails with :class:`StoreUnavailable`
    if the batch failed.

    At low load an append commits at once: the window is waited out only after a commit that
    held more than one append (a lone append after a lone append has nothing to gather, and
    one user sending message after message would otherwise wait ``interval`` for each ack).
    Under load at most one commit runs every ``interval`` seconds, each with up to
    ``max_batch`` appends.
    """

    def __init__(self, write_batch: Callable[[list[ArchiveRecord]], Awaitable[None]], *,
                 interval: float = COMMIT_INTERVAL, max_batch: int = 1000, max_pending: int = 20_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._write_batch = write_batch
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._clock = clock
        self._pending: list[tuple[ArchiveRecord, asyncio.Future[None], float]] = []
        self._wake = asyncio.Event()
        self._nap: asyncio.Future[None] | None = None  # the commit window being waited out
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the writer's, from start()
        self._closing = False
        self._last_commit = 0.0
        self._last_batch = 0  # appends in the last commit: more than one means load, so gather
        self.batches = 0
        self.appended = 0
        self.failures = 0
        self.last_error: str | None = None
        self.in_flight = 0
        self._current: list[asyncio.Future[None]] = []
        # Commit lag: from an append's submit to its batch's commit (its oldest append's).
        self.lag_last = 0.0
        self.lag_max = 0.0
        self.lag_total = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending) + self.in_flight

    def start(self) -> None:
        # The loop is kept: on Python 3.11 every asyncio.get_running_loop() is a getpid()
        # system call, and submit() runs once per message.
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="store-group-commit")

    def submit(self, record: ArchiveRecord) -> asyncio.Future[None]:
        if self._task is None or self._closing:
            raise StoreUnavailable("the store is not open")
        if self.pending >= self.max_pending:
            raise StoreUnavailable(f"the archive is {self.pending} appends behind; try again")
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((record, future, self._clock()))
        self._wake.set()
        return future

    async def flush(self) -> None:
        futures = [f for _, f, _ in self._pending]
        if self._current:
            futures += self._current
        if futures:
            await asyncio.gather(*futures, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._last_commit + self.interval - self._clock()
            if wait > 0 and self._last_batch > 1 and len(self._pending) < self.max_batch \
                    and not self._closing:
                await self._window(wait)
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            self._current = [f for _, f, _ in batch]
            self.in_flight = self._last_batch = len(batch)
            try:
                await self._write_batch([r for r, _, _ in batch])
            except asyncio.CancelledError:
                for _, f, _ in batch:
                    if not f.done():
                        f.set_exception(StoreUnavailable("the store closed before the append committed"))
                        f.exception()  # retrieved, as below
                raise
            except Exception as exc:  # every failure fails the batch, never the writer
                self.failures += 1
                error = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(
                    f"archive commit failed: {exc}")
                self.last_error = str(error)
                log.warning("archive batch of %d failed: %s", len(batch), error)
                for _, f, _ in batch:
                    if not f.done():
                        f.set_exception(error)
                        f.exception()  # retrieved: a caller that dropped its future logs nothing
            else:
                self.batches += 1
                self.appended += len(batch)
                self.last_error = None
                now = self._clock()
                lag = now - batch[0][2]
                self.lag_last, self.lag_max = lag, max(self.lag_max, lag)
                self.lag_total += now * len(batch) - sum([t for _, _, t in batch])
                for _, f, _ in batch:
                    if not f.done():
                        f.set_result(None)
            finally:
                self._last_commit = self._clock()
                self.in_flight = 0
                self._current = []

    async def _window(self, seconds: float) -> None:
        """Wait out the rest of the commit window; close() cuts it short. (A future and a
        timer: ``asyncio.wait_for`` made a task per batch.)"""
        loop = asyncio.get_running_loop()
        self._nap = nap = loop.create_future()
        timer = loop.call_later(seconds, _settle, nap)
        try:
            await nap
        finally:
            timer.cancel()
            self._nap = None

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        if self._nap is not None:
            _settle(self._nap)
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
