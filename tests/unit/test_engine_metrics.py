"""The engine's own figures (Engine.health()) reach /metrics, read at scrape time."""

from chatserver.metrics import Metrics


def test_engine_health_is_exported_at_each_scrape():
    health = {"status": "partial", "orphaned_rooms": 2, "reconnects": 3, "resubscribe_failures": 1,
              "shards": [{"name": "127.0.0.1:7001", "status": "ok"}, {"name": "127.0.0.1:7002", "status": "failing"}]}
    metrics = Metrics()
    metrics.watch_engine(lambda: health)
    text = metrics.render()[0].decode()
    assert "livebridge_engine_status 1.0" in text
    assert 'livebridge_redis_shard_up{shard="127.0.0.1:7002"} 0.0' in text
    assert 'livebridge_redis_shard_up{shard="127.0.0.1:7001"} 1.0' in text
    assert "livebridge_redis_pubsub_reconnects_total 3.0" in text
    assert "livebridge_redis_resubscribe_failures_total 1.0" in text
    assert "livebridge_redis_orphaned_rooms 2.0" in text
    health.update(status="ok", reconnects=4)
    text = metrics.render()[0].decode()
    assert "livebridge_engine_status 0.0" in text and "livebridge_redis_pubsub_reconnects_total 4.0" in text


def test_the_memory_engine_exports_only_its_status():
    metrics = Metrics()
    metrics.watch_engine(lambda: {"status": "ok", "engine": "MemoryEngine"})
    text = metrics.render()[0].decode()
    assert "livebridge_engine_status 0.0" in text and "livebridge_redis_" not in text
