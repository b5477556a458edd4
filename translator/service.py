"""The translation facade the chat server uses.

Promise: ``await service.translate(text, source, target)`` always returns a ``Translation`` and
never raises for translation problems; ``ok=False`` carries a short ``error`` to show instead
(e.g. "translation off: ...", "translation unavailable: backlog full").  Call it once per message
per target language (``translator.detect.targets_for`` says which), never per recipient.

Pipeline (mode "inline"): nothing to translate (same language, only emoji/links/numbers/
punctuation) -> returned unchanged without a model call; otherwise the message is cut into
units around protected spans and at sentence ends (``translator.spans``), each unit is looked up
in the LRU cache, then the Redis cache, then sent through the batcher to the backend; outputs
are guarded (empty -> failure, runaway repetition collapsed), numbers are checked and the unit
re-planned with numbers protected if the model changed them, and the message is rebuilt.

Mode "workers" sends whole messages to translation worker processes over a Redis stream
(``translator.jobs.WorkerClient`` here, ``translator.worker`` in the workers); mode "off"
answers every request with "translation off".

``start()`` never raises because a model is missing: it records the reason in ``status`` and
every ``translate()`` then answers ``ok=False, error="translation off: <reason>"``.

``metrics`` (optional) may implement any of: ``observe_latency(pair, seconds, ok)``,
``observe_batch(pair, size, seconds)``, ``set_queue_depth(depth)``,
``inc_cache(layer, hit)`` (layer "memory" or "redis"), ``inc_failure(pair, reason)``,
``inc_shed(pair)``.  The translator does not import prometheus; the server adapts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from translator import spans
from translator.backends import ModelUnavailable, make_backend, resolve_backend
from translator.batcher import BACKGROUND, LIVE, Batcher, BatcherClosed, BacklogFull, call_metric
from translator.cache import LRUCache, RedisCache, cache_key
from translator.jobs import WorkerClient
from translator.types import MODES, PRIORITIES, Translation, TranslatorConfig, failure_reason

UNITS_PER_MESSAGE = 16  # the batcher's sentence bound is this many per message of the backlog

__all__ = ["MODES", "Translation", "TranslationFailed", "TranslationService", "TranslatorConfig"]

log = logging.getLogger(__name__)


class TranslationFailed(RuntimeError):
    pass


class _BatchMetrics:
    """The batcher's batch sizes go to the metrics; its depth and sheds (in sentences) do
    not: the service reports those in messages."""

    def __init__(self, metrics) -> None:
        self.metrics = metrics

    def observe_batch(self, pair: str, size: int, seconds: float) -> None:
        call_metric(self.metrics, "observe_batch", pair, size, seconds)


# Why translation is off or partly unavailable, as a code clients localise (the status's
# ``code``; ``reason`` is the English detail). None while every pair works. docs/protocol.md, welcome.
NOT_STARTED, DISABLED, NO_REDIS, REDIS_UNREACHABLE = "not_started", "disabled", "no_redis", "redis_unreachable"
NO_MODEL, LOAD_FAILED, NO_WORKER, CLOSED = "no_model", "load_failed", "no_worker", "closed"
STATUS_CODES = (NOT_STARTED, DISABLED, NO_REDIS, REDIS_UNREACHABLE, NO_MODEL, LOAD_FAILED, NO_WORKER, CLOSED)


@dataclass(eq=False)
class _Job:
    """One message's translation into one language: its sentences form one batcher group."""

    priority: int = LIVE
    bulk: bool = False


@dataclass
class _Status:
    enabled: bool = False
    reason: str | None = "not started"
    pairs: list[str] = field(default_factory=list)
    code: str | None = NOT_STARTED


