"""CommandBatcher on a real redis-server: concurrent commands share a pipeline, and each
caller gets its own reply or its own error."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
import redis.exceptions as rex

from rooms.redis_batch import CommandBatcher
from tests.harness import until


@pytest.fixture
async def client(redis_server):
    redis = aioredis.Redis.from_url(redis_server.url, socket_timeout=2, protocol=2)
    await redis.flushdb()
    yield redis
    await redis.aclose()


async def test_concurrent_commands_share_one_pipeline_and_each_gets_its_reply(client):
    batcher = CommandBatcher(lambda: client.pipeline(transaction=False))
    replies = await asyncio.gather(*(batcher.execute("INCRBY", "n", i) for i in range(1, 51)))
    assert batcher.pipelines == 1 and batcher.commands == 50
    assert replies == [i * (i + 1) // 2 for i in range(1, 51)]  # in the order asked
    assert int(await client.get("n")) == 1275


async def test_a_command_error_reaches_only_its_caller(client):
    batcher = CommandBatcher(lambda: client.pipeline(transaction=False))
    await client.set("text", "not a number")
    results = await asyncio.gather(batcher.execute("INCR", "counter"), batcher.execute("INCR", "text"),
                                   batcher.execute("EVALSHA", "0" * 40, 0), batcher.execute("INCR", "counter"),
                                   return_exceptions=True)
    assert results[0] == 1 and results[3] == 2
    assert isinstance(results[1], rex.ResponseError)
    assert isinstance(results[2], rex.NoScriptError)  # the engine falls back to EVAL on this


async def test_more_than_max_batch_start_another_pipeline(client):
    batcher = CommandBatcher(lambda: client.pipeline(transaction=False), max_batch=10)
    await asyncio.gather(*(batcher.execute("INCR", "n") for _ in range(25)))
    assert batcher.pipelines == 3 and int(await client.get("n")) == 25


async def test_a_lost_connection_reaches_every_caller_of_the_pipeline(fresh_redis):
    redis = aioredis.Redis.from_url(fresh_redis.url, socket_timeout=1, socket_connect_timeout=1, protocol=2)
    try:
        batcher = CommandBatcher(lambda: redis.pipeline(transaction=False))
        assert await batcher.execute("PING") is True
        fresh_redis.kill()
        results = await asyncio.gather(*(batcher.execute("INCR", "n") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, (rex.ConnectionError, rex.TimeoutError, OSError)) for r in results), results
    finally:
        await redis.aclose()


async def test_a_caller_that_gives_up_does_not_disturb_the_others(client):
    batcher = CommandBatcher(lambda: client.pipeline(transaction=False))
    gone = asyncio.ensure_future(batcher.execute("INCR", "n"))
    kept = asyncio.ensure_future(batcher.execute("INCR", "n"))
    await asyncio.sleep(0)  # both are queued
    gone.cancel()
    assert await kept == 2  # the command of the one that gave up was sent all the same
    await batcher.close()
    assert gone.cancelled() and int(await client.get("n")) == 2


async def test_commands_issued_while_pipelines_are_under_way_leave_together(client, redis_server):
    # The first pipeline is held in Redis by a BLPOP until the test pushes, so the later
    # commands are certainly issued while it is under way (no reliance on how fast Redis answers).
    slow = aioredis.Redis.from_url(redis_server.url, socket_timeout=30, protocol=2)
    batcher = CommandBatcher(lambda: slow.pipeline(transaction=False), max_in_flight=1)
    first = asyncio.ensure_future(batcher.execute("BLPOP", "gate", 0))
    await until(lambda: batcher.pipelines == 1)  # the first pipeline is sent
    later = []
    for _ in range(3):  # three more turns, one command each, while it is held
        later.append(asyncio.ensure_future(batcher.execute("INCR", "n")))
        await asyncio.sleep(0)
    assert not first.done() and batcher.pipelines == 1
    await client.rpush("gate", "open")
    assert list(await first) == [b"gate", b"open"]
    assert sorted(await asyncio.gather(*later)) == [1, 2, 3]
    assert batcher.pipelines == 2 and batcher.commands == 4  # not four pipelines
    await batcher.close()
    await slow.aclose()
