"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json.

Built from the tables the server validates with, so the two cannot drift apart: room names
from :data:`chatserver.protocol.ROOM_NAME`, display names and languages from
:mod:`chatserver.auth`, host actions from :data:`moderation.actions.ACTIONS` (every name in
it must have a params schema below: :func:`build` fails otherwise), term actions from
:data:`moderation.terms.ACTIONS`, limit fields from :class:`moderation.ratelimit.Limits`.

Every route lists every status it can answer with, and every error body is
``{"error": {"code", "message"}}``. Where the server decides something JSON Schema cannot say
(a blocked term must keep a letter after normalization; ``remove_moderator`` needs a
moderator), the description says so and the server answers 422 ``invalid``.
tests/server/test_openapi_fuzz.py runs schemathesis against a live node with this description.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from chatserver.auth import NAME_MAX
from chatserver.openapi_admin import ADMIN_PATHS
from chatserver.room_catalog import TITLE_MAX
from chatserver.tickets import TICKET_BURST, TICKET_RATE, TICKET_TTL
from chatserver.protocol import LANGS, ROOM_NAME, Limits as ProtocolLimits
from moderation.actions import ACTIONS
from moderation.model import MAX_REASON, MAX_SLOW_MODE, MAX_TERMS, MAX_TIMEOUT
from moderation.ratelimit import MAX_BURST, MAX_RATE, MIN_RATE, Limits
from moderation.terms import ACTIONS as TERM_ACTIONS, MAX_TERM_CHARS

MAX_BODY = 64 * 1024  # chatserver.http_api.MAX_BODY (which imports this module)
ROOM_PAGE_MAX, ROOM_PAGE_DEFAULT = 100, 50  # chatserver.http_api's, likewise
HISTORY_LIMIT_MAX = ProtocolLimits().max_history_limit
HISTORY_LIMIT_DEFAULT = ProtocolLimits().default_history_limit
AUDIT_LIMIT_MAX = 500
AUDIT_LIMIT_DEFAULT = 100

_ERROR = {"$ref": "#/components/schemas/Error"}
_BEARER = [{"bearer": []}]
_PUBLIC: list = []
_OBJ = {"type": "object"}
_INT = {"type": "integer"}
_STR = {"type": "string"}

# JSON values Python reads as false: the server treats them as "not given" where it writes
# ``params.get(x) or default``.
_FALSY = [{"type": "null"}, {"const": False}, {"const": 0}, {"const": ""},
          {"type": "array", "maxItems": 0}, {"type": "object", "maxProperties": 0}]


def _or_falsy(schema: dict, description: str | None = None) -> dict:
    out: dict[str, Any] = {"anyOf": [schema, *_FALSY]}
    if description:
        out["description"] = description
    return out


# -- the tables the server validates with, as JSON Schema -----------------------------------

ROOM_NAME_SCHEMA = {"type": "string", "pattern": ROOM_NAME.pattern, "minLength": 1, "maxLength": 64,
                    "description": "1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"}

# chatserver.auth.clean_name: control and format characters (Unicode category C) are dropped,
# then surrounding whitespace; what is left must be 1..NAME_MAX characters.
_C = r"\p{C}"
_SPACE = r"\s"
_NAME_PATTERN = (f"^[{_C}{_SPACE}]*[^{_C}{_SPACE}]"
                 f"(?:(?:[{_C}]*[^{_C}]){{0,{NAME_MAX - 2}}}[{_C}]*[^{_C}{_SPACE}])?[{_C}{_SPACE}]*$")
NAME_SCHEMA = {"type": "string", "pattern": _NAME_PATTERN,
               "description": f"a display name: control and format characters are dropped and the rest "
                              f"trimmed; 1-{NAME_MAX} characters must be left"}
LANG_SCHEMA = {"enum": list(LANGS)}

_USER_ID = {"type": "string", "minLength": 1}
_REASON = _or_falsy({"type": "string"}, f"optional; kept to its first {MAX_REASON} characters")
_TERM = {"type": "string", "minLength": 1, "maxLength": MAX_TERM_CHARS, "pattern": "[^ *]",
         "description": "a blocked-term pattern (docs/moderation.md); it must keep a letter or CJK "
                        "character after normalization, else 422 invalid"}
_TERM_ENTRY = {"anyOf": [_TERM, {"type": "object", "required": ["term"], "properties": {
    "term": _TERM, "action": {"enum": list(TERM_ACTIONS)},
    "lang": {"description": "en or zh; guessed from the term when left out"}}}]}
