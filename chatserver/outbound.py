"""Outbound frames of one connection: a bounded queue, flushed in batches, never awaited.

Fan-out puts the same :class:`SharedFrame` into many connections' queues. Pushing is a
list append and nothing else; one callback per event-loop turn then writes each
connection's pending frames with a single ``transport.write`` (the WebSocket frame bytes are
built once per shared frame, since unmasked server frames are the same for every recipient).
So a room costs no task, no await and no encoding per recipient, and a connection that
received ten frames in one turn costs one system call, not ten.

A connection that does not read keeps its frames in our queue and in the transport's buffer.
When either bound (messages, or bytes counting the transport's buffer) is passed, the
connection is closed with ``CLOSE_SLOW_CONSUMER``. It never slows anyone else.

Two sinks write the frames: :class:`DirectSink` (the transport of our uvicorn protocol, see
:mod:`chatserver.wsprotocol`) and :class:`AsgiSink` (a writer task over plain ASGI ``send``,
for any other ASGI server).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from websockets.frames import Frame, Opcode

log = logging.getLogger(__name__)

EAGER_FLUSH_FRAMES = 64
EAGER_FLUSH_BYTES = 32 * 1024


class SharedFrame:
    """One encoded server frame, shared by every recipient that speaks its codec."""

    __slots__ = ("payload", "size", "wire_bytes")

    def __init__(self, payload: str | bytes) -> None:
        self.payload = payload
        self.size = len(payload)  # read once per recipient: an attribute, not a call
        #: The complete WebSocket frame once :meth:`wire` has built it (read per recipient).
        self.wire_bytes: bytes | None = None

    @property
    def is_text(self) -> bool:
        return isinstance(self.payload, str)

    def wire(self) -> bytes:
        """The complete WebSocket frame (header and payload), built on first use."""
        if self.wire_bytes is None:
            if isinstance(self.payload, str):
                frame = Frame(Opcode.TEXT, self.payload.encode())
            else:
                frame = Frame(Opcode.BINARY, self.payload)
            self.wire_bytes = frame.serialize(mask=False)
        return self.wire_bytes

    def __len__(self) -> int:
        return self.size


class Sink(Protocol):
    """Where a connection's frames go."""

    def writable(self) -> bool: ...
    def buffered(self) -> int: ...
    def write(self, frames: list[SharedFrame]) -> None: ...
    def abort(self, code: int, reason: str) -> None: ...


