"""A lean WebSocket client for load generation: handshake, frame split, and nothing else.

A simulated member must cost the generator far less than it costs the server, or the
benchmark measures the generator. So this client does not use a WebSocket library on the
receive path: an asyncio protocol splits the byte stream into frames by their headers
(server frames are unmasked), answers pings, notes close codes, and hands each data
frame's payload to a callback as bytes. Decoding is left to the callback, which for a
benchmark receiver means one prefix test and one slice (see :mod:`benchmarks.adapters`).

Frames sent are masked with the all-zero key (legal; the payload goes out unchanged), so
sending costs one header and one write.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def client_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """A masked client frame (mask key 0, so the payload needs no XOR)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + b"\x00\x00\x00\x00" + payload


class HandshakeError(Exception):
    pass


class LeanWebSocket(asyncio.Protocol):
    """One client connection. ``on_frame(payload, now_flag)`` is called for each data frame."""

    __slots__ = ("transport", "on_frame", "on_close", "_buf", "_handshake", "_opened",
                 "_request", "close_code", "closed", "frames")

    def __init__(self, request: bytes, on_frame: Callable[[bytes], None],
                 on_close: Callable[["LeanWebSocket"], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.on_frame = on_frame
        self.on_close = on_close
        self._buf = b""
        self._handshake = True
        self._request = request
        self._opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.closed = False
        self.frames = 0

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if self._handshake:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buf = data
                return
            status = data[:data.find(b"\r\n")]
            self._handshake = False
            if b" 101 " not in status + b" ":
                if not self._opened.done():
                    self._opened.set_exception(HandshakeError(status.decode(errors="replace")))
                self.transport.close()
                return
            if not self._opened.done():
                self._opened.set_result(None)
            data = data[end + 4:]
        pos = 0
        size = len(data)
        on_frame = self.on_frame
        while size - pos >= 2:
            b0 = data[pos]
            n = data[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(data[pos + 2:pos + 10], "big")
                head = 10
            end = pos + head + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == TEXT or opcode == BINARY or opcode == 0:
                self.frames += 1
                on_frame(data[pos + head:end])
            elif opcode == PING:
                self.transport.write(client_frame(data[pos + head:end], PONG))
            elif opcode == CLOSE:
                self.close_code = int.from_bytes(data[pos + head:pos + head + 2], "big") if n >= 2 else 1005
                try:
                    self.transport.write(client_frame(data[pos + head:pos + head + 2], CLOSE))
                except Exception:
                    pass
                self.transport.close()
            pos = end
        if pos < size:
            self._buf = data[pos:]

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self._opened.done():
            self._opened.set_exception(HandshakeError(f"connection lost during handshake: {exc}"))
        if self.on_close is not None:
            self.on_close(self)

    # API -------------------------------------------------------------------------------------

    async def opened(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.shield(self._opened), timeout)

    def send(self, payload: bytes, opcode: int = TEXT) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(client_frame(payload, opcode))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            try:
                self.transport.write(client_frame(b"\x03\xe8", CLOSE))
            except Exception:
                pass
            self.transport.close()


def upgrade_request(host: str, port: int, path: str, subprotocol: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect(host: str, port: int, path: str, on_frame: Callable[[bytes], None], *,
                  subprotocol: str | None = None, timeout: float = 10.0,
                  on_close: Callable[[LeanWebSocket], None] | None = None) -> LeanWebSocket:
    return await connect_with(host, port, upgrade_request(host, port, path, subprotocol), on_frame,
                              timeout=timeout, on_close=on_close)


async def connect_with(host: str, port: int, request: bytes, on_frame: Callable[[bytes], None], *,
                       timeout: float = 10.0,
                       on_close: Callable[[LeanWebSocket], None] | None = None) -> LeanWebSocket:
    """:func:`connect` with an upgrade request made beforehand (:func:`upgrade_request`), under
    one deadline for the connection and the handshake (no task per connection, as
    ``asyncio.wait_for`` of a coroutine makes)."""
    loop = asyncio.get_running_loop()
    proto: LeanWebSocket | None = None
    try:
        async with asyncio.timeout(timeout):
            _, proto = await loop.create_connection(lambda: LeanWebSocket(request, on_frame, on_close), host, port)
            await proto._opened
    except BaseException:
        if proto is not None:
            proto.close()
        raise
    return proto