_SCOPE = {"enum": ["room", "global"], "description": "default room; global needs an admin"}
_MESSAGE_REF = [
    {"required": ["offset"], "properties": {"offset": {"type": "integer", "minimum": 1}}},
    {"required": ["message_id"], "properties": {"offset": {"type": "null"},
                                                "message_id": {"type": "string", "minLength": 1}}},
]

# moderation.ratelimit.Limits.__post_init__, field by field (null puts a field back to the default).
_LIMIT_RULES: dict[str, dict] = {
    "user_rate": {"type": "number", "minimum": MIN_RATE, "maximum": MAX_RATE},
    "user_burst": {"type": "number", "minimum": 1, "maximum": MAX_BURST},
    "conn_rate": {"type": "number", "minimum": MIN_RATE, "maximum": MAX_RATE},
    "conn_burst": {"type": "number", "minimum": 1, "maximum": MAX_BURST},
    "flood_window": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
    "flood_max": {"type": "integer", "minimum": 0, "maximum": 20},
}
_LIMITS_OBJECT = {"type": "object", "additionalProperties": False,
                  "properties": {name: {"anyOf": [rule, {"type": "null"}]} for name, rule in _LIMIT_RULES.items()}}


def _params(properties: dict | None = None, required: tuple[str, ...] = (), **extra: Any) -> dict:
    out: dict[str, Any] = {"type": "object", "properties": dict(properties or {})}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


_USER = {"user_id": _USER_ID}
# The target's display name as the host's client knows it: kept in ban/timeout records and audit details.
_NAMED = {**_USER, "name": _or_falsy({"type": "string"}, "optional; the target's display name, kept to 64 characters")}
ACTION_PARAMS: dict[str, dict] = {
    "timeout": _params({**_NAMED, "seconds": {"type": "number", "minimum": 0.1, "maximum": MAX_TIMEOUT},
                        "reason": _REASON}, ("user_id", "seconds")),
    "untimeout": _params(_NAMED, ("user_id",)),
    "timeouts": _params(),
    "kick": _params({**_NAMED, "reason": _REASON}, ("user_id",)),
    "ban": _params({**_NAMED, "reason": _REASON, "address": {
        "type": ["boolean", "null"], "description": "true: also refuse joins from the address the user is "
        "connected from, for 24 h (docs/moderation.md); the result's address is it, masked"}}, ("user_id",)),
    "unban": _params({**_NAMED, "reason": _REASON}, ("user_id",)),
    "bans": _params(),
    "slow_mode": _params({"seconds": {"type": "number", "minimum": 0, "maximum": MAX_SLOW_MODE,
                                      "description": "0 turns slow mode off"}}, ("seconds",)),
    "lock": _params(),
    "unlock": _params(),
    "delete": _params({"reason": _REASON}, anyOf=_MESSAGE_REF),
    "clear": _params({"reason": _REASON}),
    "pin": _params(anyOf=_MESSAGE_REF),
    "unpin": _params(),
    "add_moderator": _params(_USER, ("user_id",)),
    "remove_moderator": _params(_USER, ("user_id",),
                                description="422 invalid when the user is not a moderator"),
    "moderators": _params(),
    "add_term": _params({"term": _TERM, "action": _or_falsy({"enum": list(TERM_ACTIONS)}, "default block"),
                         "lang": {"description": "en or zh; guessed from the term when left out"},
                         "scope": _SCOPE}, ("term",),
                        description=f"422 invalid when the scope has {MAX_TERMS} terms already"),
    "remove_term": _params({"term": _TERM, "scope": _SCOPE}, ("term",)),
    "set_terms": _params({"terms": {"type": "array", "maxItems": MAX_TERMS, "items": _TERM_ENTRY},
                          "scope": _SCOPE}, ("terms",)),
    "list_terms": _params({"scope": {"description": "\"global\" lists the global terms; anything else the room's"}}),
    "set_limits": {"anyOf": [_params({"limits": _LIMITS_OBJECT}, ("limits",)),
                             {**_LIMITS_OBJECT, "not": {"required": ["limits"]}}],
                   "description": "the Limits fields to change, flat or under \"limits\"; null resets one"},
}


