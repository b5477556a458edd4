"""Asyncio micro-batcher in front of a synchronous batch function.

Promise: ``await batcher.submit(text, source, target)`` returns the translation of ``text``
produced by one call ``fn(texts, source, target)`` together with other requests for the same
pair.  A batch is ready when it holds ``max_batch`` texts (``bulk_batch`` in the bulk lane)
or when its oldest request has waited ``max_wait_ms``, whichever comes first; while the slots
are busy, requests keep queueing and go in the next batch.  ``fn`` runs on ``slots`` worker
threads for the whole node, never on the event loop, and at most ``pair_slots`` calls at once
on one pair's model; :class:`translator.scheduler.Scheduler` picks which ready batch starts:
the live lane first across every pair, the bulk lane (``submit(..., bulk=True)`` and background
requests) on at most ``slots - 1`` slots and never while live work waits.

Fairness: each request may name its ``group`` (the message it belongs to) and its
``priority`` (``LIVE`` = 0, a reader is waiting; ``BACKGROUND`` = 1, nobody is yet).  A batch
takes live requests before background ones and, within a priority, one request from each
group in turn (groups in the order they arrived), so a message of 170 sentences shares every
batch with the short messages that arrive behind it instead of holding them for 11 batches.
Requests whose caller gave up (a cancelled future, e.g. a passed deadline) are dropped unseen.
With ``similar_lengths`` a batch holds only texts of similar length (a batch decodes for its
longest output's steps: a short line next to a paste's long sentences would wait for all of
them); with ``group_share`` one group gives at most that many requests to a batch.

Backpressure: when ``max_backlog`` requests are queued or in flight, ``submit`` raises
``BacklogFull`` at once instead of queueing, so latency stays bounded under overload (the
translation service bounds messages itself; this bounds sentences, i.e. memory).
Identical texts in one batch are translated once.  If ``fn`` raises, every request of that
batch gets the exception.

``metrics`` (optional) is any object with some of these methods; missing ones are skipped:
``observe_batch(pair: str, size: int, seconds: float)``, ``set_queue_depth(depth: int)``,
``inc_shed(pair: str)``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from translator.scheduler import BULK_LANE, LIVE_LANE, Key, Scheduler, Waiting

BatchFn = Callable[[list[str], str, str], list[str]]


class BacklogFull(RuntimeError):
    """Raised by ``submit`` when the backlog bound is reached: the translation is unavailable."""


class BatcherClosed(RuntimeError):
    """Raised for requests pending or submitted after ``close()``."""


LIVE, BACKGROUND = 0, 1


@dataclass
class _Request:
    text: str
    future: asyncio.Future
    enqueued: float


class _FairQueue:
    """A pair's waiting requests: per priority, per group, served round-robin."""

    def __init__(self) -> None:
        self._levels: tuple[dict[object, deque[_Request]], ...] = ({}, {})
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, request: _Request, group: object, priority: int) -> None:
        self._levels[priority].setdefault(group, deque()).append(request)
        self.size += 1

    def oldest(self) -> float:
        return min(q[0].enqueued for level in self._levels for q in level.values())

    def take(self, n: int, share: int | None = None, *, similar: bool = False) -> list[_Request]:
        """Up to ``n`` requests: live first, one per group per round, oldest groups first,
        and at most ``share`` from one group (None: no cap). With ``similar``, only texts of
        at most :func:`similar_limit` of the shortest waiting text: a batch decodes for as
        many steps as its longest output, so a short line batched with a paste's long
        sentences would wait for all of their steps; the long ones go in the next batch."""
        out: list[_Request] = []
        taken: dict[object, int] = {}
        limit = similar_limit(min(len(q[0].text) for level in self._levels for q in level.values())) \
            if similar and self.size else None

        def fits(group: object, q: deque[_Request]) -> bool:
            return (share is None or taken.get(group, 0) < share) and (limit is None or len(q[0].text) <= limit)

        for level in self._levels:
            open_groups = [g for g, q in level.items() if fits(g, q)]
            while open_groups and len(out) < n:
                for group in open_groups:
                    if len(out) >= n:
                        break
                    q = level[group]
                    if not fits(group, q):
                        continue
                    out.append(q.popleft())
                    taken[group] = taken.get(group, 0) + 1
                    if q:
                        level[group] = level.pop(group)  # to the back of the round
                    else:
                        del level[group]
                open_groups = [g for g, q in level.items() if fits(g, q)]
        self.size -= len(out)
        return out

    def drain(self) -> list[_Request]:
        return self.take(self.size)


def similar_limit(shortest: int) -> int:
    """The longest text (characters) batched with one of ``shortest`` characters."""
    return 2 * shortest + 20


def call_metric(metrics, name: str, *args) -> None:
    """Call ``metrics.name(*args)`` if ``metrics`` has it; metric errors never break translation."""
    fn = getattr(metrics, name, None) if metrics is not None else None
    if fn is not None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a broken metrics sink must not break chat
            pass


