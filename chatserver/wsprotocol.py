"""Our uvicorn WebSocket protocol: uvicorn's sans-I/O implementation plus direct writes.

ASGI offers one way out, an awaited ``send`` per message, which costs a task switch and a
coroutine per recipient during fan-out. This subclass hands the application a
:class:`RawConnection` in ``scope["extensions"]["livebridge.raw"]``: non-blocking writes of
ready-made frames to the transport, its buffer size, and an immediate close for a client
that does not read. Everything else (handshake, reading, pings, closing) stays uvicorn's.

It also makes server shutdown close each connection with 1001 (going away) instead of
uvicorn's 1012, as docs/protocol.md promises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
# How long a connection closed for not reading gets to take its close frame.
ABORT_AFTER = 2.0


class RawConnection:
    """Direct access to one WebSocket connection's transport, for the outbound queue."""

    def __init__(self, protocol: "LiveBridgeWebSocketProtocol") -> None:
        self._protocol = protocol
        self.on_writable: Callable[[], None] | None = None

    def writable(self) -> bool:
        p = self._protocol
        return p.writable.is_set() and not p.close_sent and not p.disconnected

    def buffered(self) -> int:
        transport = self._protocol.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def write(self, data: bytes) -> None:
        p = self._protocol
        if p.close_sent or p.disconnected or p.transport.is_closing():
            return
        p.transport.write(data)

    def abort(self, code: int, reason: str) -> None:
        """Send a close frame now, and drop the connection if the peer does not take it."""
        p = self._protocol
        if p.close_sent or p.disconnected:
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

    def handle_connect(self, event) -> None:  # type: ignore[override]
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            self.raw_connection = RawConnection(self)
            scope["extensions"]["livebridge.raw"] = self.raw_connection

    def resume_writing(self) -> None:
        super().resume_writing()
        raw = getattr(self, "raw_connection", None)
        if raw is not None and raw.on_writable is not None:
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
