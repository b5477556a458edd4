"""Workers mode against a private redis-server: real worker processes, real tiny models."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from translator.backends import ModelUnavailable
from translator.service import TranslationService, TranslatorConfig
from translator.worker import group_name, run_worker, stream_key

ROOT = Path(__file__).resolve().parents[2]


def worker_config(tiny_models, cache_dir, **kw):
    return TranslatorConfig(backend="ctranslate2", model_en_zh=str(tiny_models["en-zh"]),
                            model_zh_en=str(tiny_models["zh-en"]), cache_dir=str(cache_dir), **kw)


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, {root!r})
    from translator.service import TranslationService, TranslatorConfig
    from translator.worker import run_worker_blocking
    args = json.loads(sys.argv[1])
    if args["hang"]:
        # Stand-in for a worker that dies mid-translation: take the job, never answer.
        async def hang(self, text, source, target, **kw):
            open(args["marker"], "w").write(text)
            await asyncio.sleep(3600)
        TranslationService.translate = hang
    cfg = TranslatorConfig(**args["config"])
    sys.exit(run_worker_blocking(args["url"], cfg, consumer=args["consumer"], reclaim_idle_ms=args["idle"]))
    """
)


def spawn_worker(url, cfg, consumer, idle_ms, hang=False, marker=None):
    args = {"url": url, "consumer": consumer, "idle": idle_ms, "hang": hang, "marker": str(marker),
            "config": {k: getattr(cfg, k) for k in ("backend", "model_en_zh", "model_zh_en", "cache_dir")}}
    return subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT.format(root=str(ROOT)), json.dumps(args)],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def pending_count(redis_client, cfg, expected):
    return (await redis_client.xpending(stream_key(cfg), group_name(cfg)))["pending"] == expected


async def wait_for(cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_inline_worker_round_trip(tiny_models, model_cache, redis_server, redis_client):
    cfg = worker_config(tiny_models, model_cache)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(redis_server.url, cfg, consumer="w1", stop=stop, block_ms=100))
    server = TranslationService(TranslatorConfig(mode="workers", redis_url=redis_server.url, worker_timeout_s=30))
    await server.start()
    assert server.status["enabled"] and server.status["mode"] == "workers"
    await wait_for(lambda: asyncio.sleep(0, server.status["available"]), 60, "the worker to be alive")
    results = await asyncio.gather(server.translate("早上好 @amy", "zh", "en"), server.translate("hello 👋", "en", "zh"),
                                   server.translate("🎉🎉", "en", "zh"))
    assert [r.text for r in results] == ["good morning @amy", "你好 👋", "🎉🎉"]
    [alive] = await server._client.workers_alive()
    assert (alive["consumer"], alive["backend"], alive["pairs"]) == ("w1", "ctranslate2", ["en-zh", "zh-en"])
    assert server.status["backend"] == "ctranslate2" and server.status["available"] is True
    await wait_for(lambda: pending_count(redis_client, cfg, 0), 10, "the worker's XACKs")
    stop.set()
    await asyncio.wait_for(worker, 10)
    assert await redis_client.exists("lb:tr:worker:w1") == 0
    await server.close()


async def test_no_worker_alive_is_said_at_once_and_in_the_status(redis_server, redis_client):
    server = TranslationService(TranslatorConfig(mode="workers", redis_url=redis_server.url))
    await server.start()
    assert server.status["enabled"] is True and server.status["available"] is False
    assert server.status["message"] == "translation unavailable: no translation worker alive"
    assert server.status["code"] == "no_worker" and server.status["enabled"] is True
    t0 = time.monotonic()
    tr = await asyncio.wait_for(server.translate("hello", "en", "zh"), 5)
    assert tr.ok is False and tr.error == "translation unavailable: no translation worker alive"
    assert time.monotonic() - t0 < 0.5
    await server.close()


async def test_a_worker_that_stops_answering_turns_into_a_timeout_not_a_hang(redis_server, redis_client):
    server = TranslationService(TranslatorConfig(mode="workers", redis_url=redis_server.url, deadline_s=0.3))
    await redis_client.set("lb:tr:worker:silent", json.dumps({"consumer": "silent", "backend": "ctranslate2"}), px=10_000)
    await redis_client.zadd("lb:tr:workers:alive", {"silent": int(time.time() * 1000) + 10_000})
    await server.start()
    assert server.status["available"] is True and server.status["backend"] == "ctranslate2"
    tr = await asyncio.wait_for(server.translate("hello", "en", "zh"), 5)
    assert tr.ok is False and tr.error == "translation unavailable: timeout waiting for a worker"
    await server.close()


async def test_worker_without_models_refuses_to_start(redis_server, tmp_path):
    cfg = TranslatorConfig(model_en_zh=str(tmp_path / "nope"), model_zh_en=str(tmp_path / "nope2"))
    with pytest.raises(ModelUnavailable, match="nope"):
        await run_worker(redis_server.url, cfg, consumer="broken")


