"""Unit tests of the pure admin figures: room counters, their bound, merging across nodes."""

from __future__ import annotations

from chatserver.admin_figures import Series, cluster_point, merge_rooms
from chatserver.room_stats import RoomStats, merge_histograms, quantile


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_rates_latency_and_failures_per_room():
    clock = Clock()
    stats = RoomStats(clock=clock, window=1.0)
    for i in range(10):
        stats.on_fanout("hot", {"type": "message", "id": f"m{i}", "ts": 1000.0}, 5)
        stats.on_fanout("hot", {"type": "translation", "message_id": f"m{i}", "ts": 1300.0}, 5)
    stats.on_fanout("hot", {"type": "translation_unavailable", "message_id": "m1"}, 5)
    stats.on_fanout("calm", {"type": "message", "id": "c", "ts": 0}, 1)
    clock.t = 1.0
    stats.tick(published=10)
    top = stats.top(5)
    assert [r["room"] for r in top] == ["hot", "calm"]
    hot = top[0]
    assert hot["messages_per_s"] > top[1]["messages_per_s"] > 0
    assert hot["deliveries_per_s"] > hot["messages_per_s"]
    assert hot["translation_failures_per_s"] > 0
    assert quantile(hot["latency"], 0.5) == 0.5  # 300 ms lands in the <= 0.5 s bucket
    assert stats.node_figures()["published_per_s"] > 0


def test_tracked_rooms_are_bounded():
    stats = RoomStats(max_tracked=10)
    for i in range(1000):
        stats.on_fanout(f"r{i}", {"type": "message", "id": str(i), "ts": 0}, 1)
    assert len(stats) == 10
    assert {r["room"] for r in stats.top(100)} == {f"r{i}" for i in range(990, 1000)}


def test_quiet_rooms_are_forgotten():
    clock = Clock()
    stats = RoomStats(clock=clock, window=1.0)
    stats.on_fanout("r", {"type": "message", "id": "1", "ts": 0}, 1)
    for step in range(1, 40):
        clock.t = float(step)
        stats.tick()
    assert len(stats) == 0


def test_merge_across_nodes_max_messages_sum_deliveries():
    hist = [0.0] * 11
    slow = list(hist)
    slow[6] = 10  # ~2 s
    a = {"id": "a", "connections": 3, "figures": {"published_per_s": 2, "deliveries_per_s": 10, "published_latency": hist},
         "top_rooms": [{"room": "x", "messages_per_s": 2.0, "deliveries_per_s": 10.0,
                        "translation_failures_per_s": 0.0, "latency": hist}]}
    b = {"id": "b", "connections": 4, "figures": {"published_per_s": 1, "deliveries_per_s": 5, "published_latency": slow},
         "top_rooms": [{"room": "x", "messages_per_s": 1.5, "deliveries_per_s": 5.0,
                        "translation_failures_per_s": 0.5, "latency": slow}]}
    x = merge_rooms([a, b])["x"]
    assert x["messages_per_s"] == 2.0 and x["deliveries_per_s"] == 15.0
    assert x["translation_failures_per_s"] == 0.5 and x["translation_p99_s"] == 2.0
    assert x["nodes"] == ["a", "b"]
    point = cluster_point([a, b], 100.0)
    assert point["messages_per_s"] == 3 and point["connections"] == 7 and point["translation_p50_s"] == 2.0


def test_series_keeps_one_point_per_step_and_is_bounded():
    series = Series(points=5, step=5.0)
    for t in range(0, 100, 2):
        series.add({"t": float(t)})
    assert len(series.points) == 5
    gaps = [b["t"] - a["t"] for a, b in zip(series.points, list(series.points)[1:])]
    assert all(g >= 4 for g in gaps), gaps


def test_cluster_latency_counts_each_translation_once():
    """A's translations are delivered on A and B, B's only on B: fan-out sees A's twice."""
    a, b = RoomStats(), RoomStats()
    for i in range(10):  # published by A in 0.3 s, delivered on both nodes
        message, translation = {"type": "message", "id": f"a{i}", "ts": 0.0}, \
            {"type": "translation", "message_id": f"a{i}", "ts": 300.0}
        for node in (a, b):
            node.on_fanout("x", message, 1)
            node.on_fanout("x", translation, 1)
        a.on_translation_published(message, translation)
    for i in range(12):  # published by B in 2 s, delivered on B only
        message, translation = {"type": "message", "id": f"b{i}", "ts": 0.0}, \
            {"type": "translation", "message_id": f"b{i}", "ts": 2000.0}
        b.on_fanout("x", message, 1)
        b.on_fanout("x", translation, 1)
        b.on_translation_published(message, translation)
    records = [{"id": n, "figures": s.node_figures()} for n, s in (("a", a), ("b", b))]
    assert sum(records[0]["figures"]["published_latency"]) + sum(records[1]["figures"]["published_latency"]) == 22
    point = cluster_point(records, 1.0)
    # Counted at fan-out (20 fast against 12 slow) the median would be 0.5 s; once each, 2 s.
    assert quantile(merge_histograms(r["figures"]["latency"] for r in records), 0.5) == 0.5
    assert point["translation_p50_s"] == 2.0 and point["translation_p99_s"] == 2.0


def test_published_latency_decays_like_the_rest():
    clock = Clock()
    stats = RoomStats(clock=clock, window=1.0)
    stats.on_translation_published({"ts": 0.0}, {"ts": 100.0})
    assert sum(stats.node_figures()["published_latency"]) == 1
    for step in range(1, 20):
        clock.t = float(step)
        stats.tick()
    assert sum(stats.node_figures()["published_latency"]) == 0
