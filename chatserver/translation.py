"""The chat service's translation side: which translations a message needs, and making them.

:class:`RoomTranslations` answers the chat service's questions about translations:

- at publish, :meth:`RoomTranslations.translate` makes a message's translations into
  **every supported language other than its own** (with en and zh, exactly one), whoever is
  present: the cost is per message, not per reader, and history then holds them for late
  joiners, history pages, recovering and ``set_lang`` readers. Languages read by members
  present in the room go first ("live" priority); the others are "background" work the
  translator sheds first under load, made later on first need;
- :meth:`RoomTranslations.needs` says whether a message wants a translation into a
  language at all, and :func:`no_translation` why a message will never have one (another
  language, nothing to translate), which the message itself carries;
- every answer is an :class:`Outcome`: text, or a reason and whether trying again later may
  help. Nothing waits past the deadline (``deadline`` seconds per message).

It publishes nothing: the chat service moderates each result and publishes it (or says it is
unavailable), so there is one publishing path.

The translator is anything with the :class:`Translator` shape; the server's is
:class:`translator.service.TranslationService`, tests may inject a fake.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from rooms.engine import Event, Presence
from translator.detect import SUPPORTED, base_language, detect_language
from translator.service import TranslationService, TranslatorConfig
from translator.spans import needs_translation
from translator.types import Translation, retryable

READER_LANGS_TTL = 2.0  # seconds a room's reader languages are reused before asking presence again
READER_LANGS_ROOMS = 10_000  # rooms whose reader languages are cached at most
DEFAULT_DEADLINE = 5.0  # seconds a message's translation may take, when the translator does not say

# Why a message will never be translated (the message's ``no_translation`` field).
OTHER_LANGUAGE = "other_language"
NOTHING_TO_TRANSLATE = "nothing_to_translate"


class Translator(Protocol):
    """What the chat service needs of a translator. ``priority`` is ``"live"`` (someone in the
    room reads the target language) or ``"background"`` (shed first under load)."""

    @property
    def status(self) -> dict: ...
    @property
    def enabled(self) -> bool: ...  # status["enabled"], read once per message
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def translate(self, text: str, source: str, target: str, *, priority: str = "live") -> Translation: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """One target language's result: ``text`` on success, else ``reason`` and whether a later
    attempt may succeed (``retryable``: a full backlog, a deadline, no worker alive)."""

    lang: str
    text: str | None
    reason: str | None = None
    retryable: bool = False


class PrometheusHooks:
    """Adapts the translator's metric hooks to the server's Prometheus metrics.

    Units: the queue depth and every failure count messages (one per message and target
    language); ``reason`` separates shedding (``backlog``) from deadlines (``deadline``), no
    worker (``no_worker``), model errors (``failed``), missing models (``no_model``) and the
    rest (``unavailable``, ``off``)."""

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
        pass  # counted by inc_failure(pair, "backlog"), once per message


# Settings fields of translation tuning -> TranslatorConfig fields (serve and translate-worker).
TUNING = {"translation_deadline": "deadline_s", "translation_max_batch": "max_batch",
          "translation_max_wait_ms": "max_wait_ms", "translation_max_backlog": "max_backlog",
          "translation_threads": "threads", "translation_cache_size": "cache_size",
          "translation_max_deadline": "max_deadline_s", "translation_long_chars": "long_chars",
          "translation_slots": "slots", "translation_bulk_batch": "bulk_batch"}


def translator_config(settings: Any) -> TranslatorConfig:
    """The TranslatorConfig of server settings (``chatserver.config.Settings``)."""
    return TranslatorConfig(
        mode=settings.translation, backend=settings.translation_backend,
        model_en_zh=settings.model_en_zh, model_zh_en=settings.model_zh_en,
        cache_dir=settings.model_cache_dir, beam_size=settings.translation_beam_size,
        redis_url=settings.redis_url,
        **{field: getattr(settings, name) for name, field in TUNING.items() if hasattr(settings, name)},
    )


def build_translator(settings: Any, metrics: Any) -> TranslationService:
    """The translation service ``settings`` ask for (it may turn out disabled at start)."""
    return TranslationService(translator_config(settings), metrics=PrometheusHooks(metrics))


def detect(text: str) -> str:
    """A message's source language: "en", "zh" or "other"."""
    return detect_language(text)


