"""The bridge between rooms and the translator: once per message per target language.

After a message is published (the original never waits), :meth:`TranslationBridge.schedule`
starts one task per message. It detects the source language, asks which languages the room's
present members read, and for each other language asks the translation service once; the
result is moderated against the target language's terms and published as a ``translation``
event with its own offset, so history and late joiners have it. A translation that cannot be
made in time becomes an ephemeral ``translation_unavailable`` event instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rooms.engine import EngineError, Event
from translator.detect import detect_language, targets_for
from translator.service import TranslationService, TranslatorConfig

log = logging.getLogger(__name__)

READER_LANGS_TTL = 2.0  # seconds a room's reader languages are reused before asking presence again


class _PrometheusMetrics:
    """Adapts the translator's metric hooks to the server's Prometheus metrics."""

    def __init__(self, metrics: Any) -> None:
        self.m = metrics

    def observe_latency(self, pair: str, seconds: float, ok: bool) -> None:
        if ok:
            self.m.translation_latency.observe(seconds)

    def observe_batch(self, pair: str, size: int, seconds: float) -> None:
        self.m.translation_batch.observe(size)

    def set_queue_depth(self, depth: int) -> None:
        self.m.translation_queue.set(depth)

    def inc_cache(self, layer: str, hit: bool) -> None:
        self.m.translation_cache.labels(f"{layer}_{'hit' if hit else 'miss'}").inc()

    def inc_failure(self, pair: str, reason: str) -> None:
        self.m.translation_failures.labels(reason).inc()

    def inc_shed(self, pair: str) -> None:
        self.m.translation_failures.labels("backlog").inc()


def translator_config(settings: Any) -> TranslatorConfig:
    return TranslatorConfig(
        mode=settings.translation, backend=settings.translation_backend,
        model_en_zh=settings.model_en_zh, model_zh_en=settings.model_zh_en,
        cache_dir=settings.model_cache_dir, beam_size=settings.translation_beam_size,
        redis_url=settings.redis_url,
    )


class TranslationBridge:
    """Translation for every room on this node."""

    def __init__(self, settings: Any, engine: Any, metrics: Any) -> None:
        self.engine = engine
        self.service = TranslationService(translator_config(settings), metrics=_PrometheusMetrics(metrics))
        self.chat: Any = None  # set by the app; gives the moderation gate
        self._reader_langs: dict[str, tuple[float, frozenset[str]]] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        await self.service.start()
        status = self.service.status
        if status["enabled"]:
            log.info("%s", status["message"])
        else:
            log.warning("%s; chat works untranslated", status["message"])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.service.close()

    def status(self) -> dict:
        return self.service.status

    @staticmethod
    def detect(text: str) -> str:
        """The message's source language: "en", "zh" or "other"."""
        return detect_language(text)

    def schedule(self, room: str, message: Event, source: str) -> None:
        """Translate ``message`` (whose text :meth:`detect` found to be in ``source``)."""
        if not self.service.status["enabled"] or source not in ("en", "zh"):
            return
        task = asyncio.get_running_loop().create_task(self._translate_message(room, message, source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _languages_read_in(self, room: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._reader_langs.get(room)
        if cached is not None and cached[0] > now:
            return cached[1]
        langs = frozenset(m.lang for m in await self.engine.presence.members(room))
        self._reader_langs[room] = (now + READER_LANGS_TTL, langs)
        if len(self._reader_langs) > 10_000:
            self._reader_langs = {r: v for r, v in self._reader_langs.items() if v[0] > now}
        return langs

    async def _translate_message(self, room: str, message: Event, source: str) -> None:
        try:
            targets = targets_for(source, await self._languages_read_in(room))
            await asyncio.gather(*(self._translate_into(room, message, source, t) for t in targets))
        except asyncio.CancelledError:
            raise
        except EngineError as exc:
            log.warning("room %s: translation of %s not published: %s", room, message.get("id"), exc)
        except Exception:
            log.exception("room %s: translating %s failed", room, message.get("id"))

    async def _translate_into(self, room: str, message: Event, source: str, target: str) -> None:
        result = await self.service.translate(message["text"], source, target)
        if not result.ok or not result.text:
            await self.engine.broker.broadcast(room, {
                "type": "translation_unavailable", "room": room, "message_id": message["id"],
                "message_offset": message["offset"], "lang": target,
                "reason": result.error or "translation unavailable"})
            return
        text = result.text
        gate = getattr(self.chat, "moderation", None)
        if gate is not None:
            if await gate.is_deleted(room, message["offset"]):
                return
            decision = await gate.check_translation(room, text, target)
            if decision.action == "reject":
                return
            text = decision.text
        await self.engine.broker.publish(room, {
            "type": "translation", "room": room, "message_id": message["id"],
            "message_offset": message["offset"], "lang": target, "source_lang": source,
            "text": text, "ts": int(time.time() * 1000)})
