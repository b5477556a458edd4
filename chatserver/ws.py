"""The WebSocket endpoint at /ws: handshake checks, then frames in and out, nothing more.

Order of checks: Origin (refused before the upgrade, HTTP 403), subprotocol, token,
connections per user (each refused after the upgrade with an error frame and a close code,
so that browsers can read why). Then the connection's frames go to its :class:`Session`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatserver import protocol as p
from chatserver.auth import AuthError, origin_allowed
from chatserver.outbound import AsgiSink, DirectSink, Outbound
from chatserver.session import Session

log = logging.getLogger(__name__)

CLOSE_TOO_MANY_CONNECTIONS = 4429
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


async def websocket_endpoint(websocket: WebSocket) -> None:
    app = websocket.app.state.livebridge
    settings = app.settings
    metrics = app.metrics

    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings.origins):
        metrics.errors.labels("origin_not_allowed").inc()
        log.info("refused WebSocket from origin %r", websocket.headers.get("origin"))
        await websocket.close(code=p.CLOSE_FORBIDDEN)
        return

    offered = list(websocket.scope.get("subprotocols") or [])
    codec = p.choose_subprotocol(offered)
    if codec is None:
        await websocket.accept()
        await _refuse(websocket, app, p.JSON, p.CLOSE_BAD_REQUEST, "unsupported_subprotocol",
                      f"offer one of {', '.join(p.SUBPROTOCOLS)}")
        return
    await websocket.accept(subprotocol=codec if offered else None)

    token = _token(websocket)
    try:
        if not token:
            raise AuthError("no token: connect to /ws?token=... (see POST /api/token)")
        user = app.tokens.verify(token)
    except AuthError as exc:
        await _refuse(websocket, app, codec, p.CLOSE_UNAUTHORIZED, "unauthorized", str(exc))
        return

    if app.connections_of(user.id) >= settings.max_connections_per_user:
        await _refuse(websocket, app, codec, CLOSE_TOO_MANY_CONNECTIONS, "too_many_connections",
                      f"at most {settings.max_connections_per_user} connections per user")
        return

    session = _new_session(websocket, app, user, codec)
    forget_handshake(websocket)
    app.add_session(session)
    try:
        session.send(session.welcome())
        await _read_frames(websocket, session)
    finally:
        app.remove_session(session)
        await session.close()


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


def _new_session(websocket: WebSocket, app: Any, user, codec: str) -> Session:
    settings = app.settings
    raw = websocket.scope.get("extensions", {}).get("livebridge.raw")
    sink = DirectSink(raw) if raw is not None else AsgiSink(websocket.send)

    def overflow() -> None:
        app.metrics.slow_consumers.inc()
        app.metrics.errors.labels("slow_consumer").inc()
        log.info("closing %s: outbound queue overflowed", user.id)
        sink.abort(p.CLOSE_SLOW_CONSUMER, "slow consumer: outbound queue overflowed")

    outbound = Outbound(sink, max_messages=settings.outbound_max_messages,
                        max_bytes=settings.outbound_max_bytes, on_overflow=overflow,
                        flusher=app.flusher)
    if isinstance(sink, DirectSink):
        sink.on_writable(outbound.flush)
    return Session(user=user, codec=codec, chat=app.chat, hub=app.hub, settings=settings,
                   outbound=outbound, metrics=app.metrics, node_id=app.node_id,
                   translation_status=app.translation_status)


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


async def _refuse(websocket: WebSocket, app: Any, codec: str, close_code: int, code: str, message: str) -> None:
    app.metrics.errors.labels(code).inc()
    payload = p.encode(p.error_frame(code, message), codec)
    try:
        if isinstance(payload, str):
            await websocket.send_text(payload)
        else:
            await websocket.send_bytes(payload)
        await websocket.close(code=close_code, reason=message[:120])
    except (WebSocketDisconnect, RuntimeError):
        pass
