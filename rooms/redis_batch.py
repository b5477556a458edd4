"""Redis commands issued in one turn of the event loop leave as one pipeline.

A join storm runs a hundred joins at once on a node, each a few short Redis commands. Sent
one by one, every command is a socket write and a read wake-up on the node and in Redis (the
profile of a two-node join storm showed socket writes as 40% of a node's CPU). A
:class:`CommandBatcher` queues the commands callers issue in the same turn of the event loop
and sends them as one non-transactional pipeline on one connection at the start of the next
turn: each caller still awaits its own reply (or its own error), in the order it asked, and
nothing waits longer than one loop turn for company, or, while :data:`MAX_IN_FLIGHT`
pipelines are already under way, for one of them to be answered: under load the commands of
several turns then leave together (fewer, larger pipelines: fewer writes and wake-ups on the
node and in Redis; Redis runs one command at a time anyway, so a command waits at most one
pipeline's round trip more), and when idle a command still leaves at the next turn. A
pipeline is not a transaction: the commands of different callers interleave with other
clients' as separate commands would.

A command's own error (a Lua error, NOSCRIPT) goes to its caller alone; a failure of the
connection goes to every caller of that pipeline, as it would have to each of them alone.
At most :data:`MAX_BATCH` commands go in one pipeline (more start another).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

MAX_BATCH = 256  # commands per pipeline: bounds one reply's size and the pipeline's buffer
MAX_IN_FLIGHT = 1  # pipelines under way at once; more commands wait for it (join storm: 10 -> 20 per pipeline)


class CommandBatcher:
    """Coalesce concurrent commands into pipelines made by ``pipeline()`` (a redis-py
    ``pipeline(transaction=False)`` of a single Redis, never of a cluster: there one
    shard's failure would reach the callers of every other shard in the batch)."""

    def __init__(self, pipeline: Callable[[], Any], *, max_batch: int = MAX_BATCH,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._pipeline = pipeline
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queued: list[tuple[tuple[Any, ...], asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self._scheduled = False  # a _send is due at the next turn
        #: Pipelines sent and commands they carried (for metrics and benchmarks).
        self.pipelines = 0
        self.commands = 0

    async def execute(self, *args: Any) -> Any:
        """Run one command (``"EVALSHA", sha, 2, key1, key2, arg``); its reply, or its error
        raised here."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queued.append((args, future))
        if len(self._queued) >= self._max_batch:
            self._send()
        elif not self._scheduled and len(self._tasks) < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._send)
        # else: the next turn's _send, or the end of a pipeline under way, sends it
        return await future

    def _send(self) -> None:
        self._scheduled = False
        batch, self._queued = self._queued, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self._queued and not self._scheduled:
            self._send()  # what queued up while the pipelines were under way

    async def _run(self, batch: list[tuple[tuple[Any, ...], asyncio.Future]]) -> None:
        self.pipelines += 1
        self.commands += len(batch)
        try:
            pipe = self._pipeline()
            for args, _ in batch:
                pipe.execute_command(*args)
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection failed (or the node is stopping)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies):
            if future.done():  # its caller gave up (timed out, cancelled)
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        """Send what is queued and wait for every pipeline under way."""
        self._send()
        while self._tasks:  # a pipeline that ends sends what queued meanwhile
            await asyncio.gather(*self._tasks, return_exceptions=True)
