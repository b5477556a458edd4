"""The HTTP API: JSON in and out, errors as ``{"error": {"code", "message"}}`` with a 4xx.

Routes and their schemas are described by :data:`OPENAPI` at ``/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver.auth import AuthError, User, clean_lang, clean_name
from chatserver.chat import ChatError
from chatserver.openapi import OPENAPI
from chatserver.protocol import ROOM_NAME
from rooms.engine import EngineError

MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def exception_handlers() -> dict:
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message, **exc.extra)

    async def chat_error(request: Request, exc: ChatError) -> Response:
        extra = {"retry_after": exc.retry_after} if exc.retry_after is not None else {}
        return _error(exc.status, exc.code, exc.message, **extra)

    async def engine_error(request: Request, exc: EngineError) -> Response:
        return _error(503, exc.code, f"the server cannot do that right now: {exc}")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    return {ApiError: api_error, ChatError: chat_error, EngineError: engine_error,
            HTTPException: http_error}


def _bridge(request: Request):
    return request.app.state.livebridge


async def _json_body(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise ApiError(413, "too_large", f"request body is larger than {MAX_BODY} bytes")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "too_large", f"request body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "bad_json", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    return data


def _user(request: Request, *, required: bool = True) -> User | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        if required:
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' (see POST /api/token)")
        return None
    try:
        return _bridge(request).tokens.verify(header[7:].strip())
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None


def _room_name(request: Request) -> str:
    room = request.path_params["room"]
    if not ROOM_NAME.match(room):
        raise ApiError(422, "invalid_room", "room name must be 1-64 characters of a-z, 0-9, '-' or '_'")
    return room


def _int_param(request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer") from None
    if value < minimum:
        raise ApiError(422, "invalid_parameter", f"{name} must be at least {minimum}")
    return min(value, maximum) if maximum is not None else value


async def healthz(request: Request) -> Response:
    bridge = _bridge(request)
    engine = bridge.engine.health()
    body = {"status": engine.get("status", "ok"), "node": bridge.node_id, "engine": engine,
            "translation": bridge.translation_status(), "connections": len(bridge.sessions)}
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


async def metrics(request: Request) -> Response:
    data, content_type = _bridge(request).metrics.render()
    return Response(data, media_type=content_type)


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


async def issue_token(request: Request) -> Response:
    bridge = _bridge(request)
    if not bridge.settings.guests_allowed:
        raise ApiError(403, "guests_disabled", "guest tokens are off on this server (see --allow-guests)")
    body = await _json_body(request)
    try:
        name, lang = clean_name(body.get("name")), clean_lang(body.get("lang", "en"))
    except ValueError as exc:
        raise ApiError(422, "invalid_parameter", str(exc)) from None
    token, user, expires = bridge.tokens.issue(name=name, lang=lang, kind="guest")
    return JSONResponse({"token": token, "user": {**user.public(), "kind": user.kind},
                         "expires_at": expires}, status_code=201)


async def list_rooms(request: Request) -> Response:
    return JSONResponse({"rooms": await _bridge(request).chat.list_rooms()})


async def create_room(request: Request) -> Response:
    user = _user(request)
    body = await _json_body(request)
    meta = await _bridge(request).chat.create_room(body.get("name"), title=body.get("title"), owner=user)
    return JSONResponse(meta, status_code=201)


async def room_info(request: Request) -> Response:
    bridge = _bridge(request)
    room = _room_name(request)
    meta = await bridge.chat.get_room(room)
    if meta is None:
        raise ApiError(404, "room_not_found", f"room {room!r} does not exist")
    position = await bridge.engine.broker.position(room)
    members = await bridge.engine.presence.members(room)
    unique = {m.user_id: m.public() for m in members}
    settings = await bridge.moderation.room_settings(room) if bridge.moderation else {}
    return JSONResponse({**meta, "members": list(unique.values()), "member_count": len(unique),
                         "offset": position.offset, "epoch": position.epoch, "settings": settings})


async def room_messages(request: Request) -> Response:
    bridge = _bridge(request)
    room = _room_name(request)
    if await bridge.chat.get_room(room) is None:
        raise ApiError(404, "room_not_found", f"room {room!r} does not exist")
    before = _int_param(request, "before", minimum=1)
    limit = _int_param(request, "limit", minimum=1, maximum=100) or 50
    return JSONResponse(await bridge.chat.history(room, before=before, limit=limit))


async def _acting(request: Request):
    """(user, room, gate, role) for a moderation route: the caller, and their role in the room."""
    user = _user(request)
    room = _room_name(request)
    gate = _bridge(request).moderation
    if gate is None:
        raise ApiError(501, "unavailable", "moderation is not enabled on this server")
    return user, room, gate, await gate.role_of(room, user)


async def moderate(request: Request) -> Response:
    user, room, gate, role = await _acting(request)
    body = await _json_body(request)
    action, params = body.get("action"), body.get("params") or {}
    if not isinstance(action, str) or not isinstance(params, dict):
        raise ApiError(422, "invalid_parameter", "body must be {\"action\": str, \"params\": object}")
    result = await gate.act(room, user, role, action, params)
    return JSONResponse({"room": room, "action": action, "result": result})


async def review_queue(request: Request) -> Response:
    user, room, gate, role = await _acting(request)
    return JSONResponse({"room": room, "items": await gate.review_queue(room, user, role)})


async def review_decide(request: Request) -> Response:
    user, room, gate, role = await _acting(request)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise ApiError(404, "not_found", "use /approve or /reject")
    result = await gate.decide(room, user, role, request.path_params["item"], decision, _bridge(request).chat)
    return JSONResponse({"room": room, "decision": decision, "result": result})


async def audit_log(request: Request) -> Response:
    user, room, gate, role = await _acting(request)
    limit = _int_param(request, "limit", minimum=1, maximum=500) or 100
    return JSONResponse({"room": room, "entries": await gate.audit_log(room, user, role, limit)})


async def report(request: Request) -> Response:
    user, room, gate, role = await _acting(request)
    body = await _json_body(request)
    offset = body.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
        raise ApiError(422, "invalid_parameter", "offset must be a positive integer")
    result = await gate.report(room, user, role, offset, str(body.get("reason") or "")[:500])
    return JSONResponse({"room": room, "result": result}, status_code=201)


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/token", issue_token, methods=["POST"]),
        Route("/api/rooms", list_rooms, methods=["GET"]),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/api/rooms/{room}", room_info, methods=["GET"]),
        Route("/api/rooms/{room}/messages", room_messages, methods=["GET"]),
        Route("/api/rooms/{room}/moderation", moderate, methods=["POST"]),
        Route("/api/rooms/{room}/review", review_queue, methods=["GET"]),
        Route("/api/rooms/{room}/review/{item}/{decision}", review_decide, methods=["POST"]),
        Route("/api/rooms/{room}/audit", audit_log, methods=["GET"]),
        Route("/api/rooms/{room}/reports", report, methods=["POST"]),
    ]
