"""The edge's one error type and every code it sends.

A :class:`ChatError` is a request we refuse. The same exception serves both doors: a
WebSocket session turns it into an ``error`` frame (``code``, ``message``, ``ref``, ``room``,
``retry_after``) and the HTTP API into ``{"error": {"code", "message"}}`` with ``status``.
The codec raises it for frames it cannot accept, the chat service for requests it refuses,
and the moderation gate for moderation's refusals (whose codes, such as ``banned`` or
``slow_mode``, come from :mod:`moderation` and pass through unchanged).

docs/protocol.md ("Error codes") is the reference for every code below.
"""

from __future__ import annotations

import json
from typing import Any

# Frames the codec refuses.
BAD_FRAME = "bad_frame"  # not decodable: malformed JSON/msgpack, the wrong frame kind, not an object
INVALID_FRAME = "invalid_frame"  # decodable, but a field is missing or of the wrong type
UNKNOWN_TYPE = "unknown_type"
TEXT_TOO_LONG = "text_too_long"
INVALID_ROOM = "invalid_room"

# Requests the chat service refuses.
NOT_JOINED = "not_joined"
ALREADY_JOINED = "already_joined"
TOO_MANY_ROOMS = "too_many_rooms"
ROOM_NOT_FOUND = "room_not_found"
ROOM_EXISTS = "room_exists"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"
INTERNAL = "internal"

# Refusals that are the server's doing, not the client's: they never count towards closing a
# connection for too many refused frames (a client retrying through a Redis failover is not
# misbehaving).
SERVER_FAULTS = frozenset({UNAVAILABLE, INTERNAL, "engine_error"})

# The handshake and the HTTP API.
UNAUTHORIZED = "unauthorized"
UNSUPPORTED_SUBPROTOCOL = "unsupported_subprotocol"
TOO_MANY_CONNECTIONS = "too_many_connections"
ORIGIN_NOT_ALLOWED = "origin_not_allowed"
HOST_NOT_ALLOWED = "host_not_allowed"  # the Host header is not one of --public-hosts (HTTP 400)
SLOW_CONSUMER = "slow_consumer"  # counted in metrics; the client sees close code 4408
GUESTS_DISABLED = "guests_disabled"
INVALID_PARAMETER = "invalid_parameter"
BAD_JSON = "bad_json"
TOO_LARGE = "too_large"
TIMEOUT = "timeout"  # an HTTP request body did not arrive within --handshake-timeout (408)
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
HTTP_ERROR = "http_error"
BAD_REQUEST = "bad_request"  # a WebSocket upgrade request websockets cannot take (a body, say): HTTP 400


def http_refusal(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer with the API's JSON error body, written straight to a socket
    (before or instead of anything uvicorn would answer), after which the socket closes."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body

# Moderation's own refusals, by code, as HTTP statuses (anything else: the caller's default).
_MODERATION_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 422, "rate_limited": 429}


class ChatError(Exception):
    """A request we refuse, with its documented code.

    ``ref`` is the client frame's ref when it could be read; ``status`` is the HTTP status
    the API answers with; ``retry_after`` (seconds) says when trying again may work.
    """

    def __init__(self, code: str, message: str, *, status: int = 400, retry_after: float | None = None,
                 ref: Any = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.ref = ref
        self.extra = extra

    @classmethod
    def from_moderation(cls, code: str, message: str, retry_after: float | None = None, *,
                        status: int = 400) -> "ChatError":
        return cls(code, message, status=_MODERATION_STATUS.get(code, status), retry_after=retry_after)
