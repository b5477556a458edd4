"""When a node runs full garbage collections: on a budget, not as the heap grows.

CPython collects the oldest generation whenever the objects that survived into it have grown
by a quarter. A node filling a room grows its heap steadily (every connection is a few hundred
long-lived objects), so during a join storm it ran a full collection every second or so, each
one scanning every connection: 9 collections of ~190 ms while 10,000 users joined, 28% of the
node's CPU, and a 190 ms stall of every room each time.

:class:`FullCollections` keeps CPython's young collections (they are cheap and free most
garbage) and takes full ones out of its hands: a full collection runs when the heap (pymalloc's
allocated blocks, an O(1) read) has grown by :data:`GROWTH` since the last one, but at most
once per :data:`MIN_INTERVAL`, and after :data:`MAX_INTERVAL` once it has grown by
:data:`GROWTH_MIN`. So cyclic garbage that reached the old generation (closed connections)
is reclaimed within :data:`MAX_INTERVAL` once it is 5% of the heap (or 25%, within
:data:`MIN_INTERVAL`), a heap that holds steady is not scanned at all, and full collections
cost at most one per :data:`MIN_INTERVAL` whatever the load. A full collection still stops
the node for as long as it scans (~200 ms at 10,000 connections): this bounds how often,
not how long.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time

log = logging.getLogger(__name__)

MIN_INTERVAL = 10.0  # seconds between two full collections at least
MAX_INTERVAL = 120.0  # seconds a grown heap waits for a full collection at most
GROWTH = 0.25  # heap growth (as a share of the heap after the last one) that calls for one
GROWTH_MIN = 0.05  # growth that calls for one once MAX_INTERVAL has passed (a steady heap: none)
CHECK_EVERY = 1.0  # seconds between two looks at the heap
NEVER = 2**31 - 1  # a third threshold CPython never reaches


class FullCollections:
    """Full (oldest-generation) collections on a time budget, run from the event loop."""

    def __init__(self, *, min_interval: float = MIN_INTERVAL, max_interval: float = MAX_INTERVAL,
                 growth: float = GROWTH, growth_min: float = GROWTH_MIN,
                 check_every: float = CHECK_EVERY) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.growth = growth
        self.growth_min = growth_min
        self.check_every = check_every
        self._previous: tuple[int, int, int] | None = None
        self._task: asyncio.Task | None = None
        self._last = time.monotonic()
        self._base = sys.getallocatedblocks()
        #: Full collections this policy ran, and the CPU seconds they took (for metrics).
        self.runs = 0
        self.cpu_seconds = 0.0

    def start(self) -> None:
        """Take full collections over (young ones stay CPython's) until :meth:`stop`."""
        if self._task is not None:
            return
        self._previous = gc.get_threshold()
        young, middle, _ = self._previous
        gc.set_threshold(young, middle, NEVER)
        self._last, self._base = time.monotonic(), sys.getallocatedblocks()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="full-gc")

    async def stop(self) -> None:
        """Give full collections back to CPython."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._previous is not None:
            gc.set_threshold(*self._previous)
            self._previous = None

    def due(self, now: float, blocks: int) -> bool:
        """Whether a full collection should run now, with the heap at ``blocks``."""
        waited = now - self._last
        if waited < self.min_interval:
            return False
        grown = blocks / max(1, self._base) - 1
        return grown >= self.growth or (waited >= self.max_interval and grown >= self.growth_min)

    def collect(self) -> None:
        started = time.process_time()
        gc.collect()
        self.cpu_seconds += time.process_time() - started
        self.runs += 1
        self._last, self._base = time.monotonic(), sys.getallocatedblocks()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            if self.due(time.monotonic(), sys.getallocatedblocks()):
                self.collect()
