"""Protocol v1: the frame codec, with no I/O.

Bytes or text in, validated :class:`ClientFrame` out, or a :class:`~chatserver.errors.ChatError`
that names the documented error code. Server frames (plain dicts, built by
:mod:`chatserver.frames`) in, encoded payloads out. The client frame table
:data:`CLIENT_FRAMES` is the one place a frame type's fields are defined; the session's
handler table (:data:`chatserver.session.HANDLERS`) follows it entry for entry.
docs/protocol.md is the reference this module implements.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from chatserver.errors import BAD_FRAME, INVALID_FRAME, INVALID_ROOM, TEXT_TOO_LONG, UNKNOWN_TYPE, ChatError
from chatserver.frames import PROTOCOL_VERSION  # noqa: F401  (the codec speaks this version)
from rooms.store import LAST_ENCODED
JSON = "livebridge.v1.json"
MSGPACK = "livebridge.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)

# Close codes (docs/protocol.md, "Close codes").
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # server shutting down
CLOSE_INVALID_UTF8 = 1007
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013  # the server cannot take the connection now (try again later)
CLOSE_BAD_REQUEST = 4400  # unsupported subprotocol, or too many malformed frames
CLOSE_UNAUTHORIZED = 4401  # missing, bad or expired token
CLOSE_FORBIDDEN = 4403  # the user may not connect
CLOSE_SLOW_CONSUMER = 4408  # outbound queue overflowed: the client did not read fast enough
CLOSE_TOO_MANY_CONNECTIONS = 4429  # the user has too many connections on this node

# Also the OpenAPI schema's pattern, so written for both dialects; Python code must test names
# with valid_room (fullmatch: "$" alone would also match before a final newline).
ROOM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def valid_room(name: object) -> bool:
    """Whether ``name`` is a room name: 1-64 of a-z, 0-9, '-', '_', not starting with - or _."""
    return isinstance(name, str) and ROOM_NAME.fullmatch(name) is not None
LANGS = ("en", "zh")
SCRIPTS = ("hans", "hant")
_REF_MAX = 64
_ID_MAX = 64


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes the codec enforces; the server's config fills them in."""

    max_text_chars: int = 2000
    max_history_limit: int = 100  # a larger history limit is lowered to this (the reply says so)
    default_history_limit: int = 50


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


def _refuse(code: str, message: str, ref: Any = None) -> ChatError:
    return ChatError(code, message, ref=ref)


# Field specs per client frame type: name -> (kind, required), in docs/protocol.md's order.
# Kinds are checked by _check_field; unknown fields are ignored so that clients can be
# newer than servers.
CLIENT_FRAMES: dict[str, dict[str, tuple[str, bool]]] = {
    "join": {"room": ("room", True), "since": ("offset", False), "epoch": ("id", False)},
    "leave": {"room": ("room", True)},
    "send": {"room": ("room", True), "text": ("text", True), "client_msg_id": ("id", False),
             "reply_to": ("offset", False)},
    "typing": {"room": ("room", True)},
    "history": {
        "room": ("room", True), "before": ("offset", False), "limit": ("limit", False),
    },
    "members": {
        "room": ("room", True), "after": ("cursor", False), "limit": ("limit", False),
        "query": ("name_query", False),
    },
    "ping": {},
    "set_lang": {"lang": ("lang", True), "script": ("script", False)},
    "moderate": {"room": ("room", True), "action": ("id", True), "params": ("object", False)},
    "report": {
        "room": ("room", True), "offset": ("offset", True), "reason": ("short_text", False),
    },
}
CLIENT_TYPES = frozenset(CLIENT_FRAMES)


def decode(data: str | bytes, codec: str, limits: Limits = Limits()) -> ClientFrame:
    """Decode and validate one client frame, or raise :class:`ChatError`."""
    obj = _parse(data, codec)
    if not isinstance(obj, dict):
        raise _refuse(BAD_FRAME, "a frame must be an object")
    ref = obj.get("ref")
    if ref is not None and not _valid_ref(ref):
        raise _refuse(INVALID_FRAME, "ref must be a string of at most 64 characters or an integer")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _refuse(INVALID_FRAME, "field 'type' must be a string", ref)
    spec = CLIENT_FRAMES.get(kind)
    if spec is None:
        raise _refuse(UNKNOWN_TYPE, f"unknown frame type {kind[:32]!r}", ref)
    fields: dict[str, Any] = {}
    for name, (field_kind, required) in spec.items():
        value = obj.get(name)
        if value is None:
            if required:
                raise _refuse(INVALID_FRAME, f"{kind}: field {name!r} is required", ref)
            continue
        fields[name] = _check_field(kind, name, field_kind, value, limits, ref)
    return ClientFrame(kind, ref, fields)


