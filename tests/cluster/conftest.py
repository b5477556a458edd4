"""Several `livebridge serve --redis-url ...` nodes sharing one Redis (or a Redis Cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest

from clients.client import LiveBridgeClient
from tests.harness import ServerProcess

SECRET = "cluster-test-secret-" + secrets.token_hex(8)
# Short presence heartbeats so a dead node's members leave within ~2 s in tests.
HEARTBEAT = 0.3
NODE_TTL = 1.0
FAST_ENV = {"LIVEBRIDGE_REDIS_HEARTBEAT": str(HEARTBEAT), "LIVEBRIDGE_REDIS_NODE_TTL": str(NODE_TTL)}


_shared_store: dict[str, str | None] = {"url": None}


@pytest.fixture(scope="module", autouse=True)
def shared_store(postgres_server):
    """The nodes of a module share one PostgreSQL database, as nodes sharing Redis must (each
    node's own SQLite file would hold only what that node wrote)."""
    _shared_store["url"] = postgres_server.create_database(f"cluster_{secrets.token_hex(4)}")
    yield _shared_store["url"]
    _shared_store["url"] = None


def node_args(url: str, node_id: str) -> list[str]:
    args = ["--redis-url", url, "--node-id", node_id, "--secret", SECRET, "--allow-guests"]
    if _shared_store["url"]:
        args += ["--database-url", _shared_store["url"]]
    return args


@pytest.fixture
def start_nodes(start_server):
    """``start_nodes(url, "a", "b")``: server processes sharing ``url``, stopped at the end."""

    def start(url: str, *names: str) -> list[ServerProcess]:
        return [start_server(*node_args(url, name), env=FAST_ENV) for name in names]

    return start


@pytest.fixture(scope="module")
def trio(redis_server):
    """Three nodes on the session's Redis, shared by a module's tests."""
    redis_server.cli("FLUSHALL")
    servers = [ServerProcess(*node_args(redis_server.url, name), env=FAST_ENV).start()
               for name in ("a", "b", "c")]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
async def clients():
    """``await clients(server, name, lang, token=...)``: connected clients, closed at the end."""
    made: list[LiveBridgeClient] = []

    async def make(server: ServerProcess, name: str, lang: str = "en", **kw) -> LiveBridgeClient:
        client = LiveBridgeClient(server.url, name=name, lang=lang, backoff_min=0.05,
                                  backoff_max=0.5, **kw)
        await client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5)
