"""The WebSocket endpoint at /ws: handshake checks, then frames in and out, nothing more.

Order of checks: Origin (refused before the upgrade, HTTP 403), subprotocol, ticket or token,
connections per user (each refused after the upgrade with an error frame and a close code,
so that browsers can read why). Then the connection's frames go to its :class:`Session`,
opened by the process's :class:`~chatserver.app.LiveBridge` on a sink that writes to this
socket.
"""

from __future__ import annotations

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

    offered = list(websocket.scope.get("subprotocols") or [])
    codec = p.choose_subprotocol(offered)
    if codec is None:
        await websocket.accept()
        await _refuse(websocket, bridge, p.JSON, p.CLOSE_BAD_REQUEST, E.UNSUPPORTED_SUBPROTOCOL,
                      f"offer one of {', '.join(p.SUBPROTOCOLS)}")
        return
    await websocket.accept(subprotocol=codec if offered else None)

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
    try:
        await _serve(websocket, bridge, user, codec, client)
    finally:
        if address is not None:
            left = bridge.ws_per_address.get(address, 1) - 1
            if left > 0:
                bridge.ws_per_address[address] = left
            else:
                bridge.ws_per_address.pop(address, None)


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


async def _serve(websocket: WebSocket, bridge: Any, user: User, codec: str, address: str) -> None:
    raw = websocket.scope.get("extensions", {}).get("livebridge.raw")
    sink = DirectSink(raw) if raw is not None else AsgiSink(websocket.send)
    session = bridge.open_session(user, codec, sink, address=address)
    if isinstance(sink, DirectSink):
        sink.on_writable(session.outbound.flush)
    forget_handshake(websocket)
    try:
        session.send(session.welcome())
        await _read_frames(websocket, session)
    finally:
        await bridge.close_session(session)


def forget_handshake(websocket: WebSocket) -> None:
    """Drop what the handshake left in the ASGI scope once the connection is accepted and
    authenticated: headers, the query string (the token), the offered subprotocols, and
    Starlette's parsed copies of them. Nothing reads them after this point, and an idle
    connection would otherwise keep ~2 KB of them (and its token) for its whole life."""
    scope = websocket.scope
    scope["headers"] = []
    scope["query_string"] = b""
    scope["subprotocols"] = []
    for cached in ("_headers", "_query_params", "_url", "_cookies"):
        websocket.__dict__.pop(cached, None)


async def _read_frames(websocket: WebSocket, session: Session) -> None:
    errors: list[float] = []
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is None:
            continue
        sent_errors = session.errors_sent
        await session.receive(data)
        if session.errors_sent > sent_errors:
            now = time.monotonic()
            errors.append(now)
            errors[:] = [t for t in errors if now - t < ERROR_WINDOW]
            if len(errors) > MAX_ERRORS:
                session.outbound.close()
                await websocket.close(code=p.CLOSE_BAD_REQUEST, reason="too many refused frames")
                return


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
