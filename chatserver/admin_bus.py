"""Cluster-wide admin actions over the engine's pub/sub: one channel every node listens on.

The channel is the broker's ephemeral broadcast of the pseudo-room :data:`CHANNEL` (not a
valid room name, so no member can join it): on Redis ``PUBLISH lb:{~admin}:ch``, on the memory
engine a call. Every node subscribes once at start (and again on each heartbeat until that
works, should Redis be down then). Nothing is stored: a node that is down when an action is
sent does not get it, which is why what must last (global bans, closed rooms) is written to
the engine's state first and checked at connect and join; the broadcast only makes it take
effect at once for connections already open.

A request (:meth:`AdminBus.request`) carries an id; each node's handler answers with a
``reply`` on the same channel, and the caller collects the replies of the nodes it expects
for at most ``timeout`` seconds. Pending requests are bounded (:data:`MAX_PENDING`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.engine import Broker, EngineError

log = logging.getLogger(__name__)

CHANNEL = "~admin"
MAX_PENDING = 64
REPLY_TIMEOUT = 1.5

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


class AdminBusBusy(Exception):
    """Too many admin requests are waiting for replies."""


class AdminBus:
    """Sends admin operations to every node and gathers their replies."""

    def __init__(self, broker: Broker, node_id: str, handle: Handler) -> None:
        self.broker = broker
        self.node_id = node_id
        self.handle = handle
        self.subscribed = False
        self._pending: dict[str, tuple[asyncio.Future, dict[str, dict], set[str]]] = {}
        self._tasks: set[asyncio.Task] = set()

    async def ensure_subscribed(self) -> bool:
        if not self.subscribed:
            try:
                await self.broker.subscribe(CHANNEL, self._on_event)
                self.subscribed = True
            except EngineError as exc:
                log.warning("admin channel not subscribed yet: %s", exc)
        return self.subscribed

    async def publish(self, op: str, **fields: Any) -> None:
        await self.broker.broadcast(CHANNEL, {"type": "admin", "op": op, "origin": self.node_id, **fields})

    async def request(self, op: str, expect: set[str], *, timeout: float = REPLY_TIMEOUT,
                      **fields: Any) -> dict[str, dict]:
        """Send ``op`` to every node; the replies by node id, of those in ``expect`` that
        answered within ``timeout`` (and any other that did meanwhile)."""
        if len(self._pending) >= MAX_PENDING:
            raise AdminBusBusy(f"more than {MAX_PENDING} admin requests are waiting; retry")
        request_id = secrets.token_hex(8)
        done = asyncio.get_running_loop().create_future()
        replies: dict[str, dict] = {}
        self._pending[request_id] = (done, replies, set(expect))
        try:
            await self.publish(op, request=request_id, **fields)
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout)
            except asyncio.TimeoutError:
                pass
            return dict(replies)
        finally:
            self._pending.pop(request_id, None)

    def _on_event(self, room: str, event: dict[str, Any]) -> None:
        if event.get("type") != "admin":
            return
        if event.get("op") == "reply":
            pending = self._pending.get(str(event.get("request")))
            if pending is not None:
                done, replies, expect = pending
                replies[str(event.get("node"))] = event.get("body") or {}
                if expect <= set(replies) and not done.done():
                    done.set_result(None)
            return
        task = asyncio.get_running_loop().create_task(self._answer(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, event: dict[str, Any]) -> None:
        try:
            body = await self.handle(str(event.get("op")), event)
            if event.get("request") is not None:
                await self.publish("reply", request=event["request"], node=self.node_id, body=body or {})
        except EngineError as exc:
            log.warning("admin %s not answered: %s", event.get("op"), exc)
        except Exception:  # noqa: BLE001 - a bad admin event must not take the listener down
            log.exception("admin %s failed on this node", event.get("op"))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.subscribed:
            try:
                await self.broker.unsubscribe(CHANNEL)
            except EngineError:
                pass
            self.subscribed = False
