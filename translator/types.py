"""The types every part of the translator shares: its configuration and its answer.

``translator.service`` (the facade), ``translator.jobs`` (the server side of workers mode) and
``translator.worker`` (the worker processes) all use these, so they live here and import nothing
but ``translator.backends`` (for the default model ids).  Both names are also importable from
``translator.service``, where callers have always found them.
"""

from __future__ import annotations

from dataclasses import dataclass

from translator.backends import DEFAULT_MODELS, GenerationSettings

MODES = ("inline", "workers", "off")


@dataclass
class TranslatorConfig:
    """Everything that configures translation; the server fills it from its own config/CLI."""

    mode: str = "inline"  # inline | workers | off
    backend: str = "transformers"  # transformers | ctranslate2
    model_en_zh: str = DEFAULT_MODELS[("en", "zh")]
    model_zh_en: str = DEFAULT_MODELS[("zh", "en")]
    cache_dir: str | None = None  # Hub cache and converted CTranslate2 models
    beam_size: int = 1
    no_repeat_ngram_size: int = 4
    threads: int = 0  # intra-op threads per model, 0 = library default
    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_backlog: int = 256
    cache_size: int = 10000
    redis_url: str | None = None  # Redis cache layer (inline) / job stream (workers)
    redis_cache_ttl_s: int = 7 * 24 * 3600
    redis_prefix: str = "lb:tr:"
    worker_timeout_s: float = 30.0  # workers mode: give up waiting for a result after this

    def models(self) -> dict[tuple[str, str], str]:
        return {("en", "zh"): self.model_en_zh, ("zh", "en"): self.model_zh_en}

    def generation(self) -> GenerationSettings:
        return GenerationSettings(
            beam_size=self.beam_size, no_repeat_ngram_size=self.no_repeat_ngram_size, threads=self.threads
        )


@dataclass(frozen=True)
class Translation:
    """One answer of the translator: ``ok`` with ``text``, or not ``ok`` with a short ``error``
    to show instead ("translation off: ...", "translation unavailable: ...")."""

    text: str | None
    ok: bool
    error: str | None = None
    cached: bool = False
