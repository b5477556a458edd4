"""The OpenAPI description of the admin routes (:mod:`chatserver.admin_api`), merged into
/openapi.json by :mod:`chatserver.openapi`.

Every admin route answers 401 without a valid token and 403 for a token without admin rights
(the ``admin`` claim, or an id in ``--admin-ids``). tests/server/test_openapi_fuzz_admin.py
runs schemathesis on these paths with an admin token.
"""

from __future__ import annotations

from typing import Any

from chatserver.admin import MAX_BAN_SECONDS, ROOMS_LIMIT_MAX
from chatserver.protocol import ROOM_NAME
from moderation.model import MAX_REASON
from moderation.terms import ACTIONS as TERM_ACTIONS, MAX_TERM_CHARS

_ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER = [{"bearer": []}]
_OBJ = {"type": "object"}
_STR = {"type": "string"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_ROOM = {"type": "string", "pattern": ROOM_NAME.pattern, "minLength": 1, "maxLength": 64}
_USER_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S",
            "description": "a user id (the token's sub)"}
_REASON = {"type": ["string", "null"], "description": f"optional; kept to its first {MAX_REASON} characters"}
_TERM = {"type": "string", "minLength": 1, "maxLength": MAX_TERM_CHARS, "pattern": "[^ *]",
         "description": "a blocked-term pattern (docs/moderation.md); it must keep a letter or CJK "
                        "character after normalization, else 422 invalid"}

_MEANINGS = {
    400: "bad_json: the body is not JSON, or not a JSON object",
    401: "unauthorized: no 'Authorization: Bearer <token>', or the token is invalid or expired",
    403: "forbidden: the token is valid but not an admin's (no admin claim, not in --admin-ids)",
    404: "room_not_found: no such room",
    413: "too_large: the body is larger than 65536 bytes",
    422: "invalid_parameter (or invalid_room): a parameter or field is refused",
    503: "the engine cannot answer now (unavailable, engine_error); retry later",
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _op(op_id: str, summary: str, ok: int, schema: dict, *errors: int, body: dict | None = None,
        parameters: list | None = None, meanings: dict[int, str] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): {"description": "done", **_json(schema)}}
    for status in (401, 403, *errors):
        responses[str(status)] = {"description": (meanings or {}).get(status) or _MEANINGS[status], **_json(_ERROR)}
    out: dict[str, Any] = {"operationId": op_id, "security": _BEARER, "summary": summary, "responses": responses}
    if body is not None:
        out["requestBody"] = {"required": True, **_json(body), "description": "a JSON object of at most 65536 bytes"}
    if parameters:
        out["parameters"] = parameters
    return out


def _obj(required: list[str], **properties: Any) -> dict:
    return {"type": "object", "required": required, "properties": properties}


_ROOM_PARAM = {"name": "room", "in": "path", "required": True, "schema": _ROOM}
_EVERYWHERE = {"nodes": {"type": "object", "additionalProperties": _OBJ,
                         "description": "each node's answer, by node id"},
               "nodes_missing": {"type": "array", "items": _STR,
                                 "description": "live nodes that did not answer within 1.5 s"}}
_NODE = _obj(["id", "version", "uptime_s", "connections", "rooms", "engine", "translation", "figures"],
             id=_STR, version=_STR, started_at={"type": "number"}, uptime_s={"type": "number"},
             connections={"type": "integer"}, rooms={"type": "integer"}, engine=_OBJ, store=_OBJ,
             translation=_OBJ, figures=_OBJ, top_rooms={"type": "array", "items": _OBJ},
             age_s={"type": "number", "description": "seconds since the node's last heartbeat"})
_ROOM_ROW = _obj(["name", "members", "messages_per_s", "deliveries_per_s", "translation_failures_per_s",
                  "held", "closed"],
                 name=_ROOM, members={"type": "integer"}, messages_per_s={"type": "number"},
                 deliveries_per_s={"type": "number"}, translation_failures_per_s={"type": "number"},
                 translation_p50_s=_NUM_OR_NULL, translation_p99_s=_NUM_OR_NULL, held={"type": "integer"},
                 closed={"type": "boolean"}, settings=_OBJ, nodes={"type": "array"})
