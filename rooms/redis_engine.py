"""The Redis engine: one LiveBridge node among many that share a Redis (or a Redis Cluster).

- Broker: a room is a hash ``meta`` {epoch, offset, trimmed} and a stream whose entry ids are
  ``<offset>-0``. One Lua script checks the idempotency key, gives the event the room's next
  offset, appends it to the stream (bounded by size, and by age like the in-memory engine),
  publishes it (PUBLISH, or SPUBLISH on a cluster) and remembers the idempotency key, so history
  order and live order are the same and each event has exactly one offset.
- Each node holds ONE pub/sub subscription per room it serves, on one pub/sub connection per
  Redis server (per cluster master) read by one listener task
  (:mod:`rooms.redis_pubsub`). Each message is decoded once. The node remembers the last
  offset it delivered per room and fills any gap it sees from the stream before delivering
  what follows, so the handler sees every event once, in order.
- Failure is tracked per shard (the one server, or each cluster master). When a pub/sub
  connection drops, only the rooms it carried are resubscribed: the supervisor refreshes the
  cluster's slot map, subscribes each room on the master that now owns its slot (one
  SSUBSCRIBE per slot: a sharded subscribe may not span slots) and fills every room from the
  last offset it delivered. It retries with a short backoff until it succeeds, counting and
  logging each failure; rooms on healthy shards are never touched.
- If a room's history is lost (expired, or Redis restarted without persistence) the room gets
  a new epoch, and readers holding offsets of the old epoch get ``recovered: false``.
- While a shard is unreachable every operation on it raises :class:`EngineUnavailable` within
  the socket timeout. :meth:`RedisEngine.health` is ``ok``, ``partial`` (some cluster shards
  failing: this node still serves every room on the others) or ``degraded`` (no Redis at all),
  with the state of every shard.

Presence and the state store live in :mod:`rooms.redis_state`; key names in
:mod:`rooms.redis_keys`; Lua in :mod:`rooms.redis_scripts`. docs/deploy.md documents every key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo

from rooms import redis_keys as K
from rooms import redis_scripts as S
from rooms.engine import (
    Broker,
    Engine,
    EngineError,
    EngineUnavailable,
    Event,
    EventHandler,
    HistoryResult,
    PublishResult,
    StreamPosition,
)
from rooms.redis_batch import CommandBatcher
from rooms.redis_pubsub import PubSubConnection
from rooms import redis_join
from rooms.redis_directory import SCRIPTS as DIRECTORY_SCRIPTS, RedisRoomDirectory
from rooms.redis_state import RedisPresence, RedisStateStore

UNWAITED_FOR = 5.0  # seconds a shard whose replica did not confirm is not waited on
log = logging.getLogger(__name__)

# Redis connections per node (per shard on a cluster).
MAX_CONNECTIONS = 256
# Read once: without it redis-py reads its own package metadata for every new connection
# (~1 ms each; a storm opens dozens at once).
_DRIVER_INFO = DriverInfo()

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
CLUSTER_SCHEME = CLUSTER_SCHEMES[0]
FILL_BATCH = 500
FILL_PARALLEL = 32
# Backoff of the supervisor between repair attempts: 50 ms doubling to this, with jitter.
BACKOFF_MAX = 0.5
# While a shard stays unreachable, log it again this often (the first failure at once).
LOG_EVERY = 10.0
MAIN = "main"

# Failures that mean "Redis is not reachable right now" rather than a bug.
_UNREACHABLE = (
    rex.ConnectionError, rex.TimeoutError, rex.ClusterDownError, rex.TryAgainError,
    rex.MasterDownError, rex.ReadOnlyError, rex.RedisClusterException, OSError,
    asyncio.TimeoutError,
)
# A cluster answer that means "ask someone else": the slot map is stale.
_REDIRECTS = (rex.MovedError, rex.AskError)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Seed nodes and client options of ``redis+cluster://[user:password@]h1:p1,h2:p2,...``.

    Any number of seeds may be listed (the client needs one that answers); the port defaults
    to 6379; ``rediss+cluster://`` turns on TLS. A plain ``redis://host:port`` is accepted too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a Redis URL: {url!r}")
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    options: dict[str, Any] = {}
    if scheme.startswith("rediss"):
        options["ssl"] = True
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, colon, password = auth.partition(":")
        if colon:
            if user:
                options["username"] = unquote(user)
            options["password"] = unquote(password)
        elif auth:
            options["password"] = unquote(auth)
    seeds = []
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):  # [ipv6]:port
            host, _, port = part[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
        seeds.append((host, int(port) if port else 6379))
    if not seeds:
        raise ValueError(f"no seed node in {url!r}")
    return seeds, options


@dataclass
class _RoomSub:
    """This node's subscription to one room."""

    room: str
    channel: bytes
    handler: EventHandler
    last: int = 0  # last offset delivered to the handler, in `epoch`
    epoch: str = ""
    # Not None while a fill from history is running: live events wait here meanwhile.
    buffer: list[Event] | None = field(default_factory=list)
    conn: PubSubConnection | None = None
    # pending (first subscribe running) | live | orphan (needs a subscription) |
    # subscribing (the supervisor is on it) | gone (unsubscribed)
    state: str = "pending"
    needs_fill: bool = False
    filling: bool = False