def _parse(data: str | bytes, codec: str) -> Any:
    if codec == JSON:
        if not isinstance(data, str):
            raise _refuse(BAD_FRAME, "JSON frames must be text frames")
        try:
            return _decode_json(data)
        except (ValueError, RecursionError):
            raise _refuse(BAD_FRAME, "frame is not valid JSON") from None
    if codec == MSGPACK:
        if isinstance(data, str):
            raise _refuse(BAD_FRAME, "msgpack frames must be binary frames")
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=True)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
                msgpack.StackError, RecursionError, UnicodeDecodeError):
            raise _refuse(BAD_FRAME, "frame is not valid msgpack") from None
    raise ValueError(f"unknown codec {codec!r}")


def parse_json_float(text: str) -> float | int:
    """JSON numbers with a fraction or exponent: a whole one (``5.0``, ``1e3``) reads as an int,
    as JSON Schema counts it an integer, so ``"offset": 5.0`` means offset 5."""
    value = float(text)
    if value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


# One decoder for every frame (json.loads with an option builds a new one per call).
_decode_json = json.JSONDecoder(parse_float=parse_json_float).decode


def _valid_ref(ref: Any) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return -(2**53) <= ref <= 2**53
    return isinstance(ref, str) and len(ref) <= _REF_MAX


def _check_field(kind: str, name: str, field_kind: str, value: Any, limits: Limits, ref: Any) -> Any:
    def bad(expected: str) -> ChatError:
        return _refuse(INVALID_FRAME, f"{kind}: field {name!r} must be {expected}", ref)

    if field_kind == "room":
        if not valid_room(value):
            raise _refuse(
                INVALID_ROOM,
                f"{kind}: room must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
                ref,
            )
        return value
    if field_kind == "text":
        if not isinstance(value, str):
            raise bad("a string")
        if len(value) > limits.max_text_chars:
            raise _refuse(
                TEXT_TOO_LONG, f"text is longer than {limits.max_text_chars} characters", ref
            )
        if not value.strip():
            raise bad("a non-empty string")
        return value
    if field_kind == "cursor":
        if not isinstance(value, str) or not 0 < len(value) <= 256:
            raise bad("a cursor (the 'next' of a previous reply)")
        return value
    if field_kind == "name_query":
        if not isinstance(value, str) or len(value) > 32:
            raise bad("a string of at most 32 characters")
        return value.strip()
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


def _json_encoder() -> Any:
    """``str`` of a frame as compact JSON (not ASCII-escaped, no NaN): one C encoder made once
    and called directly (``JSONEncoder.encode`` builds one per call). Frames are trees of
    dicts and lists built here, never cyclic, so it skips the cycle check."""
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # no C accelerator: the pure-Python encoder
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    fallback = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    encoder = make_encoder(None, fallback.default, encode_basestring, None, ":", ",", False, False, False)
    join = "".join

    def encode(obj: Any) -> str:
        if isinstance(obj, str):
            return encode_basestring(obj)
        return join(encoder(obj, 0))

    return encode


_encode_json = _json_encoder()
_last = LAST_ENCODED


def encode(frame: dict[str, Any], codec: str) -> str | bytes:
    """Encode a server frame: JSON as text, msgpack as bytes. The JSON of the last frame
    is left for the archive (:class:`rooms.store.LastEncoded`: a published message is
    encoded once for the wire and the durable store)."""
    if codec == JSON:
        text = _encode_json(frame)
        _last.pair = (frame, text)
        return text
    if codec == MSGPACK:
        return msgpack.packb(frame, use_bin_type=True)
    raise ValueError(f"unknown codec {codec!r}")


class EncodedOnce:
    """A value encoded once per codec and reused for as long as the same object is given (a
    big room's member list snapshot, which every joiner within a second gets). Holds the
    object, so its identity is not reused while cached."""

    __slots__ = ("_value", "_encoded")

    def __init__(self) -> None:
        self._value: Any = None
        self._encoded: dict[str, str | bytes] = {}

    def get(self, value: Any, codec: str) -> str | bytes:
        if value is not self._value:
            self._value, self._encoded = value, {}
        encoded = self._encoded.get(codec)
        if encoded is None:
            encoded = self._encoded[codec] = encode(value, codec)
        return encoded


def encode_with(frame: dict[str, Any], codec: str, name: str, value: Any, once: EncodedOnce) -> str | bytes:
    """``frame`` with the field ``name`` (not in it) set to ``value`` as its last field,
    encoded: the value's encoding comes from ``once``. Decodes as ``{**frame, name: value}``."""
    if codec == JSON:
        head = _encode_json(frame)
        sep = "," if len(frame) else ""
        return f"{head[:-1]}{sep}{_encode_json(name)}:{once.get(value, codec)}}}"
    if codec == MSGPACK and len(frame) < 15:  # a fixmap header (at most 15 fields) counts them
        head = msgpack.packb(frame, use_bin_type=True)
        return bytes([0x80 | (len(frame) + 1)]) + head[1:] + msgpack.packb(name) + once.get(value, codec)
    return encode({**frame, name: value}, codec)


def choose_subprotocol(offered: list[str]) -> str | None:
    """The first offered subprotocol we speak; JSON when none was offered; None if no match."""
    if not offered:
        return JSON
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None
