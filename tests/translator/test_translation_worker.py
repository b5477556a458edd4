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


async def test_inline_worker_round_trip(tiny_models, tmp_path, redis_server, redis_client):
    cfg = worker_config(tiny_models, tmp_path)
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


async def test_job_of_a_killed_worker_is_reclaimed_by_another(tiny_models, tmp_path, redis_server, redis_client):
    cfg = worker_config(tiny_models, tmp_path)
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
