"""Prometheus figures an operator alerts on, read from the admin service at scrape time.

Label cardinality is bounded: per-room series exist for this node's :data:`TOP_ROOMS` most
active rooms only (a room that drops out of the top stops being exported), so no visitor can
grow the metric set. Names and alert rules: docs/deploy.md, "Admin console and alerts".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from chatserver.room_stats import quantile

TOP_ROOMS = 20


class AdminCollector:
    """Per-room figures (top rooms), translation lag, workers alive, engine/store round trips."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin

    def collect(self) -> Iterator[Metric]:
        admin = self.admin
        hub = admin.bridge.hub
        rooms = admin.stats.top(TOP_ROOMS)
        families = {
            "members": GaugeMetricFamily("livebridge_room_members",
                                         "connections in the room on this node (top rooms only)", labels=["room"]),
            "messages_per_s": GaugeMetricFamily("livebridge_room_messages_per_second",
                                                "messages per second in the room (top rooms only)", labels=["room"]),
            "deliveries_per_s": GaugeMetricFamily("livebridge_room_deliveries_per_second",
                                                  "events per second handed to the room's members on this node "
                                                  "(top rooms only)", labels=["room"]),
            "translation_failures_per_s": GaugeMetricFamily(
                "livebridge_room_translation_failures_per_second",
                "translations said unavailable per second in the room (top rooms only)", labels=["room"]),
            "p99": GaugeMetricFamily("livebridge_room_translation_latency_p99_seconds",
                                     "p99 of message-to-translation time in the room, last minute or so "
                                     "(top rooms only)", labels=["room"]),
        }
        for row in rooms:
            room = row["room"]
            families["members"].add_metric([room], len(hub.members(room)))
            for key in ("messages_per_s", "deliveries_per_s", "translation_failures_per_s"):
                families[key].add_metric([room], row[key])
            p99 = quantile(row["latency"], 0.99)
            if p99 is not None:
                families["p99"].add_metric([room], p99)
        yield from families.values()

        lag = GaugeMetricFamily("livebridge_translation_lag_seconds",
                                "message-to-translation time seen in fan-out on this node, last minute or so "
                                "(the cluster charts count each translation once, by its publisher)",
                                labels=["quantile"])
        latency = admin.stats.node_figures()["latency"]
        for q in (0.5, 0.99):
            value = quantile(latency, q)
            if value is not None:
                lag.add_metric([str(q)], value)
        yield lag

        workers = getattr(admin.bridge.translator, "workers_alive", None)
        if workers is not None:
            alive = GaugeMetricFamily("livebridge_translation_workers_alive",
                                      "translate-workers seen alive (workers mode)")
            alive.add_metric([], workers)
            yield alive
        rtt = GaugeMetricFamily("livebridge_engine_rtt_seconds",
                                "round trip of one engine state read (Redis, or memory), at the last heartbeat; "
                                "absent while it fails")
        if admin.engine_rtt is not None:
            rtt.add_metric([], admin.engine_rtt)
        yield rtt
        if getattr(admin.bridge, "store", None) is not None and admin.store_rtt is not None:
            store = GaugeMetricFamily("livebridge_store_rtt_seconds",
                                      "round trip of the durable store's health check, at the last heartbeat")
            store.add_metric([], admin.store_rtt)
            yield store
        nodes = GaugeMetricFamily("livebridge_cluster_nodes", "nodes in the registry at the last heartbeat")
        last = admin.series.points[-1]["nodes"] if admin.series.points else 0
        nodes.add_metric([], last)
        yield nodes
