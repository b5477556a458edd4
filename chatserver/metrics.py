"""Prometheus metrics of one server, in a registry of its own (so tests can run several).

The figures counted on every message (frames in and out, messages, errors, slow consumers,
fan-out latency) are plain numbers kept on the event loop's thread, read by a collector at
scrape time (:class:`LoopCounter`, :class:`LoopHistogram`): prometheus-client's own metrics
take a lock on every ``inc`` (six per message, about 5 us). Names, types, labels and help
texts are those docs/protocol.md lists, as before. Metrics written from other threads
(translation) stay prometheus-client's.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_TRANSLATE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """Every metric the server exports; names are documented in docs/protocol.md."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("livebridge_connections", "open WebSocket connections", registry=r)
        self.rooms = Gauge("livebridge_rooms", "rooms with members on this node", registry=r)
        self.frames_in = LoopCounter("livebridge_frames_in_total", "client frames received", ["type"])
        self._frames_in: dict[str, LoopCounter] = {}
        self.frames_out = LoopCounter("livebridge_frames_out_total", "frames queued to members by fan-out (one per member per event)")
        self.errors = LoopCounter("livebridge_errors_total", "error frames and error closes", ["code"])
        self.slow_consumers = LoopCounter(
            "livebridge_slow_consumer_disconnects_total", "clients closed for not reading")
        self.messages = LoopCounter("livebridge_messages_published_total", "messages published")
        self.fanout_latency = LoopHistogram(
            "livebridge_fanout_latency_seconds", "time from publish to local fan-out", _LATENCY_BUCKETS)
        r.register(_LoopCollector([self.frames_in, self.frames_out, self.errors, self.slow_consumers,
                                   self.messages, self.fanout_latency]))
        self.translation_latency = Histogram(
            "livebridge_translation_latency_seconds", "seconds from a message to its translation into one language (made ones)",
            buckets=_TRANSLATE_BUCKETS, registry=r)
        self.translation_batch = Histogram(
            "livebridge_translation_batch_size", "sentences per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.translation_queue = Gauge(
            "livebridge_translation_queue_depth", "messages (one per target language) being translated or waiting", registry=r)
        self.translation_cache = Counter(
            "livebridge_translation_cache_total", "translation cache look-ups, one per sentence", ["result"], registry=r)
        self.translation_failures = Counter(
            "livebridge_translation_failures_total", "messages (one per target language) not translated, by reason: backlog (shed), deadline (timed out), no_worker, no_model, failed, off, unavailable", ["reason"], registry=r)

    def frame_in(self, frame_type: str) -> None:
        """Count one client frame (its labelled child kept per type: types are
        protocol.CLIENT_FRAMES)."""
        child = self._frames_in.get(frame_type)
        if child is None:
            child = self._frames_in[frame_type] = self.frames_in.labels(frame_type)
        child.value += 1

    def watch_engine(self, health: Callable[[], dict[str, Any]]) -> None:
        """Export the engine's own figures (``Engine.health()``), read at each scrape."""
        self.registry.register(_EngineCollector(health))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class LoopCounter:
    """A counter (``labels(...)`` gives a labelled one) updated on the event loop's thread
    only, without a lock; :class:`_LoopCollector` exports it."""

    __slots__ = ("name", "documentation", "labelnames", "value", "created", "_children")

    def __init__(self, name: str, documentation: str, labelnames: list[str] | tuple[str, ...] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.value = 0.0
        self.created = time.time()
        self._children: dict[tuple[str, ...], LoopCounter] = {}

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount

    def labels(self, *values: Any) -> "LoopCounter":
        key = tuple(map(str, values))
        child = self._children.get(key)
        if child is None:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {self.labelnames}")
            child = self._children[key] = LoopCounter(self.name, self.documentation)
        return child

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames or None)
        if self.labelnames:
            for key, child in list(self._children.items()):
                family.add_metric(list(key), child.value, created=child.created)
        else:
            family.add_metric([], self.value, created=self.created)
        return family


class LoopHistogram:
    """A histogram observed on the event loop's thread only, without a lock."""

    __slots__ = ("name", "documentation", "bounds", "counts", "sum", "created")

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation)
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, math.inf), list(self.counts)):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        family.add_metric([], buckets, self.sum)
        family.samples.append(Sample(self.name + "_created", {}, self.created))  # as prometheus-client's
        return family


class _LoopCollector:
    """Exports the lock-free metrics at each scrape."""

    def __init__(self, metrics: list[LoopCounter | LoopHistogram]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.family()


_ENGINE_STATUS = {"ok": 0, "partial": 1, "degraded": 2}
# Engine.health() counter -> (metric name, help); engines without a counter leave it out.
_ENGINE_COUNTERS = {
    "reconnects": ("livebridge_redis_pubsub_reconnects", "pub/sub connections re-opened"),
    "resubscribed": ("livebridge_redis_resubscribed_rooms", "room subscriptions made again after a loss"),
    "resubscribe_failures": ("livebridge_redis_resubscribe_failures", "resubscriptions that failed (retried)"),
    "slot_refreshes": ("livebridge_redis_slot_refreshes", "cluster slot map refreshes"),
    "unreplicated_acks": ("livebridge_redis_unreplicated_acks",
                          "messages acked before a replica confirmed them (none up, or lagging)"),
    "heartbeat_failures": ("livebridge_redis_heartbeat_failures", "node heartbeats that could not be written"),
    "stale_global_reads": ("livebridge_redis_stale_global_reads",
                           "global state answered from this node's copy while its shard was down"),
    "local_token_buckets": ("livebridge_redis_local_token_buckets",
                            "connection rate buckets taken on this node while their shard was down"),
}


class _EngineCollector:
    """Reads ``Engine.health()`` at scrape time: engine status, shards up, Redis counters."""

    def __init__(self, health: Callable[[], dict[str, Any]]) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health()
        status = GaugeMetricFamily("livebridge_engine_status", "engine status: 0 ok, 1 partial, 2 degraded")
        status.add_metric([], _ENGINE_STATUS.get(health.get("status", "ok"), 2))
        yield status
        if "orphaned_rooms" in health:
            orphaned = GaugeMetricFamily("livebridge_redis_orphaned_rooms",
                                         "rooms whose subscription is waiting to be made again")
            orphaned.add_metric([], health["orphaned_rooms"])
            yield orphaned
        if health.get("shards"):
            up = GaugeMetricFamily("livebridge_redis_shard_up", "1 while a Redis shard answers", labels=["shard"])
            for shard in health["shards"]:
                up.add_metric([str(shard.get("name"))], 1 if shard.get("status") == "ok" else 0)
            yield up
        for key, (name, help_text) in _ENGINE_COUNTERS.items():
            if key in health:
                counter = CounterMetricFamily(name, help_text)
                counter.add_metric([], health[key])
                yield counter
