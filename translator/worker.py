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
* Each worker refreshes ``lb:tr:worker:<consumer>`` (JSON: consumer, pairs, backend, models;
  TTL ``liveness_ttl_s``, 3 s, refreshed every third of it) so servers can tell whether any
  worker is alive and which backend runs, and workers can tell which consumers are dead.
* A worker that dies leaves its jobs pending.  Every ``TAKEOVER_INTERVAL`` (0.5 s) each live
  worker reads the pending entries (``XPENDING``) and ``XCLAIM``s those of consumers whose
  liveness key is gone (a dead worker's jobs are taken over within about ``liveness_ttl_s``)
  and those in hand for longer than ``reclaim_idle_ms`` (3 s: a stuck worker).  A job can
  therefore be answered twice (worker died after PUBLISH, before XACK); the server ignores
  answers for jobs it no longer waits for.
* Dead letters: a job already delivered ``max_attempts`` times (3) is not run again (it may be
  what kills workers): it is moved to the stream ``lb:tr:dead`` (its fields plus
  ``attempts`` and ``last_consumer``), answered "translation failed: ..." and acknowledged.

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

from translator.jobs import (WorkerClient, as_str, dead_letter_key, group_name, liveness_key, stream_key,
                            workers_key)
from translator.service import TranslationService
from translator.types import TranslatorConfig

log = logging.getLogger(__name__)

__all__ = ["WorkerClient", "dead_letter_key", "ensure_group", "group_name", "run_worker", "run_worker_blocking",
           "stream_key"]

TAKEOVER_INTERVAL = 0.5  # seconds between a worker's looks for jobs of dead or stuck workers
STATS_INTERVAL = 10.0  # seconds between a worker's log lines of what it did


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
    reclaim_idle_ms: int | None = None,
    block_ms: int = 1000,
    stop: asyncio.Event | None = None,
    service: TranslationService | None = None,
    metrics=None,
) -> None:
    """Consume translation jobs until cancelled or ``stop`` is set.

    Loads the models of ``config`` (mode is forced to "inline"); raises
    ``translator.backends.ModelUnavailable`` if none can be loaded, since a worker without a
    model is useless.  ``consumer`` defaults to ``<hostname>-<pid>``; it must be unique among
    live workers.  ``reclaim_idle_ms`` defaults to ``config.reclaim_idle_ms``.
    """
    import redis.asyncio as aioredis

    from translator.backends import ModelUnavailable

    config = replace(config or TranslatorConfig(), mode="inline", redis_url=None)
    idle_ms = config.reclaim_idle_ms if reclaim_idle_ms is None else reclaim_idle_ms
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
    inflight: dict[str, asyncio.Task] = {}  # entry id -> its task
    hb_key = liveness_key(config, consumer)
    stats = {"done": 0, "failed": 0, "expired": 0, "taken_over": 0, "dead_lettered": 0}

    async def reply(fields: dict, tr_ok: bool, text, error, cached: bool) -> None:
        body = {"id": fields["id"], "ok": tr_ok, "text": text, "error": error, "cached": cached,
                "worker": consumer}
        await redis.publish(fields["reply"], json.dumps(body, ensure_ascii=False))

    async def finish(entry_id) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, group, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def handle(entry_id, fields) -> None:
        f = {as_str(k): as_str(v) for k, v in fields.items()}
        try:
            left = float(f.get("deadline", "inf")) - time.time()
            if left >= 0:
                # The server's deadline for this job (longer for a long message), not ours.
                tr = await service.translate(f["text"], f["source"], f["target"],
                                             priority=f.get("priority", "live"),
                                             deadline_s=None if left == float("inf") else left)
                stats["done" if tr.ok else "failed"] += 1
                if not tr.ok:
                    log.warning("job %s (%s->%s): %s", f["id"], f["source"], f["target"], tr.error)
                await reply(f, tr.ok, tr.text, tr.error, tr.cached)
            else:
                stats["expired"] += 1
        except KeyError:
            log.warning("dropping malformed translation job %s", entry_id)
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the worker
            log.exception("job %s failed: %s", entry_id, exc)
            stats["failed"] += 1
            try:
                await reply(f, False, None, f"translation failed: {type(exc).__name__}", False)
            except Exception:  # noqa: BLE001 - the server times out instead
                pass
        await finish(entry_id)

    async def dead_letter(entry_id, fields, attempts: int, last: str) -> None:
        f = {as_str(k): as_str(v) for k, v in fields.items()}
        log.error("job %s delivered %d times (last to %s): moved to %s", entry_id, attempts, last,
                  dead_letter_key(config))
        stats["dead_lettered"] += 1
        await redis.xadd(dead_letter_key(config), {**f, "attempts": str(attempts), "last_consumer": last},
                         maxlen=10000, approximate=True)
        if "reply" in f and "id" in f:
            await reply(f, False, None, f"translation failed: the job was delivered {attempts} times "
                                        "and never finished", False)
        await finish(entry_id)

    def spawn(entries) -> None:
        for entry_id, fields in entries:
            key = as_str(entry_id)
            if fields and key not in inflight:  # a claimed entry may have been deleted meanwhile
                t = asyncio.create_task(handle(entry_id, fields))
                inflight[key] = t
                t.add_done_callback(lambda _t, k=key: inflight.pop(k, None))

    async def take_over() -> None:
        """Claim the jobs of dead consumers (liveness key gone) and of stuck ones."""
        room = capacity - len(inflight)
        if room <= 0:
            return
        pending = await redis.xpending_range(stream, group, min="-", max="+", count=max(room * 4, 16))
        owners = {as_str(e["consumer"]) for e in pending} - {consumer}
        dead = set()
        for owner in owners:
            if not await redis.exists(liveness_key(config, owner)):
                dead.add(owner)
        chosen = [e for e in pending if as_str(e["consumer"]) != consumer
                  and (as_str(e["consumer"]) in dead or e["time_since_delivered"] >= idle_ms)][:room]
        for e in chosen:
            # min_idle_time: if another worker claimed it first, its idle time was reset: skip.
            claimed = await redis.xclaim(stream, group, consumer, min_idle_time=max(0, e["time_since_delivered"] - 100),
                                         message_ids=[e["message_id"]])
            if not claimed:
                continue
            entry_id, fields = claimed[0]
            if not fields:
                await finish(entry_id)
                continue
            owner, attempts = as_str(e["consumer"]), int(e["times_delivered"])
            if attempts >= config.max_attempts:
                await dead_letter(entry_id, fields, attempts, owner)
                continue
            stats["taken_over"] += 1
            log.info("took over job %s from %s (%s, delivery %d)", as_str(entry_id), owner,
                     "dead" if owner in dead else f"in hand {e['time_since_delivered']} ms", attempts + 1)
            spawn([(entry_id, fields)])

    async def heartbeat() -> None:
        body = json.dumps({"consumer": consumer, "backend": service.status["backend"],
                           "pairs": service.status["pairs"], "models": config.models_list()})
        ttl_ms = max(100, int(config.liveness_ttl_s * 1000))
        while True:
            try:
                now_ms = int(time.time() * 1000)
                async with redis.pipeline(transaction=False) as pipe:
                    pipe.set(hb_key, body, px=ttl_ms)
                    pipe.zadd(workers_key(config), {consumer: now_ms + ttl_ms})
                    pipe.zremrangebyscore(workers_key(config), "-inf", now_ms)
                    await pipe.execute()
            except Exception as exc:  # noqa: BLE001
                log.warning("worker heartbeat failed: %s", exc)
            await asyncio.sleep(config.liveness_ttl_s / 3)

    async def report() -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            if any(stats.values()):
                log.info("translation worker %s: %s in the last %.0f s; %d in hand", consumer,
                         ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats.items() if v),
                         STATS_INTERVAL, len(inflight))
                stats.update(dict.fromkeys(stats, 0))

    await ensure_group(redis, config)
    hb = asyncio.create_task(heartbeat())
    reporter = asyncio.create_task(report())
    next_takeover = 0.0
    log.info("translation worker %s started: backend %s, %s; consuming %s (batch %d, takeover after %d ms "
             "or a dead worker's %.1f s)", consumer, service.status["backend"],
             ", ".join(f"{pair} {model}" for pair, model in config.models_list().items()), stream,
             config.max_batch, idle_ms, config.liveness_ttl_s)
    try:
        while not stop.is_set():
            if len(inflight) >= capacity:
                await asyncio.wait(list(inflight.values()), return_when=asyncio.FIRST_COMPLETED,
                                   timeout=TAKEOVER_INTERVAL)
                continue
            now = time.monotonic()
            try:
                if now >= next_takeover:
                    next_takeover = now + TAKEOVER_INTERVAL
                    await take_over()
                    if len(inflight) >= capacity:
                        continue
                resp = await redis.xreadgroup(group, consumer, {stream: ">"}, count=capacity - len(inflight),
                                              block=min(block_ms, int(TAKEOVER_INTERVAL * 1000)))
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
        reporter.cancel()
        if inflight:  # finish what we hold; anything unfinished is taken over by others
            await asyncio.wait(list(inflight.values()), timeout=10)
        try:
            await redis.delete(hb_key)
            await redis.zrem(workers_key(config), consumer)
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

    if not logging.getLogger().handlers:  # the CLI: say what the worker does
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

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
