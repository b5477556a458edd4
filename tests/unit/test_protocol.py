"""The frame codec without sockets: every refusal has its documented code."""

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver import errors as E
from chatserver import frames
from chatserver import protocol as p


def dec(obj, codec=p.JSON, **limits):
    data = json.dumps(obj) if codec == p.JSON else msgpack.packb(obj)
    return p.decode(data, codec, p.Limits(**limits) if limits else p.Limits())


def code_of(data, codec=p.JSON):
    with pytest.raises(E.ChatError) as info:
        p.decode(data, codec)
    return info.value.code


def test_send_frame_decodes_with_fields_and_ref():
    frame = dec({"type": "send", "room": "lobby", "text": "hi", "client_msg_id": "c1", "ref": 7, "extra": 1})
    assert (frame.type, frame.ref, frame["room"], frame["text"], frame["client_msg_id"]) == ("send", 7, "lobby", "hi", "c1")
    assert "extra" not in frame.fields


def test_msgpack_and_json_decode_the_same_frame():
    obj = {"type": "join", "room": "r1", "since": 5, "epoch": "ab"}
    assert dec(obj).fields == dec(obj, p.MSGPACK).fields


@pytest.mark.parametrize("data,code", [
    ("{not json", E.BAD_FRAME),
    ("[1,2]", E.BAD_FRAME),
    ('"text"', E.BAD_FRAME),
    ('{"room": "x"}', E.INVALID_FRAME),
    ('{"type": 5}', E.INVALID_FRAME),
    ('{"type": "explode"}', E.UNKNOWN_TYPE),
    ('{"type": "send", "room": "lobby"}', E.INVALID_FRAME),
    ('{"type": "send", "room": "lobby", "text": 5}', E.INVALID_FRAME),
    ('{"type": "send", "room": "lobby", "text": "   "}', E.INVALID_FRAME),
    ('{"type": "send", "room": "Bad Room", "text": "x"}', E.INVALID_ROOM),
    ('{"type": "join", "room": "lobby", "since": -1}', E.INVALID_FRAME),
    ('{"type": "join", "room": "lobby", "since": true}', E.INVALID_FRAME),
    ('{"type": "history", "room": "lobby", "limit": 0}', E.INVALID_FRAME),
    ('{"type": "ping", "ref": {"a": 1}}', E.INVALID_FRAME),
    ('{"type": "set_lang", "lang": "fr"}', E.INVALID_FRAME),
])
def test_bad_json_frames_get_their_codes(data, code):
    assert code_of(data) == code


def test_binary_on_json_and_invalid_utf8_in_msgpack_are_bad_frames():
    assert code_of(b'{"type": "ping"}') == E.BAD_FRAME  # JSON frames must be text frames
    assert code_of(b"\x82\xa4type\xa4ping\xa1x\xa2\xff\xfe", p.MSGPACK) == E.BAD_FRAME


def test_msgpack_refuses_text_and_garbage():
    assert code_of("not binary", p.MSGPACK) == E.BAD_FRAME
    assert code_of(b"\xc1\xc1\xc1", p.MSGPACK) == E.BAD_FRAME
    assert code_of(msgpack.packb({1: 2}), p.MSGPACK) == E.BAD_FRAME


def test_text_longer_than_the_limit_is_refused_with_its_ref():
    with pytest.raises(E.ChatError) as info:
        dec({"type": "send", "room": "r", "text": "x" * 11, "ref": "a"}, max_text_chars=10)
    assert (info.value.code, info.value.ref) == (E.TEXT_TOO_LONG, "a")
    assert dec({"type": "send", "room": "r", "text": "x" * 10}, max_text_chars=10)["text"] == "x" * 10


def test_history_limit_is_capped_not_refused():
    assert dec({"type": "history", "room": "r", "limit": 10_000})["limit"] == p.Limits().max_history_limit


def test_encode_is_compact_utf8_json_and_msgpack_round_trips():
    frame = {"type": "message", "text": "你好"}
    assert p.encode(frame, p.JSON) == '{"type":"message","text":"你好"}'
    assert msgpack.unpackb(p.encode(frame, p.MSGPACK)) == frame


def test_error_frame_rounds_retry_after_and_omits_none():
    assert frames.error("rate_limited", "slow down", ref=None, retry_after=1.23456, room=None) == {
        "type": "error", "code": "rate_limited", "message": "slow down", "retry_after": 1.235}


def test_subprotocol_choice():
    assert p.choose_subprotocol([]) == p.JSON
    assert p.choose_subprotocol(["x", p.MSGPACK]) == p.MSGPACK
    assert p.choose_subprotocol(["x"]) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(p.CLIENT_TYPES) + ["nope", ""])},
    optional={"room": json_values | st.sampled_from(["lobby", "a-b_1"]), "text": json_values,
              "since": json_values, "limit": json_values, "ref": json_values, "lang": json_values,
              "params": json_values, "offset": json_values},
)


def _decode_never_crashes(data, codec):
    try:
        frame = p.decode(data, codec)
    except E.ChatError as exc:
        assert exc.code in {E.BAD_FRAME, E.INVALID_FRAME, E.UNKNOWN_TYPE, E.TEXT_TOO_LONG, E.INVALID_ROOM}
        return
    assert frame.type in p.CLIENT_TYPES


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_either_decoder(data):
    _decode_never_crashes(data, p.JSON)
    _decode_never_crashes(data, p.MSGPACK)


@settings(max_examples=400, deadline=None)
@given(frame_like)
def test_arbitrary_frame_shaped_objects_are_decoded_or_refused(obj):
    _decode_never_crashes(json.dumps(obj), p.JSON)
    _decode_never_crashes(msgpack.packb(obj), p.MSGPACK)


def test_a_whole_number_written_as_a_float_is_an_integer():
    # JSON Schema counts 5.0 an integer; so do we (offsets, limits).
    frame = p.decode('{"type": "history", "room": "lobby", "before": 5.0, "limit": 2e1}', p.JSON)
    assert frame["before"] == 5 and frame["limit"] == 20
    assert code_of('{"type": "history", "room": "lobby", "before": 5.5}') == E.INVALID_FRAME


@pytest.mark.parametrize("codec", [p.JSON, p.MSGPACK])
def test_encode_with_adds_a_field_encoded_once_per_value(codec):
    members = [{"id": "u1", "name": "安 Ann", "lang": "zh", "role": "guest"}]
    once = p.EncodedOnce()
    decoded = (lambda data: json.loads(data)) if codec == p.JSON else (lambda data: msgpack.unpackb(data))
    first = p.encode_with({"type": "joined", "room": "r", "ref": 7}, codec, "members", members, once)
    assert decoded(first) == {"type": "joined", "room": "r", "ref": 7, "members": members}
    cached = once.get(members, codec)
    assert once.get(members, codec) is cached  # the same list object: not encoded again
    assert decoded(p.encode_with({}, codec, "members", members, once)) == {"members": members}
    other = [{"id": "u2", "name": "Bo", "lang": "en", "role": "owner"}]
    assert decoded(p.encode_with({"type": "joined"}, codec, "members", other, once))["members"] == other
    wide = {f"k{i}": i for i in range(20)}  # past msgpack's fixmap: encoded whole
    assert decoded(p.encode_with(wide, codec, "members", members, once)) == {**wide, "members": members}
