"""One engine contract, two engines: every test taking `make_engine` runs on both."""

from __future__ import annotations


import pytest

from rooms.memory import MemoryEngine
from rooms.redis_engine import RedisEngine
from tests.harness import until  # noqa: F401  (re-exported for the tests here)




@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def make_engine(request):
    """``await make_engine(**kwargs)``: a started engine of the parametrised kind."""
    engines = []
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        url = server.url
    elif request.param == "redis-cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        url = cluster.url

    async def make(node_id: str = "a", **kwargs):
        if request.param == "memory":
            engine = MemoryEngine(node_id=node_id, **kwargs)
        else:
            kwargs.setdefault("heartbeat_interval", 0.2)
            kwargs.setdefault("node_ttl", 0.6)
            engine = RedisEngine(url, node_id=node_id, **kwargs)
        await engine.start()
        engines.append(engine)
        return engine

    make.kind = request.param
    yield make
    for engine in engines:
        await engine.close()
