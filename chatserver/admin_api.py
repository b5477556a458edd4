"""The admin HTTP API, ``/api/admin/...``: operators' routes over :class:`chatserver.admin.AdminService`.

Every route wants ``Authorization: Bearer <admin token>``: no token or a bad one is 401
``unauthorized``, a valid token without admin rights 403 ``forbidden``, each with a message
saying what to send instead. Routes and bodies are described in /openapi.json
(:mod:`chatserver.openapi_admin`). The console at ``/admin`` serves the page; this module
only answers JSON.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import errors as E
from chatserver.admin import MAX_BAN_SECONDS, ROOMS_LIMIT_MAX
from chatserver.auth import User
from chatserver.errors import ChatError
from moderation.terms import ACTIONS as TERM_ACTIONS
from chatserver.http_api import _int_param, _json_body, _room_name, _user

USER_ID_MAX = 64
QUERY_MAX = 64
AUDIT_LIMIT_MAX = 500


def _admin(request: Request) -> tuple[Any, User]:
    """The admin service and the calling admin, or 401/403."""
    user = _user(request)
    service = request.app.state.bridge.admin
    service.require(user)
    return service, user


def _text(body: dict[str, Any], name: str, *, required: bool, max_chars: int) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ChatError(E.INVALID_PARAMETER, f"{name} must be a non-empty string", status=422)
    if required and len(value) > max_chars:
        raise ChatError(E.INVALID_PARAMETER, f"{name} must be at most {max_chars} characters", status=422)
    return value


def _user_id(body: dict[str, Any]) -> str:
    return _text(body, "user_id", required=True, max_chars=USER_ID_MAX)


def _reason(body: dict[str, Any]) -> str:
    value = body.get("reason")
    if value is not None and not isinstance(value, str):
        raise ChatError(E.INVALID_PARAMETER, "reason must be a string", status=422)
    return value or ""


def _query(request: Request, *, required: bool) -> str:
    query = request.query_params.get("query", "")
    if required and not query.strip():
        raise ChatError(E.INVALID_PARAMETER, "give ?query= (a user id, or part of a name)", status=422)
    if len(query) > QUERY_MAX:
        raise ChatError(E.INVALID_PARAMETER, f"query must be at most {QUERY_MAX} characters", status=422)
    return query


async def nodes(request: Request) -> Response:
    service, _ = _admin(request)
    return JSONResponse({"node": service.node_id, "nodes": await service.nodes()})


async def rooms(request: Request) -> Response:
    service, _ = _admin(request)
    query = _query(request, required=False)
    page = _int_param(request, "page", minimum=1) or 1
    limit = _int_param(request, "limit", minimum=1, maximum=ROOMS_LIMIT_MAX) or 50
    return JSONResponse(await service.rooms(query=query, page=min(page, 10_000), limit=limit))


async def users(request: Request) -> Response:
    service, _ = _admin(request)
    return JSONResponse(await service.users(_query(request, required=True)))


async def series(request: Request) -> Response:
    service, _ = _admin(request)
    raw = request.query_params.get("since")
    since = None
    if raw is not None:
        try:
            since = float(raw)
        except ValueError:
            raise ChatError(E.INVALID_PARAMETER, "since must be a number (seconds since the epoch)",
                            status=422) from None
    return JSONResponse({"node": service.node_id, "step_s": service.series.step,
                         "points": service.series.since(since)})


async def audit(request: Request) -> Response:
    service, _ = _admin(request)
    limit = _int_param(request, "limit", minimum=1, maximum=AUDIT_LIMIT_MAX) or 100
    return JSONResponse({"entries": await service.audit(limit)})


async def disconnect(request: Request) -> Response:
    service, user = _admin(request)
    body = await _json_body(request)
    return JSONResponse(await service.disconnect(user, _user_id(body), _reason(body)))


async def list_bans(request: Request) -> Response:
    service, _ = _admin(request)
    return JSONResponse({"bans": await service.bans()})


async def ban(request: Request) -> Response:
    service, user = _admin(request)
    body = await _json_body(request)
    target, reason = _user_id(body), _reason(body)
    expires_in = body.get("expires_in")
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) \
                or not math.isfinite(expires_in) or not 1 <= expires_in <= MAX_BAN_SECONDS:
            raise ChatError(E.INVALID_PARAMETER,
                            f"expires_in must be seconds, 1-{MAX_BAN_SECONDS}, or null (no expiry)", status=422)
        expires_in = float(expires_in)
    return JSONResponse(await service.ban(user, target, reason, expires_in), status_code=201)


async def unban(request: Request) -> Response:
    service, user = _admin(request)
    target = request.path_params["user_id"]
    if not 0 < len(target) <= USER_ID_MAX:
        raise ChatError(E.INVALID_PARAMETER, f"user_id must be 1-{USER_ID_MAX} characters", status=422)
    return JSONResponse(await service.unban(user, target))


async def close_room(request: Request) -> Response:
    service, user = _admin(request)
    room = _room_name(request)
    body = await _json_body(request)
    return JSONResponse(await service.close_room(user, room, _reason(body)))


async def reopen_room(request: Request) -> Response:
    service, user = _admin(request)
    return JSONResponse(await service.reopen_room(user, _room_name(request)))


async def lock_room(request: Request) -> Response:
    service, user = _admin(request)
    return JSONResponse(await service.lock_room(user, _room_name(request), True))


async def unlock_room(request: Request) -> Response:
    service, user = _admin(request)
    return JSONResponse(await service.lock_room(user, _room_name(request), False))


async def list_terms(request: Request) -> Response:
    service, user = _admin(request)
    return JSONResponse(await service.terms(user, "list_terms", {}))


async def _term_body(request: Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body.get("term"), str):
        raise ChatError(E.INVALID_PARAMETER, "term must be a string", status=422)
    return body


async def remove_term(request: Request) -> Response:
    service, user = _admin(request)
    body = await _term_body(request)
    try:
        return JSONResponse(await service.terms(user, "remove_term", {"term": body["term"]}))
    except ChatError as exc:
        if exc.code != E.NOT_FOUND:
            raise
        return JSONResponse({"term": body["term"], "removed": False})  # removing is idempotent


async def add_term(request: Request) -> Response:
    service, user = _admin(request)
    body = await _term_body(request)
    term = body["term"]
    params: dict[str, Any] = {"term": term}
    if body.get("action") is not None:
        if body["action"] not in TERM_ACTIONS:
            raise ChatError(E.INVALID_PARAMETER, f"action must be one of {', '.join(TERM_ACTIONS)}", status=422)
        params["action"] = body["action"]
    if body.get("lang") is not None:
        params["lang"] = body["lang"]
    return JSONResponse(await service.terms(user, "add_term", params), status_code=201)


def routes() -> list[Route]:
    return [
        Route("/api/admin/nodes", nodes, methods=["GET"]),
        Route("/api/admin/rooms", rooms, methods=["GET"]),
        Route("/api/admin/rooms/{room}/close", close_room, methods=["POST"]),
        Route("/api/admin/rooms/{room}/reopen", reopen_room, methods=["POST"]),
        Route("/api/admin/rooms/{room}/lock", lock_room, methods=["POST"]),
        Route("/api/admin/rooms/{room}/unlock", unlock_room, methods=["POST"]),
        Route("/api/admin/users", users, methods=["GET"]),
        Route("/api/admin/series", series, methods=["GET"]),
        Route("/api/admin/audit", audit, methods=["GET"]),
        Route("/api/admin/disconnect", disconnect, methods=["POST"]),
        Route("/api/admin/bans", list_bans, methods=["GET"]),
        Route("/api/admin/bans", ban, methods=["POST"]),
        Route("/api/admin/bans/{user_id}", unban, methods=["DELETE"]),
        Route("/api/admin/terms", list_terms, methods=["GET"]),
        Route("/api/admin/terms", add_term, methods=["POST"]),
        Route("/api/admin/terms/remove", remove_term, methods=["POST"]),
    ]
