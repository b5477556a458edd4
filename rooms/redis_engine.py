"""The Redis engine: one LiveBridge node among many that share a Redis (or a Redis Cluster).

- Broker: a room is a hash ``meta`` {epoch, offset, trimmed} and a stream whose entry ids are
  ``<offset>-0``. One Lua script checks the idempotency key, gives the event the room's next
  offset, appends it to the stream (bounded by size, and by age like the in-memory engine),
  publishes it (PUBLISH, or SPUBLISH on a cluster) and remembers the idempotency key, so history
  order and live order are the same and each event has exactly one offset.
- Each node holds ONE pub/sub subscription per room it serves, on one pub/sub connection per
  Redis server (per shard on a cluster) read by one listener task. Each message is decoded
  once. The listener remembers the last offset it delivered per room and fills any gap it sees
  from the stream before delivering what follows; after a Redis outage it resubscribes every
  room and fills from the last offset delivered, so the handler sees every event once, in order.
- If a room's history is lost (expired, or Redis restarted without persistence) the room gets
  a new epoch, and readers holding offsets of the old epoch get ``recovered: false``.
- While Redis is unreachable every operation raises :class:`EngineUnavailable` within the
  socket timeout, :meth:`health` says degraded, and a reconnect loop with backoff restores the
  subscriptions.

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
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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

log = logging.getLogger(__name__)

# Redis connections per node (per shard on a cluster).
MAX_CONNECTIONS = 256

CLUSTER_SCHEME = "redis+cluster://"
FILL_BATCH = 500

# Failures that mean "Redis is not reachable right now" rather than a bug.
_UNREACHABLE = (
    rex.ConnectionError, rex.TimeoutError, rex.ClusterDownError, rex.TryAgainError,
    rex.MasterDownError, rex.ReadOnlyError, rex.RedisClusterException, OSError,
    asyncio.TimeoutError,
)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
    conn: "_PubSub | None" = None


class _PubSub:
    """One pub/sub connection (to the Redis server, or to one cluster shard) and its reader."""

    def __init__(self, engine: "RedisEngine", name: str, factory, sharded: bool) -> None:
        self.engine = engine
        self.name = name
        self.factory = factory
        self.sharded = sharded
        self.conn = None
        self.task: asyncio.Task | None = None
        self.waiters: dict[bytes, list[asyncio.Future]] = {}
        self.closed = False

    async def open(self) -> None:
        self.conn = self.factory()
        await asyncio.wait_for(self.conn.connect(), self.engine.socket_timeout + 1)
        self.task = asyncio.create_task(self._read(), name=f"redis-pubsub-{self.name}")

    async def subscribe(self, channels: list[bytes]) -> None:
        if not channels:
            return
        loop = asyncio.get_running_loop()
        futures = []
        for channel in channels:
            future = loop.create_future()
            self.waiters.setdefault(channel, []).append(future)
            futures.append(future)
        await self.conn.send_command("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", *channels)
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.engine.socket_timeout + 1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    async def unsubscribe(self, channel: bytes) -> None:
        if self.conn is not None and not self.closed:
            await self.conn.send_command("SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE", channel)

    async def _read(self) -> None:
        idle = 0
        interval = self.engine.ping_interval
        try:
            while True:
                response = await self.conn.read_response(timeout=interval, disconnect_on_error=False)
                if response is None:
                    idle += 1
                    if idle > 2:
                        raise rex.TimeoutError("pub/sub connection silent")
                    await self.conn.send_command("PING")
                    continue
                idle = 0
                if not isinstance(response, list) or not response:
                    continue
                kind = response[0]
                if kind in (b"message", b"smessage"):
                    await self.engine._on_message(response[1], response[2])
                elif kind in (b"subscribe", b"ssubscribe"):
                    for future in self.waiters.pop(response[1], []):
                        if not future.done():
                            future.set_result(None)
                elif kind == b"sunsubscribe" and self.engine._wants(response[1], self):
                    # the slot moved away from this shard: resubscribe everything
                    raise rex.ConnectionError("shard channel unsubscribed by the server")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.closed:
                self.engine._signal_failure(f"pub/sub {self.name}: {exc!r}")
        finally:
            for futures in self.waiters.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(rex.ConnectionError("pub/sub connection lost"))
            self.waiters.clear()

    async def close(self) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.disconnect(nowait=True)


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
        args = [_dumps(body), secrets.token_hex(4), e.history_size, e.history_ttl_ms,
                e.idempotency_ttl_ms, e.publish_command, ts_arg]
        with e.guard():
            duplicate, payload = await e.script("publish", keys, args)
        stored = json.loads(payload)
        return PublishResult(stored["offset"], stored["epoch"], stored, duplicate=bool(duplicate))

    async def lookup(self, room, idempotency_key):
        with self.engine.guard():
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
        with self.engine.guard():
            return int(await self.engine.redis.xdel(K.stream(room), *[f"{int(o)}-0" for o in offsets]))

    # Reads ---------------------------------------------------------------------------------

    async def _read(self, room: str, mode: str, arg: int, limit: int, epoch: str | None):
        e = self.engine
        args = [secrets.token_hex(4), e.history_ttl_ms, mode, int(arg), int(limit), epoch or ""]
        with e.guard():
            out = await e.script("history", [K.meta(room), K.stream(room)], args)
        position = StreamPosition(int(out[1]), _text(out[0]))
        return position, int(out[2]), _text(out[3]), [json.loads(p) for p in out[4:] if p is not None]

    async def history(self, room, *, since=None, epoch=None, before=None, limit=50):
        if since is not None:
            position, trimmed, mode, events = await self._read(room, "since", since, limit, epoch)
            if mode == "gone":
                return HistoryResult(events, position, recovered=False)
            if since > position.offset:
                return HistoryResult([], position, recovered=False)
            return HistoryResult(events, position, recovered=since >= trimmed)
        if before is not None:
            position, _, _, events = await self._read(room, "before", before, limit, None)
        else:
            position, _, _, events = await self._read(room, "tail", 0, limit, None)
        return HistoryResult(events, position)

    async def position(self, room):
        position, _, _, _ = await self._read(room, "tail", 0, 0, None)
        return position

    async def get_event(self, room, offset):
        entry_id = f"{int(offset)}-0"
        with self.engine.guard():
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

    ``url`` is ``redis://``, ``rediss://``, ``unix://`` or ``redis+cluster://host:port`` (any
    node of a Redis Cluster; ``cluster=True`` does the same for a plain URL). Presence
    heartbeats default to every ``heartbeat_interval`` seconds (env
    ``LIVEBRIDGE_REDIS_HEARTBEAT``, default 5) with a node key TTL of ``node_ttl`` seconds
    (env ``LIVEBRIDGE_REDIS_NODE_TTL``, default 15).
    """

    def __init__(self, url: str, *, node_id: str, history_size: int = 1000,
                 history_ttl: float | None = None, idempotency_ttl: float = 300.0,
                 heartbeat_interval: float | None = None, node_ttl: float | None = None,
                 socket_timeout: float | None = None, cluster: bool | None = None) -> None:
        from rooms.redis_state import RedisPresence, RedisStateStore

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
        self.cluster = url.startswith(CLUSTER_SCHEME) if cluster is None else cluster
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        self.redis = self._make_client()
        self._shas = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SCRIPTS.items()}
        self.broker = RedisBroker(self)
        self.presence = RedisPresence(self)
        self.state = RedisStateStore(self)
        self._rooms: dict[str, _RoomSub] = {}
        self._by_channel: dict[bytes, _RoomSub] = {}
        self._pubsubs: dict[str, _PubSub] = {}
        self._status = "starting"
        self._last_error = ""
        self._failed = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._fills: set[asyncio.Task] = set()
        self._closed = False
        self.reconnects = 0

    # Clients -------------------------------------------------------------------------------

    def _make_client(self):
        common = dict(socket_timeout=self.socket_timeout, socket_connect_timeout=self.socket_timeout,
                      retry=Retry(NoBackoff(), 0), decode_responses=False, protocol=2)
        if self.cluster:
            url = self.url
            if url.startswith(CLUSTER_SCHEME):
                url = "redis://" + url[len(CLUSTER_SCHEME):]
            return RedisCluster.from_url(url, max_connections=MAX_CONNECTIONS, **common)
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

    @contextlib.contextmanager
    def guard(self):
        """Turn Redis failures into engine errors (and start reconnecting if Redis is gone)."""
        try:
            yield
        except EngineError:
            raise
        except _UNREACHABLE as exc:
            self._signal_failure(repr(exc))
            raise EngineUnavailable(f"redis unreachable: {exc}") from exc
        except rex.RedisError as exc:
            raise EngineError(f"redis: {exc}") from exc

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.redis.evalsha(self._shas[name], len(keys), *keys, *args)
        except rex.NoScriptError:
            return await self.redis.eval(_SCRIPTS[name], len(keys), *keys, *args)

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._failed = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks = [asyncio.create_task(self._supervise(), name="redis-supervisor"),
                       asyncio.create_task(self._heartbeat(), name="redis-heartbeat")]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), self.socket_timeout * 3 + 2)
        if self._status != "ok":
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
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    def health(self) -> dict[str, Any]:
        ok = self._status == "ok"
        return {"status": "ok" if ok else "degraded", "engine": "redis", "node": self.node_id,
                "redis": "connected" if ok else self._status, "cluster": self.cluster,
                "rooms": len(self._rooms), "reconnects": self.reconnects,
                **({} if ok else {"error": self._last_error})}

    def _signal_failure(self, reason: str) -> None:
        if self._closed:
            return
        self._last_error = reason
        if self._status == "ok":
            log.warning("redis engine degraded: %s", reason)
            self._status = "reconnecting"
        self._failed.set()

    async def _supervise(self) -> None:
        backoff = 0.05
        while not self._closed:
            try:
                async with self._lock:
                    await self._connect()
                self._status = "ok"
                self._last_error = ""
                backoff = 0.05
                self._first_attempt.set()
                log.info("redis engine connected (%d rooms)", len(self._rooms))
                await self._failed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = repr(exc)
                log.debug("redis connect failed: %r", exc)
            self._first_attempt.set()
            self._status = "reconnecting"
            self.reconnects += 1
            for pubsub in list(self._pubsubs.values()):
                await pubsub.close()
            self._pubsubs.clear()
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 2.0)
            self._failed.clear()

    async def _connect(self) -> None:
        """(Re)connect: ping, resubscribe every room, reassert presence, fill gaps."""
        self._failed.clear()
        if self.cluster:
            await self.redis.initialize()
        await self.redis.ping()
        subs = list(self._rooms.values())
        for sub in subs:
            if sub.buffer is None:
                sub.buffer = []
        groups: dict[str, list[_RoomSub]] = {}
        for sub in subs:
            pubsub = await self._pubsub_for(sub.room)
            sub.conn = pubsub
            groups.setdefault(pubsub.name, []).append(sub)
        if not self.cluster:
            await self._pubsub_for("")  # the node's connection, even with no rooms yet
        for name, group in groups.items():
            await self._pubsubs[name].subscribe([s.channel for s in group])
        await self.presence._reassert()
        for sub in subs:
            if self._rooms.get(sub.room) is sub:
                await self._fill(sub, reraise=True)

    async def _pubsub_for(self, room: str) -> _PubSub:
        if self.cluster:
            node = self.redis.get_node_from_key(K.channel(room))
            name, factory = node.name, (lambda n=node: self._pubsub_factory(n))
        else:
            name, factory = "main", self._pubsub_factory
        pubsub = self._pubsubs.get(name)
        if pubsub is None or pubsub.closed or (pubsub.task is not None and pubsub.task.done()):
            pubsub = _PubSub(self, name, factory(), sharded=self.cluster)
            await pubsub.open()
            self._pubsubs[name] = pubsub
        return pubsub

    def _wants(self, channel: bytes, pubsub: _PubSub) -> bool:
        sub = self._by_channel.get(channel)
        return sub is not None and sub.conn is pubsub

    # Subscriptions -------------------------------------------------------------------------

    async def _subscribe(self, room: str, handler: EventHandler) -> None:
        existing = self._rooms.get(room)
        if existing is not None:
            existing.handler = handler
            return
        if self._status != "ok":
            raise EngineUnavailable(f"redis unreachable: {self._last_error}")
        sub = _RoomSub(room, K.channel(room).encode(), handler)
        self._rooms[room] = sub
        self._by_channel[sub.channel] = sub
        try:
            async with self._lock:
                with self.guard():
                    sub.conn = await self._pubsub_for(room)
                    await sub.conn.subscribe([sub.channel])
                position = await self.broker.position(room)
        except BaseException:
            if self._rooms.get(room) is sub:
                del self._rooms[room]
                self._by_channel.pop(sub.channel, None)
            raise
        sub.epoch = position.epoch
        buffered = [e for e in sub.buffer or () if e.get("epoch") == position.epoch]
        sub.last = min(e["offset"] for e in buffered) - 1 if buffered else position.offset
        await self._drain(sub)

    async def _unsubscribe(self, room: str) -> None:
        sub = self._rooms.pop(room, None)
        if sub is None:
            return
        self._by_channel.pop(sub.channel, None)
        if sub.conn is not None:
            with contextlib.suppress(Exception):
                await sub.conn.unsubscribe(sub.channel)

    # Delivery ------------------------------------------------------------------------------

    async def _on_message(self, channel: bytes, data: bytes) -> None:
        sub = self._by_channel.get(channel)
        if sub is None or not data:
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

    async def _fill(self, sub: _RoomSub, *, reraise: bool = False) -> None:
        """Deliver what the stream has after ``sub.last``, then what was buffered meanwhile."""
        try:
            while self._rooms.get(sub.room) is sub:
                position, _, mode, events = await self.broker._read(
                    sub.room, "since", sub.last, FILL_BATCH, sub.epoch)
                if mode == "gone":
                    sub.epoch, sub.last = position.epoch, 0
                    continue
                fresh = [e for e in events if e["offset"] > sub.last]
                for event in fresh:
                    sub.last = event["offset"]
                    await self._call(sub, event)
                if not fresh or sub.last >= position.offset:
                    break
        except Exception as exc:
            # keep buffering: the reconnect fills again from sub.last
            if reraise:
                raise
            self._signal_failure(f"gap fill in {sub.room}: {exc!r}")
            return
        await self._drain(sub)

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
        while not self._closed:
            if self._status == "ok":
                try:
                    await self.presence._beat()
                    await self.presence._sweep()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("heartbeat failed: %r", exc)
                    if isinstance(exc, (EngineUnavailable, *_UNREACHABLE)):
                        self._signal_failure(f"heartbeat: {exc!r}")
            await asyncio.sleep(self.heartbeat_interval)


_SCRIPTS = {
    "publish": S.PUBLISH,
    "history": S.HISTORY,
    "broadcast": "return redis.call(ARGV[1], KEYS[1], ARGV[2])",
    "state_set": S.STATE_SET,
    "state_get": S.STATE_GET,
    "state_delete": S.STATE_DELETE,
    "state_items": S.STATE_ITEMS,
    "take_token": S.TAKE_TOKEN,
}
