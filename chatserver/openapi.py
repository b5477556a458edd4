"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER = [{"bearer": []}]


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: int, description: str, schema: dict, *errors: int) -> dict:
    out = {str(ok): {"description": description, **_json(schema)}}
    for status in errors:
        out[str(status)] = {"description": "error", **_json(_ERROR)}
    return out


_ROOM_PARAM = {"name": "room", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}}
_OBJ = {"type": "object"}

OPENAPI: dict = {
    "openapi": "3.1.0",
    "info": {"title": "LiveBridge", "version": "1.0",
             "description": "HTTP API of a LiveBridge node. The live protocol is WebSocket /ws (docs/protocol.md)."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "retry_after": {"type": "number"}}}}},
            "Room": {"type": "object", "required": ["name", "title"], "properties": {
                "name": {"type": "string"}, "title": {"type": "string"}, "created_at": {"type": "integer"},
                "owner": {"type": ["object", "null"]}, "members": {}}},
            "User": {"type": "object", "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "lang": {"enum": ["en", "zh"]},
                "kind": {"enum": ["guest", "member"]}}},
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "Readiness: engine (per-shard state), translation, "
                                        "connections; 200 ok or partial, 503 degraded",
                             "responses": _responses(200, "ready", _OBJ, 503)}},
        "/livez": {"get": {"summary": "Liveness: 200 while the process answers",
                           "responses": _responses(200, "alive", _OBJ)}},
        "/metrics": {"get": {"summary": "Prometheus metrics",
                             "responses": {"200": {"description": "text exposition format"}}}},
        "/api/token": {"post": {
            "summary": "A guest token for a display name and language",
            "requestBody": _json({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 32},
                "lang": {"enum": ["en", "zh"]}}}),
            "responses": _responses(201, "token", {"type": "object", "properties": {
                "token": {"type": "string"}, "user": {"$ref": "#/components/schemas/User"},
                "expires_at": {"type": "integer"}}}, 400, 403, 413, 422)}},
        "/api/rooms": {
            "get": {"summary": "Rooms with their member counts",
                    "responses": _responses(200, "rooms", {"type": "object", "properties": {
                        "rooms": {"type": "array", "items": {"$ref": "#/components/schemas/Room"}}}})},
            "post": {"summary": "Create a room; the caller becomes its owner", "security": _BEARER,
                     "requestBody": _json({"type": "object", "required": ["name"], "properties": {
                         "name": {"type": "string"}, "title": {"type": "string", "maxLength": 100}}}),
                     "responses": _responses(201, "created", {"$ref": "#/components/schemas/Room"},
                                             400, 401, 409, 422)}},
        "/api/rooms/{room}": {"get": {
            "summary": "Room info: members, offset, settings", "parameters": [_ROOM_PARAM],
            "responses": _responses(200, "room", {"$ref": "#/components/schemas/Room"}, 404, 422)}},
        "/api/rooms/{room}/messages": {"get": {
            "summary": "History, newest page first; page back with before=<oldest offset>",
            "parameters": [_ROOM_PARAM,
                           {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
            "responses": _responses(200, "events", {"type": "object", "properties": {
                "events": {"type": "array"}, "offset": {"type": "integer"}, "epoch": {"type": "string"},
                "has_more": {"type": "boolean"}}}, 404, 422)}},
        "/api/rooms/{room}/moderation": {"post": {
            "summary": "A host action (docs/moderation.md)", "security": _BEARER, "parameters": [_ROOM_PARAM],
            "requestBody": _json({"type": "object", "required": ["action"], "properties": {
                "action": {"type": "string"}, "params": _OBJ}}),
            "responses": _responses(200, "done", _OBJ, 400, 401, 403, 404, 422)}},
        "/api/rooms/{room}/review": {"get": {
            "summary": "Held and reported messages (moderators)", "security": _BEARER,
            "parameters": [_ROOM_PARAM], "responses": _responses(200, "queue", _OBJ, 401, 403)}},
        "/api/rooms/{room}/review/{item}/{decision}": {"post": {
            "summary": "Approve (publish) or reject a queued item", "security": _BEARER,
            "parameters": [_ROOM_PARAM,
                           {"name": "item", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "decision", "in": "path", "required": True, "schema": {"enum": ["approve", "reject"]}}],
            "responses": _responses(200, "decided", _OBJ, 401, 403, 404)}},
        "/api/rooms/{room}/audit": {"get": {
            "summary": "Audit log (moderators)", "security": _BEARER, "parameters": [_ROOM_PARAM],
            "responses": _responses(200, "entries", _OBJ, 401, 403)}},
        "/api/rooms/{room}/reports": {"post": {
            "summary": "Report a message to the room's moderators", "security": _BEARER,
            "parameters": [_ROOM_PARAM],
            "requestBody": _json({"type": "object", "required": ["offset"], "properties": {
                "offset": {"type": "integer", "minimum": 1}, "reason": {"type": "string", "maxLength": 500}}}),
            "responses": _responses(201, "reported", _OBJ, 401, 404, 422)}},
    },
}