def _accepts_empty(schema: dict) -> bool:
    """Whether ``{}`` is valid params (then the server's ``params or {}`` makes falsy params valid too)."""
    if schema.get("required"):
        return False
    return all(any(_accepts_empty(branch) for branch in schema[key]) for key in ("anyOf", "oneOf") if key in schema)


def moderation_body() -> dict:
    """One variant per host action: ``{"action": name, "params": {...}}``."""
    missing = set(ACTIONS) - set(ACTION_PARAMS)
    if missing:
        raise RuntimeError(f"host actions without a params schema in chatserver/openapi.py: {sorted(missing)}")
    variants = []
    for name in ACTIONS:
        params = ACTION_PARAMS[name]
        variant: dict[str, Any] = {"type": "object", "required": ["action"], "properties": {
            "action": {"const": name}}}
        if _accepts_empty(params):
            variant["properties"]["params"] = _or_falsy(params, "may be left out")
        else:
            variant["properties"]["params"] = params
            variant["required"].append("params")
        variants.append(variant)
    return {"oneOf": variants, "description": "a host action and its params (docs/moderation.md, \"Host actions\")"}


# -- responses -------------------------------------------------------------------------------

_ERROR_MEANINGS = {
    400: "bad_json: the body is not JSON, or not a JSON object",
    401: "unauthorized: no 'Authorization: Bearer <token>', or the token is invalid or expired",
    403: "forbidden (the caller's role may not do this) or guests_disabled",
    404: "not found (room_not_found, or moderation's not_found)",
    409: "room_exists",
    413: f"too_large: the body is larger than {MAX_BODY} bytes",
    422: "a parameter or field is refused (invalid_room, invalid_parameter, invalid, invalid_frame)",
    429: "rate_limited",
    503: "the engine cannot answer now (unavailable, engine_error); retry later",
}


_BANNED = "banned: the user is under a global ban (POST /api/admin/bans); the message gives its reason"


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: int, description: str, schema: dict, *errors: int, links: dict | None = None,
               error_meanings: dict[int, str] | None = None) -> dict:
    out: dict[str, Any] = {str(ok): {"description": description, **_json(schema)}}
    if links:
        out[str(ok)]["links"] = links
    if 401 in errors and 403 not in errors:  # a user's token: a global ban refuses it (403 banned)
        errors = tuple(sorted((*errors, 403)))
    for status in errors:
        meaning = (error_meanings or {}).get(status) or _ERROR_MEANINGS[status]
        if status == 403 and 401 in errors:
            meaning += f"; or {_BANNED}"
        out[str(status)] = {"description": meaning, **_json(_ERROR)}
    return out


def _body(schema: dict) -> dict:
    return {"required": True, **_json(schema),
            "description": f"a JSON object of at most {MAX_BODY} bytes"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_ROOM_PARAM = {"name": "room", "in": "path", "required": True, "schema": ROOM_NAME_SCHEMA}
_ROOM_LINK = {"room": "$response.body#/name"}
# Routes of a room, from the room POST /api/rooms has just created (for clients and stateful fuzzers).
_ROOM_LINKS = {
    "GetRoom": {"operationId": "getRoom", "parameters": _ROOM_LINK},
    "GetMessages": {"operationId": "getMessages", "parameters": _ROOM_LINK},
    "Moderate": {"operationId": "moderate", "parameters": _ROOM_LINK},
    "GetReview": {"operationId": "getReview", "parameters": _ROOM_LINK},
    "GetAudit": {"operationId": "getAudit", "parameters": _ROOM_LINK},
    "Report": {"operationId": "report", "parameters": _ROOM_LINK},
}
_REVIEW_LINKS = {
    decision.capitalize(): {"operationId": "decide", "parameters": {
        "room": "$request.path.room", "item": "$response.body#/result/id", "decision": decision}}
    for decision in ("approve", "reject")
}

_SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": _STR, "message": _STR,
                       "retry_after": {"type": "number", "description": "seconds until trying again may work"}}}}},
    "PublicUser": {"type": "object", "required": ["id", "name", "lang"], "properties": {
        "id": _STR, "name": _STR, "lang": LANG_SCHEMA}},
    "User": {"type": "object", "required": ["id", "name", "lang", "kind"], "properties": {
        "id": _STR, "name": _STR, "lang": LANG_SCHEMA, "kind": {"enum": ["guest", "member"]}}},
    "Member": {"type": "object", "required": ["id", "name", "lang", "role"], "properties": {
        "id": _STR, "name": _STR, "lang": LANG_SCHEMA, "role": _STR}},
    "Room": {"type": "object", "required": ["name", "title", "created_at", "owner"], "properties": {
        "name": ROOM_NAME_SCHEMA, "title": _STR, "created_at": {**_INT, "description": "ms since the Unix epoch"},
        "owner": {"anyOf": [_ref("PublicUser"), {"type": "null"}]}}},
    "Health": {"type": "object", "required": ["status", "node", "engine", "translation", "connections"],
               "properties": {"status": {"enum": ["ok", "partial", "degraded"]}, "node": _STR,
                              "engine": _OBJ, "translation": _OBJ, "connections": _INT}},
}

