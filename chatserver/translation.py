"""The chat service's translation side: which translations a message needs, and making them.

:class:`RoomTranslations` answers one question for the chat service: given a published
message in ``source``, what are its translations into the other languages the room's
present members read? It asks presence which languages are read (cached briefly per room),
asks the translator once per target language, and returns the outcomes. It publishes
nothing: the chat service moderates each result and publishes it (or says it is
unavailable), so there is one publishing path.

The translator is anything with the :class:`Translator` shape; the server's is
:class:`translator.service.TranslationService`, tests may inject a fake.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from rooms.engine import Presence
from translator.detect import detect_language, targets_for
from translator.service import TranslationService, TranslatorConfig
from translator.types import Translation

READER_LANGS_TTL = 2.0  # seconds a room's reader languages are reused before asking presence again
READER_LANGS_ROOMS = 10_000  # rooms whose reader languages are cached at most


class Translator(Protocol):
    """What the chat service needs of a translator."""

    @property
    def status(self) -> dict: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def translate(self, text: str, source: str, target: str) -> Translation: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """One target language's result: ``text`` on success, else ``reason``."""

    lang: str
    text: str | None
    reason: str | None = None


class PrometheusHooks:
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


def build_translator(settings: Any, metrics: Any) -> TranslationService:
    """The translation service ``settings`` ask for (it may turn out disabled at start)."""
    config = TranslatorConfig(
        mode=settings.translation, backend=settings.translation_backend,
        model_en_zh=settings.model_en_zh, model_zh_en=settings.model_zh_en,
        cache_dir=settings.model_cache_dir, beam_size=settings.translation_beam_size,
        redis_url=settings.redis_url,
    )
    return TranslationService(config, metrics=PrometheusHooks(metrics))


def detect(text: str) -> str:
    """A message's source language: "en", "zh" or "other"."""
    return detect_language(text)


class RoomTranslations:
    """Translations of room messages into the languages their rooms read."""

    def __init__(self, translator: Translator, presence: Presence) -> None:
        self.translator = translator
        self._presence = presence
        self._reader_langs: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.translator.status.get("enabled"))

    async def translate(self, room: str, text: str, source: str) -> list[Outcome]:
        """The translations ``text`` (in ``source``) needs in ``room``; [] when none."""
        if source not in ("en", "zh") or not self.enabled:
            return []
        targets = targets_for(source, await self._languages_read_in(room))
        results = await asyncio.gather(*(self.translator.translate(text, source, t) for t in targets))
        return [Outcome(t, r.text, None) if r.ok and r.text else
                Outcome(t, None, r.error or "translation unavailable")
                for t, r in zip(targets, results)]

    async def _languages_read_in(self, room: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._reader_langs.get(room)
        if cached is not None and cached[0] > now:
            return cached[1]
        langs = frozenset(m.lang for m in await self._presence.members(room))
        self._reader_langs[room] = (now + READER_LANGS_TTL, langs)
        if len(self._reader_langs) > READER_LANGS_ROOMS:
            self._reader_langs = {r: v for r, v in self._reader_langs.items() if v[0] > now}
        return langs
