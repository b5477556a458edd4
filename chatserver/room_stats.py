"""Per-room activity as this node sees it in fan-out: pure counting, no I/O.

:class:`RoomStats` is fed every event the hub hands to local members
(:meth:`RoomStats.on_fanout`) and sampled on each heartbeat (:meth:`RoomStats.tick`). It
promises:

- Bounded memory: at most :data:`MAX_TRACKED` rooms are tracked (the least recently active
  one is forgotten first), and per room at most :data:`RECENT_MESSAGES` message timestamps
  (to time translations against). Nothing a visitor does grows it past that.
- Rates are exponentially smoothed over about :data:`WINDOW` seconds, so one quiet heartbeat
  does not read as zero and a burst shows within a few seconds.
- Translation latency (a message's ``ts`` to its translation's ``ts``) is kept as decaying
  counts over fixed buckets (:data:`LATENCY_BUCKETS`), which merge across nodes by adding
  (:func:`merge_histograms`, :func:`quantile`). Seen in fan-out, a translation delivered on
  two nodes is counted by both, so the node's figures also carry ``published_latency``: the
  translations this node published (:meth:`RoomStats.on_translation_published`), each
  counted once in the whole cluster; the cluster's p50/p99 add those.

A room's messages and translation failures are seen by every node with members in it, so
across nodes they are merged by maximum; deliveries are each node's own, merged by sum
(:mod:`chatserver.admin_figures`).
"""

from __future__ import annotations

import bisect
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

MAX_TRACKED = 500  # rooms tracked per node
RECENT_MESSAGES = 256  # message timestamps kept per room, to time their translations
WINDOW = 10.0  # seconds over which rates are smoothed
TOP_DEFAULT = 50  # rooms a node publishes in its heartbeat record
# Upper bounds in seconds; the last bucket holds everything slower.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, math.inf)


def new_histogram() -> list[float]:
    return [0.0] * len(LATENCY_BUCKETS)


