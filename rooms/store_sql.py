"""The logic of the durable store, written once for SQLite and PostgreSQL.

Every operation is a generator that yields :class:`Q` (one SQL statement) and is sent back its
result; a backend drives it inside one transaction (SQLite in its worker thread, PostgreSQL on
an async connection) and commits when it returns, or rolls back if it raises. So both
backends run the very same statements in the same order, which is what lets one contract suite
hold them to one behaviour. SQL is written with ``?`` placeholders; :class:`Dialect` rewrites
them for psycopg and names the few functions that differ.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

from rooms.engine import Event, StreamPosition
from rooms.store import (
    _UNSET,
    OUTCOMES,
    ArchivePage,
    COMMIT_INTERVAL,
    ArchiveRecord,
    AuditEntry,
    GroupCommitter,
    Restriction,
    ReviewItem,
    RoomRecord,
    Store,
    StoreFull,
    StoreLimits,
    StoreSchemaError,
    encode_event,
)
from rooms.store_schema import LATEST, MIGRATIONS, SCHEMA_VERSION_TABLE, render

log = logging.getLogger(__name__)

RESTRICTION_KINDS = ("ban", "timeout")


@dataclass(frozen=True, slots=True)
class Q:
    """One statement: ``fetch`` is "none", "one", "all" or "rowcount"; ``many`` runs it once per
    parameter tuple (executemany)."""

    sql: str
    params: tuple = ()
    fetch: str = "none"
    many: list[tuple] | None = None


Op = Generator[Q, Any, Any]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    placeholder: str  # "?" or "%s"
    greatest: str  # MAX (SQLite's scalar form) or GREATEST

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("%", "%%").replace("?", self.placeholder)


SQLITE = Dialect("sqlite", "?", "MAX")
POSTGRES = Dialect("postgres", "%s", "GREATEST")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _in(values: list) -> str:
    return ",".join("?" * len(values))


# Migrations --------------------------------------------------------------------------------


def op_current_version() -> Op:
    yield Q(SCHEMA_VERSION_TABLE)
    row = yield Q("SELECT MAX(version) FROM schema_version", fetch="one")
    return int(row[0]) if row and row[0] is not None else 0


def op_migrate(dialect: str, version: int, now: float) -> Op:
    """Apply migration ``version`` (if the database is just below it) in this transaction."""
    yield Q(SCHEMA_VERSION_TABLE)
    row = yield Q("SELECT MAX(version) FROM schema_version", fetch="one")
    current = int(row[0]) if row and row[0] is not None else 0
    if current >= version:
        return False  # another node did it meanwhile
    for statement in MIGRATIONS[version - 1]:
        yield Q(render(statement, dialect))
    yield Q("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now))
    return True


# Rooms -------------------------------------------------------------------------------------


def _room(row) -> RoomRecord:
    return RoomRecord(name=row[0], title=row[1], owner=_loads(row[2]), created_at=int(row[3]),
                      settings=_loads(row[4]) or {}, limits=_loads(row[5]) or {})


ROOM_COLUMNS = "name, title, owner, created_at, settings, limits"


def op_create_room(lim: StoreLimits, room: RoomRecord) -> Op:
    exists = yield Q("SELECT 1 FROM rooms WHERE name = ?", (room.name,), "one")
    if exists:
        return False
    count = (yield Q("SELECT COUNT(*) FROM rooms", fetch="one"))[0]
    if count >= lim.rooms:
        raise StoreFull(f"the store holds its limit of {lim.rooms} rooms")
    n = yield Q(f"INSERT INTO rooms ({ROOM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (room.name, room.title, _dumps(room.owner) if room.owner is not None else None,
                 int(room.created_at), _dumps(room.settings or {}), _dumps(room.limits or {})),
                "rowcount")
    return n == 1


def op_update_room(name: str, changes: dict[str, Any]) -> Op:
    sets, params = [], []
    for column, value in changes.items():
        sets.append(f"{column} = ?")
        if column == "title":
            params.append(str(value))
        elif column == "owner":
            params.append(None if value is None else _dumps(value))
        else:
            params.append(_dumps(value or {}))
    if not sets:
        row = yield Q("SELECT 1 FROM rooms WHERE name = ?", (name,), "one")
        return row is not None
    n = yield Q(f"UPDATE rooms SET {', '.join(sets)} WHERE name = ?", (*params, name), "rowcount")
    return n == 1


def op_get_room(name: str) -> Op:
    row = yield Q(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE name = ?", (name,), "one")
    return _room(row) if row else None


def op_list_rooms(after: str, limit: int) -> Op:
    rows = yield Q(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE name > ? ORDER BY name LIMIT ?",
                   (after, limit), "all")
    return [_room(r) for r in rows]


def op_delete_room(name: str) -> Op:
    n = yield Q("DELETE FROM rooms WHERE name = ?", (name,), "rowcount")
    for table in ("roles", "restrictions", "held", "reports", "audit", "archive",
                  "archive_rooms", "archive_retracted"):
        yield Q(f"DELETE FROM {table} WHERE room = ?", (name,))
    yield Q("DELETE FROM terms WHERE scope = ?", (name,))
    return n == 1


# Roles -------------------------------------------------------------------------------------


def op_set_role(lim: StoreLimits, room: str, user_id: str, role: str | None, by: str | None,
                now: float) -> Op:
    if role is None:
        yield Q("DELETE FROM roles WHERE room = ? AND user_id = ?", (room, user_id))
        return None
    exists = yield Q("SELECT 1 FROM roles WHERE room = ? AND user_id = ?", (room, user_id), "one")
    if not exists:
        count = (yield Q("SELECT COUNT(*) FROM roles WHERE room = ?", (room,), "one"))[0]
        if count >= lim.roles_per_room:
            raise StoreFull(f"room {room!r} has its limit of {lim.roles_per_room} roles")
    yield Q("INSERT INTO roles (room, user_id, role, granted_by, granted_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (room, user_id) DO UPDATE SET role = excluded.role, "
            "granted_by = excluded.granted_by, granted_at = excluded.granted_at",
            (room, user_id, role, by, now))
    return None


def op_get_role(room: str, user_id: str) -> Op:
    row = yield Q("SELECT role FROM roles WHERE room = ? AND user_id = ?", (room, user_id), "one")
    return row[0] if row else None


def op_roles(room: str) -> Op:
    rows = yield Q("SELECT user_id, role FROM roles WHERE room = ? ORDER BY user_id", (room,), "all")
    return {u: r for u, r in rows}


# Restrictions ------------------------------------------------------------------------------

RESTRICTION_COLUMNS = "room, user_id, kind, until, created_at, by_user, reason, data"


def _restriction(row) -> Restriction:
    return Restriction(room=row[0], user_id=row[1], kind=row[2], until=row[3],
                       created_at=row[4], by=row[5], reason=row[6], data=_loads(row[7]))


def op_restrict(lim: StoreLimits, r: Restriction, now: float) -> Op:
    key = (r.room, r.user_id, r.kind)
    exists = yield Q("SELECT 1 FROM restrictions WHERE room = ? AND user_id = ? AND kind = ?", key, "one")
    if not exists:
        count = (yield Q("SELECT COUNT(*) FROM restrictions WHERE room = ?", (r.room,), "one"))[0]
        if count >= lim.restrictions_per_room:
            yield Q("DELETE FROM restrictions WHERE room = ? AND until IS NOT NULL AND until <= ?",
                    (r.room, now))
            count = (yield Q("SELECT COUNT(*) FROM restrictions WHERE room = ?", (r.room,), "one"))[0]
            if count >= lim.restrictions_per_room:
                raise StoreFull(f"room {r.room!r} has its limit of {lim.restrictions_per_room} "
                                "bans and timeouts")
    yield Q(f"INSERT INTO restrictions ({RESTRICTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (room, user_id, kind) DO UPDATE SET until = excluded.until, "
            "created_at = excluded.created_at, by_user = excluded.by_user, reason = excluded.reason, "
            "data = excluded.data",
            (*key, r.until, r.created_at or now, r.by, r.reason, None if r.data is None else _dumps(r.data)))
    return None


def op_lift(room: str, user_id: str, kind: str, now: float) -> Op:
    n = yield Q("DELETE FROM restrictions WHERE room = ? AND user_id = ? AND kind = ? "
                "AND (until IS NULL OR until > ?)", (room, user_id, kind, now), "rowcount")
    yield Q("DELETE FROM restrictions WHERE room = ? AND user_id = ? AND kind = ?", (room, user_id, kind))
    return n == 1


def op_restrictions(room: str, user_id: str | None, now: float) -> Op:
    sql = (f"SELECT {RESTRICTION_COLUMNS} FROM restrictions WHERE room = ? "
           "AND (until IS NULL OR until > ?)")
    params: tuple = (room, now)
    if user_id is not None:
        sql += " AND user_id = ?"
        params += (user_id,)
    rows = yield Q(sql + " ORDER BY user_id, kind", params, "all")
    return [_restriction(r) for r in rows]


# Terms -------------------------------------------------------------------------------------


def op_put_term(lim: StoreLimits, scope: str, key: str, term: dict) -> Op:
    exists = yield Q("SELECT 1 FROM terms WHERE scope = ? AND term_key = ?", (scope, key), "one")
    if not exists:
        count = (yield Q("SELECT COUNT(*) FROM terms WHERE scope = ?", (scope,), "one"))[0]
        if count >= lim.terms_per_scope:
            raise StoreFull(f"scope {scope or 'global'!r} has its limit of {lim.terms_per_scope} terms")
    yield Q("INSERT INTO terms (scope, term_key, term) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, term_key) DO UPDATE SET term = excluded.term",
            (scope, key, _dumps(term)))
    return None


def op_delete_term(scope: str, key: str) -> Op:
    n = yield Q("DELETE FROM terms WHERE scope = ? AND term_key = ?", (scope, key), "rowcount")
    return n == 1


def op_terms(scope: str) -> Op:
    rows = yield Q("SELECT term_key, term FROM terms WHERE scope = ? ORDER BY term_key", (scope,), "all")
    return {k: _loads(t) for k, t in rows}


def op_replace_terms(lim: StoreLimits, scope: str, terms: dict[str, dict]) -> Op:
    if len(terms) > lim.terms_per_scope:
        raise StoreFull(f"scope {scope or 'global'!r} may have at most {lim.terms_per_scope} terms")
    yield Q("DELETE FROM terms WHERE scope = ?", (scope,))
    if terms:
        yield Q("INSERT INTO terms (scope, term_key, term) VALUES (?, ?, ?)",
                many=[(scope, k, _dumps(v)) for k, v in terms.items()])
    return None


# Held messages and reports -----------------------------------------------------------------

HELD_COLUMNS = "room, id, created_at, user_id, item, outcome, decided_by, decided_at"
REPORT_COLUMNS = HELD_COLUMNS + ", seq, reporter"


def _review(row, report: bool) -> ReviewItem:
    return ReviewItem(room=row[0], id=row[1], created_at=row[2], user_id=row[3], item=_loads(row[4]),
                      outcome=row[5], decided_by=row[6], decided_at=row[7],
                      offset=int(row[8]) if report else None, reporter=row[9] if report else None)


def _make_room_for(table: str, room: str, bound: int, what: str) -> Op:
    """Keep ``table`` of ``room`` under ``bound`` rows: the oldest decided rows go; if every row
    is pending, the new one is refused."""
    count = (yield Q(f"SELECT COUNT(*) FROM {table} WHERE room = ?", (room,), "one"))[0]
    if count < bound:
        return None
    excess = count - bound + 1
    rows = yield Q(f"SELECT id FROM {table} WHERE room = ? AND outcome IS NOT NULL "
                   "ORDER BY decided_at, id LIMIT ?", (room, excess), "all")
    if len(rows) < excess:
        raise StoreFull(f"room {room!r} has its limit of {bound} pending {what}")
    ids = [r[0] for r in rows]
    yield Q(f"DELETE FROM {table} WHERE room = ? AND id IN ({_in(ids)})", (room, *ids))
    return None


def op_hold(lim: StoreLimits, room: str, item_id: str, item: dict, user_id: str | None, at: float) -> Op:
    exists = yield Q("SELECT 1 FROM held WHERE room = ? AND id = ?", (room, item_id), "one")
    if not exists:
        yield from _make_room_for("held", room, lim.held_per_room, "held messages")
    yield Q(f"INSERT INTO held ({HELD_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL) "
            "ON CONFLICT (room, id) DO UPDATE SET item = excluded.item",
            (room, item_id, at, user_id, _dumps(item)))
    return None


def op_decide(table: str, room: str, item_id: str, outcome: str, by: str, at: float) -> Op:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    n = yield Q(f"UPDATE {table} SET outcome = ?, decided_by = ?, decided_at = ? "
                "WHERE room = ? AND id = ? AND outcome IS NULL",
                (outcome, by, at, room, item_id), "rowcount")
    if n != 1:
        return None
    columns = REPORT_COLUMNS if table == "reports" else HELD_COLUMNS
    row = yield Q(f"SELECT {columns} FROM {table} WHERE room = ? AND id = ?", (room, item_id), "one")
    return _review(row, table == "reports")


def op_review_list(table: str, room: str, pending: bool, limit: int) -> Op:
    columns = REPORT_COLUMNS if table == "reports" else HELD_COLUMNS
    where = " AND outcome IS NULL" if pending else ""
    rows = yield Q(f"SELECT {columns} FROM {table} WHERE room = ?{where} ORDER BY created_at, id LIMIT ?",
                   (room, limit), "all")
    return [_review(r, table == "reports") for r in rows]


def op_get_held(room: str, item_id: str) -> Op:
    row = yield Q(f"SELECT {HELD_COLUMNS} FROM held WHERE room = ? AND id = ?", (room, item_id), "one")
    return _review(row, False) if row else None


def op_report(lim: StoreLimits, room: str, item_id: str, item: dict, offset: int, reporter: str,
              user_id: str | None, at: float) -> Op:
    row = yield Q("SELECT id FROM reports WHERE room = ? AND seq = ? AND reporter = ?",
                  (room, offset, reporter), "one")
    if row:
        return row[0]
    yield from _make_room_for("reports", room, lim.reports_per_room, "reports")
    yield Q(f"INSERT INTO reports ({REPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?) "
            "ON CONFLICT DO NOTHING", (room, item_id, at, user_id, _dumps(item), offset, reporter))
    row = yield Q("SELECT id FROM reports WHERE room = ? AND seq = ? AND reporter = ?",
                  (room, offset, reporter), "one")
    return row[0] if row else item_id


# Audit -------------------------------------------------------------------------------------


def op_audit(lim: StoreLimits, room: str, action: str, entry: dict, at: float) -> Op:
    row = yield Q("SELECT MAX(n) FROM audit WHERE room = ?", (room,), "one")
    n = (int(row[0]) if row and row[0] is not None else 0) + 1
    row = yield Q("INSERT INTO audit (room, n, at, action, entry) VALUES (?, ?, ?, ?, ?) RETURNING id",
                  (room, n, at, action, _dumps(entry)), "one")
    if n > lim.audit_per_room:  # the room's bound: its oldest entries go
        yield Q("DELETE FROM audit WHERE room = ? AND n <= ?", (room, n - lim.audit_per_room))
    return int(row[0])


def op_audit_log(room: str, limit: int, before: int | None) -> Op:
    sql = "SELECT id, room, at, action, entry FROM audit WHERE room = ?"
    params: tuple = (room,)
    if before is not None:
        sql += " AND id < ?"
        params += (before,)
    rows = yield Q(sql + " ORDER BY id DESC LIMIT ?", (*params, limit), "all")
    return [AuditEntry(id=int(r[0]), room=r[1], at=r[2], action=r[3], entry=_loads(r[4])) for r in rows]


# Archive -----------------------------------------------------------------------------------


def _event(row) -> Event:
    event = _loads(row[2])
    event["offset"] = int(row[0])
    event["epoch"] = row[1]
    return event


APPEND_ROWS = 500  # rows per statement: one statement per chunk, not one per row


_INSERT_ARCHIVE = ("INSERT INTO archive (room, seq, epoch, kind, author, ref_seq, event) "
                   "SELECT room, seq, epoch, kind, author, ref_seq, event FROM v WHERE NOT EXISTS "
                   "(SELECT 1 FROM archive_retracted t WHERE t.room = v.room AND t.seq = v.seq) "
                   "ON CONFLICT (room, seq) DO UPDATE SET epoch = excluded.epoch, kind = excluded.kind, "
                   "author = excluded.author, ref_seq = excluded.ref_seq, event = excluded.event")
_ARCHIVE_ROW = "(?, CAST(? AS BIGINT), ?, ?, ?, CAST(? AS BIGINT), ?)"
_ROOM_TOP = ("INSERT INTO archive_rooms (room, last_seq, epoch) VALUES {rows} "
             "ON CONFLICT (room) DO UPDATE SET "
             "epoch = CASE WHEN excluded.last_seq >= archive_rooms.last_seq "
             "THEN excluded.epoch ELSE archive_rooms.epoch END, "
             "last_seq = {greatest}(archive_rooms.last_seq, excluded.last_seq)")
_ROOM_TOP_ROW = "(?, CAST(? AS BIGINT), ?)"


def op_append_batch(d: Dialect, lim: StoreLimits, records: list[ArchiveRecord], *,
                    one_statement: bool = False) -> Op:
    """One group commit: insert every record (unless its offset was retracted), move each
    room's position forward, keep each room within its bound.

    Each chunk of rows is one multi-row statement: the SQLite writer thread then takes the
    GIL a few times per commit instead of once per row (under a busy event loop each taking
    can wait a whole switch interval, 5 ms). A retry's re-append in the same batch replaces
    the earlier row (PostgreSQL refuses one statement updating a row twice).

    ``one_statement`` (the archive's own process, where no event loop shares the GIL): each
    statement is one single-row text run for every row (``executemany``), compiled once per
    connection rather than a new multi-row text per batch size: 30-40% less of the archive
    process's CPU per event."""
    records = list({(r.room, r.offset): r for r in records}.values())
    last: dict[str, ArchiveRecord] = {}
    for r in records:
        if r.room not in last or r.offset >= last[r.room].offset:
            last[r.room] = r
    tops = list(last.values())
    if one_statement:
        yield Q("WITH v(room, seq, epoch, kind, author, ref_seq, event) AS (VALUES " + _ARCHIVE_ROW + ") "
                + _INSERT_ARCHIVE, many=[(r.room, r.offset, r.epoch, r.kind, r.author, r.ref, r.event_json)
                                         for r in records])
        yield Q(_ROOM_TOP.format(rows=_ROOM_TOP_ROW, greatest=d.greatest),
                many=[(r.room, r.offset, r.epoch) for r in tops])
    else:
        for i in range(0, len(records), APPEND_ROWS):
            chunk = records[i:i + APPEND_ROWS]
            yield Q("WITH v(room, seq, epoch, kind, author, ref_seq, event) AS (VALUES "
                    + ", ".join([_ARCHIVE_ROW] * len(chunk)) + ") " + _INSERT_ARCHIVE,
                    tuple(x for r in chunk for x in (r.room, r.offset, r.epoch, r.kind, r.author, r.ref,
                                                      r.event_json)))
        for i in range(0, len(tops), APPEND_ROWS):
            chunk = tops[i:i + APPEND_ROWS]
            yield Q(_ROOM_TOP.format(rows=", ".join([_ROOM_TOP_ROW] * len(chunk)), greatest=d.greatest),
                    tuple(x for r in chunk for x in (r.room, r.offset, r.epoch)))
    for room, r in last.items():
        floor = r.offset - lim.archive_per_room
        if floor > 0:
            yield Q("DELETE FROM archive WHERE room = ? AND seq <= ?", (room, floor))
            yield Q("DELETE FROM archive_retracted WHERE room = ? AND seq <= ?", (room, floor))
    return None


def op_page(room: str, before: int | None, limit: int) -> Op:
    if before is None:
        rows = yield Q("SELECT seq, epoch, event FROM archive WHERE room = ? ORDER BY seq DESC LIMIT ?",
                       (room, limit + 1), "all")
    else:
        rows = yield Q("SELECT seq, epoch, event FROM archive WHERE room = ? AND seq < ? "
                       "ORDER BY seq DESC LIMIT ?", (room, before, limit + 1), "all")
    at_start = len(rows) <= limit
    return ArchivePage(events=[_event(r) for r in reversed(rows[:limit])], at_start=at_start)


def op_after(room: str, offset: int, limit: int) -> Op:
    rows = yield Q("SELECT seq, epoch, event FROM archive WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
                   (room, offset, limit), "all")
    return [_event(r) for r in rows]


def op_get_event(room: str, offset: int) -> Op:
    row = yield Q("SELECT seq, epoch, event FROM archive WHERE room = ? AND seq = ?", (room, offset), "one")
    return _event(row) if row else None


def op_retract(room: str, offsets: list[int]) -> Op:
    offsets = sorted({int(o) for o in offsets})
    gone = 0
    for i in range(0, len(offsets), 500):
        chunk = offsets[i:i + 500]
        yield Q("INSERT INTO archive_retracted (room, seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
                many=[(room, o) for o in chunk])
        gone += yield Q(f"DELETE FROM archive WHERE room = ? AND seq IN ({_in(chunk)})",
                        (room, *chunk), "rowcount")
    return gone


def op_translations(room: str, offsets: list[int]) -> Op:
    out: dict[int, list[Event]] = {}
    offsets = sorted({int(o) for o in offsets})
    for i in range(0, len(offsets), 500):
        chunk = offsets[i:i + 500]
        rows = yield Q(f"SELECT seq, epoch, event, ref_seq FROM archive WHERE room = ? AND kind = 'translation' "
                       f"AND ref_seq IN ({_in(chunk)}) ORDER BY seq", (room, *chunk), "all")
        for row in rows:
            out.setdefault(int(row[3]), []).append(_event(row))
    return out


def op_delete_user(user_id: str, room: str | None) -> Op:
    """A user's archived messages, their translations and held messages go, for good."""
    where, params = ("author = ? AND kind = 'message'", (user_id,)) if room is None else \
        ("author = ? AND kind = 'message' AND room = ?", (user_id, room))
    rows = yield Q(f"SELECT room, seq FROM archive WHERE {where}", params, "all")
    by_room: dict[str, list[int]] = {}
    for r, seq in rows:
        by_room.setdefault(r, []).append(int(seq))
    gone = 0
    for r, seqs in by_room.items():
        for i in range(0, len(seqs), 500):
            chunk = seqs[i:i + 500]
            refs = yield Q(f"SELECT seq FROM archive WHERE room = ? AND ref_seq IN ({_in(chunk)}) "
                           "AND kind = 'translation'", (r, *chunk), "all")
            gone += yield from op_retract(r, chunk + [int(x[0]) for x in refs])
    held_where = "user_id = ?" if room is None else "user_id = ? AND room = ?"
    held = yield Q(f"DELETE FROM held WHERE {held_where}", params[:1] if room is None else (user_id, room),
                   "rowcount")
    return {"messages": len(rows), "events": gone, "held": held}


def op_position(room: str) -> Op:
    row = yield Q("SELECT last_seq, epoch FROM archive_rooms WHERE room = ?", (room,), "one")
    return StreamPosition(int(row[0]), row[1]) if row else None


# Upkeep ------------------------------------------------------------------------------------


def op_purge(lim: StoreLimits, now: float) -> Op:
    cutoff = now - lim.audit_retention
    out = {}
    out["restrictions"] = yield Q("DELETE FROM restrictions WHERE until IS NOT NULL AND until <= ?",
                                  (now,), "rowcount")
    out["audit"] = yield Q("DELETE FROM audit WHERE at < ?", (cutoff,), "rowcount")
    out["held"] = yield Q("DELETE FROM held WHERE outcome IS NOT NULL AND decided_at < ?",
                          (cutoff,), "rowcount")
    out["reports"] = yield Q("DELETE FROM reports WHERE outcome IS NOT NULL AND decided_at < ?",
                             (cutoff,), "rowcount")
    return out


# The shared implementation -------------------------------------------------------------------


class SqlStore(Store):
    """Everything of :class:`Store` over :meth:`_run` (one operation in one transaction)."""

    dialect: Dialect

    def __init__(self, *, limits: StoreLimits | None = None, clock: Callable[[], float] = time.time,
                 commit_interval: float = COMMIT_INTERVAL, maintenance_interval: float = 600.0) -> None:
        self.limits = limits or StoreLimits()
        self._clock = clock
        self._committer = GroupCommitter(self._write_batch, interval=commit_interval,
                                         max_pending=self.limits.max_pending_appends)
        self.maintenance_interval = maintenance_interval
        self._maintenance: Any = None

    @abc.abstractmethod
    async def _run(self, op: Op, *, write: bool) -> Any:
        """Drive ``op`` in one transaction (a write transaction if ``write``)."""

    async def _write_batch(self, records: list[ArchiveRecord]) -> None:
        await self._run(op_append_batch(self.dialect, self.limits, records), write=True)

    def _now(self, at: float | None) -> float:
        return self._clock() if at is None else at

    # Lifetime helpers
    async def _migrate(self) -> int:
        """Apply every missing migration; returns the version reached."""
        current = await self._run(op_current_version(), write=True, **self._migration_kwargs())
        if current > LATEST:
            raise StoreSchemaError(
                f"the database's schema is version {current}, newer than this LiveBridge knows "
                f"({LATEST}): run a newer LiveBridge, or restore a backup")
        for version in range(current + 1, LATEST + 1):
            try:
                await self._run(op_migrate(self.dialect.name, version, self._clock()), write=True,
                                **self._migration_kwargs())
            except Exception as exc:
                if getattr(exc, "code", None) in ("store_locked", "store_unreachable", "store_auth",
                                                  "unavailable", "store_corrupt", "data_dir"):
                    raise
                raise StoreSchemaError(f"schema migration {version} failed: {exc}") from exc
        return LATEST

    def _migration_kwargs(self) -> dict:
        return {}

    def _start_background(self) -> None:
        self._committer.start()
        if self.maintenance_interval > 0:
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(),
                                                                       name="store-maintenance")

    async def _stop_background(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            self._maintenance = None
        await self._committer.close()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.maintenance_interval)
            try:
                await self.purge()
            except Exception as exc:  # upkeep must never stop; it tries again next time
                log.warning("store upkeep failed: %s", exc)

    def _health(self, backend: str, status: str = "ok") -> dict[str, Any]:
        c = self._committer
        if c.last_error:
            status = "degraded"
        return {"status": status, "backend": backend, "schema_version": LATEST,
                "pending_appends": c.pending, "batches": c.batches, "appended": c.appended,
                "failed_batches": c.failures, "last_error": c.last_error,
                "commit_lag_ms": {"last": round(c.lag_last * 1000, 2), "max": round(c.lag_max * 1000, 2),
                                  "mean": round(c.lag_total / c.appended * 1000, 2) if c.appended else None}}

    async def schema_version(self) -> int:
        return await self._run(op_current_version(), write=True, **self._migration_kwargs())

    # Rooms
    async def create_room(self, room: RoomRecord) -> bool:
        return await self._run(op_create_room(self.limits, room), write=True)

    async def update_room(self, name: str, *, title: str = _UNSET, owner: dict | None = _UNSET,
                          settings: dict = _UNSET, limits: dict = _UNSET) -> bool:
        changes = {k: v for k, v in (("title", title), ("owner", owner), ("settings", settings),
                                     ("limits", limits)) if v is not _UNSET}
        return await self._run(op_update_room(name, changes), write=True)

    async def get_room(self, name: str) -> RoomRecord | None:
        return await self._run(op_get_room(name), write=False)

    async def list_rooms(self, *, after: str = "", limit: int = 100) -> list[RoomRecord]:
        return await self._run(op_list_rooms(after, max(1, min(limit, 1000))), write=False)

    async def delete_room(self, name: str) -> bool:
        return await self._run(op_delete_room(name), write=True)

    # Roles
    async def set_role(self, room: str, user_id: str, role: str | None, *, by: str | None = None) -> None:
        await self._run(op_set_role(self.limits, room, user_id, role, by, self._clock()), write=True)

    async def get_role(self, room: str, user_id: str) -> str | None:
        return await self._run(op_get_role(room, user_id), write=False)

    async def roles(self, room: str) -> dict[str, str]:
        return await self._run(op_roles(room), write=False)

    # Restrictions
    async def restrict(self, restriction: Restriction) -> None:
        if restriction.kind not in RESTRICTION_KINDS:
            raise ValueError(f"kind must be one of {RESTRICTION_KINDS}, got {restriction.kind!r}")
        await self._run(op_restrict(self.limits, restriction, self._clock()), write=True)

    async def lift(self, room: str, user_id: str, kind: str) -> bool:
        return await self._run(op_lift(room, user_id, kind, self._clock()), write=True)

    async def restrictions(self, room: str, *, user_id: str | None = None,
                           now: float | None = None) -> list[Restriction]:
        return await self._run(op_restrictions(room, user_id, self._now(now)), write=False)

    # Terms
    async def put_term(self, scope: str, key: str, term: dict[str, Any]) -> None:
        await self._run(op_put_term(self.limits, scope, key, term), write=True)

    async def delete_term(self, scope: str, key: str) -> bool:
        return await self._run(op_delete_term(scope, key), write=True)

    async def terms(self, scope: str) -> dict[str, dict[str, Any]]:
        return await self._run(op_terms(scope), write=False)

    async def replace_terms(self, scope: str, terms: dict[str, dict[str, Any]]) -> None:
        await self._run(op_replace_terms(self.limits, scope, dict(terms)), write=True)

    # Held messages
    async def hold(self, room: str, item_id: str, item: dict[str, Any], *, user_id: str | None,
                   at: float | None = None) -> None:
        await self._run(op_hold(self.limits, room, item_id, item, user_id, self._now(at)), write=True)

    async def decide_held(self, room: str, item_id: str, outcome: str, *, by: str,
                          at: float | None = None) -> ReviewItem | None:
        return await self._run(op_decide("held", room, item_id, outcome, by, self._now(at)), write=True)

    async def held(self, room: str, *, pending: bool = True, limit: int = 100) -> list[ReviewItem]:
        return await self._run(op_review_list("held", room, pending, max(1, limit)), write=False)

    async def get_held(self, room: str, item_id: str) -> ReviewItem | None:
        return await self._run(op_get_held(room, item_id), write=False)

    # Reports
    async def report(self, room: str, item_id: str, item: dict[str, Any], *, offset: int, reporter: str,
                     user_id: str | None, at: float | None = None) -> str:
        return await self._run(op_report(self.limits, room, item_id, item, offset, reporter, user_id,
                                         self._now(at)), write=True)

    async def decide_report(self, room: str, item_id: str, outcome: str, *, by: str,
                            at: float | None = None) -> ReviewItem | None:
        return await self._run(op_decide("reports", room, item_id, outcome, by, self._now(at)), write=True)

    async def reports(self, room: str, *, pending: bool = True, limit: int = 100) -> list[ReviewItem]:
        return await self._run(op_review_list("reports", room, pending, max(1, limit)), write=False)

    # Audit
    async def audit(self, room: str, action: str, entry: dict[str, Any], *, at: float | None = None) -> int:
        return await self._run(op_audit(self.limits, room, action, entry, self._now(at)), write=True)

    async def audit_log(self, room: str, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        return await self._run(op_audit_log(room, max(1, min(limit, 10_000)), before), write=False)

    # Archive
    def append(self, room: str, offset: int, epoch: str, event: Event) -> Awaitable[None]:
        record = encode_event(room, offset, epoch, event, self.limits.max_event_bytes)
        return self._committer.submit(record)

    async def flush(self) -> None:
        await self._committer.flush()

    async def page(self, room: str, *, before: int | None = None, limit: int = 50) -> ArchivePage:
        return await self._run(op_page(room, before, max(1, min(limit, 10_000))), write=False)

    async def after(self, room: str, offset: int, *, limit: int = 1000) -> list[Event]:
        return await self._run(op_after(room, offset, max(1, min(limit, 10_000))), write=False)

    async def get_event(self, room: str, offset: int) -> Event | None:
        return await self._run(op_get_event(room, offset), write=False)

    async def retract(self, room: str, offsets: list[int]) -> int:
        if not offsets:
            return 0
        return await self._run(op_retract(room, list(offsets)), write=True)

    async def position(self, room: str) -> StreamPosition | None:
        return await self._run(op_position(room), write=False)

    async def translations(self, room: str, offsets: list[int]) -> dict[int, list[Event]]:
        if not offsets:
            return {}
        return await self._run(op_translations(room, list(offsets)), write=False)

    async def delete_user(self, user_id: str, *, room: str | None = None) -> dict[str, int]:
        await self.flush()  # what this node still holds goes too
        return await self._run(op_delete_user(user_id, room), write=True)

    async def purge(self, now: float | None = None) -> dict[str, int]:
        return await self._run(op_purge(self.limits, self._now(now)), write=True)


def drive_sync(conn: Any, op: Op) -> Any:
    """Run ``op`` on a DB-API connection (sqlite3), synchronously, in the caller's transaction."""
    try:
        q: Q = next(op)
    except StopIteration as stop:
        return stop.value
    while True:
        if q.many is not None:
            conn.executemany(q.sql, q.many)
            result: Any = None
        else:
            cur = conn.execute(q.sql, q.params)
            if q.fetch == "one":
                result = cur.fetchone()
            elif q.fetch == "all":
                result = cur.fetchall()
            elif q.fetch == "rowcount":
                result = cur.rowcount
            else:
                result = None
        try:
            q = op.send(result)
        except StopIteration as stop:
            return stop.value
