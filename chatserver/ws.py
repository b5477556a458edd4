"""The WebSocket endpoint at /ws: handshake checks, then frames in and out, nothing more.

Order of checks: Origin (refused before the upgrade, HTTP 403), subprotocol, ticket or token,
connections per user (each refused after the upgrade with an error frame and a close code,
so that browsers can read why). Then the connection's frames go to its :class:`Session`,
opened by the process's :class:`~chatserver.app.LiveBridge` on a sink that writes to this
socket.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatserver import errors as E
from chatserver import frames
from chatserver import protocol as p
from chatserver.auth import AuthError, User, origin_allowed
from chatserver.errors import ChatError
from chatserver.http_api import client_address, trusted_networks
from chatserver.outbound import AsgiSink, DirectSink
from chatserver.session import Session
from rooms.engine import EngineError

log = logging.getLogger(__name__)

# A connection that sends more than this many refused frames in ERROR_WINDOW seconds is
# closed: it is broken or hostile, and answering it costs the room.
MAX_ERRORS = 50
ERROR_WINDOW = 10.0


def _token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


async def _authenticate(websocket: WebSocket, bridge: Any) -> User:
    """The user a one-time ``ticket`` (the browser's way, POST /api/ws-ticket), a ``token``
    parameter or an ``Authorization: Bearer`` header stands for."""
    ticket = websocket.query_params.get("ticket")
    if ticket:
        return await bridge.tickets.redeem(ticket)
    token = _token(websocket)
    if not token:
        raise AuthError("no token: connect to /ws?ticket=... (see POST /api/ws-ticket) or "
                        "/ws?token=... (see POST /api/token)")
    return bridge.tokens.verify(token)


async def websocket_endpoint(websocket: WebSocket) -> None:
    bridge = websocket.app.state.bridge
    settings = bridge.settings

    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings.origins):
        bridge.metrics.errors.labels(E.ORIGIN_NOT_ALLOWED).inc()
        log.info("refused WebSocket from origin %r", websocket.headers.get("origin"))
        await websocket.close(code=p.CLOSE_FORBIDDEN)
        return

    codec, chosen = _codec(websocket)
    if codec is None:
        await websocket.accept()
        await _refuse(websocket, bridge, p.JSON, p.CLOSE_BAD_REQUEST, E.UNSUPPORTED_SUBPROTOCOL,
                      f"offer one of {', '.join(p.SUBPROTOCOLS)}")
        return
    await websocket.accept(subprotocol=chosen)

    try:
        user = await _authenticate(websocket, bridge)
    except EngineError as exc:
        await _refuse(websocket, bridge, codec, p.CLOSE_TRY_AGAIN, exc.code,
                      f"the server cannot check the ticket right now: {exc}")
        return
    except AuthError as exc:
        await _refuse(websocket, bridge, codec, p.CLOSE_UNAUTHORIZED, E.UNAUTHORIZED, str(exc))
        return
    try:
        await bridge.admin.check_connect(user)  # a global ban
    except ChatError as exc:
        await _refuse(websocket, bridge, codec, p.CLOSE_FORBIDDEN, exc.code, exc.message)
        return

    if bridge.connections_of(user.id) >= settings.max_connections_per_user:
        await _refuse(websocket, bridge, codec, p.CLOSE_TOO_MANY_CONNECTIONS, E.TOO_MANY_CONNECTIONS,
                      f"at most {settings.max_connections_per_user} connections per user")
        return

    client = client_address(websocket)  # type: ignore[arg-type]
    address = _forwarded_address(websocket, settings)
    if address is not None:
        if bridge.ws_per_address.get(address, 0) >= settings.max_connections_per_address:
            await _refuse(websocket, bridge, codec, p.CLOSE_TOO_MANY_CONNECTIONS, E.TOO_MANY_CONNECTIONS,
                          f"at most {settings.max_connections_per_address} connections per client address")
            return
        bridge.ws_per_address[address] = bridge.ws_per_address.get(address, 0) + 1
    raw, receive, send = _accepted(websocket)
    del websocket  # from here on the connection is its ASGI callables (the Starlette object would stay ~0.5 KB)
    try:
        await _serve(raw, receive, send, bridge, user, codec, client)
    finally:
        if address is not None:
            left = bridge.ws_per_address.get(address, 1) - 1
            if left > 0:
                bridge.ws_per_address[address] = left
            else:
                bridge.ws_per_address.pop(address, None)


def _codec(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The codec the client's offered subprotocols choose (None: none we speak), and the
    subprotocol to accept with (None when the client offered none: JSON by default)."""
    offered = websocket.scope.get("subprotocols") or []
    codec = p.choose_subprotocol(list(offered))
    return codec, (codec if offered else None)


def _forwarded_address(websocket: WebSocket, settings: Any) -> str | None:
    """The client address of a WebSocket that came through one of ``--trusted-proxies`` (the
    socket-level cap of chatserver.connguard sees only the proxy), else None."""
    networks = trusted_networks(settings.trusted_proxies)
    peer = websocket.client.host if websocket.client else ""
    try:
        if not networks or not any(ipaddress.ip_address(peer) in n for n in networks):
            return None
    except ValueError:
        return None
    return client_address(websocket)  # type: ignore[arg-type]


def _accepted(websocket: WebSocket) -> tuple[Any, Any, Any]:
    """What an accepted connection keeps of its handshake: the socket for direct writes (our
    protocol's, None under another ASGI server) and the ASGI ``receive`` and ``send``."""
    forget_handshake(websocket)
    raw = websocket.scope.get("extensions", {}).pop("livebridge.raw", None)
    return raw, websocket._receive, websocket._send


async def _serve(raw: Any, receive: Any, send: Any, bridge: Any, user: User, codec: str, address: str) -> None:
    """Open the session, then hand it every client message until the client goes. Messages
    come straight from the ASGI ``receive``: an idle connection waits in one coroutine less
    than through Starlette's ``WebSocket.receive`` (and one less again, this loop being here)."""
    sink = DirectSink(raw) if raw is not None else AsgiSink(send)
    session = bridge.open_session(user, codec, sink, address=address)
    if isinstance(sink, DirectSink):
        sink.on_writable(session.outbound.flush)
    del raw, sink
    errors: list[float] | None = None  # when recent refused frames were sent (made on the first)
    try:
        session.send(session.welcome())
        while True:
            data = _payload(await receive())
            if data is _GONE:
                return
            if data is None:
                continue
            sent_errors = session.errors_sent
            await session.receive(data)
            data = None  # not kept while the connection idles
            if session.errors_sent > sent_errors:
                errors = _recent_errors(errors, time.monotonic())
                if len(errors) > MAX_ERRORS:
                    session.outbound.close()
                    with contextlib.suppress(OSError):  # gone meanwhile (uvicorn's ClientDisconnected)
                        await send({"type": "websocket.close", "code": p.CLOSE_BAD_REQUEST,
                                    "reason": "too many refused frames"})
                    return
    finally:
        await bridge.close_session(session)


_GONE = object()  # what _payload says of websocket.disconnect


def _payload(message: dict) -> Any:
    """A client message's text or bytes (None: neither), or _GONE once the client is."""
    if message["type"] != "websocket.receive":
        return _GONE
    data = message.get("text")
    return data if data is not None else message.get("bytes")


def _recent_errors(errors: list[float] | None, now: float) -> list[float]:
    """The refused frames of the last ERROR_WINDOW seconds, with one more at ``now``."""
    recent = [t for t in errors or () if now - t < ERROR_WINDOW]
    recent.append(now)
    return recent


def forget_handshake(websocket: WebSocket) -> None:
    """Drop what the handshake left in the ASGI scope once the connection is accepted and
    authenticated: headers, the query string (the token), the offered subprotocols, the
    handshake's denial-response extension, and Starlette's parsed copies of them. Nothing
    reads them after this point, and an idle connection would otherwise keep ~2 KB of them
    (and its token) for its whole life. The emptied ones share one empty tuple."""
    scope = websocket.scope
    scope["headers"] = ()
    scope["query_string"] = b""
    scope["subprotocols"] = ()
    scope.get("extensions", {}).pop("websocket.http.response", None)
    for cached in ("_headers", "_query_params", "_url", "_cookies"):
        websocket.__dict__.pop(cached, None)


async def _refuse(websocket: WebSocket, bridge: Any, codec: str, close_code: int, code: str,
                  message: str) -> None:
    bridge.metrics.errors.labels(code).inc()
    payload = p.encode(frames.error(code, message), codec)
    try:
        if isinstance(payload, str):
            await websocket.send_text(payload)
        else:
            await websocket.send_bytes(payload)
        await websocket.close(code=close_code, reason=message[:120])
    except (WebSocketDisconnect, RuntimeError):
        pass
