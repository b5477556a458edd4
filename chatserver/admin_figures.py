"""Cluster-wide figures from the nodes' heartbeat records: pure functions, no I/O.

How figures from several nodes combine (see :mod:`chatserver.room_stats` for why):

- a room's messages/s and translation failures/s: the largest any node saw (every node with
  members in the room sees each of its messages once);
- a room's deliveries/s: the sum (each node delivers to its own members);
- a room's translation latency p50/p99: the slowest node's;
- the cluster's messages/s: the sum of what each node published; deliveries/s and
  connections: sums; latency p50/p99: from the nodes' ``published_latency`` histograms
  added together (each translation is published by one node, so it counts once however
  many nodes deliver it).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from chatserver.room_stats import merge_histograms, quantile

SERIES_POINTS = 180  # 15 minutes at one point per 5 s
SERIES_STEP = 5.0


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def merge_rooms(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Room -> merged figures, over every node's published top rooms."""
    merged: dict[str, dict[str, Any]] = {}
    for record in records:
        node = record.get("id")
        for entry in record.get("top_rooms") or ():
            if not isinstance(entry, dict) or not isinstance(entry.get("room"), str):
                continue
            room = merged.setdefault(entry["room"], {
                "messages_per_s": 0.0, "deliveries_per_s": 0.0, "translation_failures_per_s": 0.0,
                "translation_p50_s": None, "translation_p99_s": None, "nodes": []})
            room["messages_per_s"] = max(room["messages_per_s"], _num(entry.get("messages_per_s")))
            room["deliveries_per_s"] += _num(entry.get("deliveries_per_s"))
            room["translation_failures_per_s"] = max(room["translation_failures_per_s"],
                                                     _num(entry.get("translation_failures_per_s")))
            histogram = merge_histograms([entry.get("latency")])
            for key, q in (("translation_p50_s", 0.5), ("translation_p99_s", 0.99)):
                value = quantile(histogram, q)
                if value is not None and (room[key] is None or value > room[key]):
                    room[key] = value
            room["nodes"].append(node)
    for room in merged.values():
        room["deliveries_per_s"] = round(room["deliveries_per_s"], 3)
    return merged


def activity(room: dict[str, Any]) -> float:
    return _num(room.get("deliveries_per_s")) + _num(room.get("messages_per_s"))


def cluster_point(records: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """One point of the live charts: the whole cluster at time ``t`` (seconds)."""
    figures = [r.get("figures") or {} for r in records]
    histogram = merge_histograms(f.get("published_latency") for f in figures)
    return {
        "t": round(t, 3),
        "nodes": len(records),
        "messages_per_s": round(sum(_num(f.get("published_per_s")) for f in figures), 3),
        "deliveries_per_s": round(sum(_num(f.get("deliveries_per_s")) for f in figures), 3),
        "connections": int(sum(_num(r.get("connections")) for r in records)),
        "translation_p50_s": quantile(histogram, 0.5),
        "translation_p99_s": quantile(histogram, 0.99),
    }


class Series:
    """The last :data:`SERIES_POINTS` cluster points, one per :data:`SERIES_STEP` seconds at
    most (bounded; kept by every node, so any node can draw the charts)."""

    def __init__(self, points: int = SERIES_POINTS, step: float = SERIES_STEP) -> None:
        self.points: deque[dict[str, Any]] = deque(maxlen=points)
        self.step = step
        self._slot = float("-inf")  # when the newest point's step began

    def add(self, point: dict[str, Any]) -> None:
        if self.points and point["t"] - self._slot < self.step * 0.9:
            self.points[-1] = point  # the newest reading within one step replaces the last
            return
        self._slot = point["t"]
        self.points.append(point)

    def since(self, t: float | None = None) -> list[dict[str, Any]]:
        return [p for p in self.points if t is None or p["t"] > t]