class TranslationService:
    def __init__(self, config: TranslatorConfig | None = None, *, metrics=None, redis=None, backend=None):
        """``redis``: an optional ``redis.asyncio`` client to use instead of ``config.redis_url``
        (not closed by the service).  ``backend``: an already constructed backend to use
        instead of ``config.backend`` (models are still loaded by ``start``)."""
        self.config = config or TranslatorConfig()
        if self.config.mode not in MODES:
            raise ValueError(f"translation mode must be one of {MODES}, not {self.config.mode!r}")
        self.metrics = metrics
        self._redis = redis
        self._own_redis = False
        self._backend = backend
        self._batcher: Batcher | None = None
        self._lru = LRUCache(self.config.cache_size)
        self._rcache: RedisCache | None = None
        self._client: WorkerClient | None = None  # workers mode
        self._st = _Status()
        self._load_failed = False  # a load raised something other than ModelUnavailable
        self.load_seconds: float | None = None
        self._messages = {LIVE: 0, BACKGROUND: 0}  # inline: messages being translated, by priority

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        cfg = self.config
        if cfg.mode == "off":
            self._set_status(False, "disabled by configuration", [], DISABLED)
            return
        if cfg.redis_url and self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(cfg.redis_url)
            self._own_redis = True
        if cfg.mode == "workers":
            if self._redis is None:
                self._set_status(False, "workers mode needs a Redis URL", [], NO_REDIS)
                return
            self._client = WorkerClient(self._redis, cfg, metrics=self.metrics)
            try:
                await self._client.start()
            except Exception as exc:  # noqa: BLE001 - degrade, never crash the server
                self._set_status(False, f"cannot reach Redis for translation workers: {exc}", [],
                                 REDIS_UNREACHABLE)
                return
            self._set_status(True, None, ["en-zh", "zh-en"], None)
            return
        t0 = time.perf_counter()
        reasons = await self._load(cfg.backend)
        if (self._backend is None or not self._backend.pairs) and cfg.backend in ("auto", "") \
                and resolve_backend(cfg.backend) != "transformers":
            # "auto" chose CTranslate2 and it loaded nothing (e.g. a checkpoint it cannot
            # convert): the reference backend may still load it.
            log.warning("translation: ctranslate2 loaded no model (%s); trying transformers", "; ".join(reasons))
            self._backend = None
            reasons = await self._load("transformers")
        self.load_seconds = time.perf_counter() - t0
        pairs = [f"{s}-{t}" for s, t in (self._backend.pairs if self._backend else [])]
        self._set_status(bool(pairs), "; ".join(reasons) or None, pairs,
                         (LOAD_FAILED if self._load_failed else NO_MODEL) if reasons else None)
        if pairs:
            self._batcher = Batcher(
                self._backend.translate_batch, cfg.max_batch, cfg.max_wait_ms,
                max(1024, cfg.max_backlog * UNITS_PER_MESSAGE), _BatchMetrics(self.metrics),
                group_share=cfg.message_share or None, similar_lengths=cfg.similar_lengths,
                slots=cfg.model_slots, pair_slots=getattr(self._backend, "parallel_calls", 1),
                bulk_batch=cfg.bulk_batch,
            )
            if self._redis is not None:
                self._rcache = RedisCache(self._redis, cfg.redis_prefix + "cache:", cfg.redis_cache_ttl_s)

    async def _load(self, kind: str) -> list[str]:
        """Load every configured pair on the ``kind`` backend; the reasons of those that failed."""
        cfg = self.config
        reasons = []
        try:
            if self._backend is None:
                self._backend = make_backend(kind, cfg.generation(), cfg.cache_dir)
            for (src, tgt), model in cfg.models().items():
                try:
                    await asyncio.to_thread(self._backend.load_pair, src, tgt, model)
                except ModelUnavailable as exc:
                    reasons.append(str(exc))
        except ModelUnavailable as exc:
            reasons.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. a missing library: translation off, chat on
            reasons.append(f"{type(exc).__name__}: {exc}")
            self._load_failed = True
        return reasons

    def _set_status(self, enabled: bool, reason: str | None, pairs: list[str], code: str | None) -> None:
        self._st = _Status(enabled, reason, pairs, code)
        if not enabled:
            log.warning("translation off: %s", reason)
        elif reason:
            log.warning("translation partly available (%s): %s", ", ".join(pairs), reason)
        else:
            log.info("translation on (%s, %s): %s", self.config.mode, self.backend_name, ", ".join(pairs))

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
        if self._client is not None:
            await self._client.close()
        if self._own_redis and self._redis is not None:
            try:
                await asyncio.wait_for(self._redis.aclose(), 2.0)
            except (Exception, TimeoutError):  # noqa: BLE001 - shutting down anyway
                log.warning("translation: Redis connection not closed cleanly")
        self._st = _Status(False, "closed", [], CLOSED)

    @property
    def status(self) -> dict:
        """{"enabled", "available", "mode", "backend", "reason", "code", "pairs", "message", "deadline_s"}.
        ``enabled``: translation is configured and set up (models loaded, or workers mode
        reaching Redis); ``available``: translations can be made now (false in workers mode
        while no worker is alive: every request then answers "unavailable" at once);
        ``code``: why not (one of :data:`STATUS_CODES`, for clients to localise; None while
        every pair works); ``backend``: the one that runs (in workers mode, the live workers' backends);
        ``message`` is the sentence to show users, e.g. "translation off: model ... is not
        downloaded" or "translation unavailable: no translation worker alive"."""
        st = self._st
        reason, backend, available, code = st.reason, self.backend_name, st.enabled, st.code
        if st.enabled and self._client is not None:
            workers = self._client.alive
            backend = ",".join(sorted({str(w.get("backend")) for w in workers})) or "none"
            if not workers:
                available, reason, code = False, "no translation worker alive", NO_WORKER
        if available:
            message = "translation on" + (f" (partly: {reason})" if reason else "")
        elif st.enabled:
            message = f"translation unavailable: {reason}"
        else:
            message = f"translation off: {reason}"
        return {
            "enabled": st.enabled,
            "available": available,
            "mode": self.config.mode,
            "backend": backend,
            "reason": reason,
            "code": code,
            "pairs": list(st.pairs),
            "message": message,
            "deadline_s": self.config.wait_s,
            # A message longer than long_chars may take deadline_s per long_chars, up to this:
            "long_chars": self.config.long_chars,
            "max_deadline_s": self.config.max_deadline_s if self.config.worker_timeout_s is None
            else self.config.worker_timeout_s,
        }

    @property
    def enabled(self) -> bool:
        """``status()["enabled"]`` without building the rest (it is read for every message)."""
        return self._st.enabled

    @property
    def backend_name(self) -> str:
        """The backend that runs (inline), else the one configured ("auto" resolved)."""
        return getattr(self._backend, "name", None) or resolve_backend(self.config.backend)

    @property
    def workers_alive(self) -> int | None:
        """How many translate-workers were last seen alive (workers mode); None otherwise."""
        return len(self._client.alive) if self._client is not None else None

    @property
    def backlog(self) -> int:
        """Messages (one per target language) being translated or waiting: the unit of
        ``max_backlog`` and of the queue-depth metric."""
        if self._client is not None:
            return self._client.backlog
        return sum(self._messages.values())

    # ------------------------------------------------------------ translation

    async def translate(self, text: str, source: str, target: str, *, priority: str = "live",
                        deadline_s: float | None = None) -> Translation:
        """``text`` in ``target``, within ``config.deadline_for(text)`` (``deadline_s``: this
        many seconds instead, e.g. what is left of a worker job's deadline). ``priority``:
        "live" (a reader is waiting) or "background" (nobody yet: shed first, when half the
        backlog is in use). Background work and long messages go to the bulk lane, which never
        holds up short live lines (``translator.scheduler``)."""
        pair = f"{source}-{target}"
        t0 = time.perf_counter()
        result = await self._translate(text, source, target, BACKGROUND if priority == "background" else LIVE,
                                       deadline_s)
        call_metric(self.metrics, "observe_latency", pair, time.perf_counter() - t0, result.ok)
        if not result.ok:
            reason = failure_reason(result.error)
            call_metric(self.metrics, "inc_failure", pair, reason)
            if reason == "backlog":
                call_metric(self.metrics, "inc_shed", pair)
        return result

    async def _translate(self, text: str, source: str, target: str, priority: int = LIVE,
                         deadline_s: float | None = None) -> Translation:
        if source == target or not spans.needs_translation(text):
            return Translation(text, True)
        st = self._st
        if not st.enabled:
            return Translation(None, False, f"translation off: {st.reason}")
        if f"{source}-{target}" not in st.pairs:
            return Translation(None, False, f"translation unavailable: no model for {source}->{target}")
        if self._client is not None:
            return await self._client.translate(text, source, target, priority=PRIORITIES[priority])
        cfg = self.config
        limit = cfg.max_backlog if priority == LIVE else cfg.max_backlog // 2
        if self.backlog >= max(1, limit):
            return Translation(None, False, "translation unavailable: backlog full")
        deadline = cfg.deadline_for(text) if deadline_s is None else deadline_s
        if deadline <= 0:
            return Translation(None, False, f"translation unavailable: deadline ({deadline:g} s) passed")
        self._messages[priority] += 1
        call_metric(self.metrics, "set_queue_depth", self.backlog)
        try:
            return await asyncio.wait_for(
                self.translate_inline(text, source, target, priority=priority, bulk=cfg.is_long(text)), deadline)
        except TimeoutError:
            return Translation(None, False, f"translation unavailable: deadline ({deadline:.3g} s) passed")
        except BacklogFull:
            return Translation(None, False, "translation unavailable: backlog full")
        except BatcherClosed:
            return Translation(None, False, "translation unavailable: shutting down")
        except TranslationFailed as exc:
            return Translation(None, False, f"translation failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a model error must not reach the chat path
            log.exception("translation %s->%s failed", source, target)
            return Translation(None, False, f"translation failed: {type(exc).__name__}")
        finally:
            self._messages[priority] -= 1
            call_metric(self.metrics, "set_queue_depth", self.backlog)

    async def translate_inline(self, text: str, source: str, target: str, *, priority: int = LIVE,
                               bulk: bool = False) -> Translation:
        """The inline pipeline; raises BacklogFull/TranslationFailed instead of wrapping them.
        The message's sentences go to the batcher as one group, served fairly with others,
        in the bulk lane when ``bulk`` or ``priority`` is background."""
        job = _Job(priority, bulk)
        plan = spans.plan(text, target)
        outputs, cached = await self._units(plan.units, source, target, job)
        for i, (unit, out) in enumerate(zip(plan.units, outputs)):
            if spans.numbers_in(unit) != spans.numbers_in(out):
                sub = spans.plan(unit, target, protect_numbers=True)
                if sub.units == [unit]:
                    # No number to cut out (the model made one up): the same text would come
                    # back the same (greedy decoding), after a second model call for nothing.
                    continue
                sub_out, sub_cached = await self._units(sub.units, source, target, job)
                outputs[i] = sub.render(sub_out)
                cached = cached and sub_cached
        return Translation(plan.render(outputs), True, None, cached)

    async def _units(self, units: list[str], source: str, target: str, job: _Job) -> tuple[list[str], bool]:
        results = await asyncio.gather(*(self._unit(u, source, target, job) for u in units),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return [r[0] for r in results], all(r[1] for r in results)

    async def _unit(self, unit: str, source: str, target: str, job: _Job) -> tuple[str, bool]:
        model = self._backend.model_ids.get((source, target), "?")
        key = cache_key(model, source, target, unit)
        hit = self._lru.get(key)
        call_metric(self.metrics, "inc_cache", "memory", hit is not None)
        if hit is not None:
            return hit, True
        if self._rcache is not None:
            hit = await self._rcache.get(key)
            call_metric(self.metrics, "inc_cache", "redis", hit is not None)
            if hit is not None:
                self._lru.put(key, hit)
                return hit, True
        raw = await self._batcher.submit(unit, source, target, group=job, priority=job.priority, bulk=job.bulk)
        out = spans.clean_output(unit, raw)
        if out is None:
            raise TranslationFailed("empty output")
        self._lru.put(key, out)
        if self._rcache is not None:
            await self._rcache.put(key, out)
        return out, False

    @property
    def cache_stats(self) -> dict:
        return {"size": len(self._lru), "hits": self._lru.hits, "misses": self._lru.misses}
