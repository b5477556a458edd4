"""One pub/sub connection of the Redis engine (to the Redis server, or to one cluster master).

A :class:`PubSubConnection` owns one socket and one reader task. It knows nothing of rooms:
it subscribes channels, hands every message to ``on_message(channel, data, self)``, reports a
channel the server dropped on its own (a shard channel whose slot moved) to
``on_dropped(channel, self)``, and, once, tells ``on_lost(self, reason)`` when the connection
is gone. The engine decides what to resubscribe and where.

Subscribe commands are answered in order: one confirmation per channel, or one error for the
whole command (``MOVED`` after a failover, ``CROSSSLOT`` if a caller mixed slots), so an
error fails the oldest command still waiting and leaves the connection up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions as rex

log = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, bytes, "PubSubConnection"], Awaitable[None]]


class PubSubConnection:
    def __init__(self, name: str, factory: Callable[[], Any], *, sharded: bool, timeout: float,
                 ping_interval: float, on_message: MessageHandler,
                 on_dropped: Callable[[bytes, "PubSubConnection"], None],
                 on_lost: Callable[["PubSubConnection", str], None]) -> None:
        self.name = name
        self.factory = factory
        self.sharded = sharded
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.on_message = on_message
        self.on_dropped = on_dropped
        self.on_lost = on_lost
        self.conn: Any = None
        self.task: asyncio.Task | None = None
        self.closed = False
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        self._pending: collections.deque[list[asyncio.Future]] = collections.deque()
        self._unsubscribing: set[bytes] = set()

    @property
    def alive(self) -> bool:
        return not self.closed and self.task is not None and not self.task.done()

    async def open(self) -> None:
        self.conn = self.factory()
        await asyncio.wait_for(self.conn.connect(), self.timeout + 1)
        self.task = asyncio.create_task(self._read(), name=f"redis-pubsub-{self.name}")

    async def subscribe(self, channels: list[bytes]) -> None:
        """Subscribe ``channels`` with one command (on a cluster: all in one slot)."""
        if not channels:
            return
        if not self.alive:
            raise rex.ConnectionError(f"pub/sub connection {self.name} is closed")
        loop = asyncio.get_running_loop()
        futures = []
        for channel in channels:
            self._unsubscribing.discard(channel)
            future = loop.create_future()
            self._waiters.setdefault(channel, []).append(future)
            futures.append(future)
        self._pending.append(futures)
        try:
            await self.conn.send_command("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", *channels)
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout + 1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    async def unsubscribe(self, channel: bytes) -> None:
        if self.alive:
            self._unsubscribing.add(channel)
            await self.conn.send_command("SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE", channel)

    async def _read(self) -> None:
        idle = 0
        reason = "closed"
        try:
            while True:
                try:
                    response = await self.conn.read_response(timeout=self.ping_interval,
                                                             disconnect_on_error=False)
                except rex.ResponseError as exc:
                    self._fail_oldest(exc)
                    continue
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
                    await self.on_message(response[1], response[2], self)
                elif kind in (b"subscribe", b"ssubscribe"):
                    self._confirm(response[1])
                elif kind in (b"unsubscribe", b"sunsubscribe"):
                    channel = response[1]
                    if channel in self._unsubscribing:
                        self._unsubscribing.discard(channel)
                    elif channel is not None:
                        # not asked for: the server dropped it (its slot left this shard)
                        self.on_dropped(channel, self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = repr(exc)
        finally:
            self._fail_all(rex.ConnectionError(f"pub/sub connection {self.name} lost"))
            if not self.closed:
                self.closed = True
                with contextlib.suppress(Exception):
                    await self.conn.disconnect(nowait=True)
                self.on_lost(self, reason)

    def _confirm(self, channel: bytes) -> None:
        futures = self._waiters.get(channel)
        while futures:
            future = futures.pop(0)
            if not future.done():
                future.set_result(None)
                break
        if futures is not None and not futures:
            self._waiters.pop(channel, None)
        while self._pending and all(f.done() for f in self._pending[0]):
            self._pending.popleft()

    def _fail_oldest(self, exc: Exception) -> None:
        while self._pending:
            futures = self._pending.popleft()
            if any(not f.done() for f in futures):
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                return
        log.debug("pub/sub %s: error reply with no command waiting: %r", self.name, exc)

    def _fail_all(self, exc: Exception) -> None:
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
        self._waiters.clear()
        self._pending.clear()

    async def close(self) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.disconnect(nowait=True)
