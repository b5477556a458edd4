"""The lock-free per-message metrics export what prometheus-client's own metrics would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from chatserver.metrics import Metrics

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def _lines(text: bytes, prefix: str) -> list[str]:
    return [line for line in text.decode().splitlines()
            if line.startswith(prefix) and "_created" not in line]


def test_counters_and_histogram_read_as_prometheus_clients_would():
    ours = Metrics()
    theirs = CollectorRegistry()
    frames_in = Counter("livebridge_frames_in_total", "client frames received", ["type"], registry=theirs)
    errors = Counter("livebridge_errors_total", "error frames and error closes", ["code"], registry=theirs)
    latency = Histogram("livebridge_fanout_latency_seconds", "time from publish to local fan-out",
                        buckets=BUCKETS, registry=theirs)
    for kind in ("send", "send", "join"):
        ours.frame_in(kind)
        frames_in.labels(kind).inc()
    ours.errors.labels("bad_frame").inc(3)
    errors.labels("bad_frame").inc(3)
    for seconds in (0.0, 0.0005, 0.003, 0.7, 2.5, 9.0):  # bounds themselves fall in their bucket
        ours.fanout_latency.observe(seconds)
        latency.observe(seconds)
    mine, reference = generate_latest(ours.registry), generate_latest(theirs)
    for prefix in ("livebridge_frames_in_total", "livebridge_errors_total", "livebridge_fanout_latency_seconds",
                   "# HELP livebridge_fanout", "# TYPE livebridge_fanout"):
        assert _lines(mine, prefix) == _lines(reference, prefix), prefix
    assert 'livebridge_fanout_latency_seconds_bucket{le="+Inf"} 6.0' in mine.decode()
    assert "livebridge_frames_in_created" in mine.decode()  # as prometheus-client writes them
    assert ours.registry.get_sample_value("livebridge_frames_in_total", {"type": "send"}) == 2.0


def test_a_counter_refuses_to_go_down_and_wrong_labels():
    metrics = Metrics()
    try:
        metrics.messages.inc(-1)
    except ValueError:
        pass
    else:
        raise AssertionError("a counter went down")
    try:
        metrics.errors.labels("a", "b")
    except ValueError:
        pass
    else:
        raise AssertionError("two labels accepted for one")
    assert metrics.registry.get_sample_value("livebridge_messages_published_total") == 0.0