_GUEST_403 = {403: "guests_disabled: guest tokens are off on this server"}
_HISTORY_422 = {422: "invalid_room, or invalid_parameter (before or limit not an integer, or below 1)"}


def build() -> dict:
    """The description, as served."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "LiveBridge", "version": "1.0",
                 "description": "HTTP API of a LiveBridge node (docs/protocol.md, \"HTTP API\"; moderation "
                                "routes: docs/moderation.md). The live protocol is WebSocket /ws. Any other "
                                "method on a path answers 405 method_not_allowed with an Allow header."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": "a guest token from POST /api/token or a member "
                                                          "token from `livebridge token`"}},
            "schemas": _SCHEMAS,
        },
        "paths": {
            "/healthz": {"get": {
                "operationId": "healthz", "security": _PUBLIC,
                "summary": "Readiness: engine (per-shard state), translation, connections; "
                           "200 ok or partial, 503 degraded",
                "responses": {"200": {"description": "ready", **_json(_ref("Health"))},
                              "503": {"description": "degraded: the node cannot reach its engine",
                                      **_json(_ref("Health"))}}}},
            "/livez": {"get": {
                "operationId": "livez", "security": _PUBLIC, "summary": "Liveness: 200 while the process answers",
                "responses": _responses(200, "alive", {"type": "object", "required": ["status", "node"],
                                                        "properties": {"status": {"const": "alive"},
                                                                       "node": _STR}})}},
            "/metrics": {"get": {
                "operationId": "metrics", "security": _PUBLIC, "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text exposition format",
                                      "content": {"text/plain": {"schema": _STR}}}}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "security": _PUBLIC, "summary": "This description",
                "responses": _responses(200, "OpenAPI 3.1", _OBJ)}},
            "/api/token": {"post": {
                "operationId": "issueToken", "security": _PUBLIC,
                "summary": "A guest token for a display name and language",
                "requestBody": _body({"type": "object", "required": ["name"], "properties": {
                    "name": NAME_SCHEMA, "lang": {**LANG_SCHEMA, "description": "default en"}}}),
                "responses": _responses(201, "token", {
                    "type": "object", "required": ["token", "user", "expires_at"], "properties": {
                        "token": _STR, "user": _ref("User"),
                        "expires_at": {**_INT, "description": "Unix seconds"}}},
                    400, 403, 413, 422, 429, error_meanings={
                        **_GUEST_403, 422: "invalid_parameter: name or lang refused",
                        429: "rate_limited: too many guest tokens from this client address "
                             "(--guest-token-burst, --guest-token-rate)"})}},
            "/api/ws-ticket": {"post": {
                "operationId": "wsTicket", "security": _BEARER,
                "summary": "A one-time ticket for /ws?ticket=..., so that the token stays out of the URL "
                           "(browsers cannot set headers on a WebSocket); valid once, on any node, for "
                           f"{TICKET_TTL:g} s",
                "responses": _responses(201, "ticket", {
                    "type": "object", "required": ["ticket", "expires_in"], "properties": {
                        "ticket": _STR, "expires_in": {"type": "number", "description": "seconds"}}},
                    401, 429, 503, error_meanings={
                        429: f"rate_limited: a user gets {TICKET_BURST:g} tickets at once, then "
                             f"{TICKET_RATE:g} a second"})}},
            "/api/rooms": {
                "get": {"operationId": "listRooms", "security": _PUBLIC,
                        "summary": "A page of rooms in name order, each with its user count; the next page "
                                   "is ?after=<next>",
                        "parameters": [
                            {"name": "after", "in": "query", "schema": ROOM_NAME_SCHEMA,
                             "description": "the previous page's next (a room name); default: from the start"},
                            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
                             "description": f"default {ROOM_PAGE_DEFAULT}; above {ROOM_PAGE_MAX} it is lowered "
                                            f"to {ROOM_PAGE_MAX} (the reply's limit says so)"}],
                        "responses": _responses(200, "rooms", {
                            "type": "object", "required": ["rooms", "next", "limit"], "properties": {
                                "rooms": {"type": "array", "maxItems": ROOM_PAGE_MAX, "items": {"allOf": [
                                    _ref("Room"), {"required": ["members"], "properties": {"members": _INT}}]}},
                                "next": {"anyOf": [ROOM_NAME_SCHEMA, {"type": "null"}],
                                         "description": "pass as after for the next page; null on the last"},
                                "limit": {"type": "integer", "minimum": 1, "maximum": ROOM_PAGE_MAX}}},
                            422, 503, error_meanings={
                                422: "invalid_parameter: after is not a room name, or limit not an integer "
                                     "or below 1"})},
                "post": {"operationId": "createRoom", "security": _BEARER,
                         "summary": "Create a room; the caller becomes its owner",
                         "requestBody": _body({"type": "object", "required": ["name"], "properties": {
                             "name": ROOM_NAME_SCHEMA,
                             "title": {"anyOf": [{"type": "string", "maxLength": TITLE_MAX}, {"type": "null"}],
                                       "description": "default: the name"}}}),
                         "responses": _responses(201, "created", _ref("Room"), 400, 401, 409, 413, 422, 429, 503,
                                                 links=_ROOM_LINKS, error_meanings={
                                                     422: "invalid_room (name), invalid_frame (title)",
                                                     429: "rate_limited: too many new rooms from this user or "
                                                          "client address (--room-create-burst, "
                                                          "--room-create-rate)"})}},
            "/api/rooms/{room}": {"get": {
                "operationId": "getRoom", "security": _PUBLIC, "summary": "Room info: members, offset, settings",
                "parameters": [_ROOM_PARAM],
                "responses": _responses(200, "room", {"allOf": [_ref("Room"), {
                    "required": ["members", "member_count", "offset", "epoch", "settings"], "properties": {
                        "members": {"type": "array", "items": _ref("Member")}, "member_count": _INT,
                        "offset": _INT, "epoch": _STR, "settings": _OBJ}}]},
                    404, 422, 503, error_meanings={404: "room_not_found", 422: "invalid_room"})}},
            "/api/rooms/{room}/messages": {"get": {
                "operationId": "getMessages", "security": _PUBLIC,
                "summary": "A page of history, like the history frame; page back with before=<oldest offset>",
                "parameters": [
                    _ROOM_PARAM,
                    {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": "offset; default: newest"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": f"default {HISTORY_LIMIT_DEFAULT}; above {HISTORY_LIMIT_MAX} it is "
                                    f"lowered to {HISTORY_LIMIT_MAX} (the reply's limit says so)"}],
                "responses": _responses(200, "events", {
                    "type": "object", "required": ["room", "events", "offset", "epoch", "limit", "has_more"],
                    "properties": {"room": ROOM_NAME_SCHEMA, "events": {"type": "array", "items": _OBJ},
                                   "offset": _INT, "epoch": _STR,
                                   "limit": {"type": "integer", "minimum": 1, "maximum": HISTORY_LIMIT_MAX},
                                   "has_more": {"type": "boolean"}}},
                    404, 422, 503, error_meanings={404: "room_not_found", **_HISTORY_422})}},
            "/api/rooms/{room}/moderation": {"post": {
                "operationId": "moderate", "security": _BEARER, "parameters": [_ROOM_PARAM],
                "summary": "A host action (docs/moderation.md)",
                "requestBody": _body(moderation_body()),
                "responses": _responses(200, "done", {
                    "type": "object", "required": ["room", "action", "result"], "properties": {
                        "room": ROOM_NAME_SCHEMA, "action": {"enum": list(ACTIONS)}, "result": _OBJ}},
                    400, 401, 403, 404, 413, 422, 503, error_meanings={
                        404: "not_found: no such message, pin or term",
                        422: "invalid_room; invalid_parameter (action not a string, params not an object); "
                             "invalid (unknown action, params refused: the message says which)"})}},
            "/api/rooms/{room}/review": {"get": {
                "operationId": "getReview", "security": _BEARER, "parameters": [_ROOM_PARAM],
                "summary": "Held and reported messages, oldest first (moderator+)",
                "responses": _responses(200, "queue", {
                    "type": "object", "required": ["room", "items"], "properties": {
                        "room": ROOM_NAME_SCHEMA, "items": {"type": "array", "items": _OBJ}}},
                    401, 403, 422, 503, error_meanings={403: "forbidden: below moderator",
                                                         422: "invalid_room"})}},
            "/api/rooms/{room}/review/{item}/{decision}": {"post": {
                "operationId": "decide", "security": _BEARER,
                "summary": "Approve (publish) or reject a queued item (moderator+)",
                "parameters": [
                    _ROOM_PARAM,
                    {"name": "item", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
                     "description": "a review item's id (h-... held, r-... report)"},
                    {"name": "decision", "in": "path", "required": True, "schema": {"enum": ["approve", "reject"]},
                     "description": "any other segment answers 404"}],
                "responses": _responses(200, "decided", {
                    "type": "object", "required": ["room", "decision", "result"], "properties": {
                        "room": ROOM_NAME_SCHEMA, "decision": {"enum": ["approve", "reject"]},
                        "result": {"type": "object", "required": ["id", "resolution"], "properties": {
                            "id": _STR, "resolution": {"enum": ["approved", "rejected"]},
                            "kind": {"enum": ["held", "report"]}, "message_id": _STR, "offset": _INT}}}},
                    401, 403, 404, 422, 503, error_meanings={
                        403: "forbidden: below moderator, or rejecting a report whose author the caller "
                             "does not outrank",
                        404: "not_found: no such item, or already resolved; or a decision other than "
                             "approve or reject",
                        422: "invalid_room"})}},
            "/api/rooms/{room}/audit": {"get": {
                "operationId": "getAudit", "security": _BEARER, "summary": "Audit log, newest first (moderator+)",
                "parameters": [
                    _ROOM_PARAM,
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
                     "description": f"default {AUDIT_LIMIT_DEFAULT}; above {AUDIT_LIMIT_MAX} it is lowered "
                                    f"to {AUDIT_LIMIT_MAX}"}],
                "responses": _responses(200, "entries", {
                    "type": "object", "required": ["room", "entries"], "properties": {
                        "room": ROOM_NAME_SCHEMA, "entries": {"type": "array", "items": _OBJ}}},
                    401, 403, 422, 503, error_meanings={
                        403: "forbidden: below moderator",
                        422: "invalid_room, or invalid_parameter (limit not an integer, or below 1)"})}},
            "/api/rooms/{room}/reports": {"post": {
                "operationId": "report", "security": _BEARER, "parameters": [_ROOM_PARAM],
                "summary": "Report a message to the room's moderators (anyone, guests included)",
                "requestBody": _body({"type": "object", "required": ["offset"], "properties": {
                    "offset": {"type": "integer", "minimum": 1, "description": "the message's offset"},
                    "reason": {"description": f"optional; read as text (a non-string as its Python str()), "
                                              f"cut to {MAX_REASON} characters"}}}),
                "responses": _responses(201, "reported", {
                    "type": "object", "required": ["room", "result"], "properties": {
                        "room": ROOM_NAME_SCHEMA, "result": {
                            "type": "object", "required": ["id", "duplicate"], "properties": {
                                "id": _STR, "duplicate": {"type": "boolean",
                                                          "description": "true: this user reported it before; "
                                                                         "id is the first report's"}}}}},
                    400, 401, 403, 404, 413, 422, 429, 503, links=_REVIEW_LINKS, error_meanings={
                        403: "forbidden: the reporter is banned from the room",
                        404: "room_not_found: no such room; not_found: no message at that offset in its history",
                        422: "invalid_room, or invalid_parameter (offset missing, not an integer, or below 1)",
                        429: "rate_limited: more than 5 reports at once, then one per 10 s, per user and room; "
                             "more than 30 per room then one per 5 s; more than 20 from one address, then "
                             "one per 2 s"})}},
            **ADMIN_PATHS,  # /api/admin/... (chatserver/openapi_admin.py)
        },
    }


OPENAPI: dict = build()

# Every field of Limits must be described (the schema refuses fields it does not know).
if set(_LIMIT_RULES) != {f.name for f in dataclasses.fields(Limits)}:
    raise RuntimeError("moderation.ratelimit.Limits changed: update _LIMIT_RULES in chatserver/openapi.py")