class Outbound:
    """A connection's bounded outbound queue.

    ``push`` never blocks and never raises; it returns False when the frame was not queued
    (the connection is closing). ``on_overflow`` is called once, when a bound is passed.
    """

    __slots__ = ("sink", "max_messages", "max_bytes", "_on_overflow", "_flusher", "_pending",
                 "_pending_bytes", "_scheduled", "closed")

    def __init__(
        self, sink: Sink, *, max_messages: int, max_bytes: int,
        on_overflow: Callable[[], Any], flusher: "Flusher",
    ) -> None:
        self.sink = sink
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._on_overflow = on_overflow
        self._flusher = flusher
        # A list made on first use: most idle connections never hold one (memory per connection).
        self._pending: list[SharedFrame] | None = None
        self._pending_bytes = 0
        self._scheduled = False
        self.closed = False

    def push(self, frame: SharedFrame) -> bool:
        if self.closed:
            return False
        pending = self._pending
        if pending is None:
            # The common case in a fan-out: the first frame of this turn. One frame is never
            # "too slow", however large (a joined frame with a long recovery); a backlog is.
            self._pending = [frame]
            self._pending_bytes = frame.size
            if frame.size >= EAGER_FLUSH_BYTES and self.sink.writable():
                self.flush()
                return True
        else:
            pending.append(frame)
            self._pending_bytes += frame.size
            if len(pending) > self.max_messages or self._pending_bytes > self.max_bytes:
                self.overflow()
                return False
            if (len(pending) >= EAGER_FLUSH_FRAMES or self._pending_bytes >= EAGER_FLUSH_BYTES) \
                    and self.sink.writable():
                # A burst within one loop turn: hand it to the socket now rather than count
                # it against a client that has had no chance to read it yet.
                self.flush()
                return True
        if not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)
        return True

    def overflow(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._pending = None
        self._pending_bytes = 0
        self._on_overflow()

    def flush(self) -> None:
        """Write everything pending, if the transport takes writes now."""
        frames = self._pending
        if not frames or self.closed:
            return
        sink = self.sink
        if not sink.writable():
            return
        # The byte bound also counts what the socket has not sent yet; checked here, once
        # per write, rather than on every push.
        if len(frames) > 1 and self._pending_bytes + sink.buffered() > self.max_bytes:
            self.overflow()
            return
        self._pending = None
        self._pending_bytes = 0
        try:
            sink.write(frames)
        except Exception:  # the peer went away between two turns; the reader notices
            log.debug("write failed", exc_info=True)
            self.closed = True

    def close(self) -> None:
        """Stop queueing; what is pending is dropped (the connection is going away)."""
        self.closed = True
        self._pending = None
        self._pending_bytes = 0

    @property
    def pending(self) -> int:
        return len(self._pending) if self._pending else 0


class Flusher:
    """Flushes every connection that got frames during this loop turn, in one callback, on
    the loop it is bound to (the node's, from its start) or else the running one."""

    def __init__(self) -> None:
        self._dirty: list[Outbound] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        # Once per node: on Python 3.11 each asyncio.get_running_loop() is a getpid() system
        # call, and a flush is scheduled about once per message.
        self._loop = loop

    def schedule(self, outbound: Outbound) -> None:
        if not self._dirty:
            (self._loop or asyncio.get_running_loop()).call_soon(self._flush_all)
        self._dirty.append(outbound)

    def _flush_all(self) -> None:
        dirty, self._dirty = self._dirty, []
        for outbound in dirty:
            outbound._scheduled = False
            outbound.flush()


class DirectSink:
    """Writes ready-made frame bytes to the connection's transport (no ASGI round trip).

    It reads the connection's flags and writes to its transport itself, rather than through
    the connection's methods: this runs once per recipient of every fan-out."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Any) -> None:
        self._raw = raw  # chatserver.wsprotocol.RawConnection

    def writable(self) -> bool:
        raw = self._raw
        return raw.open and not raw.paused

    def buffered(self) -> int:  # once per flush of more than one frame only
        return self._raw.buffered()

    def write(self, frames: list[SharedFrame]) -> None:
        """Nothing once the connection is closing (a close frame sent or received)."""
        raw = self._raw
        if not raw.open:
            return
        transport = raw.transport
        if transport.is_closing():
            return
        if len(frames) == 1:  # most flushes: one frame, its bytes made once for all recipients
            transport.write(frames[0].wire_bytes or frames[0].wire())
        else:
            transport.write(b"".join([frame.wire() for frame in frames]))

    def abort(self, code: int, reason: str) -> None:
        self._raw.abort(code, reason)

    def on_writable(self, callback: Callable[[], None]) -> None:
        self._raw.on_writable = callback


class AsgiSink:
    """Fallback for ASGI servers other than ours: a writer task awaiting ``send``."""

    def __init__(self, send: Callable[[dict[str, Any]], Any]) -> None:
        self._send = send
        self._queue: deque[SharedFrame] = deque()
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def writable(self) -> bool:
        return True

    def buffered(self) -> int:
        return sum(len(frame) for frame in self._queue)

    def write(self, frames: list[SharedFrame]) -> None:
        self._queue.extend(frames)
        self._ready.set()

    async def _run(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._queue:
                    frame = self._queue.popleft()
                    key = "text" if frame.is_text else "bytes"
                    await self._send({"type": "websocket.send", key: frame.payload})
        except Exception:
            log.debug("asgi writer stopped", exc_info=True)

    def abort(self, code: int, reason: str) -> None:
        self._queue.clear()
        self._task.cancel()
        asyncio.get_running_loop().create_task(
            self._send({"type": "websocket.close", "code": code, "reason": reason})
        )

    def stop(self) -> None:
        self._task.cancel()
