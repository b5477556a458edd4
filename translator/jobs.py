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

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.reply_channel)  # before any job can be answered
        self._task = asyncio.create_task(self._listen(), name="translation-replies")

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

    async def translate(self, text: str, source: str, target: str) -> Translation:
        if len(self._pending) >= self.config.max_backlog:
            call_metric(self.metrics, "inc_shed", f"{source}-{target}")
            return Translation(None, False, "translation unavailable: backlog full")
        job_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._pending[job_id] = fut
        call_metric(self.metrics, "set_queue_depth", len(self._pending))
        timeout = self.config.worker_timeout_s
        try:
            await self.redis.xadd(
                stream_key(self.config),
                {"id": job_id, "text": text, "source": source, "target": target,
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
        out = []
        async for key in self.redis.scan_iter(match=self.config.redis_prefix + "worker:*"):
            raw = await self.redis.get(key)
            if raw:
                out.append(json.loads(as_str(raw)))
        return out

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(self.reply_channel)
                await self._pubsub.aclose()
            except Exception:  # noqa: BLE001
                pass
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(Translation(None, False, "translation unavailable: shutting down"))