_ROOM_ACTION_404 = {404: "room_not_found: no such room", 422: "invalid_room"}
_BAN = _obj(["user_id", "reason", "by", "time", "expires_at"], user_id=_STR, reason=_STR, by=_STR,
            by_name=_STR, time={"type": "number"}, expires_at=_NUM_OR_NULL)


def _room_action(op_id: str, summary: str, result: dict, body: dict | None = None, *extra: int) -> dict:
    return {"post": _op(op_id, summary, 200, result, 404, 422, 503, *extra, body=body, parameters=[_ROOM_PARAM],
                        meanings=_ROOM_ACTION_404)}


ADMIN_PATHS: dict[str, Any] = {
    "/api/admin/nodes": {"get": _op(
        "adminNodes", "Every live node's heartbeat record: uptime, connections, rooms, engine and store "
        "health, translation (mode, backend, queue depth, workers alive), figures, version", 200,
        _obj(["node", "nodes"], node=_STR, nodes={"type": "array", "items": _NODE}), 503)},
    "/api/admin/rooms": {"get": _op(
        "adminRooms", "Rooms by activity (deliveries/s + messages/s, then members), across nodes; paged", 200,
        _obj(["rooms", "total", "page", "limit", "has_more"], rooms={"type": "array", "items": _ROOM_ROW},
             total={"type": "integer"}, page={"type": "integer"}, limit={"type": "integer"},
             has_more={"type": "boolean"}),
        422, 503, parameters=[
            {"name": "query", "in": "query", "schema": {"type": "string", "maxLength": 64},
             "description": "part of a room's name or title; searches every room, not only active ones"},
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "default 1"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
             "description": f"default 50; above {ROOMS_LIMIT_MAX} it is lowered to {ROOMS_LIMIT_MAX}"}],
        meanings={422: "invalid_parameter: page or limit not an integer or below 1, query too long"})},
    "/api/admin/rooms/{room}/close": _room_action(
        "adminCloseRoom", "Close a room: locked, its members removed on every node, joins refused "
        "(room_closed) until reopened", _obj(["room", "closed", "left"], room=_ROOM, closed={"const": True},
                                              left={"type": "integer"}, **_EVERYWHERE),
        _obj([], reason=_REASON), 400, 413),
    "/api/admin/rooms/{room}/reopen": _room_action(
        "adminReopenRoom", "Reopen a closed room (and unlock it)", _obj(["room", "closed"], room=_ROOM,
                                                                        closed={"const": False})),
    "/api/admin/rooms/{room}/lock": _room_action(
        "adminLockRoom", "Lock a room: only moderators can post", _obj(["room", "locked"], room=_ROOM,
                                                                      locked={"const": True})),
    "/api/admin/rooms/{room}/unlock": _room_action(
        "adminUnlockRoom", "Unlock a room", _obj(["room", "locked"], room=_ROOM, locked={"const": False})),
    "/api/admin/users": {"get": _op(
        "adminUsers", "Find users by id or part of their name: their connections and rooms on every node", 200,
        _obj(["query", "users", "nodes_answered", "nodes_missing"], query=_STR,
             users={"type": "array", "items": _obj(["id", "name", "connections", "rooms"], id=_STR, name=_STR,
                                                    kind=_STR, connections={"type": "array", "items": _OBJ},
                                                    rooms={"type": "array", "items": _STR})},
             nodes_answered={"type": "array", "items": _STR}, nodes_missing={"type": "array", "items": _STR}),
        422, 503, parameters=[{"name": "query", "in": "query", "required": True,
                               "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"},
                               "description": "a user id, or part of a display name (at most 50 "
                                              "connections per node are listed)"}],
        meanings={422: "invalid_parameter: no query, or one longer than 64 characters"})},
    "/api/admin/series": {"get": _op(
        "adminSeries", "The cluster's recent figures for the live charts: one point per 5 s, the last 15 "
        "minutes (messages/s, deliveries/s, connections, translation p50/p99)", 200,
        _obj(["node", "step_s", "points"], node=_STR, step_s={"type": "number"},
             points={"type": "array", "items": _OBJ}), 422,
        parameters=[{"name": "since", "in": "query", "schema": {"type": "number"},
                     "description": "only points after this time (Unix seconds)"}],
        meanings={422: "invalid_parameter: since is not a number"})},
    "/api/admin/audit": {"get": _op(
        "adminAudit", "The global audit log, newest first: admin actions and global term changes", 200,
        _obj(["entries"], entries={"type": "array", "items": _OBJ}), 422, 503,
        parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": "default 100; above 500 it is lowered to 500"}],
        meanings={422: "invalid_parameter: limit not an integer, or below 1"})},
    "/api/admin/disconnect": {"post": _op(
        "adminDisconnect", "Close every connection of a user on every node (close code 4403); they may "
        "connect again (ban them to stop that)", 200,
        _obj(["user_id", "closed"], user_id=_STR, closed={"type": "integer"}, **_EVERYWHERE),
        400, 413, 422, 503, body=_obj(["user_id"], user_id=_USER_ID, reason=_REASON))},
    "/api/admin/bans": {
        "get": _op("adminBans", "Global bans in force, newest first", 200,
                   _obj(["bans"], bans={"type": "array", "items": _BAN}), 503),
        "post": _op("adminBan", "Ban a user from the whole server (every room, every node) and close their "
                    "connections; with expires_in, for that long", 201,
                    {"allOf": [_BAN, _obj(["closed"], closed={"type": "integer"}, **_EVERYWHERE)]},
                    400, 413, 422, 503,
                    body=_obj(["user_id"], user_id=_USER_ID, reason=_REASON, expires_in={
                        "anyOf": [{"type": "number", "minimum": 1, "maximum": MAX_BAN_SECONDS}, {"type": "null"}],
                        "description": "seconds; null or left out: until lifted"}),
                    meanings={422: "invalid_parameter: user_id or expires_in refused, or 10000 bans already"})},
    "/api/admin/bans/{user_id}": {"delete": _op(
        "adminUnban", "Lift a global ban", 200, _obj(["user_id", "lifted"], user_id=_STR,
                                                     lifted={"type": "boolean"}), 422, 503,
        parameters=[{"name": "user_id", "in": "path", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
        meanings={422: "invalid_parameter: user_id longer than 64 characters"})},
    "/api/admin/terms": {
        "get": _op("adminTerms", "Global blocked terms (moderation's global scope)", 200,
                   _obj(["terms"], terms={"type": "array", "items": _OBJ}), 503),
        "post": _op("adminAddTerm", "Add a global blocked term (applies in every room)", 201, _OBJ,
                    400, 413, 422, 503,
                    body=_obj(["term"], term=_TERM, action={"enum": [*TERM_ACTIONS, None], "description": "default (or null) block"},
                              lang={"description": "en or zh; guessed from the term when left out"}),
                    meanings={422: "invalid_parameter or invalid: the term is refused, or the global "
                                   "scope is full"})},
    "/api/admin/terms/remove": {"post": _op(
        "adminRemoveTerm", "Remove a global blocked term (removed: false when there was none)", 200,
        _obj(["removed"], removed={"type": "boolean"}), 400, 413, 422, 503, body=_obj(["term"], term=_TERM),
        meanings={422: "invalid_parameter or invalid: the term is refused"})},
}

# The ban just made can be lifted (for clients, and for schemathesis's stateful phase).
ADMIN_PATHS["/api/admin/bans"]["post"]["responses"]["201"]["links"] = {
    "Unban": {"operationId": "adminUnban", "parameters": {"user_id": "$response.body#/user_id"}}}
