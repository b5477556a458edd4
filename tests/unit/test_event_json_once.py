"""A published message is encoded once for the wire and the archive: the archive takes the
wire's JSON of the very event object it was given, and only that one, only once."""

from __future__ import annotations

import json

from chatserver import protocol
from rooms.store import LAST_ENCODED, encode_event


def _event(offset: int = 3) -> dict:
    return {"type": "message", "id": "m_1", "room": "r", "author": {"id": "u1", "name": "Ann"},
            "text": "héllo", "lang": "en", "ts": 1, "offset": offset, "epoch": "e"}


def test_the_archive_takes_the_wire_encoding_of_the_same_event():
    event = _event()
    wire = protocol.encode(event, protocol.JSON)
    record = encode_event("r", 3, "e", event, 65536)
    assert record.event_json is wire  # the same string: not encoded a second time
    assert LAST_ENCODED.take(event) is None  # taken once


def test_another_object_or_a_changed_event_is_encoded_again():
    event = _event()
    protocol.encode(event, protocol.JSON)
    equal = _event()
    equal["text"] = "changed"
    assert json.loads(encode_event("r", 3, "e", equal, 65536).event_json)["text"] == "changed"
    # The wire's encoding lacks the offset the archive adds: never taken for the copy.
    bare = {k: v for k, v in _event().items() if k not in ("offset", "epoch")}
    protocol.encode(bare, protocol.JSON)
    stored = json.loads(encode_event("r", 3, "e", bare, 65536).event_json)
    assert stored["offset"] == 3 and stored["epoch"] == "e"


def test_a_taken_encoding_still_counts_against_the_size_bound():
    event = _event()
    event["text"] = "x" * 200
    protocol.encode(event, protocol.JSON)
    try:
        encode_event("r", 3, "e", event, 100)
    except ValueError as exc:
        assert "over the archive" in str(exc)
    else:
        raise AssertionError("an event over the bound was archived")
