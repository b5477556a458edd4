"""The types every part of the translator shares: its configuration and its answer.

``translator.service`` (the facade), ``translator.jobs`` (the server side of workers mode) and
``translator.worker`` (the worker processes) all use these, so they live here and import nothing
but ``translator.backends`` (for the default model ids).  Both names are also importable from
``translator.service``, where callers have always found them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from translator.backends import DEFAULT_MODELS, GenerationSettings

MODES = ("inline", "workers", "off")
PRIORITIES = ("live", "background")  # index = the batcher's priority level


@dataclass
class TranslatorConfig:
    """Everything that configures translation; the server fills it from its own config/CLI."""

    mode: str = "inline"  # inline | workers | off
    backend: str = "auto"  # auto (ctranslate2 when installed) | transformers | ctranslate2
    model_en_zh: str = DEFAULT_MODELS[("en", "zh")]
    model_zh_en: str = DEFAULT_MODELS[("zh", "en")]
    cache_dir: str | None = None  # Hub cache and converted CTranslate2 models
    beam_size: int = 1
    no_repeat_ngram_size: int = 4
    threads: int = 0  # intra-op threads per model call; 0 = auto (CTranslate2: 1, with slots calls side by side)
    slots: int = 0  # model calls at once on the node (live and bulk together); 0 = one per core
    max_batch: int = 16
    bulk_batch: int = 8  # sentences per model call in the bulk lane (long messages, background work)
    long_chars: int = 300  # a message longer than this goes to the bulk lane, with a longer deadline
    message_share: int = 0  # sentences of one message per model call at most; 0 = max_batch
    similar_lengths: bool = True  # batch only sentences of similar length (short lines apart from long ones)
    max_wait_ms: float = 5.0
    max_backlog: int = 256
    cache_size: int = 10000
    redis_url: str | None = None  # Redis cache layer (inline) / job stream (workers)
    redis_cache_ttl_s: int = 7 * 24 * 3600
    redis_prefix: str = "lb:tr:"
    # Per message: after this many seconds the answer is "translation unavailable: deadline"
    # (inline and workers alike); requests still queued then are dropped, not translated late.
    deadline_s: float = 5.0
    # A message longer than long_chars gets deadline_s per long_chars characters, at most this.
    max_deadline_s: float = 60.0
    worker_timeout_s: float | None = None  # workers mode: wait this long instead of deadline_s
    max_attempts: int = 3  # workers mode: deliveries of one job before it goes to the dead letters
    reclaim_idle_ms: int = 3000  # workers mode: a job in hand this long is taken over by another worker
    liveness_ttl_s: float = 3.0  # workers mode: a worker not heard of for this long is dead

    @property
    def wait_s(self) -> float:
        """How long a caller waits for one message's translation."""
        return self.worker_timeout_s if self.worker_timeout_s is not None else self.deadline_s

    @property
    def model_slots(self) -> int:
        """``slots`` resolved: the cores this process may use when 0."""
        return self.slots if self.slots > 0 else cpu_count()

    def is_long(self, text: str) -> bool:
        """Does this message go to the bulk lane (when a reader waits for it)?"""
        return len(text) > self.long_chars

    def deadline_for(self, text: str) -> float:
        """Seconds this message's translation may take: ``deadline_s``, and for a long
        message ``deadline_s`` per ``long_chars`` characters, at most ``max_deadline_s``
        (never less than ``deadline_s``). A 1,900-character paste: 31.7 s by default."""
        if not self.is_long(text):
            return self.deadline_s
        return max(self.deadline_s, min(self.max_deadline_s, self.deadline_s * len(text) / max(1, self.long_chars)))

    def wait_for(self, text: str) -> float:
        """How long a caller waits for this message's translation (workers: ``worker_timeout_s``
        when set, for short and long messages alike)."""
        return self.worker_timeout_s if self.worker_timeout_s is not None else self.deadline_for(text)

    def models(self) -> dict[tuple[str, str], str]:
        return {("en", "zh"): self.model_en_zh, ("zh", "en"): self.model_zh_en}

    def models_list(self) -> dict[str, str]:
        """The models by pair name ("en-zh"), for logs and liveness records."""
        return {f"{s}-{t}": m for (s, t), m in self.models().items()}

    def generation(self) -> GenerationSettings:
        return GenerationSettings(
            beam_size=self.beam_size, no_repeat_ngram_size=self.no_repeat_ngram_size, threads=self.threads,
            parallel=self.model_slots,
        )


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Translation:
    """One answer of the translator: ``ok`` with ``text``, or not ``ok`` with a short ``error``
    to show instead ("translation off: ...", "translation unavailable: ...")."""

    text: str | None
    ok: bool
    error: str | None = None
    cached: bool = False


def retryable(error: str | None) -> bool:
    """May a later attempt succeed where this error came back? "translation unavailable"
    (a full backlog, a passed deadline, no worker alive, shutting down): yes, unless no model
    serves the pair; "translation off" or "translation failed" (a model error): no."""
    return bool(error) and error.startswith("translation unavailable") and "no model" not in error


def failure_reason(error: str | None) -> str:
    """The metrics label of a failed translation: backlog, deadline, no_worker, no_model,
    failed, off or unavailable."""
    e = error or ""
    if e.startswith("translation off"):
        return "off"
    if e.startswith("translation failed"):
        return "failed"
    for marker, label in (("backlog full", "backlog"), ("deadline", "deadline"), ("timeout", "deadline"),
                          ("no translation worker", "no_worker"), ("no model", "no_model")):
        if marker in e:
            return label
    return "unavailable"
