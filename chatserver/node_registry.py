"""The node registry: each node's small heartbeat record, readable by every node.

A node writes its record every :attr:`NodeRegistry.interval` seconds into the engine's global
state (namespace :data:`NS_NODES`, one entry per node) with a TTL of :attr:`NodeRegistry.ttl`
(three intervals): on Redis that is one hash, ``lb:{~global}:state:admin_nodes``, whose fields
expire with their node and whose key expires with the last one; on the memory engine it is
the same entry in memory. So the registry holds at most one record per live node (a node gone
for three intervals is gone from it), each a few kilobytes (:data:`RECORD_MAX_ROOMS` rooms).

The record is whatever the node's ``build`` callable returns; :class:`NodeRegistry` only
writes it, reads everyone's, and hands them to ``on_read`` (the admin service keeps its
cluster-wide series from them). A failing write or read is logged and retried at the next beat;
the loop never stops the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.engine import EngineError, StateStore

log = logging.getLogger(__name__)

NS_NODES = "admin_nodes"
INTERVAL = 2.0
RECORD_MAX_ROOMS = 50

Record = dict[str, Any]


class NodeRegistry:
    """Writes this node's record on a timer; reads every live node's record."""

    def __init__(self, state: StateStore, node_id: str, build: Callable[[], Awaitable[Record]], *,
                 interval: float = INTERVAL, on_read: Callable[[list[Record]], None] | None = None) -> None:
        self.state = state
        self.node_id = node_id
        self.build = build
        self.interval = interval
        self.ttl = interval * 3
        self.on_read = on_read
        self.failures = 0
        self._task: asyncio.Task | None = None
        self._last: list[Record] = []

    async def beat(self) -> None:
        """One heartbeat: write our record, read everyone's."""
        try:
            record = await self.build()
            await self.state.set("", NS_NODES, self.node_id, record, ttl=self.ttl)
            nodes = await self.nodes(fresh=True)
        except EngineError as exc:
            self.failures += 1
            log.warning("node record not written: %s", exc)
            return
        if self.on_read is not None:
            self.on_read(nodes)

    async def nodes(self, *, fresh: bool = False) -> list[Record]:
        """Every live node's record, by id. Without ``fresh``, the last beat's reading is
        answered when the engine cannot be read now."""
        try:
            entries = await self.state.items("", NS_NODES)
        except EngineError:
            if fresh:
                raise
            return list(self._last)
        self._last = [entries[k] for k in sorted(entries) if isinstance(entries[k], dict)]
        return list(self._last)

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the registry must never take the node down
                log.exception("node heartbeat failed")
            await asyncio.sleep(max(0.05, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop beating and take our record out (other nodes stop listing us at once)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.state.delete("", NS_NODES, self.node_id)
        except EngineError:
            pass  # it expires within the TTL anyway
