"""Presence and the shared state store of the Redis engine.

Presence: each room's members are a hash ``lb:{room}:presence`` (conn id -> member JSON with
its node). Each node keeps ``lb:node:{id}:alive`` alive with a TTL and lists its own members
in ``lb:node:{id}:members``. Every node sweeps: a node listed in ``lb:nodes`` whose alive key
has expired is claimed by one sweeper (SET NX), its members are removed and leave events are
broadcast for them, once. A dead node's members are gone within node_ttl + heartbeat_interval
(plus one sweep), see docs/deploy.md.

State: one hash per (scope, namespace); each field holds ``<expires ms>|<JSON>`` and expiry is
judged by Redis's clock inside Lua, so every node agrees. Token buckets and logs as in
:mod:`rooms.engine`.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rooms import redis_keys as K
from rooms.engine import Member, Presence, StateStore

if TYPE_CHECKING:
    from rooms.redis_engine import RedisEngine

log = logging.getLogger(__name__)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _member_json(member: Member, node: str) -> str:
    return _dumps({"conn_id": member.conn_id, "user_id": member.user_id, "name": member.name,
                   "lang": member.lang, "role": member.role, "node": member.node or node,
                   "extra": member.extra})


def _member(raw: bytes | str) -> Member:
    data = json.loads(raw)
    return Member(conn_id=data["conn_id"], user_id=data["user_id"], name=data["name"],
                  lang=data["lang"], role=data.get("role", "member"), node=data.get("node", ""),
                  extra=data.get("extra") or {})


def _entry(room: str, conn_id: str) -> str:
    return _dumps([room, conn_id])


class RedisPresence(Presence):
    def __init__(self, engine: "RedisEngine") -> None:
        self.engine = engine
        # This node's own members: reasserted after a Redis outage, and the truth when
        # cleaning up entries that a failed remove() left behind.
        self._local: dict[str, dict[str, Member]] = {}

    @property
    def _redis(self):
        return self.engine.redis

    async def add(self, room, member):
        self._local.setdefault(room, {})[member.conn_id] = member
        with self.engine.guard():
            await self._write(room, member)

    async def _write(self, room: str, member: Member) -> None:
        await self._redis.hset(K.presence(room), member.conn_id, _member_json(member, self.engine.node_id))
        await self._redis.sadd(K.node_members(self.engine.node_id), _entry(room, member.conn_id))
        await self._redis.sadd(K.PRESENCE_ROOMS, room)

    async def remove(self, room, conn_id):
        members = self._local.get(room)
        if members is not None:
            members.pop(conn_id, None)
            if not members:
                del self._local[room]
        with self.engine.guard():
            await self._redis.hdel(K.presence(room), conn_id)
            await self._redis.srem(K.node_members(self.engine.node_id), _entry(room, conn_id))

    async def members(self, room):
        with self.engine.guard():
            raw = await self._redis.hgetall(K.presence(room))
        return [_member(v) for v in raw.values()]

    async def counts(self):
        with self.engine.guard():
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

    async def _beat(self) -> None:
        e = self.engine
        await self._redis.set(K.node_alive(e.node_id), "1", px=int(e.node_ttl * 1000))
        await self._redis.sadd(K.NODES, e.node_id)

    async def _reassert(self) -> None:
        """After (re)connecting: this node's entries in Redis are exactly its live members.

        Entries listed for this node that it no longer has (left while Redis was down, or
        left over from an earlier run of a node with the same id) are removed, with leave
        events; members Redis lost (it restarted) are written again.
        """
        e = self.engine
        listed = await self._redis.smembers(K.node_members(e.node_id))
        stale: dict[str, list[str]] = defaultdict(list)
        for raw in listed:
            room, conn_id = json.loads(raw)
            if conn_id not in self._local.get(room, {}):
                stale[room].append(conn_id)
        for room, conns in stale.items():
            await self._remove_and_announce(room, conns)
            await self._redis.srem(K.node_members(e.node_id), *[_entry(room, c) for c in conns])
        for room, members in list(self._local.items()):
            for member in list(members.values()):
                await self._write(room, member)
        await self._beat()

    async def _sweep(self) -> None:
        """Remove the members of nodes whose heartbeat expired (one sweeper per dead node)."""
        e = self.engine
        nodes = [n.decode() for n in await self._redis.smembers(K.NODES)]
        for node in nodes:
            if node == e.node_id or await self._redis.exists(K.node_alive(node)):
                continue
            claim_ms = int(max(10.0, e.node_ttl * 2) * 1000)
            if not await self._redis.set(K.node_reap(node), e.node_id, nx=True, px=claim_ms):
                continue  # another node is on it
            log.info("node %s stopped beating: removing its members", node)
            by_room: dict[str, list[str]] = defaultdict(list)
            for raw in await self._redis.smembers(K.node_members(node)):
                room, conn_id = json.loads(raw)
                by_room[room].append(conn_id)
            for room, conns in by_room.items():
                await self._remove_and_announce(room, conns)
            await self._redis.delete(K.node_members(node))
            if not await self._redis.exists(K.node_alive(node)):
                await self._redis.srem(K.NODES, node)

    async def _remove_and_announce(self, room: str, conns: list[str]) -> None:
        key = K.presence(room)
        removed: list[Member] = []
        for conn_id in conns:
            raw = await self._redis.hget(key, conn_id)
            if raw is not None and await self._redis.hdel(key, conn_id):
                removed.append(_member(raw))
        if not removed:
            return
        remaining = {_member(v).user_id for v in (await self._redis.hgetall(key)).values()}
        announced: set[str] = set()
        for member in removed:
            if member.user_id in remaining or member.user_id in announced:
                continue
            announced.add(member.user_id)
            await self.engine.broker.broadcast(room, {
                "type": "presence", "room": room, "event": "leave", "member": member.public(),
                "conn": member.conn_id,
            })

    async def _shutdown(self) -> None:
        """A clean stop: this node's members leave and its heartbeat goes at once."""
        e = self.engine
        try:
            await self._redis.delete(K.node_alive(e.node_id))
        except Exception:
            pass


