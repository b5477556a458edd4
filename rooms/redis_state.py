"""Presence and the shared state store of the Redis engine.

Both are written against :class:`rooms.redis_link.RedisLink`, not the engine itself.

Presence: each room's members are a hash ``lb:{room}:presence`` (conn id -> member JSON with
its node). Each node keeps ``lb:node:{id}:alive`` alive with a TTL and lists its own members
in ``lb:node:{id}:members``. Every node sweeps: a node listed in ``lb:nodes`` whose alive key
has expired is claimed by one sweeper (SET NX), its members are removed and reported, once,
to :attr:`Presence.on_expired` (the edge decides what the room is told; nothing here builds
a room event). A dead node's members are gone within node_ttl + heartbeat_interval (plus one
sweep), see docs/deploy.md. A node whose own alive key went missing (it expired during an
outage, or Redis lost it) writes its members back at once.

Only the room's own hash (on the room's shard) must be written for a join to succeed; the
node's member list and the room index are written on a best-effort basis and rewritten on
the next heartbeat if their shard was unreachable.

State: one hash per (scope, namespace); each field holds ``<expires ms>|<JSON>`` and expiry is
judged by Redis's clock inside Lua, so every node agrees. The global scope lives on one shard
that every send reads (admins, term versions, room metadata): this node keeps what it last
read of it and answers from that while the global shard is unreachable. Token buckets without
a room's hash tag (per connection) fall back to a node-local bucket while their shard is
unreachable: a connection lives on one node, so the limit still holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from rooms import redis_keys as K
from rooms.engine import Arrival, EngineError, EngineUnavailable, Member, Presence, StateStore
from rooms.redis_link import RedisLink

log = logging.getLogger(__name__)

# Global-scope values remembered per node (an LRU), and the largest namespace whose whole
# content is kept as a snapshot (refreshed on every heartbeat) for keys never read before.
GLOBAL_CACHE_SIZE = 10_000
GLOBAL_SNAPSHOT_MAX = 2_000
LOCAL_BUCKETS_MAX = 10_000


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def member_json(member: Member, node: str) -> str:
    return _dumps({"conn_id": member.conn_id, "user_id": member.user_id, "name": member.name,
                   "lang": member.lang, "role": member.role, "node": member.node or node,
                   "extra": member.extra})


def _member(raw: bytes | str) -> Member:
    data = json.loads(raw)
    return Member(conn_id=data["conn_id"], user_id=data["user_id"], name=data["name"],
                  lang=data["lang"], role=data.get("role", "member"), node=data.get("node", ""),
                  extra=data.get("extra") or {})


DECODED_MAX = 10_000  # presence entries a node keeps decoded (~0.5 KB each)


def _entry(room: str, conn_id: str) -> str:
    return _dumps([room, conn_id])


class SetAdds:
    """Set members added in one turn of the event loop go to Redis as one ``SADD`` per key:
    a join storm's node-index writes are one command per turn, not two per join. Every
    caller awaits the write that carries its member (its error too, as an EngineError)."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._queued: dict[str, set[str]] = {}
        self._done: asyncio.Future | None = None
        self._tasks: set[asyncio.Task] = set()
        #: SADD commands sent and members they carried (for tests and metrics).
        self.writes = 0
        self.members = 0

    async def add(self, *items: tuple[str, str]) -> None:
        """Add each ``(key, member)``; returns once the write that carries them is done."""
        if self._done is None:
            loop = asyncio.get_running_loop()
            self._done = loop.create_future()
            loop.call_soon(self._send)
        for key, member in items:
            self._queued.setdefault(key, set()).add(member)
        await asyncio.shield(self._done)  # a caller given up on must not cancel the others' write

    def _send(self) -> None:
        queued, done = self._queued, self._done
        self._queued, self._done = {}, None
        task = asyncio.get_running_loop().create_task(self._write(queued, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, queued: dict[str, set[str]], done: asyncio.Future) -> None:
        self.writes += len(queued)
        self.members += sum(len(m) for m in queued.values())
        try:
            with self.link.guard():
                await asyncio.gather(*(self.link.command("SADD", key, *members) for key, members in queued.items()))
        except BaseException as exc:
            done.set_exception(exc if isinstance(exc, Exception) else EngineUnavailable(repr(exc)))
            done.exception()  # retrieved here: a write nobody waits for any more is not an error
            if not isinstance(exc, Exception):
                raise
        else:
            done.set_result(None)


class RedisPresence(Presence):
    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._index_adds = SetAdds(link)
        # This node's own members: reasserted after a Redis outage, and the truth when
        # cleaning up entries that a failed remove() left behind.
        self._local: dict[str, dict[str, Member]] = {}
        # Something this node wrote may be missing from Redis: reassert on the next beat.
        self._dirty = False
        self._beaten = False
        self._reassert_lock = asyncio.Lock()
        # Members added locally whose index entry is not written yet: a heartbeat during a
        # join storm must not take them for entries a sweep removed (and rewrite every member).
        self._adding = 0
        #: Heartbeats that could not be written (for metrics).
        self.beat_failures = 0
        # Entries as read, decoded: a room of up to 200 users is read whole for every joiner's
        # member list, so the same entries come back hundreds of times in a storm. Keyed by
        # the stored JSON itself, so a changed entry (a new role) is a new key. Oldest out first.
        self._decoded: dict[bytes, Member] = {}

    @property
    def _redis(self):
        return self.link.redis

    async def add(self, room, member):
        return await self.add_with(room, member, lambda: self._record(room, member))

    async def add_with(self, room: str, member: Member,
                       record: Callable[[], Awaitable[Arrival | None]]) -> Arrival | None:
        """Record ``member`` with ``record`` (this presence's own script, or one that also does
        other work of a join), which answers None when it did not record it; with this node's
        bookkeeping (its own members, the node's member list) around it."""
        local = self._local.setdefault(room, {})
        local[member.conn_id] = member
        self._adding += 1
        try:
            arrival = await record()
            if arrival is None:
                if local.get(member.conn_id) is member:
                    del local[member.conn_id]
                    if not local and self._local.get(room) is local:
                        del self._local[room]
                return None
            await self._index(room, member.conn_id)
        finally:
            self._adding -= 1
        return arrival

    async def _record(self, room: str, member: Member) -> Arrival:
        with self.link.guard():
            first, users = await self.link.script(
                "presence_add", [K.presence(room), K.presence_users(room)],
                [member.conn_id, member_json(member, self.link.node_id), member.user_id])
        return Arrival(bool(first), int(users))

    async def _drop(self, room: str, conn_id: str) -> tuple[Member | None, bool]:
        """Remove one entry: (the member removed or None, whether it was its user's last)."""
        with self.link.guard():
            raw, last = await self.link.script(
                "presence_remove", [K.presence(room), K.presence_users(room)], [conn_id])
        return (_member(raw) if raw else None), bool(last)

    async def _index(self, room: str, conn_id: str) -> None:
        """The node's member list and the room index: on other shards, so best effort."""
        try:
            # One SADD per key per loop turn for every join of that turn (SetAdds).
            await self._index_adds.add((K.node_members(self.link.node_id), _entry(room, conn_id)),
                                       (K.PRESENCE_ROOMS, room))
        except EngineError as exc:
            log.debug("presence index for %s deferred: %s", room, exc)
            self._dirty = True

    async def remove(self, room, conn_id):
        members = self._local.get(room)
        if members is not None:
            members.pop(conn_id, None)
            if not members:
                del self._local[room]
        _, last = await self._drop(room, conn_id)
        try:
            with self.link.guard(K.node_members(self.link.node_id)):
                await self.link.command("SREM", K.node_members(self.link.node_id), _entry(room, conn_id))
        except EngineError:
            self._dirty = True  # the reassert drops the stale entry
        return last

    async def members(self, room):
        with self.link.guard(K.presence(room)):
            raw = await self._redis.hgetall(K.presence(room))
        return [self._decode(v) for v in raw.values()]

    async def sample(self, room, limit):
        # One HSCAN page (COUNT is a hint: Redis may return fewer or more), not the whole hash.
        members: list[Member] = []
        cursor = 0
        with self.link.guard(K.presence(room)):
            while len(members) < limit:
                cursor, raw = await self._redis.hscan(K.presence(room), cursor, count=max(limit, 10))
                members.extend(self._decode(v) for v in raw.values())
                if cursor == 0:
                    break
        return members

    def _decode(self, raw: bytes) -> Member:
        member = self._decoded.get(raw)
        if member is None:
            member = _member(raw)
            if len(self._decoded) >= DECODED_MAX:
                del self._decoded[next(iter(self._decoded))]
            self._decoded[raw] = member
        return member

    async def user_count(self, room):
        with self.link.guard(K.presence(room)):
            return int(await self._redis.hlen(K.presence_users(room)))

    async def counts(self):
        with self.link.guard(K.PRESENCE_ROOMS):
            rooms = [r.decode() for r in await self._redis.smembers(K.PRESENCE_ROOMS)]
            pipe = self._redis.pipeline(transaction=False)
            for room in rooms:
                pipe.hlen(K.presence(room))
            sizes = await pipe.execute() if rooms else []
            counts = {}
            for room, n in zip(rooms, sizes):
                if n == 0:
                    # forget the empty room, then look again in case a member came meanwhile
                    await self._redis.srem(K.PRESENCE_ROOMS, room)
                    n = await self._redis.hlen(K.presence(room))
                    if n:
                        await self._redis.sadd(K.PRESENCE_ROOMS, room)
                if n:
                    counts[room] = n
        return counts

    # Node liveness -------------------------------------------------------------------------

    async def _beat(self) -> bool:
        """Refresh this node's alive key; True when it had been missing, or when another
        node swept this one (its member list is shorter than what it has): then this node
        writes its members back."""
        link = self.link
        alive, members = K.node_alive(link.node_id), K.node_members(link.node_id)
        with link.guard(alive):  # same slot as members; K.NODES may be on another shard
            previous = await self._redis.set(alive, "1", px=int(link.node_ttl * 1000), get=True)
            local = sum(len(m) for m in self._local.values()) - self._adding
            listed = await self._redis.scard(members) if local else 0
        with link.guard(K.NODES):
            await self._redis.sadd(K.NODES, link.node_id)
        return previous is None or listed < local

    async def _tick(self) -> None:
        """One heartbeat: beat, write back what is missing, sweep dead nodes."""
        try:
            missing = await self._beat()
            if missing and self._beaten:
                log.warning("node %s: its heartbeat lapsed (an outage?) or it was swept: "
                            "writing its members back", self.link.node_id)
                self._dirty = True
            self._beaten = True
        except EngineError as exc:
            self.beat_failures += 1
            log.debug("heartbeat not written: %s", exc)
        if self._dirty:
            await self._reassert()
        await self._sweep()

    async def _reassert(self) -> None:
        """This node's entries in Redis are exactly its live members (best effort per room).

        Entries listed for this node that it no longer has (left while Redis was down, or
        left over from an earlier run of a node with the same id) are removed and reported
        to ``on_expired``; members Redis lost (it restarted) are written again.
        """
        async with self._reassert_lock:
            self._dirty = False
            link = self.link
            try:
                with link.guard(K.node_members(link.node_id)):
                    listed = await self._redis.smembers(K.node_members(link.node_id))
            except EngineError:
                self._dirty = True
                return
            stale: dict[str, list[str]] = defaultdict(list)
            for raw in listed:
                room, conn_id = json.loads(raw)
                if conn_id not in self._local.get(room, {}):
                    stale[room].append(conn_id)
            for room, conns in stale.items():
                try:
                    await self._remove_expired(room, conns)
                    with link.guard(K.node_members(link.node_id)):
                        await self._redis.srem(K.node_members(link.node_id),
                                               *[_entry(room, c) for c in conns])
                except EngineError:
                    self._dirty = True
            for room, members in list(self._local.items()):
                for member in list(members.values()):
                    if member.conn_id not in self._local.get(room, {}):
                        continue  # left meanwhile
                    try:
                        await self._record(room, member)
                        with link.guard(K.node_members(link.node_id)):
                            await self._redis.sadd(K.node_members(link.node_id),
                                                   _entry(room, member.conn_id))
                        with link.guard(K.PRESENCE_ROOMS):
                            await self._redis.sadd(K.PRESENCE_ROOMS, room)
                    except EngineError:
                        self._dirty = True
                        break
            try:
                await self._beat()
                self._beaten = True
            except EngineError:
                self._dirty = True

    async def _sweep(self) -> None:
        """Remove the members of nodes whose heartbeat expired (one sweeper per dead node)."""
        link = self.link
        try:
            with link.guard(K.NODES):
                nodes = [n.decode() for n in await self._redis.smembers(K.NODES)]
        except EngineError:
            return
        for node in nodes:
            if node == link.node_id:
                continue
            try:
                await self._sweep_node(node)
            except EngineError as exc:
                log.debug("sweep of node %s postponed: %s", node, exc)

    async def _sweep_node(self, node: str) -> None:
        link = self.link
        with link.guard(K.node_alive(node)):  # the node's keys share one slot
            if await self._redis.exists(K.node_alive(node)):
                return
            claim_ms = int(max(10.0, link.node_ttl * 2) * 1000)
            if not await self._redis.set(K.node_reap(node), link.node_id, nx=True, px=claim_ms):
                return  # another node is on it
            listed = await self._redis.smembers(K.node_members(node))
        log.info("node %s stopped beating: removing its members", node)
        by_room: dict[str, list[str]] = defaultdict(list)
        for raw in listed:
            room, conn_id = json.loads(raw)
            by_room[room].append(conn_id)
        for room, conns in by_room.items():
            await self._remove_expired(room, conns)
        with link.guard(K.node_alive(node)):
            await self._redis.delete(K.node_members(node))
            gone = not await self._redis.exists(K.node_alive(node))
        if gone:
            with link.guard(K.NODES):
                await self._redis.srem(K.NODES, node)

    async def _remove_expired(self, room: str, conns: list[str]) -> None:
        """Remove these connections' entries from the room and report who was removed."""
        removed: list[Member] = []
        for conn_id in conns:
            member, _ = await self._drop(room, conn_id)
            if member is not None:
                removed.append(member)
        if removed and self.on_expired is not None:
            try:
                await self.on_expired(room, removed)
            except Exception:  # the edge's bug must not stop the sweep
                log.exception("room %s: on_expired failed", room)

    async def _shutdown(self) -> None:
        """A clean stop: this node's heartbeat goes at once, so others sweep its members."""
        try:
            await self._redis.delete(K.node_alive(self.link.node_id))
        except Exception:
            pass


class RedisStateStore(StateStore):
    def __init__(self, link: RedisLink) -> None:
        self.link = link
        # Global scope, as last read: (ns, key) -> value (None: absent), most recent last.
        self._global: OrderedDict[tuple[str, str], Any] = OrderedDict()
        # Whole global namespaces (small ones), refreshed on every heartbeat.
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._watched: set[str] = set()
        # Node-local token buckets used while a bucket's shard is unreachable.
        self._buckets: dict[str, tuple[float, float]] = {}
        #: Counters for metrics: global reads answered from this node's copy, and token
        #: buckets taken locally because their shard was unreachable.
        self.stale_reads = 0
        self.local_takes = 0

    # Global-scope cache --------------------------------------------------------------------

    def _cached(self, ns: str, key: str) -> tuple[bool, Any]:
        if (ns, key) in self._global:
            return True, self._global[(ns, key)]
        snapshot = self._snapshots.get(ns)
        if snapshot is not None:
            return True, snapshot.get(key)
        return False, None

    def _remember(self, ns: str, key: str, value: Any) -> None:
        self._global[(ns, key)] = value
        self._global.move_to_end((ns, key))
        while len(self._global) > GLOBAL_CACHE_SIZE:
            self._global.popitem(last=False)
        snapshot = self._snapshots.get(ns)
        if snapshot is not None:
            if value is None:
                snapshot.pop(key, None)
            else:
                snapshot[key] = value

    def _forget(self, ns: str, key: str) -> None:
        self._global.pop((ns, key), None)
        if ns in self._snapshots:
            self._snapshots.pop(ns, None)  # unknown now: re-read on the next refresh

    async def refresh_global(self) -> None:
        """Re-read every small global namespace this node reads (called on each heartbeat)."""
        for ns in list(self._watched):
            try:
                with self.link.guard(K.state("", ns)):
                    size = await self.link.redis.hlen(K.state("", ns))
                if size > GLOBAL_SNAPSHOT_MAX:
                    self._snapshots.pop(ns, None)
                    continue
                await self.items("", ns)
            except EngineError:
                return

    async def _global_read(self, ns: str, key: str | None, read):
        hkey = K.state("", ns)
        self._watched.add(ns)
        if self.link.shard_failing(hkey):
            hit, value = self._cached_read(ns, key)
            if hit:
                self.stale_reads += 1
                return value
        try:
            value = await read()
        except EngineUnavailable:
            hit, value = self._cached_read(ns, key)
            if hit:
                self.stale_reads += 1
                return value
            raise
        if key is None:
            self._snapshots[ns] = dict(value)
        else:
            self._remember(ns, key, value)
        return value

    def _cached_read(self, ns: str, key: str | None) -> tuple[bool, Any]:
        if key is None:
            snapshot = self._snapshots.get(ns)
            return (True, dict(snapshot)) if snapshot is not None else (False, None)
        return self._cached(ns, key)

    # StateStore ----------------------------------------------------------------------------

    async def get(self, scope, ns, key):
        if not scope:
            return await self._global_read(ns, key, lambda: self._get(scope, ns, key))
        return await self._get(scope, ns, key)

    async def get_many(self, scope, reads):
        if not scope or not reads:
            return [await self.get(scope, ns, key) for ns, key in reads]
        with self.link.guard():
            raws = await self.link.script("state_get_many", [K.state(scope, ns) for ns, _ in reads],
                                          [key for _, key in reads])
        return [json.loads(raw) if raw else None for raw in raws]

    async def _get(self, scope, ns, key):
        with self.link.guard():
            raw = await self.link.script("state_get", [K.state(scope, ns)], [key])
        return None if raw is None else json.loads(raw)

    async def _set(self, scope, ns, key, value, ttl, only_if_absent) -> bool:
        ttl_arg = "" if ttl is None else str(int(math.ceil(ttl * 1000)))
        if not scope:
            self._forget(ns, key)
        with self.link.guard():
            done = await self.link.script("state_set", [K.state(scope, ns)],
                                          [key, _dumps(value), ttl_arg, "1" if only_if_absent else "0"])
        if not scope and done and ttl is None:
            self._remember(ns, key, value)
        return bool(done)

    async def set(self, scope, ns, key, value, *, ttl=None):
        await self._set(scope, ns, key, value, ttl, False)

    async def add(self, scope, ns, key, value, *, ttl=None):
        return await self._set(scope, ns, key, value, ttl, True)

    async def delete(self, scope, ns, key):
        if not scope:
            self._forget(ns, key)
        with self.link.guard():
            done = bool(await self.link.script("state_delete", [K.state(scope, ns)], [key]))
        if not scope:
            self._remember(ns, key, None)
        return done

    async def items(self, scope, ns):
        if not scope:
            return await self._global_read(ns, None, lambda: self._items(scope, ns))
        return await self._items(scope, ns)

    async def _items(self, scope, ns):
        with self.link.guard():
            flat = await self.link.script("state_items", [K.state(scope, ns)], [])
        return {flat[i].decode(): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def take_token(self, key, *, rate, burst, cost=1.0):
        rkey = K.bucket(key)
        # A room's own bucket shares the room's fate; any other may be taken locally.
        local_ok = self.link.cluster and K.bucket_room(key) is None
        if local_ok and self.link.shard_failing(rkey):
            return self._take_local(key, rate, burst, cost)
        try:
            with self.link.guard():
                raw = await self.link.script("take_token", [rkey],
                                             [repr(float(rate)), repr(float(burst)), repr(float(cost))])
        except EngineUnavailable:
            if local_ok:
                return self._take_local(key, rate, burst, cost)
            raise
        wait = float(raw)
        return math.inf if wait < 0 else wait

    def _take_local(self, key: str, rate: float, burst: float, cost: float) -> float:
        self.local_takes += 1
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
        if tokens >= cost:
            tokens, wait = tokens - cost, 0.0
        else:
            wait = (cost - tokens) / rate if rate > 0 else math.inf
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > LOCAL_BUCKETS_MAX:
            for name, (t, s) in list(self._buckets.items()):
                if rate <= 0 or t + (now - s) * rate >= burst:  # full again: same as none
                    del self._buckets[name]
        return wait

    async def log_append(self, scope, log, entry, *, maxlen):
        with self.link.guard(K.log(scope, log)):
            entry_id = await self.link.redis.xadd(K.log(scope, log), {"d": _dumps(entry)},
                                                  maxlen=max(0, int(maxlen)), approximate=False)
        return entry_id.decode()

    async def log_read(self, scope, log, *, limit=100):
        if limit <= 0:
            return []
        with self.link.guard(K.log(scope, log)):
            entries = await self.link.redis.xrevrange(K.log(scope, log), "+", "-", count=limit)
        return [{**json.loads(fields[b"d"]), "id": entry_id.decode()} for entry_id, fields in entries]