def observe(histogram: list[float], seconds: float) -> None:
    histogram[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1


def merge_histograms(histograms: Iterable[list[float]]) -> list[float]:
    out = new_histogram()
    for h in histograms:
        if isinstance(h, list) and len(h) == len(out):
            for i, v in enumerate(h):
                out[i] += float(v) if isinstance(v, (int, float)) else 0.0
    return out


def quantile(histogram: list[float], q: float) -> float | None:
    """The ``q`` quantile's bucket bound (the slowest finite bound for the last bucket), or
    None with no observations."""
    total = sum(histogram)
    if total <= 0.01:
        return None
    rank = q * total
    seen = 0.0
    for bound, count in zip(LATENCY_BUCKETS, histogram):
        seen += count
        if seen >= rank:
            return bound if math.isfinite(bound) else LATENCY_BUCKETS[-2]
    return LATENCY_BUCKETS[-2]


class _Room:
    __slots__ = ("messages", "deliveries", "failures", "translations", "latency",
                 "msg_rate", "delivery_rate", "failure_rate", "recent")

    def __init__(self) -> None:
        self.messages = 0  # counts since the last tick
        self.deliveries = 0
        self.failures = 0
        self.translations = 0
        self.latency = new_histogram()  # decaying
        self.msg_rate = 0.0
        self.delivery_rate = 0.0
        self.failure_rate = 0.0
        self.recent: OrderedDict[str, float] = OrderedDict()  # message id -> ts (ms)

    @property
    def activity(self) -> float:
        return self.delivery_rate + self.msg_rate


class RoomStats:
    """Activity counters of the rooms this node fans out to (bounded; see the module doc)."""

    def __init__(self, *, max_tracked: int = MAX_TRACKED, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_tracked = max_tracked
        self.window = window
        self._clock = clock
        self._rooms: OrderedDict[str, _Room] = OrderedDict()  # least recently active first
        self._last_tick = clock()
        # Node totals, counted like the rooms' (every room, tracked or not).
        self.totals = _Room()
        self.published_rate = 0.0
        self.published_latency = new_histogram()  # decaying, like the rooms'

    def __len__(self) -> int:
        return len(self._rooms)

    def _room(self, room: str) -> _Room:
        stats = self._rooms.get(room)
        if stats is None:
            if len(self._rooms) >= self.max_tracked:
                self._rooms.popitem(last=False)
            stats = self._rooms[room] = _Room()
        else:
            self._rooms.move_to_end(room)
        return stats

    def on_fanout(self, room: str, event: dict[str, Any], recipients: int) -> None:
        """One event handed to ``recipients`` local members of ``room``."""
        stats = self._room(room)
        kind = event.get("type")
        for s in (stats, self.totals):
            s.deliveries += recipients
        if kind == "message":
            stats.messages += 1
            self.totals.messages += 1
            ts, mid = event.get("ts"), event.get("id")
            if isinstance(ts, (int, float)) and isinstance(mid, str):
                stats.recent[mid] = float(ts)
                if len(stats.recent) > RECENT_MESSAGES:
                    stats.recent.popitem(last=False)
        elif kind == "translation":
            sent = stats.recent.get(event.get("message_id"))  # type: ignore[arg-type]
            ts = event.get("ts")
            if sent is not None and isinstance(ts, (int, float)):
                seconds = max(0.0, (ts - sent) / 1000)
                observe(stats.latency, seconds)
                observe(self.totals.latency, seconds)
            stats.translations += 1
            self.totals.translations += 1
        elif kind == "translation_unavailable":
            stats.failures += 1
            self.totals.failures += 1

    def on_translation_published(self, message: dict[str, Any], translation: dict[str, Any]) -> None:
        """This node published ``translation`` of ``message`` (once in the cluster: its
        idempotency key makes every other attempt a duplicate)."""
        sent, ts = message.get("ts"), translation.get("ts")
        if isinstance(sent, (int, float)) and isinstance(ts, (int, float)):
            observe(self.published_latency, max(0.0, (ts - sent) / 1000))

    def tick(self, published: float = 0.0) -> None:
        """Fold the counts since the last tick into the smoothed rates (call every few seconds).
        ``published``: messages this node published since the last tick (the cluster's
        messages/s is the sum of these, each message being published by one node)."""
        now = self._clock()
        elapsed = max(1e-3, now - self._last_tick)
        self._last_tick = now
        keep = math.exp(-elapsed / self.window)
        self.published_rate = keep * self.published_rate + (1 - keep) * max(0.0, published) / elapsed
        for s in (*self._rooms.values(), self.totals):
            s.msg_rate = keep * s.msg_rate + (1 - keep) * s.messages / elapsed
            s.delivery_rate = keep * s.delivery_rate + (1 - keep) * s.deliveries / elapsed
            s.failure_rate = keep * s.failure_rate + (1 - keep) * s.failures / elapsed
            s.messages = s.deliveries = s.failures = s.translations = 0
            _decay(s.latency, keep)
        _decay(self.published_latency, keep)
        # Rooms gone quiet for good are forgotten (their figures read as zero anyway).
        for room in [r for r, s in self._rooms.items() if s.activity < 1e-3 and not any(s.latency)]:
            del self._rooms[room]

    def top(self, n: int = TOP_DEFAULT) -> list[dict[str, Any]]:
        """The ``n`` most active rooms, most active first, as plain figures."""
        ranked = sorted(self._rooms.items(), key=lambda item: -item[1].activity)[:n]
        return [{"room": room, **_figures(s)} for room, s in ranked]

    def node_figures(self) -> dict[str, Any]:
        return {**_figures(self.totals), "published_per_s": round(self.published_rate, 3),
                "published_latency": [round(v, 2) for v in self.published_latency]}


def _decay(histogram: list[float], keep: float) -> None:
    for i, v in enumerate(histogram):
        histogram[i] = v * keep if v * keep > 0.01 else 0.0


def _figures(s: _Room) -> dict[str, Any]:
    return {"messages_per_s": round(s.msg_rate, 3), "deliveries_per_s": round(s.delivery_rate, 3),
            "translation_failures_per_s": round(s.failure_rate, 3),
            "latency": [round(v, 2) for v in s.latency]}
