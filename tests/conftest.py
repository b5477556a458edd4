"""Fixtures shared by every test package: real redis-servers and real server processes."""

from __future__ import annotations

import pytest

from tests.harness import RedisServer, ServerProcess


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
