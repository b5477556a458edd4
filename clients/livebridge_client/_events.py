"""Where events go: the client's own buffer (iteration, ``next_event``, ``wait_for``), extra
streams (``events()``), waiters and handlers. Internal; the client documents the behaviour."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, AsyncIterator, Callable

from .errors import ClientClosed, ConnectionLost

log = logging.getLogger("livebridge_client")

Matcher = Callable[[dict[str, Any]], bool]


def matcher(types: tuple[str, ...] | None, room: str | None, include_own: bool,
            predicate: Callable[[dict[str, Any]], bool] | None = None) -> Matcher:
    wanted = None if not types or "*" in types else set(types)

    def match(event: dict[str, Any]) -> bool:
        if wanted is not None and event.get("type") not in wanted:
            return False
        if room is not None and event.get("room") != room:
            return False
        if not include_own and event.get("own"):
            return False
        return predicate is None or bool(predicate(event))
    return match


class Buffer:
    """A bounded FIFO of events for one consumer. Full: the oldest event is dropped (and
    counted), so a buffer nobody reads never stops the connection."""

    def __init__(self, maxlen: int, name: str) -> None:
        self.maxlen = maxlen
        self.name = name
        self.items: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.end: ConnectionLost | None = None
        self._getters: list[asyncio.Future] = []

    def put(self, event: dict[str, Any]) -> None:
        if self.end is not None:
            return
        if len(self.items) >= self.maxlen:
            self.items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s: %d events dropped (nobody reads them; max_events=%d)",
                            self.name, self.dropped, self.maxlen)
        self.items.append(event)
        self._wake()

    def take(self, match: Matcher) -> dict[str, Any] | None:
        """Remove and return the first event that matches; leave every other one in place."""
        for index, event in enumerate(self.items):
            if match(event):
                del self.items[index]
                return event
        return None

    async def get(self) -> dict[str, Any]:
        while not self.items:
            if self.end is not None:
                raise self.end
            future = asyncio.get_running_loop().create_future()
            self._getters.append(future)
            try:
                await future
            finally:
                if future in self._getters:
                    self._getters.remove(future)
        return self.items.popleft()

    def finish(self, end: ConnectionLost, *, discard: bool) -> None:
        if self.end is None:
            self.end = end
        if discard:
            self.items.clear()
        self._wake()

    def _wake(self) -> None:
        for future in self._getters:
            if not future.done():
                future.set_result(None)
        self._getters.clear()


class EventStream:
    """An extra stream of the client's events, with its own buffer: every event that matches
    from the moment it was made, whoever else reads them. Iterate it with ``async for``; it ends
    when :meth:`close` (or the client's ``close()``) is called, and raises
    :class:`~livebridge_client.ConnectionLost` when the client ends for another reason (after
    the events still buffered). Use it as ``async with client.events(...) as stream:`` to close
    it on the way out."""

    def __init__(self, match: Matcher, maxlen: int, on_close: Callable[["EventStream"], None]) -> None:
        self._match = match
        self._buffer = Buffer(maxlen, "event stream")
        self._on_close = on_close

    @property
    def dropped(self) -> int:
        """Events dropped because this stream's buffer was full."""
        return self._buffer.dropped

    def _offer(self, event: dict[str, Any]) -> None:
        if self._match(event):
            self._buffer.put(event)

    def _finish(self, end: ConnectionLost) -> None:
        self._buffer.finish(end, discard=isinstance(end, ClientClosed))

    async def get(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event (raises ``TimeoutError`` after ``timeout`` seconds, ``ConnectionLost``
        once the stream is over)."""
        return await asyncio.wait_for(self._buffer.get(), timeout)

    def close(self) -> None:
        """Stop this stream; iteration ends."""
        self._finish(ClientClosed())
        self._on_close(self)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self._buffer.get()
        except ClientClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class Handler:
    def __init__(self, fn: Callable[[Any], Any], match: Matcher) -> None:
        self.fn = fn
        self.match = match


class Waiter:
    def __init__(self, match: Matcher, future: asyncio.Future) -> None:
        self.match = match
        self.future = future
