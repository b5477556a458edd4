"""Fixtures shared by every test package: real redis-servers, a Redis Cluster, a PostgreSQL
cluster and real server processes.

The session-scoped servers are defined here, once: a fixture imported into two packages'
conftests is two fixtures, and each would start its own server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import RedisServer, ServerProcess
from tests.rooms.redis_cluster import RedisClusterServers
from tests.store.pg import PostgresServer


@pytest.fixture(scope="session")
def redis_server():
    """One private redis-server for the session; tests that kill it use `fresh_redis`."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def fresh_redis():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def start_server():
    """Start `livebridge serve` processes; all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def start(*args: str, **kwargs) -> ServerProcess:
        server = ServerProcess(*args, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server():
    """A single-node server (in-memory engine, translation off) shared by a test module."""
    process = ServerProcess().start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """3 masters + 3 replicas, as docs/deploy.md recommends: a write's ack waits (WAIT) for a
    replica, which here confirms in a millisecond; with no replica every engine's first
    write to a shard would wait out the WAIT timeout (2 x 250 ms) instead."""
    cluster = RedisClusterServers(replicas=1).start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def postgres_server():
    """The session's own PostgreSQL cluster (stopped and removed at the end)."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One model cache directory for the session (``cache_dir``, ``--model-cache-dir``). A
    fresh directory costs a CTranslate2 conversion of both tiny models (a subprocess that
    imports torch and transformers: ~6 s); here the first test that needs them converts and
    every later one loads. The conversion is written to a temporary sibling and renamed
    into place, so concurrent first users are safe. The tests of conversion itself
    (tests/translator/test_marian_backends.py, `models convert`) keep directories of their own."""
    return tmp_path_factory.mktemp("model-cache")
