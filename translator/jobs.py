"""The server side of translation mode "workers": the job stream's names and ``WorkerClient``.

``WorkerClient`` enqueues one job per message on the stream ``<prefix>jobs`` and awaits its
result on this process's own reply channel; the worker processes that consume the stream are in
``translator.worker`` (the protocol is described there and in docs/translation.md).

This module imports only ``translator.types`` and ``translator.batcher``, so the facade
(``translator.service``) can use it and the workers (``translator.worker``) can use the facade
without the two importing each other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from translator.batcher import call_metric
from translator.types import Translation, TranslatorConfig

log = logging.getLogger(__name__)


def stream_key(config: TranslatorConfig) -> str:
    return config.redis_prefix + "jobs"


def group_name(config: TranslatorConfig) -> str:
    return config.redis_prefix + "workers"


def dead_letter_key(config: TranslatorConfig) -> str:
    return config.redis_prefix + "dead"


def workers_key(config: TranslatorConfig) -> str:
    """A sorted set: consumer -> when its liveness ends (Unix ms)."""
    return config.redis_prefix + "workers:alive"


def liveness_key(config: TranslatorConfig, consumer: str) -> str:
    return f"{config.redis_prefix}worker:{consumer}"


NO_WORKER = "translation unavailable: no translation worker alive"
CLOSE_WAIT = 2.0  # seconds each step of closing may take at the most
WATCH_INTERVAL = 1.0  # seconds between the server's looks at which workers are alive


def as_str(v) -> str:
    """A Redis reply field as text (redis-py gives bytes unless decode_responses)."""
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


class WorkerClient:
    """Server side of workers mode: enqueue a job, await its result on this process's channel."""

    def __init__(self, redis, config: TranslatorConfig, metrics=None):
        self.redis = redis
        self.config = config
        self.metrics = metrics
        self.reply_channel = f"{config.redis_prefix}reply:{uuid.uuid4().hex}"
        self._pending: dict[str, asyncio.Future] = {}
        self._pubsub = None
        self._task: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None
        self._closing = asyncio.Event()
        self.alive: list[dict] = []  # the workers' liveness records, as last seen

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.reply_channel)  # before any job can be answered
        self._task = asyncio.create_task(self._listen(), name="translation-replies")
        await self._look()
        self._watcher = asyncio.create_task(self._watch(), name="translation-workers")

    async def _look(self) -> None:
        try:
            alive = await self.workers_alive()
        except Exception as exc:  # noqa: BLE001 - Redis blip: keep the last view, retry
            log.warning("cannot tell which translation workers are alive: %s", exc)
            return
        if bool(alive) != bool(self.alive):
            if alive:
                log.info("translation workers alive: %s", ", ".join(w.get("consumer", "?") for w in alive))
            else:
                log.warning("no translation worker alive: translations are unavailable")
        self.alive = alive

    async def _watch(self) -> None:
        # Stopped by ``_closing``, not cancelled: a Redis command cancelled half-way can leave
        # redis-py's task unable to finish, which then holds up the event loop's shutdown.
        while not self._closing.is_set():
            try:
                await asyncio.wait_for(self._closing.wait(), WATCH_INTERVAL)
            except TimeoutError:
                await self._look()

    async def _listen(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis blip: waiters time out, we retry
                log.warning("translation reply channel error: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if msg is None or msg.get("type") != "message":
                continue
            try:
                data = json.loads(as_str(msg["data"]))
                fut = self._pending.get(data["id"])
            except (ValueError, KeyError, TypeError):
                continue
            if fut is not None and not fut.done():
                fut.set_result(Translation(data.get("text"), bool(data.get("ok")), data.get("error"), bool(data.get("cached"))))

    async def translate(self, text: str, source: str, target: str, *, priority: str = "live") -> Translation:
        """One message's translation by a worker, within ``config.wait_for(text)``; at once
        "unavailable" when no worker is alive or the backlog (messages) is full."""
        if not self.alive:
            return Translation(None, False, NO_WORKER)
        limit = self.config.max_backlog if priority == "live" else self.config.max_backlog // 2
        if len(self._pending) >= max(1, limit):
            return Translation(None, False, "translation unavailable: backlog full")
        job_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._pending[job_id] = fut
        call_metric(self.metrics, "set_queue_depth", len(self._pending))
        timeout = self.config.wait_for(text)  # longer for a long message, as inline
        try:
            await self.redis.xadd(
                stream_key(self.config),
                {"id": job_id, "text": text, "source": source, "target": target, "priority": priority,
                 "reply": self.reply_channel, "deadline": f"{time.time() + timeout:.3f}"},
                maxlen=100000,
                approximate=True,
            )
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return Translation(None, False, "translation unavailable: timeout waiting for a worker")
        except Exception as exc:  # noqa: BLE001 - Redis down: chat goes on untranslated
            return Translation(None, False, f"translation unavailable: {type(exc).__name__}: {exc}")
        finally:
            self._pending.pop(job_id, None)
            call_metric(self.metrics, "set_queue_depth", len(self._pending))

    async def workers_alive(self) -> list[dict]:
        """The liveness records of the workers alive now: two commands, no key scan."""
        now_ms = int(time.time() * 1000)
        names = await self.redis.zrangebyscore(workers_key(self.config), now_ms, "+inf")
        if not names:
            return []
        bodies = await self.redis.mget([liveness_key(self.config, as_str(n)) for n in names])
        return [json.loads(as_str(raw)) for raw in bodies if raw]

    async def close(self) -> None:
        """Stop listening; bounded (``CLOSE_WAIT`` per step), so a stuck Redis connection
        never holds up the server's shutdown."""
        self._closing.set()
        if self._watcher is not None:
            await asyncio.wait([self._watcher], timeout=CLOSE_WAIT)
        tasks = [t for t in (self._task, self._watcher) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT)
        if self._pubsub is not None:
            try:
                await asyncio.wait_for(self._pubsub.unsubscribe(self.reply_channel), CLOSE_WAIT)
            except (Exception, TimeoutError):  # noqa: BLE001
                pass
            try:
                await asyncio.wait_for(self._pubsub.aclose(), CLOSE_WAIT)
            except (Exception, TimeoutError):  # noqa: BLE001
                pass
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(Translation(None, False, "translation unavailable: shutting down"))
