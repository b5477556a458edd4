"""Which waiting batch runs next on the node's model slots: live work first, across every pair.

Promise: :meth:`Scheduler.choose` is pure logic (no clock, no threads): given what waits in
each queue (one per language pair and lane) and what runs, it names the queue whose batch
starts now, or says when to look again. The batcher (``translator.batcher``) asks it every
time a request arrives or a model call ends.

The rules (docs/translation.md, "Scheduling"):

* **Slots**: at most ``slots`` model calls run at once on the node (one per core: CTranslate2
  calls then run on one intra-op thread each, side by side, instead of two calls fighting over
  both cores), and at most ``pair_slots`` of them on one model.
* **Two lanes**: ``LIVE_LANE`` holds short messages a reader is waiting for; ``BULK_LANE``
  holds long messages and work nobody reads yet (the service decides which).
* **Live work has strict precedence**: a bulk batch never starts while live work waits in any
  pair, and bulk batches take at most ``bulk_slots`` slots (default one less than ``slots``),
  so with two cores one core is always free for live lines, whatever the pastes in flight.
  A live line waits at most for a live batch (or, with one slot, a bulk batch) under way.
* **Batching**: a queue is ready when it holds a full batch or its oldest request has waited
  ``max_wait`` seconds; among ready live queues the one whose oldest request is oldest goes
  first; ready bulk queues take turns by pair (the pair served longest ago first), so two long
  messages in two directions advance together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIVE_LANE, BULK_LANE = "live", "bulk"
LANES = (LIVE_LANE, BULK_LANE)

Pair = tuple[str, str]
Key = tuple[Pair, str]  # (pair, lane)


@dataclass(frozen=True)
class Waiting:
    """What one queue holds: ``size`` requests, the oldest enqueued at ``oldest`` (seconds)."""

    size: int
    oldest: float


@dataclass
class Scheduler:
    """Node-wide admission of batches to model slots (see the module docstring)."""

    slots: int = 2
    bulk_slots: int | None = None  # None: max(1, slots - 1)
    pair_slots: int = 1  # model calls one pair's model may run at once
    max_batch: int = 16
    max_wait: float = 0.005
    running: dict[Key, int] = field(default_factory=dict)
    _bulk_turn: dict[Pair, int] = field(default_factory=dict)  # pair -> when its bulk last started
    _turns: int = 0

    def __post_init__(self) -> None:
        if self.slots < 1 or self.pair_slots < 1 or self.max_batch < 1:
            raise ValueError("slots, pair_slots and max_batch must be >= 1")
        if self.bulk_slots is None:
            self.bulk_slots = max(1, self.slots - 1)
        if not 1 <= self.bulk_slots <= self.slots:
            raise ValueError("bulk_slots must be between 1 and slots")

    # ------------------------------------------------------------ bookkeeping

    def in_use(self, *, pair: Pair | None = None, lane: str | None = None) -> int:
        return sum(n for (p, ln), n in self.running.items()
                   if (pair is None or p == pair) and (lane is None or ln == lane))

    def started(self, key: Key) -> None:
        self.running[key] = self.running.get(key, 0) + 1
        if key[1] == BULK_LANE:
            self._turns += 1
            self._bulk_turn[key[0]] = self._turns

    def finished(self, key: Key) -> None:
        n = self.running.get(key, 0) - 1
        if n > 0:
            self.running[key] = n
        else:
            self.running.pop(key, None)

    # ------------------------------------------------------------ the decision

    def choose(self, waiting: dict[Key, Waiting], now: float) -> tuple[Key | None, float | None]:
        """``(key, None)``: start a batch of that queue now (call :meth:`started`).
        ``(None, at)``: nothing may start; look again at ``at`` (a queue's batching wait
        ends then) or, when ``at`` is None, when a request arrives or a call ends."""
        if self.in_use() >= self.slots:
            return None, None
        waiting = {k: w for k, w in waiting.items() if w.size > 0}
        live = {k: w for k, w in waiting.items() if k[1] == LIVE_LANE}
        key, at = self._pick(live, now, self._oldest_first)
        if key is not None or live:
            # Live work waits (ready or in its batching window): no bulk batch may start.
            return key, at
        if self.in_use(lane=BULK_LANE) >= self.bulk_slots:
            return None, None
        bulk = {k: w for k, w in waiting.items() if k[1] == BULK_LANE}
        return self._pick(bulk, now, self._pair_turn)

    def _pick(self, queues: dict[Key, Waiting], now: float, order) -> tuple[Key | None, float | None]:
        ready, at = [], None
        for key, w in queues.items():
            if self.in_use(pair=key[0]) >= self.pair_slots:
                continue  # its model is busy: a call ending wakes us
            due = w.oldest + self.max_wait
            if w.size >= self.max_batch or due <= now:
                ready.append((key, w))
            else:
                at = due if at is None else min(at, due)
        if ready:
            return min(ready, key=order)[0], None
        return None, at

    @staticmethod
    def _oldest_first(item: tuple[Key, Waiting]) -> float:
        return item[1].oldest

    def _pair_turn(self, item: tuple[Key, Waiting]) -> tuple[int, float]:
        return self._bulk_turn.get(item[0][0], 0), item[1].oldest