class Batcher:
    def __init__(
        self,
        fn: BatchFn,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        max_backlog: int = 256,
        metrics=None,
        group_share: int | None = None,
        similar_lengths: bool = False,
        *,
        slots: int = 1,
        bulk_slots: int | None = None,
        pair_slots: int = 1,
        bulk_batch: int | None = None,
    ):
        if max_batch < 1 or max_backlog < 1 or (group_share is not None and group_share < 1) \
                or (bulk_batch is not None and bulk_batch < 1):
            raise ValueError("max_batch, max_backlog, group_share and bulk_batch must be >= 1")
        self.fn = fn
        self.max_batch = max_batch
        self.bulk_batch = bulk_batch or max_batch
        # At most this many sentences of one message (group) per batch: a long message then
        # runs in short batches, so a short line arriving meanwhile waits for a short batch.
        self.group_share = group_share
        # Batch only texts of similar length (see _FairQueue.take).
        self.similar_lengths = similar_lengths
        self.max_wait = max_wait_ms / 1000.0
        self.max_backlog = max_backlog
        self.metrics = metrics
        # Which batch runs next on the node's model slots (live before bulk, across pairs).
        self.scheduler = Scheduler(slots=slots, bulk_slots=bulk_slots, pair_slots=min(pair_slots, slots),
                                   max_batch=max_batch, max_wait=self.max_wait)
        self._queues: dict[Key, _FairQueue] = {}
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._executor = ThreadPoolExecutor(slots, thread_name_prefix="translate")
        self._in_flight = 0
        self._closed = False
        self.batches = 0  # number of fn calls made

    @property
    def backlog(self) -> int:
        """Requests queued plus requests in a batch being translated."""
        return self._in_flight + sum(len(q) for q in self._queues.values())

    async def submit(self, text: str, source: str, target: str, *, group: object = None,
                     priority: int = LIVE, bulk: bool = False) -> str:
        """The translation of ``text``. ``bulk``: the request goes in the bulk lane (a long
        message, or nobody reads it yet), which never holds up the live lane (``translator.scheduler``)."""
        if self._closed:
            raise BatcherClosed("translator is shutting down")
        pair = (source, target)
        if self.backlog >= self.max_backlog:
            call_metric(self.metrics, "inc_shed", f"{source}-{target}")
            raise BacklogFull(f"translation backlog full ({self.max_backlog})")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._dispatch(), name="batcher")
        key = (pair, BULK_LANE if bulk or priority else LIVE_LANE)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _FairQueue()
        fut = loop.create_future()
        queue.append(_Request(text, fut, loop.time()), fut if group is None else group,
                     BACKGROUND if priority else LIVE)
        self._wakeup.set()
        call_metric(self.metrics, "set_queue_depth", self.backlog)
        return await fut

    async def _dispatch(self) -> None:
        """Start every batch the scheduler admits; sleep until a request, a call's end or a
        batching wait's end."""
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        while True:
            waiting = {k: Waiting(len(q), q.oldest()) for k, q in self._queues.items() if len(q)}
            key, at = self.scheduler.choose(waiting, loop.time())
            if key is None:
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), None if at is None else max(0.0, at - loop.time()))
                except TimeoutError:
                    pass
                continue
            size = self.max_batch if key[1] == LIVE_LANE else self.bulk_batch
            batch = [r for r in self._queues[key].take(size, self.group_share, similar=self.similar_lengths)
                     if not r.future.done()]  # cancelled callers
            if not batch:
                continue
            self.scheduler.started(key)
            task = loop.create_task(self._flush(key[0], batch))
            self._running.add(task)
            task.add_done_callback(lambda t, k=key: self._ended(t, k))

    def _ended(self, task: asyncio.Task, key: Key) -> None:
        self._running.discard(task)
        self.scheduler.finished(key)
        if self._wakeup is not None:
            self._wakeup.set()

    async def _flush(self, pair: tuple[str, str], batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(r.text for r in batch))
        self._in_flight += len(batch)
        t0 = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(self._executor, self.fn, unique, *pair)
            if len(outputs) != len(unique):
                raise RuntimeError(f"backend returned {len(outputs)} outputs for {len(unique)} inputs")
        except asyncio.CancelledError:
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(BatcherClosed("translator is shutting down"))
            raise
        except Exception as exc:  # noqa: BLE001 - delivered to every caller of the batch
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(exc)
        else:
            by_text = dict(zip(unique, outputs))
            for r in batch:
                if not r.future.done():
                    r.future.set_result(by_text[r.text])
        finally:
            self.batches += 1
            self._in_flight -= len(batch)
            call_metric(self.metrics, "observe_batch", f"{pair[0]}-{pair[1]}", len(batch), time.perf_counter() - t0)
            call_metric(self.metrics, "set_queue_depth", self.backlog)

    async def close(self) -> None:
        """Stop dispatching; pending requests fail with BatcherClosed.  A batch already running
        in a thread finishes there, but nobody waits for it."""
        self._closed = True
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for queue in self._queues.values():
            for r in queue.drain():
                if not r.future.done():
                    r.future.set_exception(BatcherClosed("translator is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._task = None
        self._running.clear()