def translation_key(message_id: str, lang: str) -> str:
    """The idempotency key a message's translation into ``lang`` is published under: one per
    message and language on every node, and found again by :meth:`Broker.lookup`."""
    return f"tr:{message_id}:{lang}"


def no_translation(text: str, source: str) -> str | None:
    """Why a message in ``source`` will never be translated, or None when it will be:
    ``nothing_to_translate`` (only emoji, links, numbers, mentions, punctuation) or
    ``other_language`` (neither English nor Chinese)."""
    if source in SUPPORTED:
        return None
    return OTHER_LANGUAGE if needs_translation(text) else NOTHING_TO_TRANSLATE


class RoomTranslations:
    """Translations of room messages into every supported language, readers present first."""

    def __init__(self, translator: Translator, presence: Presence, *,
                 deadline: float | None = None) -> None:
        self.translator = translator
        self._presence = presence
        self._reader_langs: dict[str, tuple[float, frozenset[str]]] = {}
        config = getattr(translator, "config", None)
        self.deadline = float(deadline or getattr(config, "wait_s", 0) or DEFAULT_DEADLINE)

    @property
    def attempt_window(self) -> float:
        """Seconds after which an attempt has surely ended: the deadline plus a margin."""
        return self.window_for(self.deadline)

    @staticmethod
    def window_for(deadline: float) -> float:
        return deadline + min(1.0, deadline / 2)

    def deadline_for(self, text: str) -> float:
        """This message's deadline: longer for a long message (``TranslatorConfig.deadline_for``)."""
        config = getattr(self.translator, "config", None)
        fn = getattr(config, "wait_for", None)
        return float(fn(text)) if fn is not None else self.deadline

    @property
    def enabled(self) -> bool:
        """Translation is configured and working or expected to (a workers-mode outage is
        enabled but unavailable: every request answers at once)."""
        return bool(self.translator.enabled)

    @staticmethod
    def targets(source: str) -> list[str]:
        """The languages a message in ``source`` is translated into: every other supported one."""
        return [lang for lang in SUPPORTED if lang != source] if source in SUPPORTED else []

    @staticmethod
    def needs(message: Event, lang: str) -> bool:
        """Does this message get a translation into ``lang``? (Its source is detected again,
        so messages stored before ``no_translation`` existed are judged the same way.)"""
        if message.get("type") != "message" or lang not in SUPPORTED or message.get("no_translation"):
            return False
        source = detect(message.get("text", ""))
        return source in SUPPORTED and source != lang

    async def translate(self, room: str, text: str, source: str) -> list[Outcome]:
        """``text`` (in ``source``) in every other supported language; [] when none."""
        if source not in SUPPORTED or not self.enabled:
            return []
        try:
            read = await self._languages_read_in(room)
        except Exception:  # noqa: BLE001 - presence unreachable: treat every language as read
            read = frozenset(SUPPORTED)
        targets = self.targets(source)
        results = await asyncio.gather(*(
            self.translate_one(text, source, t, live=t in read) for t in targets))
        return list(results)

    async def translate_one(self, text: str, source: str, target: str, *, live: bool = True) -> Outcome:
        """One translation, within the deadline; never raises for translation problems."""
        deadline = self.deadline_for(text)
        try:
            # The translator keeps its own deadline; this one only guards against one that does not.
            r = await asyncio.wait_for(self.translator.translate(text, source, target,
                                                                     priority="live" if live else "background"),
                                       self.window_for(deadline))
        except TimeoutError:
            return Outcome(target, None, f"translation unavailable: deadline ({deadline:.3g} s) passed", True)
        if r.ok and r.text:
            return Outcome(target, r.text)
        reason = r.error or "translation unavailable"
        return Outcome(target, None, reason, retryable(reason))

    async def _languages_read_in(self, room: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._reader_langs.get(room)
        if cached is not None and cached[0] > now:
            return cached[1]
        langs = frozenset(base_language(m.lang) for m in await self._presence.members(room))
        self._reader_langs[room] = (now + READER_LANGS_TTL, langs)
        if len(self._reader_langs) > READER_LANGS_ROOMS:
            self._reader_langs = {r: v for r, v in self._reader_langs.items() if v[0] > now}
        return langs
