"""Protocol v1: the frame codec, with no I/O.

Bytes or text in, validated :class:`ClientFrame` out, or a :class:`ProtocolError` that names
the documented error code. Server frames (plain dicts) in, encoded payloads out. The
WebSocket handler only moves data between this module and the socket; docs/protocol.md is
the reference this module implements.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack

PROTOCOL_VERSION = "livebridge.v1"
JSON = "livebridge.v1.json"
MSGPACK = "livebridge.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)

# Close codes (docs/protocol.md, "Close codes").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # server shutting down
CLOSE_INVALID_UTF8 = 1007
CLOSE_TOO_BIG = 1009
CLOSE_BAD_REQUEST = 4400  # unsupported subprotocol, or too many malformed frames
CLOSE_UNAUTHORIZED = 4401  # missing, bad or expired token
CLOSE_FORBIDDEN = 4403  # the user may not connect
CLOSE_SLOW_CONSUMER = 4408  # outbound queue overflowed: the client did not read fast enough
CLOSE_TIMEOUT = 4409  # no traffic within the heartbeat timeout

# Error codes carried by error frames.
BAD_FRAME = "bad_frame"  # not decodable: malformed JSON/msgpack, not an object
INVALID_FRAME = "invalid_frame"  # decodable but a field is missing or of the wrong type
UNKNOWN_TYPE = "unknown_type"
TEXT_TOO_LONG = "text_too_long"
NOT_JOINED = "not_joined"
TOO_MANY_ROOMS = "too_many_rooms"
INVALID_ROOM = "invalid_room"
ROOM_NOT_FOUND = "room_not_found"
UNAVAILABLE = "unavailable"
INTERNAL = "internal"

ROOM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGS = ("en", "zh")
SCRIPTS = ("hans", "hant")
_REF_MAX = 64
_ID_MAX = 64


class ProtocolError(Exception):
    """A client frame we refuse. ``ref`` is the frame's ref when it could be read."""

    def __init__(self, code: str, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, ref=self.ref)


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes the codec enforces; the server's config fills them in."""

    max_text_chars: int = 2000
    max_history_limit: int = 100


@dataclass(frozen=True, slots=True)
class ClientFrame:
    """A validated client frame: its type, its ref (echoed in replies) and its fields."""

    type: str
    ref: str | int | None
    fields: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


# Field specs per client frame type: name -> (kind, required). Kinds are checked by
# _check_field; unknown fields are ignored so that clients can be newer than servers.
_SPECS: dict[str, dict[str, tuple[str, bool]]] = {
    "join": {"room": ("room", True), "since": ("offset", False), "epoch": ("id", False)},
    "leave": {"room": ("room", True)},
    "send": {"room": ("room", True), "text": ("text", True), "client_msg_id": ("id", False)},
    "typing": {"room": ("room", True)},
    "history": {
        "room": ("room", True), "before": ("offset", False), "limit": ("limit", False),
    },
    "ping": {},
    "set_lang": {"lang": ("lang", True), "script": ("script", False)},
    "moderate": {"room": ("room", True), "action": ("id", True), "params": ("object", False)},
    "report": {
        "room": ("room", True), "offset": ("offset", True), "reason": ("short_text", False),
    },
}
CLIENT_TYPES = frozenset(_SPECS)


def decode(data: str | bytes, codec: str, limits: Limits = Limits()) -> ClientFrame:
    """Decode and validate one client frame, or raise :class:`ProtocolError`."""
    obj = _parse(data, codec)
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_FRAME, "a frame must be an object")
    ref = obj.get("ref")
    if ref is not None and not _valid_ref(ref):
        raise ProtocolError(INVALID_FRAME, "ref must be a string of at most 64 characters or an integer")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(INVALID_FRAME, "field 'type' must be a string", ref)
    spec = _SPECS.get(kind)
    if spec is None:
        raise ProtocolError(UNKNOWN_TYPE, f"unknown frame type {kind[:32]!r}", ref)
    fields: dict[str, Any] = {}
    for name, (field_kind, required) in spec.items():
        value = obj.get(name)
        if value is None:
            if required:
                raise ProtocolError(INVALID_FRAME, f"{kind}: field {name!r} is required", ref)
            continue
        fields[name] = _check_field(kind, name, field_kind, value, limits, ref)
    return ClientFrame(kind, ref, fields)


def _parse(data: str | bytes, codec: str) -> Any:
    if codec == JSON:
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise ProtocolError(BAD_FRAME, "frame is not valid JSON") from None
    if codec == MSGPACK:
        if isinstance(data, str):
            raise ProtocolError(BAD_FRAME, "msgpack frames must be binary")
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=True)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
                msgpack.StackError, RecursionError, UnicodeDecodeError):
            raise ProtocolError(BAD_FRAME, "frame is not valid msgpack") from None
    raise ValueError(f"unknown codec {codec!r}")


def _valid_ref(ref: Any) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return -(2**53) <= ref <= 2**53
    return isinstance(ref, str) and len(ref) <= _REF_MAX


def _check_field(kind: str, name: str, field_kind: str, value: Any, limits: Limits, ref: Any) -> Any:
    def bad(expected: str) -> ProtocolError:
        return ProtocolError(INVALID_FRAME, f"{kind}: field {name!r} must be {expected}", ref)

    if field_kind == "room":
        if not isinstance(value, str) or not ROOM_NAME.match(value):
            raise ProtocolError(
                INVALID_ROOM,
                f"{kind}: room must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
                ref,
            )
        return value
    if field_kind == "text":
        if not isinstance(value, str):
            raise bad("a string")
        if len(value) > limits.max_text_chars:
            raise ProtocolError(
                TEXT_TOO_LONG, f"text is longer than {limits.max_text_chars} characters", ref
            )
        if not value.strip():
            raise bad("a non-empty string")
        return value
    if field_kind == "short_text":
        if not isinstance(value, str) or len(value) > 500:
            raise bad("a string of at most 500 characters")
        return value
    if field_kind == "offset":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise bad("a non-negative integer")
        return value
    if field_kind == "limit":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad("a positive integer")
        return min(value, limits.max_history_limit)
    if field_kind == "id":
        if not isinstance(value, str) or not 0 < len(value) <= _ID_MAX:
            raise bad(f"a string of 1-{_ID_MAX} characters")
        return value
    if field_kind == "lang":
        if value not in LANGS:
            raise bad("'en' or 'zh'")
        return value
    if field_kind == "script":
        if value not in SCRIPTS:
            raise bad("'hans' (simplified) or 'hant' (traditional)")
        return value
    if field_kind == "object":
        if not isinstance(value, dict):
            raise bad("an object")
        return value
    raise AssertionError(field_kind)


def encode(frame: dict[str, Any], codec: str) -> str | bytes:
    """Encode a server frame: JSON as text, msgpack as bytes."""
    if codec == JSON:
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if codec == MSGPACK:
        return msgpack.packb(frame, use_bin_type=True)
    raise ValueError(f"unknown codec {codec!r}")


def error_frame(code: str, message: str, *, ref: Any = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    for key, value in extra.items():
        if value is not None:
            frame[key] = round(value, 3) if isinstance(value, float) and math.isfinite(value) else value
    return frame


def with_ref(frame: dict[str, Any], ref: Any) -> dict[str, Any]:
    if ref is not None:
        frame["ref"] = ref
    return frame


def choose_subprotocol(offered: list[str]) -> str | None:
    """The first offered subprotocol we speak; JSON when none was offered; None if no match."""
    if not offered:
        return JSON
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None
