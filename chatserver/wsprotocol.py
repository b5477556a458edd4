"""Our uvicorn WebSocket protocol: uvicorn's sans-I/O implementation plus direct writes.

ASGI offers one way out, an awaited ``send`` per message, which costs a task switch and a
coroutine per recipient during fan-out. This subclass hands the application a
:class:`RawConnection` in ``scope["extensions"]["livebridge.raw"]``: the transport (which
:class:`chatserver.outbound.DirectSink` writes ready-made frames to, never awaiting), whether
it takes writes now, its buffer size, and an immediate close for a client that does not read. Everything else (handshake, reading, pings, closing) stays uvicorn's.

It also makes server shutdown close each connection with 1001 (going away) instead of
uvicorn's 1012, as docs/protocol.md promises.

Memory: an idle connection is mostly what it keeps, so this protocol keeps less. The parsed
handshake (websockets' ``Request``/``Response`` and their ``Headers``) is emptied once the
connection is accepted (uvicorn never reads it again; websockets' parser generator keeps the
``Request`` alive, so its headers are cleared rather than the reference dropped), and the ASGI
receive queue and the ``writable`` flag are lean equivalents of ``asyncio.Queue`` and
``asyncio.Event`` that allocate their deques only while something waits or is queued (the
asyncio ones hold five deques, ~3.8 KB, per connection). The application drops what it kept of
the handshake itself (``chatserver.ws.forget_handshake``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from chatserver.errors import BAD_REQUEST, http_refusal
from chatserver.gcpolicy import forget_transport_callback

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
# How long a connection closed for not reading gets to take its close frame.
ABORT_AFTER = 2.0
# Client messages a connection may have waiting for the application before its socket stops
# being read; reading also stops once they hold the frame size limit in bytes, so what waits
# stays under about two frames' worth, as when reading paused after every message.
READ_AHEAD = 16


class LeanEvent:
    """What uvicorn uses of ``asyncio.Event`` (set, clear, is_set, wait), without a deque per instance."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(True)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        fut = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
            return True
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)
                if not self._waiters:
                    self._waiters = None


class LeanQueue:
    """What uvicorn uses of ``asyncio.Queue`` (put_nowait, get, empty, qsize): unbounded, FIFO,
    any number of getters; the item deque and the getters' list exist only while in use.

    Given its connection's ``loop``, a getter's wait makes its future there (on Python 3.11
    each ``asyncio.get_running_loop()`` is a ``getpid()`` system call: one per message read)."""

    __slots__ = ("_getters", "_items", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._items: deque | None = None
        self._getters: list[asyncio.Future] | None = None
        self._loop = loop

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.pop(0)
            if not fut.done():
                fut.set_result(None)
                break
        if not self._getters:
            self._getters = None

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self) -> Any:
        while not self._items:
            fut = (self._loop or asyncio.get_running_loop()).create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                # cancelled: leave the queue as asyncio.Queue would (an item we were woken
                # for goes to the next getter)
                if self._getters is not None and fut in self._getters:
                    self._getters.remove(fut)
                    if not self._getters:
                        self._getters = None
                elif self._items:
                    self._wake_one()
                raise
        return self.get_nowait()


class RawConnection:
    """Direct access to one WebSocket connection's transport, for the outbound queue.

    ``open`` (no close frame sent, not disconnected) and ``paused`` (the transport's buffer
    is past its high-water mark) are kept true by the protocol as they change, so the outbound
    queue reads two flags of this object per recipient instead of three attributes of the
    protocol (a large object, and one more cache miss per recipient in a big room).

    Once the connection is lost it is detached (:meth:`detach`): it is not ``open`` and refers
    to nothing, so the protocol, the transport and the session's queue die by reference count
    (the node freezes long-lived objects: cyclic garbage would wait for a whole collection,
    see :mod:`chatserver.gcpolicy`).
    """

    __slots__ = ("_protocol", "transport", "open", "paused", "on_writable")

    def __init__(self, protocol: "LiveBridgeWebSocketProtocol") -> None:
        self._protocol: LiveBridgeWebSocketProtocol | None = protocol
        self.transport = protocol.transport
        self.open = not (protocol.close_sent or protocol.disconnected)
        self.paused = not protocol.writable.is_set()
        self.on_writable: Callable[[], None] | None = None

    def detach(self) -> None:
        self.open = False
        self._protocol = None
        self.transport = None
        self.on_writable = None

    def buffered(self) -> int:
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def abort(self, code: int, reason: str) -> None:
        """Send a close frame now, and drop the connection if the peer does not take it."""
        p = self._protocol
        if p is None or p.close_sent or p.disconnected:
            return
        try:
            p.conn.send_close(code, reason)
            p.transport.write(b"".join(p.conn.data_to_send()))
        except InvalidState:
            pass
        p.close_sent = True
        p.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        p.close_timer = p.loop.call_later(ABORT_AFTER, p.transport.abort)


class LiveBridgeWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol with :class:`RawConnection` in the scope."""

    raw_connection: RawConnection | None = None  # once the handshake is accepted

    # uvicorn sets these two as plain attributes; as properties they also keep the
    # RawConnection's ``open`` flag, which the fan-out reads instead of them.
    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        self._keep_open_flag()

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @disconnected.setter
    def disconnected(self, value: bool) -> None:
        self._disconnected = value
        self._keep_open_flag()

    def _keep_open_flag(self) -> None:
        # (None until the handshake is accepted, and so while uvicorn's __init__ sets both)
        if self.raw_connection is not None:
            self.raw_connection.open = not (self._close_sent or self._disconnected)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue(self.loop)  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()
        self._queued_bytes = 0  # of the client messages in ``queue`` (read-ahead bound)
        #: Called once when the connection is gone (chatserver.connguard counts it until then).
        self.on_lost: Callable[[], None] | None = None

    def connection_lost(self, exc) -> None:
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost()
        super().connection_lost(exc)
        # What would keep this connection in reference cycles: the raw connection (it and
        # the ASGI scope refer to each other through us) and the transport's own callback.
        raw = getattr(self, "raw_connection", None)
        if raw is not None:
            raw.detach()
        forget_transport_callback(self.transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self._refuse_unparsable_upgrade()

    def _refuse_unparsable_upgrade(self) -> None:
        """websockets could not take the upgrade request (a body, ``Transfer-Encoding``, a
        malformed header): it answers the few it has an answer for and otherwise only closes
        its side, which uvicorn never passes on, so the client waited for ever. Answer 400."""
        if self.transport.is_closing():
            return
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        answer = b"".join(self.conn.data_to_send())
        if not answer.startswith(b"HTTP/"):
            exc = self.conn.handshake_exc
            cause = exc.__cause__ or exc
            answer = http_refusal(400, "Bad Request", BAD_REQUEST,
                                  f"not a WebSocket upgrade this server can take: {cause}")
        self.transport.write(answer)
        self.transport.close()

    def handle_connect(self, event) -> None:  # type: ignore[override]
        super().handle_connect(event)
        if self.handshake_complete:  # refused by websockets (bad upgrade): nothing more to keep
            self._forget_handshake()
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            self.raw_connection = RawConnection(self)
            scope["extensions"]["livebridge.raw"] = self.raw_connection

    async def send(self, message) -> None:  # type: ignore[override]
        await super().send(message)
        if self.handshake_complete and getattr(self, "request", None) is not None:
            self._forget_handshake()

    def _forget_handshake(self) -> None:
        """The handshake is answered: empty the parsed request and response (uvicorn does not
        read them again; the application has the ASGI scope)."""
        request, response = getattr(self, "request", None), getattr(self, "response", None)
        if request is not None:
            request.headers.clear()  # websockets' parser generator still refers to the Request
            request.path = ""  # the path has the query string, and so the token
        if response is not None:
            response.headers.clear()
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        """Queue one client message for the application (decoded once). The socket stops
        being read when :data:`READ_AHEAD` messages wait, not after every message as uvicorn
        does: pausing and resuming cost two ``epoll_ctl`` calls and ~6% of a node's CPU per
        message in 500 rooms x 10. A text message that is not UTF-8 closes the connection
        with 1007 as uvicorn does, but logs one DEBUG line instead of an ERROR with a
        traceback: any client can send such frames, and must not be able to fill the logs."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past `websocket.close`: discarded, as uvicorn does
        if self.curr_msg_data_type == "text":
            try:
                self.queue.put_nowait({"type": "websocket.receive", "text": data.decode(), "size": len(data)})
            except UnicodeDecodeError:
                log.debug("%s: closing with 1007: a text frame was not valid UTF-8",
                          getattr(self, "client", None))
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data, "size": len(data)})
        self._queued_bytes += len(data)
        if not self.read_paused and (self.queue.qsize() >= READ_AHEAD
                                     or self._queued_bytes >= self.config.ws_max_size):
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self):  # type: ignore[override]
        message = await self.queue.get()
        self._queued_bytes -= message.get("size", 0)
        if self.read_paused and self.queue.qsize() <= READ_AHEAD // 2 \
                and self._queued_bytes < self.config.ws_max_size:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.raw_connection is not None:
            self.raw_connection.paused = True

    def resume_writing(self) -> None:
        super().resume_writing()
        raw = self.raw_connection
        if raw is not None:
            raw.paused = False
            if raw.on_writable is not None:
                raw.on_writable()

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and not self.disconnected:
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_GOING_AWAY})
            try:
                self.conn.send_close(CLOSE_GOING_AWAY, "server shutting down")
                self.transport.write(b"".join(self.conn.data_to_send()))
            except InvalidState:
                pass
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()