async def test_job_of_a_killed_worker_is_reclaimed_by_another(tiny_models, model_cache, tmp_path, redis_server,
                                                              redis_client):
    cfg = worker_config(tiny_models, model_cache)
    marker = tmp_path / "taken"
    dead = spawn_worker(redis_server.url, cfg, "doomed", idle_ms=600_000, hang=True, marker=marker)
    survivor = None
    server = TranslationService(TranslatorConfig(mode="workers", redis_url=redis_server.url, worker_timeout_s=120))
    await server.start()
    replies = redis_client.pubsub()
    await replies.subscribe(server._client.reply_channel)
    try:
        await wait_for(lambda: redis_client.exists("lb:tr:worker:doomed"), what="doomed worker ready")
        await wait_for(lambda: asyncio.sleep(0, server.status["available"]), 10, "the server to see it")
        job = asyncio.create_task(server.translate("see you tomorrow", "en", "zh"))
        await wait_for(lambda: asyncio.sleep(0, marker.exists()), what="doomed worker to take the job")
        dead.send_signal(signal.SIGKILL)
        dead.wait(10)
        pending = await redis_client.xpending(stream_key(cfg), group_name(cfg))
        assert pending["pending"] == 1 and pending["consumers"][0]["name"] == b"doomed"
        assert not job.done()

        survivor = spawn_worker(redis_server.url, cfg, "survivor", idle_ms=500)
        tr = await asyncio.wait_for(job, 90)
        assert tr.ok and tr.text == "明天见"
        msg = None
        while msg is None or msg["type"] != "message":
            msg = await replies.get_message(timeout=5)
        assert json.loads(msg["data"])["worker"] == "survivor"
        # The worker acknowledges after it publishes the reply: wait for that, do not race it.
        await wait_for(lambda: pending_count(redis_client, cfg, 0), 10, "the survivor's XACK")

        survivor.send_signal(signal.SIGTERM)  # clean stop: exit 0, heartbeat removed
        assert survivor.wait(20) == 0
        assert await redis_client.exists("lb:tr:worker:survivor") == 0
    finally:
        await replies.aclose()
        await server.close()
        for p in (dead, survivor):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


async def test_a_worker_killed_with_jobs_in_hand_loses_none_and_they_are_taken_over_at_once(
        tiny_models, model_cache, tmp_path, redis_server, redis_client):
    cfg = worker_config(tiny_models, model_cache)
    dead = spawn_worker(redis_server.url, cfg, "doomed", idle_ms=600_000, hang=True, marker=tmp_path / "taken")
    survivor = None
    server = TranslationService(TranslatorConfig(mode="workers", redis_url=redis_server.url, worker_timeout_s=60))
    await server.start()
    try:
        await wait_for(lambda: asyncio.sleep(0, server.status["available"]), 60, "the doomed worker")
        texts = ["hello", "thank you", "good morning"]
        jobs = [asyncio.create_task(server.translate(t, "en", "zh")) for t in texts]
        await wait_for(lambda: pending_count(redis_client, cfg, 3), 10, "the doomed worker to hold all three")
        # A second worker, alive before the first dies (and idle: the jobs are in the first's hands).
        survivor = spawn_worker(redis_server.url, cfg, "survivor", idle_ms=600_000)
        await wait_for(lambda: redis_client.exists("lb:tr:worker:survivor"), 60, "the survivor")
        dead.send_signal(signal.SIGKILL)
        dead.wait(10)
        killed = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*jobs), 30)
        # Taken over when the dead worker's liveness (3 s) ends, not after a 30 s idle time.
        assert time.monotonic() - killed < 5
        assert [r.text for r in results] == ["你好", "谢谢", "早上好"]
        await wait_for(lambda: pending_count(redis_client, cfg, 0), 10, "the survivor's XACKs")
    finally:
        await server.close()
        for p in (dead, survivor):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


async def test_a_job_that_keeps_killing_workers_goes_to_the_dead_letters(tiny_models, model_cache, redis_server,
                                                                          redis_client):
    cfg = worker_config(tiny_models, model_cache)
    stream, group = stream_key(cfg), group_name(cfg)
    await redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    replies = redis_client.pubsub()
    await replies.subscribe("lb:tr:reply:test")
    entry = await redis_client.xadd(stream, {"id": "j1", "text": "hello", "source": "en", "target": "zh",
                                             "reply": "lb:tr:reply:test", "deadline": f"{time.time() + 60:.3f}"})
    await redis_client.xreadgroup(group, "ghost1", {stream: ">"})  # delivered 3 times, to workers now dead
    for ghost in ("ghost2", "ghost3"):
        await redis_client.xclaim(stream, group, ghost, min_idle_time=0, message_ids=[entry])
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(redis_server.url, cfg, consumer="w1", stop=stop, block_ms=100))
    try:
        msg = None
        while msg is None or msg["type"] != "message":
            msg = await asyncio.wait_for(replies.get_message(timeout=5), 60)
        reply = json.loads(msg["data"])
        assert reply["ok"] is False and "delivered 3 times" in reply["error"]
        [(_, fields)] = await redis_client.xrange("lb:tr:dead")
        assert fields[b"id"] == b"j1" and fields[b"attempts"] == b"3" and fields[b"last_consumer"] == b"ghost3"
        await wait_for(lambda: pending_count(redis_client, cfg, 0), 10, "the dead letter's XACK")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)
        await replies.aclose()