@dataclass
class _Shard:
    """One Redis server (one cluster master) as this node sees it."""

    name: str
    status: str = "ok"  # ok | failing
    error: str = ""
    since: float = 0.0  # monotonic time it started failing
    failures: int = 0  # failure episodes
    logged: float = 0.0

    @property
    def failing(self) -> bool:
        return self.status != "ok"


class RedisBroker(Broker):
    """Room events through Redis streams and pub/sub (see the module docstring)."""

    def __init__(self, engine: "RedisEngine") -> None:
        self.engine = engine

    # Writes --------------------------------------------------------------------------------

    async def publish(self, room, event, *, idempotency_key=None):
        e = self.engine
        body = {k: v for k, v in event.items() if k not in ("offset", "epoch")}
        ts = body.get("ts")
        ts_arg = str(int(ts)) if isinstance(ts, (int, float)) and math.isfinite(ts) else ""
        keys = [K.meta(room), K.stream(room), K.channel(room)]
        if idempotency_key is not None:
            keys.append(K.idempotency(room, idempotency_key))
        args = [_dumps(body), "" if self.origin is not None else secrets.token_hex(4), e.history_size,
                e.history_ttl_ms, e.idempotency_ttl_ms, e.publish_command, ts_arg]
        with e.guard():
            duplicate, payload = await e.script("publish", keys, args)
        if duplicate == 2:  # unopened: go on from the origin's position
            await self.open(room)
            args[1] = secrets.token_hex(4)
            with e.guard():
                duplicate, payload = await e.script("publish", keys, args)
        stored = json.loads(payload)
        if not duplicate:
            await e.replicated(K.meta(room))
        return PublishResult(stored["offset"], stored["epoch"], stored, duplicate=bool(duplicate))

    async def lookup(self, room, idempotency_key):
        with self.engine.guard(K.meta(room)):
            payload = await self.engine.redis.get(K.idempotency(room, idempotency_key))
        if payload is None:
            return None
        stored = json.loads(payload)
        return PublishResult(stored["offset"], stored["epoch"], stored, duplicate=True)

    async def broadcast(self, room, event):
        e = self.engine
        with e.guard():
            await e.script("broadcast", [K.channel(room)], [e.publish_command, "E" + _dumps(event)])

    async def retract(self, room, offsets):
        if not offsets:
            return 0
        with self.engine.guard(K.meta(room)):
            return int(await self.engine.redis.xdel(K.stream(room), *[f"{int(o)}-0" for o in offsets]))

    # Reads ---------------------------------------------------------------------------------

    async def open(self, room: str) -> None:
        """An unopened room (no meta in Redis) goes on from :attr:`origin`'s position."""
        position = await self.origin(room) if self.origin is not None else None
        if position is not None and position.offset > 0:
            e = self.engine
            with e.guard():
                await e.script("open", [K.meta(room), K.stream(room)],
                               [position.epoch, int(position.offset), e.history_ttl_ms])

    def history_args(self, mode: str, arg: int, limit: int, epoch: str | None) -> list[Any]:
        """The HISTORY script's arguments (also the JOIN script's history part)."""
        return ["" if self.origin is not None else secrets.token_hex(4), self.engine.history_ttl_ms, mode,
                int(arg), int(limit), epoch or ""]

    async def _read(self, room: str, mode: str, arg: int, limit: int, epoch: str | None):
        """(position, trimmed, mode used, events) of one HISTORY read."""
        out = await self._read_raw(room, mode, arg, limit, epoch)
        return self.history_result(out, None).position, int(out[2]), _text(out[3]), \
            [json.loads(p) for p in out[4:] if p is not None]

    async def _read_raw(self, room: str, mode: str, arg: int, limit: int, epoch: str | None):
        e = self.engine
        args = self.history_args(mode, arg, limit, epoch)
        with e.guard():
            out = await e.script("history", [K.meta(room), K.stream(room)], args)
        if _text(out[3]) == "unopened":
            await self.open(room)
            args[0] = secrets.token_hex(4)
            with e.guard():
                out = await e.script("history", [K.meta(room), K.stream(room)], args)
        return out

    @staticmethod
    def history_result(out: list[Any], since: int | None) -> HistoryResult:
        """A HISTORY reply as the result of a read with (or without) ``since``."""
        position = StreamPosition(int(out[1]), _text(out[0]))
        events = [json.loads(p) for p in out[4:] if p is not None]
        if since is None:
            return HistoryResult(events, position)
        if _text(out[3]) == "gone":
            return HistoryResult(events, position, recovered=False)
        if since > position.offset:
            return HistoryResult([], position, recovered=False)
        return HistoryResult(events, position, recovered=since >= int(out[2]))

    async def history(self, room, *, since=None, epoch=None, before=None, limit=50):
        if since is not None:
            return self.history_result(await self._read_raw(room, "since", since, limit, epoch), since)
        if before is not None:
            return self.history_result(await self._read_raw(room, "before", before, limit, None), None)
        return self.history_result(await self._read_raw(room, "tail", 0, limit, None), None)

    async def position(self, room):
        return self.history_result(await self._read_raw(room, "tail", 0, 0, None), None).position

    async def get_event(self, room, offset):
        entry_id = f"{int(offset)}-0"
        with self.engine.guard(K.meta(room)):
            entries = await self.engine.redis.xrange(K.stream(room), entry_id, entry_id)
        if not entries:
            return None
        return json.loads(entries[0][1][b"e"])

    # Subscriptions -------------------------------------------------------------------------

    async def subscribe(self, room, handler):
        await self.engine._subscribe(room, handler)

    async def unsubscribe(self, room):
        await self.engine._unsubscribe(room)


