"""Translation workers fed by a Redis stream consumer group (translation mode "workers").

Protocol (all keys start with ``config.redis_prefix``, default ``lb:tr:``):

* Jobs: the server ``XADD``s to stream ``lb:tr:jobs`` (``MAXLEN ~ 100000``) an entry with
  fields ``id`` (unique job id), ``text``, ``source``, ``target``, ``reply`` (the server
  process's reply channel, ``lb:tr:reply:<uuid>``) and ``deadline`` (unix seconds after which
  the server no longer waits).
* Workers read with ``XREADGROUP`` in group ``lb:tr:workers``, translate jobs in batches through
  a normal inline ``TranslationService`` (same spans, cache, batcher and backend as inline mode),
  ``PUBLISH`` the result on ``reply`` as JSON ``{"id", "ok", "text", "error", "cached",
  "worker"}``, then ``XACK`` and ``XDEL`` the entry.  Expired jobs are acknowledged unanswered.
* A worker that dies leaves its jobs pending; every ``reclaim_idle_ms / 2`` each live worker
  runs ``XAUTOCLAIM`` for entries idle longer than ``reclaim_idle_ms`` and processes them.
  A job can therefore be answered twice (worker died after PUBLISH, before XACK); the server
  ignores answers for jobs it no longer waits for.
* Each worker refreshes ``lb:tr:worker:<consumer>`` (JSON: pairs, backend; TTL 15 s) so servers
  can tell whether any worker is alive.

Results go over pub/sub because the waiting server is the only reader and it times out anyway
(``config.worker_timeout_s``): a lost result costs one "translation unavailable: timeout",
never a stuck request.

The server side (``WorkerClient``, which ``TranslationService`` uses in workers mode, and the
stream and group names) is in ``translator.jobs``; this module re-exports those names.

``run_worker`` is a coroutine that returns cleanly when cancelled or when ``stop`` is set;
``run_worker_blocking`` wraps it for the CLI and turns SIGTERM/SIGINT into a clean stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
from dataclasses import replace

from translator.jobs import WorkerClient, as_str, group_name, stream_key
from translator.service import TranslationService
from translator.types import TranslatorConfig

log = logging.getLogger(__name__)

__all__ = ["WorkerClient", "ensure_group", "group_name", "run_worker", "run_worker_blocking", "stream_key"]


async def ensure_group(redis, config: TranslatorConfig) -> None:
    try:
        await redis.xgroup_create(stream_key(config), group_name(config), id="0", mkstream=True)
    except Exception as exc:  # noqa: BLE001
        if "BUSYGROUP" not in str(exc):
            raise


async def run_worker(
    redis_url: str,
    config: TranslatorConfig | None = None,
    *,
    consumer: str | None = None,
    reclaim_idle_ms: int = 30000,
    block_ms: int = 1000,
    stop: asyncio.Event | None = None,
    service: TranslationService | None = None,
    metrics=None,
) -> None:
    """Consume translation jobs until cancelled or ``stop`` is set.

    Loads the models of ``config`` (mode is forced to "inline"); raises
    ``translator.backends.ModelUnavailable`` if none can be loaded, since a worker without a
    model is useless.  ``consumer`` defaults to ``<hostname>-<pid>``; it must be unique among
    live workers.
    """
    import redis.asyncio as aioredis

    from translator.backends import ModelUnavailable

    config = replace(config or TranslatorConfig(), mode="inline", redis_url=None)
    consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
    stop = stop or asyncio.Event()
    redis = aioredis.from_url(redis_url)
    own_service = service is None
    if service is None:
        service = TranslationService(config, metrics=metrics, redis=redis)
        await service.start()
    if not service.status["enabled"]:
        await redis.aclose()
        raise ModelUnavailable(service.status["reason"] or "no translation model")
    stream, group = stream_key(config), group_name(config)
    capacity = max(1, config.max_batch * 2)
    inflight: set[asyncio.Task] = set()
    hb_key = f"{config.redis_prefix}worker:{consumer}"

    async def handle(entry_id, fields) -> None:
        f = {as_str(k): as_str(v) for k, v in fields.items()}
        try:
            if float(f.get("deadline", "inf")) >= time.time():
                tr = await service.translate(f["text"], f["source"], f["target"])
                reply = {"id": f["id"], "ok": tr.ok, "text": tr.text, "error": tr.error,
                         "cached": tr.cached, "worker": consumer}
                await redis.publish(f["reply"], json.dumps(reply, ensure_ascii=False))
        except KeyError:
            log.warning("dropping malformed translation job %s", entry_id)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, group, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    def spawn(entries) -> None:
        for entry_id, fields in entries:
            if fields:  # XAUTOCLAIM can return deleted entries with no fields
                t = asyncio.create_task(handle(entry_id, fields))
                inflight.add(t)
                t.add_done_callback(inflight.discard)

    async def heartbeat() -> None:
        body = json.dumps({"consumer": consumer, "backend": config.backend, "pairs": service.status["pairs"]})
        while True:
            try:
                await redis.set(hb_key, body, ex=15)
            except Exception as exc:  # noqa: BLE001
                log.warning("worker heartbeat failed: %s", exc)
            await asyncio.sleep(5)

    hb = asyncio.create_task(heartbeat())
    next_claim = 0.0
    log.info("translation worker %s consuming %s (%s)", consumer, stream, ", ".join(service.status["pairs"]))
    try:
        await ensure_group(redis, config)
        while not stop.is_set():
            if len(inflight) >= capacity:
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            now = time.monotonic()
            try:
                if now >= next_claim:
                    next_claim = now + reclaim_idle_ms / 2000.0
                    res = await redis.xautoclaim(stream, group, consumer, min_idle_time=reclaim_idle_ms,
                                                 start_id="0-0", count=capacity - len(inflight))
                    if res[1]:
                        log.info("reclaimed %d translation jobs from dead workers", len(res[1]))
                    spawn(res[1])
                    if len(inflight) >= capacity:
                        continue
                resp = await redis.xreadgroup(group, consumer, {stream: ">"},
                                              count=capacity - len(inflight), block=block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis blip: retry
                if "NOGROUP" in str(exc):
                    await ensure_group(redis, config)
                else:
                    log.warning("translation worker read failed: %s", exc)
                    await asyncio.sleep(0.5)
                continue
            for _stream, entries in resp or []:
                spawn(entries)
    finally:
        hb.cancel()
        if inflight:  # finish what we hold; anything unfinished is reclaimed by others
            await asyncio.wait(inflight, timeout=10)
        try:
            await redis.delete(hb_key)
        except Exception:  # noqa: BLE001
            pass
        if own_service:
            await service.close()
        await redis.aclose()
        log.info("translation worker %s stopped", consumer)


def run_worker_blocking(redis_url: str, config: TranslatorConfig | None = None, **kwargs) -> int:
    """CLI entry point: run a worker until SIGTERM/SIGINT; returns a process exit code
    (0 after a clean stop, 2 when no model could be loaded)."""
    from translator.backends import ModelUnavailable

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_worker(redis_url, config, stop=stop, **kwargs)
        except ModelUnavailable as exc:
            log.error("translation worker cannot start: %s", exc)
            return 2
        return 0

    return asyncio.run(main())
