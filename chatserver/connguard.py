"""Connection caps and the handshake timeout, at the socket, before any request is read.

:class:`ConnectionGate` counts the node's open connections (HTTP and WebSocket, from accept
to close) in total and per client address. :func:`guarded_http_protocol` makes the uvicorn
HTTP protocol class that consults it, over either of uvicorn's parsers (``--http-parser``:
httptools when installed, else h11):

- past ``--max-connections`` a new connection is answered ``503`` and closed; past
  ``--max-connections-per-address`` from one address, ``429``. The answer is written
  once the request head is in (nothing of it is parsed). Peers that are ``--trusted-proxies`` are not capped
  per address here (every client behind them shares their address): WebSockets through them
  are capped by the forwarded address in :mod:`chatserver.ws` instead.
- a connection that has not sent a whole request head (request line and headers, or a
  WebSocket upgrade) within ``--handshake-timeout`` seconds is closed (a half-open socket,
  slowloris). Between requests, uvicorn's keep-alive timeout (``--keep-alive-timeout``) does
  the same.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from chatserver.errors import http_refusal
from chatserver.gcpolicy import forget_transport_callback

log = logging.getLogger("livebridge")
MAX_REFUSED_HEAD = 16 * 1024  # bytes of a refused connection's request head read before answering


def address_key(host: str) -> str:
    """What one client address counts as: IPv4 as is, IPv6 by its /64 (the block one
    subscriber usually holds), IPv4-mapped IPv6 as the IPv4 address."""
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class ConnectionGate:
    """Open connections, in total and per address; ``admit`` counts one or says why not."""

    def __init__(self, *, max_connections: int, max_per_address: int,
                 exempt: Callable[[str], bool] = lambda host: False) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.exempt = exempt
        self.total = 0
        self.per_address: dict[str, int] = {}
        self.refused = 0
        # A pure function of the peer's address for this gate, kept for the addresses seen
        # last: parsing one (exempt?, its /64) cost ~9 us per connection, and a join storm's
        # clients connect from a few addresses.
        self._key_of = functools.lru_cache(maxsize=4096)(self._key)

    def _key(self, host: str) -> str:
        """What ``host`` is counted as: "" (not per address) when exempt, else its address key."""
        return "" if self.exempt(host) else address_key(host)

    def admit(self, host: str) -> tuple[str | None, bytes | None]:
        """(the key to :meth:`release` later, None) when admitted, else (None, the answer)."""
        if self.total >= self.max_connections:
            self.refused += 1
            return None, http_refusal(503, "Service Unavailable", "too_many_connections",
                                  f"the server holds its most connections ({self.max_connections}): try again later")
        key = self._key_of(host)
        if key and self.per_address.get(key, 0) >= self.max_per_address:
            self.refused += 1
            return None, http_refusal(429, "Too Many Requests", "too_many_connections",
                                  f"at most {self.max_per_address} connections per client address")
        self.total += 1
        if key:
            self.per_address[key] = self.per_address.get(key, 0) + 1
        return key, None

    def release(self, key: str) -> None:
        self.total -= 1
        if key:
            left = self.per_address.get(key, 1) - 1
            if left > 0:
                self.per_address[key] = left
            else:
                self.per_address.pop(key, None)


HTTP_PARSERS = ("auto", "h11", "httptools")


def http_protocol_base(parser: str = "auto") -> type:
    """uvicorn's HTTP protocol class for ``parser``: ``h11`` (pure Python, always installed),
    ``httptools`` (uvicorn's "standard" C parser, llhttp; a dependency) or ``auto``, uvicorn's own
    rule: httptools when it is installed, else h11."""
    if parser not in HTTP_PARSERS:
        raise ValueError(f"unknown HTTP parser {parser!r}: one of {', '.join(HTTP_PARSERS)}")
    if parser in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            if parser == "httptools":
                raise
        else:
            return HttpToolsProtocol
    return H11Protocol


def guarded_http_protocol(gate: ConnectionGate, handshake_timeout: float, parser: str = "auto") -> type:
    """uvicorn's HTTP protocol (:func:`http_protocol_base`) with ``gate``'s caps and the
    handshake timeout. The guard uses only what both of uvicorn's protocols have in common
    (``connection_made``, ``data_received``, ``handle_websocket_upgrade``, ``connection_lost``)
    plus the one hook each has for "a request head is in": h11's ``handle_events`` leaves
    ``scope`` set, httptools calls ``on_headers_complete``."""
    base = http_protocol_base(parser)

    class GuardedHTTPProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._gate_key, self._refusal = gate.admit(self.client[0] if self.client else "")
            self._released = self._refusal is not None  # a refused connection is not counted
            self._head = b""
            self._head_in = False  # a whole request head (or upgrade) has arrived
            self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
                handshake_timeout, self._head_too_slow)

        def data_received(self, data: bytes) -> None:
            if self._refusal is None:
                super().data_received(data)
                return
            # Refused: the answer goes out once the request head is in (a client that is
            # still writing would take an early close as a reset, not as our answer).
            self._head += data
            if b"\r\n\r\n" in self._head or len(self._head) > MAX_REFUSED_HEAD:
                self._stop_head_timer()
                self.transport.write(self._refusal)
                self.transport.close()
                self._refusal, self._head = b"", b""

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if (not self._head_in or self._refusal is not None) and not self.transport.is_closing():
                log.debug("%s: closing: no request head within %ss", self.client, handshake_timeout)
                self.transport.close()

        def _head_arrived(self) -> None:
            self._head_in = True
            self._stop_head_timer()

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _release(self) -> None:
            self._stop_head_timer()
            if not self._released:
                self._released = True
                gate.release(self._gate_key)

        # h11: a request's head is in once handle_events has made its scope.
        def handle_events(self) -> None:
            super().handle_events()
            if self.scope is not None:
                self._head_arrived()

        # httptools: called once the request line and headers are parsed (httptools makes
        # the scope at the request's first byte, so it cannot tell).
        def on_headers_complete(self) -> None:
            self._head_arrived()
            super().on_headers_complete()

        def handle_websocket_upgrade(self, *event: Any) -> None:
            self._head_arrived()
            super().handle_websocket_upgrade(*event)
            # The socket now belongs to the WebSocket protocol: it releases the count. Not
            # with self._release, which would keep this whole HTTP protocol (its parser, its
            # copy of the request, ~4.5 KB and 14 tracked objects) alive as long as the socket.
            protocol = self.transport.get_protocol()
            if protocol is not self and hasattr(protocol, "on_lost"):
                self._released = True
                protocol.on_lost = functools.partial(gate.release, self._gate_key)
                # httptools' parser holds this protocol's callbacks (a cycle, which would keep
                # it and the transport until a whole collection: chatserver.gcpolicy); uvicorn
                # drops it only in connection_lost, which a handed-off protocol never gets.
                if base is not H11Protocol:
                    self.parser = None
            else:
                self._release()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.transport.get_protocol() is self:
                self._release()
            super().connection_lost(exc)
            forget_transport_callback(self.transport)

    GuardedHTTPProtocol.__qualname__ = GuardedHTTPProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedHTTPProtocol
