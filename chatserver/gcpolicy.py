"""When a node collects its oldest objects: a little at a time, so no pause scans the heap.

CPython collects the oldest generation whenever the objects that survived into it have grown
by a quarter, and each such collection scans every one of them. A node's heap is mostly its
connections (~100 tracked objects each), so the first full collection after 5,000 users
joined scanned ~470,000 objects: 350 - 450 ms during which no room moved. Running full
collections on a time budget instead (this module's first policy) made them rarer, not
shorter, and freezing after each budgeted one still left the first one to scan the whole fill.

:class:`Collections` keeps CPython's young collections (generations 0 and 1: cheap, and they
free most garbage) and replaces full ones by two passes:

- **A sweep** (``gc.collect(1)`` then ``gc.freeze()``) after each generation-1 collection
  (:data:`PROMOTIONS`), on the next turn of the event loop. Frozen objects are not scanned
  again, and the sweep collects the young generations only (~8,400 objects at most,
  CPython's thresholds): what the generation-1 collection just promoted (~7,700 at most)
  survived a scan a loop turn ago, and is frozen without a second one (scanning it again
  was most of a sweep's cost: 6% of a busy node's CPU in 500 rooms x 10). **No sweep scans
  more than ~8,400 objects** however large the heap.
  While a room fills they run a few times a second, each on the newest connections only.
  (Every second generation-1 collection measured worse: pauses up to 16 ms, more in all.)
- **A whole pass** (``gc.unfreeze()``, ``gc.collect()``, ``gc.freeze()``), the only pause as
  long as the heap (~0.9 us per tracked object), for cycles among frozen objects: at most one
  per :data:`WHOLE_MIN_INTERVAL`, once the heap (pymalloc's allocated blocks, an O(1) read)
  has grown by :data:`GROWTH` since the last one, or by :data:`GROWTH_MIN` after
  :data:`WHOLE_MAX_INTERVAL`. A 400 ms pause once in ten minutes touches 0.07% of the
  messages: it does not move a p99.

How long garbage lives: acyclic garbage dies by reference count at once, frozen or not.
Cyclic garbage made of young objects goes at the next young collection or sweep. Cyclic
garbage among frozen objects (promoted objects that became garbage in the loop turn between
their generation-1 collection and the sweep that froze them included) waits for the next
whole pass, so it is at most :data:`GROWTH` of the heap, or :data:`GROWTH_MIN` for
:data:`WHOLE_MAX_INTERVAL`. A closed connection leaves none: what would keep it in cycles is
broken at close (:func:`forget_transport_callback`,
``chatserver.wsprotocol.RawConnection.detach``), so its objects die by reference count
(``tests/server/test_closed_connection_cycles.py`` holds it to that with the collector off).

:attr:`Collections.pauses` times every collection (``gc.callbacks``, wall clock) by kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time

log = logging.getLogger(__name__)

PROMOTIONS = 1  # generation-1 collections (each promoting <= ~7,700 objects) between two sweeps
WHOLE_MIN_INTERVAL = 600.0  # seconds between two whole passes at least
WHOLE_MAX_INTERVAL = 3600.0  # seconds a heap grown by GROWTH_MIN waits for a whole pass at most
GROWTH = 0.25  # heap growth (as a share of the heap after the last whole pass) that calls for one
GROWTH_MIN = 0.05  # growth that calls for one once WHOLE_MAX_INTERVAL has passed (a steady heap: none)
CHECK_EVERY = 1.0  # seconds between two looks at the heap (and at a missed sweep)
NEVER = 2**31 - 1  # a third threshold CPython never reaches
YOUNG = 1  # the generations a sweep collects (0 and 1): the promoted survivors are not scanned again

KINDS = ("young", "sweep", "whole", "other")  # "other": a full collection someone else asked for


def forget_transport_callback(transport: object) -> None:
    """Break the reference cycle a closed asyncio socket transport keeps with itself (its
    ``_read_ready_cb`` is one of its own bound methods, never cleared on close), so that it
    dies by reference count. Harmless on any other transport: nothing reads it after close."""
    if getattr(transport, "_read_ready_cb", None) is not None and transport.is_closing():  # type: ignore[attr-defined]
        transport._read_ready_cb = None  # type: ignore[attr-defined]


class Pauses:
    """How many collections of one kind ran, their total and longest wall-clock seconds."""

    __slots__ = ("count", "seconds", "longest")

    def __init__(self) -> None:
        self.count, self.seconds, self.longest = 0, 0.0, 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.longest = max(self.longest, seconds)

    def as_dict(self) -> dict:
        return {"count": self.count, "seconds": round(self.seconds, 4), "longest": round(self.longest, 4)}


class Collections:
    """Sweeps of what arrived and rare whole passes, run from the event loop (module docstring)."""

    def __init__(self, *, promotions: int = PROMOTIONS, whole_min_interval: float = WHOLE_MIN_INTERVAL,
                 whole_max_interval: float = WHOLE_MAX_INTERVAL, growth: float = GROWTH,
                 growth_min: float = GROWTH_MIN, check_every: float = CHECK_EVERY) -> None:
        self.promotions = promotions
        self.whole_min_interval = whole_min_interval
        self.whole_max_interval = whole_max_interval
        self.growth = growth
        self.growth_min = growth_min
        self.check_every = check_every
        self.pauses = {kind: Pauses() for kind in KINDS}
        self._previous: tuple[int, int, int] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._sweep_queued = False
        self._running: str | None = None  # "sweep" or "whole" while this policy collects
        self._started_at = 0.0
        self._last_whole = time.monotonic()
        self._base = sys.getallocatedblocks()
        # gc.get_count()[2] after the last sweep: a young collection of ours does not reset
        # it, so promotions are counted from there.
        self._promoted_at = 0

    # The decisions, as pure functions of what they read ---------------------------------

    def sweep_due(self, promotions: int) -> bool:
        """Whether a sweep should run, CPython having run ``promotions`` generation-1
        collections since the last one (``gc.get_count()[2]``)."""
        return promotions >= self.promotions

    def whole_due(self, now: float, blocks: int) -> bool:
        """Whether a whole pass should run now, with the heap at ``blocks``."""
        waited = now - self._last_whole
        if waited < self.whole_min_interval:
            return False
        grown = blocks / max(1, self._base) - 1
        return grown >= self.growth or (waited >= self.whole_max_interval and grown >= self.growth_min)

    # Running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the oldest generation over (young ones stay CPython's) until :meth:`stop`."""
        if self._task is not None:
            return
        self._previous = gc.get_threshold()
        young, middle, _ = self._previous
        gc.set_threshold(young, middle, NEVER)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        self.sweep()  # what startup left is frozen from here on
        self._last_whole, self._base = time.monotonic(), sys.getallocatedblocks()
        self._task = self._loop.create_task(self._run(), name="gc-policy")

    async def stop(self) -> None:
        """Give collections back to CPython, frozen objects included."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._previous is not None:
            gc.set_threshold(*self._previous)
            self._previous = None
            gc.unfreeze()

    def sweep(self) -> None:
        """Collect the young generations, then freeze what survived (and what the last
        generation-1 collection promoted)."""
        self._sweep_queued = False
        self._collect("sweep", YOUNG)
        gc.freeze()
        self._promoted_at = gc.get_count()[2]

    def whole(self) -> None:
        """Collect everything, frozen objects included, then freeze what survived."""
        gc.unfreeze()
        self._collect("whole")
        gc.freeze()
        self._promoted_at = gc.get_count()[2]
        self._last_whole, self._base = time.monotonic(), sys.getallocatedblocks()

    def _collect(self, kind: str, generation: int = 2) -> None:
        self._running = kind
        started = time.perf_counter()
        try:
            gc.collect(generation)
        finally:
            self._running = None
            self.pauses[kind].add(time.perf_counter() - started)

    def _on_gc(self, phase: str, info: dict) -> None:
        # Runs inside every collection, in whichever thread set it off: time it, and queue a
        # sweep on the loop (never collect from here) once enough has been promoted.
        if self._running:  # one of ours: timed by _collect
            return
        if phase == "start":
            self._started_at = time.perf_counter()
            return
        kind = "other" if info.get("generation") == 2 else "young"
        self.pauses[kind].add(time.perf_counter() - self._started_at)
        if (kind == "young" and not self._sweep_queued and self._loop is not None
                and self.sweep_due(self.promoted())):
            self._sweep_queued = True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                if threading.get_ident() == self._loop_thread:
                    self._loop.call_soon(self._queued_sweep)  # no wake-up write to the loop's pipe
                else:
                    self._loop.call_soon_threadsafe(self._queued_sweep)

    def promoted(self) -> int:
        """Generation-1 collections since the last sweep or whole pass."""
        return gc.get_count()[2] - self._promoted_at

    def _queued_sweep(self) -> None:
        if self._task is not None and self._sweep_queued:
            self.sweep()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            if self.whole_due(time.monotonic(), sys.getallocatedblocks()):
                self.whole()
            elif self.sweep_due(self.promoted()):
                self.sweep()
