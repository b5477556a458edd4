"""Prometheus metrics of one server, in a registry of its own (so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_TRANSLATE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """Every metric the server exports; names are documented in docs/protocol.md."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connections = Gauge("livebridge_connections", "open WebSocket connections", registry=r)
        self.rooms = Gauge("livebridge_rooms", "rooms with members on this node", registry=r)
        self.frames_in = Counter("livebridge_frames_in_total", "client frames received", ["type"], registry=r)
        self.frames_out = Counter("livebridge_frames_out_total", "frames queued to members by fan-out (one per member per event)", registry=r)
        self.errors = Counter("livebridge_errors_total", "error frames and error closes", ["code"], registry=r)
        self.slow_consumers = Counter(
            "livebridge_slow_consumer_disconnects_total", "clients closed for not reading", registry=r)
        self.messages = Counter("livebridge_messages_published_total", "messages published", registry=r)
        self.fanout_latency = Histogram(
            "livebridge_fanout_latency_seconds", "time from publish to local fan-out",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.translation_latency = Histogram(
            "livebridge_translation_latency_seconds", "time from message to its translation",
            buckets=_TRANSLATE_BUCKETS, registry=r)
        self.translation_batch = Histogram(
            "livebridge_translation_batch_size", "texts per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.translation_queue = Gauge(
            "livebridge_translation_queue_depth", "texts waiting for the model", registry=r)
        self.translation_cache = Counter(
            "livebridge_translation_cache_total", "translation cache look-ups", ["result"], registry=r)
        self.translation_failures = Counter(
            "livebridge_translation_failures_total", "translations not made", ["reason"], registry=r)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