class RedisEngine(Engine):
    """One node of a LiveBridge cluster sharing a Redis or a Redis Cluster.

    ``url`` is ``redis://``, ``rediss://``, ``unix://`` or ``redis+cluster://h1:p1,h2:p2``
    (seed nodes of a Redis Cluster, any that answers will do; ``cluster=True`` does the same
    for a plain URL). Presence heartbeats default to every ``heartbeat_interval`` seconds (env
    ``LIVEBRIDGE_REDIS_HEARTBEAT``, default 5) with a node key TTL of ``node_ttl`` seconds
    (env ``LIVEBRIDGE_REDIS_NODE_TTL``, default 15).
    """

    def __init__(self, url: str, *, node_id: str, history_size: int = 1000,
                 history_ttl: float | None = None, idempotency_ttl: float = 300.0,
                 heartbeat_interval: float | None = None, node_ttl: float | None = None,
                 socket_timeout: float | None = None, cluster: bool | None = None) -> None:
        self.url = url
        self.node_id = node_id
        self.history_size = int(history_size)
        self.history_ttl = history_ttl
        self.history_ttl_ms = int(history_ttl * 1000) if history_ttl else 0
        self.idempotency_ttl_ms = max(1, int(idempotency_ttl * 1000))
        self.heartbeat_interval = heartbeat_interval or _env_float("LIVEBRIDGE_REDIS_HEARTBEAT", 5.0)
        self.node_ttl = node_ttl or _env_float("LIVEBRIDGE_REDIS_NODE_TTL", 15.0)
        self.socket_timeout = socket_timeout or _env_float("LIVEBRIDGE_REDIS_TIMEOUT", 1.5)
        self.ping_interval = max(0.5, min(2.0, self.heartbeat_interval))
        self.cluster = url.startswith(CLUSTER_SCHEMES) if cluster is None else cluster
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        # An ack means the message is on a replica too (when the shard has one that keeps up):
        # a master that dies right after an ack must not take the message with it.
        self.wait_replicas = 1 if self.cluster else 0
        self.wait_ms = int(_env_float("LIVEBRIDGE_REDIS_WAIT_MS", 250.0))
        self.unreplicated_acks = 0  # acks given before a replica confirmed (none up, or lagging)
        # A shard whose WAIT timed out (no replica since a failover, say) is not waited on again
        # for a while: its acks would each take wait_ms otherwise.
        self._unwaited: dict[str, float] = {}
        self.redis = self._make_client()
        # Scripts of concurrent callers share a pipeline (one write, not one per join); on a
        # cluster each goes alone, so one shard's failure reaches only its own callers.
        self.batcher = None if self.cluster else CommandBatcher(lambda: self.redis.pipeline(transaction=False))
        self._shas = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SCRIPTS.items()}
        self.broker = RedisBroker(self)
        self.presence = RedisPresence(self)
        self.state = RedisStateStore(self)
        self.directory = RedisRoomDirectory(self, self.state)
        self._rooms: dict[str, _RoomSub] = {}
        self._by_channel: dict[bytes, _RoomSub] = {}
        self._pubsubs: dict[str, PubSubConnection] = {}
        self._open_locks: dict[str, asyncio.Lock] = {}
        self._shards: dict[str, _Shard] = {} if self.cluster else {MAIN: _Shard(MAIN)}
        self._connected = False  # a first repair pass has succeeded
        self._suspect = True  # the slot map may be stale: refresh and check every shard
        self._last_error = ""
        self._wake = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._fills: set[asyncio.Task] = set()
        self._closed = False
        #: Counters for metrics (also in :meth:`health`).
        self.reconnects = 0  # pub/sub connections lost
        self.resubscribed = 0  # rooms subscribed again after their connection was lost
        self.resubscribe_failures = 0  # attempts to resubscribe that failed
        self.slot_refreshes = 0  # slot-map refreshes (cluster)

    # Clients -------------------------------------------------------------------------------

    def _make_client(self):
        common = dict(socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout,
                      retry=Retry(NoBackoff(), 0), decode_responses=False, protocol=2,
                      driver_info=_DRIVER_INFO)
        if self.cluster:
            seeds, options = parse_cluster_url(self.url)
            return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in seeds],
                                require_full_coverage=False, max_connections=MAX_CONNECTIONS,
                                **options, **common)
        # A blocking pool: a burst of joins waits a moment for a connection instead of
        # failing with "too many connections" (redis-py's default pool raises at its cap).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=MAX_CONNECTIONS, timeout=self.socket_timeout,
            health_check_interval=0, **common)
        return aioredis.Redis(connection_pool=pool)

    def _pubsub_factory(self, node=None):
        if node is None:
            pool = self.redis.connection_pool
            cls, kwargs = pool.connection_class, dict(pool.connection_kwargs)
        else:
            cls, kwargs = node.connection_class, dict(node.connection_kwargs)
        kwargs.update(socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout,
                      retry=Retry(NoBackoff(), 0))
        return lambda: cls(**kwargs)

    def _shard_name(self, key: str | bytes) -> str | None:
        """The shard that serves ``key`` now (None: the cluster's map has no owner for it)."""
        if not self.cluster:
            return MAIN
        try:
            return self.redis.get_node_from_key(key).name
        except Exception:
            return None

    def shard_failing(self, key: str) -> bool:
        """Whether the shard of ``key`` is known to be unreachable (so don't wait on it)."""
        if not self._connected:
            return False
        name = self._shard_name(key)
        if name is None:
            return True  # the slot has no master in the map
        shard = self._shards.get(name)
        if shard is None:  # redis-py learnt of a new master first: check it, meanwhile try
            self._suspect = True
            self._wake.set()
            return False
        return shard.failing

    def _refuse_if_failing(self, key: str | bytes) -> None:
        """On a cluster, fail at once for a key whose shard is known to be down: commands to
        it would only wait, and each failure makes redis-py refresh its slot map and
        recycle every connection, which healthy shards' rooms would feel."""
        if self.cluster and self._connected and self.shard_failing(key):
            name = self._shard_name(key)
            shard = self._shards.get(name) if name is not None else None
            raise EngineUnavailable(f"redis shard {name or '?'} unreachable: "
                                    f"{shard.error if shard else 'no master for the slot'}")

    @contextlib.contextmanager
    def guard(self, key: str | bytes | None = None):
        """Turn Redis failures into engine errors, and report the shard that failed. With
        ``key``, refuse at once when that key's shard is known to be unreachable."""
        if key is not None:
            self._refuse_if_failing(key)
        try:
            yield
        except EngineError:
            raise
        except _REDIRECTS as exc:  # not followed (too many redirects): refresh the map
            self._suspect = True
            self._wake.set()
            raise EngineUnavailable(f"redis cluster moving: {exc}") from exc
        except _UNREACHABLE as exc:
            self._report_failure(self._shard_of(exc), repr(exc))
            raise EngineUnavailable(f"redis unreachable: {exc}") from exc
        except rex.RedisError as exc:
            raise EngineError(f"redis: {exc}") from exc

    def _shard_of(self, exc: BaseException) -> str | None:
        if not self.cluster:
            return MAIN
        name = getattr(getattr(exc, "connection", None), "name", None)
        return name if isinstance(name, str) else None

    async def replicated(self, key: str) -> int:
        """WAIT for ``wait_replicas`` replicas of ``key``'s shard to have every write so far
        (at most ``wait_ms``); how many did. Best effort: with no replica up (right after a
        failover), the ack goes out after the wait rather than not at all."""
        if not self.wait_replicas:
            return 0
        node = self.redis.get_node_from_key(key) if self.cluster else None
        name = node.name if node is not None else MAIN
        if self._unwaited.get(name, 0.0) > time.monotonic():
            self.unreplicated_acks += 1
            return 0
        done = 0
        for _ in range(2):  # a replica's first ack after a quiet spell can miss one window
            try:
                if node is not None:
                    done = int(await self.redis.execute_command("WAIT", self.wait_replicas, self.wait_ms,
                                                                target_nodes=node))
                else:
                    done = int(await self.redis.execute_command("WAIT", self.wait_replicas, self.wait_ms))
            except Exception as exc:  # the write is done; its replication is not known
                log.debug("WAIT for %s failed: %s", key, exc)
                break
            if done >= self.wait_replicas:
                break
        if done < self.wait_replicas:
            self.unreplicated_acks += 1
            self._unwaited[name] = time.monotonic() + UNWAITED_FOR
            log.warning("shard %s: no replica confirmed a write within %d ms; acks go out unreplicated "
                        "for %.0f s", name, self.wait_ms, UNWAITED_FOR)
        return done

    async def command(self, *args: Any) -> Any:
        """One plain command (its first key second, as ``"SADD", key, member``), sharing a
        pipeline with concurrent callers' where the engine batches. Refused at once when that
        key's shard is known to be down (see :meth:`guard`)."""
        self._refuse_if_failing(args[1])
        if self.batcher is not None:
            return await self.batcher.execute(*args)
        return await self.redis.execute_command(*args)

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if keys:
            self._refuse_if_failing(keys[0])
        try:
            if self.batcher is not None:
                return await self.batcher.execute("EVALSHA", self._shas[name], len(keys), *keys, *args)
            return await self.redis.evalsha(self._shas[name], len(keys), *keys, *args)
        except rex.NoScriptError:
            # Not in this Redis yet (a new server, a restart, a promoted replica): send the
            # source once. Through the batcher too: a storm's first calls all land here at
            # once, and on the plain client each would take a pool connection, opening
            # dozens of new ones (redis-py reads its package metadata for every one).
            if self.batcher is not None:
                return await self.batcher.execute("EVAL", _SCRIPTS[name], len(keys), *keys, *args)
            return await self.redis.eval(_SCRIPTS[name], len(keys), *keys, *args)

    async def enter(self, room, member, *, reads, since=None, epoch=None, limit=50, record_unless=(),
                    record_if=()):
        return await redis_join.enter(self, room, member, reads=reads, since=since, epoch=epoch, limit=limit,
                                      record_unless=tuple(record_unless), record_if=tuple(record_if))

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._tasks = [asyncio.create_task(self._supervise(), name="redis-supervisor"),
                       asyncio.create_task(self._heartbeat(), name="redis-heartbeat")]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), self.socket_timeout * 3 + 2)
        if not self._connected:
            log.warning("redis engine started degraded: %s", self._last_error)

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        for task in list(self._fills):
            task.cancel()
        await self.presence._shutdown()
        for pubsub in list(self._pubsubs.values()):
            await pubsub.close()
        self._pubsubs.clear()
        if self.batcher is not None:
            await self.batcher.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # Health --------------------------------------------------------------------------------

    def _status(self) -> str:
        if not self._connected:
            return "degraded"
        failing = sum(1 for s in self._shards.values() if s.failing)
        orphans = any(s.state == "orphan" for s in self._rooms.values())
        if not self.cluster:
            return "degraded" if failing or orphans else "ok"
        if not self._shards or failing >= len(self._shards):
            return "degraded"
        return "partial" if failing or orphans else "ok"

    def health(self) -> dict[str, Any]:
        """``status``: ``ok``; ``partial`` (some cluster shards unreachable: rooms on the others
        are served); ``degraded`` (no Redis at all). Counters for metrics, and every shard."""
        status = self._status()
        rooms_on: dict[str | None, int] = {}
        orphans = 0
        for sub in self._rooms.values():
            if sub.state == "orphan":
                orphans += 1
            name = sub.conn.name if sub.conn is not None else self._shard_name(sub.channel)
            rooms_on[name] = rooms_on.get(name, 0) + 1
        now = time.monotonic()
        shards = []
        for shard in sorted(self._shards.values(), key=lambda s: s.name):
            entry: dict[str, Any] = {"name": shard.name, "status": shard.status,
                                     "rooms": rooms_on.get(shard.name, 0), "failures": shard.failures}
            if shard.failing:
                entry["error"] = shard.error
                entry["failing_for"] = round(now - shard.since, 3)
            shards.append(entry)
        body = {"status": status, "engine": "redis", "node": self.node_id,
                "redis": {"ok": "connected", "partial": "partial"}.get(status, "reconnecting"),
                "cluster": self.cluster, "rooms": len(self._rooms), "orphaned_rooms": orphans,
                "reconnects": self.reconnects, "resubscribed": self.resubscribed,
                "resubscribe_failures": self.resubscribe_failures,
                "slot_refreshes": self.slot_refreshes, "unreplicated_acks": self.unreplicated_acks,
                "heartbeat_failures": self.presence.beat_failures,
                "stale_global_reads": self.state.stale_reads,
                "local_token_buckets": self.state.local_takes,
                "shards": shards}
        if self.batcher is not None:
            body["pipelined"] = {"pipelines": self.batcher.pipelines, "commands": self.batcher.commands}
        if status != "ok" and self._last_error:
            body["error"] = self._last_error
        return body

    def _report_failure(self, name: str | None, reason: str) -> None:
        if self._closed:
            return
        self._last_error = reason
        shard = self._shards.get(name) if name is not None else None
        if shard is None:
            self._suspect = True
        elif not shard.failing:
            shard.status, shard.error, shard.since = "failing", reason, time.monotonic()
            shard.failures += 1
            shard.logged = shard.since
            log.warning("redis %s unreachable: %s", "shard " + shard.name if self.cluster else "server",
                        reason)
        else:
            shard.error = reason
        self._wake.set()

    # Supervision ---------------------------------------------------------------------------

    def _needs_repair(self) -> bool:
        return (not self._connected or self._suspect
                or any(s.failing for s in self._shards.values())
                or any(s.state == "orphan" or (s.needs_fill and not s.filling)
                       for s in self._rooms.values())
                or self.presence._dirty
                or (not self.cluster and not self._main_alive()))

    def _main_alive(self) -> bool:
        pubsub = self._pubsubs.get(MAIN)
        return pubsub is not None and pubsub.alive

    async def _supervise(self) -> None:
        """Repair what failed, with backoff, until nothing needs it; then wait for news."""
        backoff = 0.05
        while not self._closed:
            if not self._needs_repair():
                backoff = 0.05
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.heartbeat_interval)
                continue
            try:
                await self._repair()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = repr(exc)
                log.debug("redis repair failed: %r", exc)
            self._first_attempt.set()
            if self._needs_repair():
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _repair(self) -> None:
        """One pass: refresh the slot map, check shards, resubscribe orphans, fill, reassert."""
        check_all = self._suspect or not self._connected
        self._suspect = False
        if self.cluster:
            await self._refresh_slots()
        recovered = await self._check_shards(check_all)
        if not self.cluster and not self._main_alive() and not self._shards[MAIN].failing:
            try:  # the node's connection even with no rooms: it notices an outage at once
                await self._pubsub(MAIN)
            except _UNREACHABLE as exc:
                self._report_failure(MAIN, f"pub/sub: {exc!r}")
        if recovered or not self._connected:
            self.presence._dirty = True
        await self._resubscribe_orphans()
        await self._refill()
        if self.presence._dirty and not all(s.failing for s in self._shards.values()):
            await self.presence._reassert()
        if not self._connected and not any(s.failing for s in self._shards.values()):
            self._connected = True
            self._last_error = ""
            log.info("redis engine connected (%d rooms)", len(self._rooms))
        if self._status() == "ok" and recovered:
            log.info("redis engine recovered (%d rooms)", len(self._rooms))

    async def _refresh_slots(self) -> None:
        """Ask the cluster who owns which slot now (redis-py refreshes only when told)."""
        try:
            if getattr(self.redis, "_initialize", False):
                await self.redis.initialize()
            else:
                await self.redis.nodes_manager.initialize()
            self.slot_refreshes += 1
        except Exception as exc:
            self._last_error = f"slot map: {exc!r}"
            for shard in self._shards.values():
                self._report_failure(shard.name, self._last_error)
            raise
        primaries = {node.name for node in self.redis.get_primaries()}
        for name in list(self._shards):
            if name not in primaries:  # not a master any more (failed over, or removed)
                del self._shards[name]
                pubsub = self._pubsubs.pop(name, None)
                if pubsub is not None:
                    self._orphan(pubsub)
                    await pubsub.close()
        for name in primaries:
            if name not in self._shards:
                # a new master (a promoted replica): unknown until it answers
                self._shards[name] = _Shard(name, status="failing", error="not checked yet",
                                            since=time.monotonic())

    async def _check_shards(self, check_all: bool) -> list[str]:
        """PING the shards that failed (or all); returns those that answer again."""
        recovered = []

        async def check(shard: _Shard) -> None:
            try:
                if self.cluster:
                    node = self.redis.get_node(node_name=shard.name)
                    if node is None:
                        raise rex.ConnectionError(f"{shard.name} is not in the slot map")
                    await asyncio.wait_for(node.execute_command("PING"), self.socket_timeout)
                else:
                    await asyncio.wait_for(self.redis.ping(), self.socket_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._report_failure(shard.name, repr(exc))
                self._log_still_failing(shard)
                return
            if shard.failing:
                if shard.error != "not checked yet":
                    log.info("redis %s reachable again after %.2fs", shard.name,
                             time.monotonic() - shard.since)
                shard.status, shard.error = "ok", ""
                recovered.append(shard.name)

        await asyncio.gather(*[check(s) for s in list(self._shards.values())
                               if check_all or s.failing])
        return recovered

    def _log_still_failing(self, shard: _Shard) -> None:
        now = time.monotonic()
        if now - shard.logged >= LOG_EVERY:
            shard.logged = now
            waiting = sum(1 for s in self._rooms.values()
                          if s.state == "orphan" and self._shard_name(s.channel) == shard.name)
            log.warning("redis %s still unreachable after %.1fs (%d rooms waiting): %s",
                        shard.name, now - shard.since, waiting, shard.error)

    async def _pubsub(self, name: str) -> PubSubConnection:
        """The live pub/sub connection to shard ``name``, opened if needed."""
        pubsub = self._pubsubs.get(name)
        if pubsub is not None and pubsub.alive:
            return pubsub
        async with self._open_locks.setdefault(name, asyncio.Lock()):
            pubsub = self._pubsubs.get(name)
            if pubsub is not None and pubsub.alive:
                return pubsub
            if self.cluster:
                node = self.redis.get_node(node_name=name)
                if node is None:
                    raise rex.ConnectionError(f"{name} is not in the slot map")
                factory = self._pubsub_factory(node)
            else:
                factory = self._pubsub_factory()
            pubsub = PubSubConnection(
                name, factory, sharded=self.cluster, timeout=self.socket_timeout,
                ping_interval=self.ping_interval, on_message=self._on_message,
                on_dropped=self._on_dropped, on_lost=self._on_pubsub_lost)
            await pubsub.open()
            self._pubsubs[name] = pubsub
            return pubsub

    def _orphan(self, pubsub: PubSubConnection) -> int:
        count = 0
        for sub in self._rooms.values():
            if sub.conn is pubsub and sub.state == "live":
                sub.state, sub.conn = "orphan", None
                count += 1
        return count

    def _on_pubsub_lost(self, pubsub: PubSubConnection, reason: str) -> None:
        if self._pubsubs.get(pubsub.name) is pubsub:
            del self._pubsubs[pubsub.name]
        if self._closed:
            return
        self.reconnects += 1
        rooms = self._orphan(pubsub)
        log.info("pub/sub connection to %s lost (%d rooms to resubscribe): %s", pubsub.name,
                 rooms, reason)
        self._report_failure(pubsub.name if pubsub.name in self._shards else None,
                             f"pub/sub {pubsub.name}: {reason}")

    def _on_dropped(self, channel: bytes, pubsub: PubSubConnection) -> None:
        sub = self._by_channel.get(channel)
        if sub is not None and sub.conn is pubsub and sub.state == "live":
            log.info("room %s: shard %s dropped its channel (slot moved)", sub.room, pubsub.name)
            sub.state, sub.conn = "orphan", None
            self._suspect = True
            self._wake.set()

    async def _resubscribe_orphans(self) -> None:
        groups: dict[str, dict[int, list[_RoomSub]]] = {}
        for sub in list(self._rooms.values()):
            if sub.state != "orphan":
                continue
            name = self._shard_name(sub.channel)
            shard = self._shards.get(name) if name is not None else None
            if shard is None or shard.failing:
                continue  # not yet: its shard has no reachable master
            slot = self.redis.keyslot(sub.channel) if self.cluster else 0
            groups.setdefault(name, {}).setdefault(slot, []).append(sub)

        async def on_shard(name: str, slots: dict[int, list[_RoomSub]]) -> None:
            try:
                pubsub = await self._pubsub(name)
            except Exception as exc:
                self.resubscribe_failures += 1
                self._report_failure(name, f"pub/sub: {exc!r}")
                return
            for subs in slots.values():
                for sub in subs:
                    sub.state, sub.conn = "subscribing", pubsub
                    if sub.buffer is None:
                        sub.buffer = []
                try:
                    await pubsub.subscribe([sub.channel for sub in subs])
                except Exception as exc:
                    for sub in subs:
                        if sub.state == "subscribing":
                            sub.state, sub.conn = "orphan", None
                    self.resubscribe_failures += 1
                    log.warning("cannot resubscribe %d room(s) on %s: %r", len(subs), name, exc)
                    if isinstance(exc, rex.ResponseError):
                        self._suspect = True  # MOVED: the slot map is stale
                    else:
                        self._report_failure(name, f"resubscribe: {exc!r}")
                    return
                for sub in subs:
                    if self._rooms.get(sub.room) is not sub or sub.state != "subscribing":
                        with contextlib.suppress(Exception):
                            await pubsub.unsubscribe(sub.channel)
                        continue
                    sub.state, sub.needs_fill = "live", True
                    self.resubscribed += 1

        await asyncio.gather(*[on_shard(n, slots) for n, slots in groups.items()])

    async def _refill(self) -> None:
        subs = [s for s in self._rooms.values() if s.state == "live" and s.needs_fill and not s.filling]
        for i in range(0, len(subs), FILL_PARALLEL):
            await asyncio.gather(*[self._fill(sub) for sub in subs[i:i + FILL_PARALLEL]])

    # Subscriptions -------------------------------------------------------------------------

    async def _subscribe(self, room: str, handler: EventHandler) -> None:
        existing = self._rooms.get(room)
        if existing is not None:
            existing.handler = handler
            return
        channel = K.channel(room).encode()
        name = self._shard_name(channel)
        shard = self._shards.get(name) if name is not None else None
        if not self._connected or shard is None or shard.failing:
            error = shard.error if shard is not None else "no reachable master for the room"
            raise EngineUnavailable(f"redis unreachable: {error or self._last_error}")
        sub = _RoomSub(room, channel, handler)
        self._rooms[room] = sub
        self._by_channel[sub.channel] = sub
        try:
            try:
                sub.conn = await self._pubsub(name)
                await sub.conn.subscribe([sub.channel])
            except _REDIRECTS as exc:
                self._suspect = True
                self._wake.set()
                raise EngineUnavailable(f"redis cluster moving: {exc}") from exc
            except _UNREACHABLE as exc:
                self._report_failure(name, f"subscribe: {exc!r}")
                raise EngineUnavailable(f"redis unreachable: {exc}") from exc
            position = await self.broker.position(room)
        except BaseException:
            if self._rooms.get(room) is sub:
                del self._rooms[room]
                self._by_channel.pop(sub.channel, None)
            if sub.conn is not None:
                with contextlib.suppress(Exception):
                    await sub.conn.unsubscribe(sub.channel)
            raise
        if sub.conn.alive:
            sub.state = "live"
        else:  # lost while we were reading the position: the supervisor resubscribes it
            sub.state, sub.conn = "orphan", None
            self._wake.set()
        sub.epoch = position.epoch
        buffered = [e for e in sub.buffer or () if e.get("epoch") == position.epoch]
        sub.last = min(e["offset"] for e in buffered) - 1 if buffered else position.offset
        await self._drain(sub)

    async def _unsubscribe(self, room: str) -> None:
        sub = self._rooms.pop(room, None)
        if sub is None:
            return
        sub.state = "gone"
        self._by_channel.pop(sub.channel, None)
        if sub.conn is not None:
            with contextlib.suppress(Exception):
                await sub.conn.unsubscribe(sub.channel)

    # Delivery ------------------------------------------------------------------------------

    async def _on_message(self, channel: bytes, data: bytes, pubsub: PubSubConnection) -> None:
        sub = self._by_channel.get(channel)
        if sub is None or sub.conn is not pubsub or not data:
            return
        try:
            event = json.loads(data[1:])
        except ValueError:
            log.warning("room %s: undecodable message dropped", sub.room)
            return
        if data[:1] == b"E":
            await self._call(sub, event)
            return
        if sub.buffer is not None:
            sub.buffer.append(event)
            return
        offset, epoch = event["offset"], event["epoch"]
        if epoch != sub.epoch:  # the room's history was reset: start over in the new epoch
            sub.epoch, sub.last = epoch, 0
        if offset <= sub.last:
            return
        if offset > sub.last + 1:  # a gap on the live stream: fill it from history first
            sub.buffer = [event]
            task = asyncio.create_task(self._fill(sub), name=f"redis-fill-{sub.room}")
            self._fills.add(task)
            task.add_done_callback(self._fills.discard)
            return
        sub.last = offset
        await self._call(sub, event)

    async def _fill(self, sub: _RoomSub) -> None:
        """Deliver what the stream has after ``sub.last``, then what was buffered meanwhile.

        On failure the room keeps buffering and the supervisor fills it again later."""
        if sub.filling:
            sub.needs_fill = True
            return
        sub.filling = True
        try:
            while self._rooms.get(sub.room) is sub:
                position, _, mode, events = await self.broker._read(
                    sub.room, "since", sub.last, FILL_BATCH, sub.epoch)
                if mode == "gone":
                    sub.epoch, sub.last = position.epoch, 0
                    continue
                delivered = False
                for event in events:
                    if event["offset"] > sub.last:
                        sub.last = event["offset"]
                        delivered = True
                        await self._call(sub, event)
                if not delivered or sub.last >= position.offset:
                    break
            sub.needs_fill = False
            await self._drain(sub)
        except Exception as exc:
            log.debug("room %s: fill failed: %r", sub.room, exc)
            sub.needs_fill = True
            self._wake.set()
        finally:
            sub.filling = False

    async def _drain(self, sub: _RoomSub) -> None:
        while sub.buffer:
            event = sub.buffer.pop(0)
            if event["epoch"] != sub.epoch:
                sub.epoch, sub.last = event["epoch"], 0
            if event["offset"] > sub.last:
                sub.last = event["offset"]
                await self._call(sub, event)
        sub.buffer = None

    async def _call(self, sub: _RoomSub, event: Event) -> None:
        try:
            result = sub.handler(sub.room, event)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a subscriber's bug must not stop the listener
            log.exception("room %s: subscriber failed on event", sub.room)

    # Heartbeats ----------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Beat and sweep on every beat, degraded or not: a node that stops beating while it
        is busy recovering would be swept as dead by the others."""
        while not self._closed:
            if self._connected:
                try:
                    await self.presence._tick()
                    await self.state.refresh_global()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("heartbeat failed: %r", exc)
            await asyncio.sleep(self.heartbeat_interval)


_SCRIPTS = {
    "publish": S.PUBLISH,
    "history": S.HISTORY,
    "open": S.OPEN,
    "broadcast": "return redis.call(ARGV[1], KEYS[1], ARGV[2])",
    "state_set": S.STATE_SET,
    "state_get": S.STATE_GET,
    "state_get_many": S.STATE_GET_MANY,
    "state_delete": S.STATE_DELETE,
    "state_items": S.STATE_ITEMS,
    "take_token": S.TAKE_TOKEN,
    "presence_add": S.PRESENCE_ADD,
    "join": S.JOIN,
    "presence_remove": S.PRESENCE_REMOVE,
    **DIRECTORY_SCRIPTS,
}