class RedisStateStore(StateStore):
    def __init__(self, engine: "RedisEngine") -> None:
        self.engine = engine

    async def get(self, scope, ns, key):
        with self.engine.guard():
            raw = await self.engine.script("state_get", [K.state(scope, ns)], [key])
        return None if raw is None else json.loads(raw)

    async def _set(self, scope, ns, key, value, ttl, only_if_absent) -> bool:
        ttl_arg = "" if ttl is None else str(int(math.ceil(ttl * 1000)))
        with self.engine.guard():
            done = await self.engine.script("state_set", [K.state(scope, ns)],
                                            [key, _dumps(value), ttl_arg, "1" if only_if_absent else "0"])
        return bool(done)

    async def set(self, scope, ns, key, value, *, ttl=None):
        await self._set(scope, ns, key, value, ttl, False)

    async def add(self, scope, ns, key, value, *, ttl=None):
        return await self._set(scope, ns, key, value, ttl, True)

    async def delete(self, scope, ns, key):
        with self.engine.guard():
            return bool(await self.engine.script("state_delete", [K.state(scope, ns)], [key]))

    async def items(self, scope, ns):
        with self.engine.guard():
            flat = await self.engine.script("state_items", [K.state(scope, ns)], [])
        return {flat[i].decode(): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def take_token(self, key, *, rate, burst, cost=1.0):
        with self.engine.guard():
            raw = await self.engine.script("take_token", [K.bucket(key)],
                                           [repr(float(rate)), repr(float(burst)), repr(float(cost))])
        wait = float(raw)
        return math.inf if wait < 0 else wait

    async def log_append(self, scope, log, entry, *, maxlen):
        with self.engine.guard():
            entry_id = await self.engine.redis.xadd(K.log(scope, log), {"d": _dumps(entry)},
                                                    maxlen=max(0, int(maxlen)), approximate=False)
        return entry_id.decode()

    async def log_read(self, scope, log, *, limit=100):
        if limit <= 0:
            return []
        with self.engine.guard():
            entries = await self.engine.redis.xrevrange(K.log(scope, log), "+", "-", count=limit)
        return [{**json.loads(fields[b"d"]), "id": entry_id.decode()} for entry_id, fields in entries]
