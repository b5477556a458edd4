"""Presence entries read from Redis are decoded once each, within a bound."""

from __future__ import annotations

from dataclasses import replace

from rooms import redis_state
from rooms.engine import Member
from rooms.redis_state import RedisPresence, member_json


def presence() -> RedisPresence:
    return RedisPresence(link=None)  # decoding needs no Redis


def test_an_entry_read_again_is_not_decoded_again_and_a_changed_one_is():
    p = presence()
    ann = Member("c1", "u1", "Ann", "en", node="a")
    raw = member_json(ann, "a").encode()
    first = p._decode(raw)
    assert first == ann
    assert p._decode(bytes(raw)) is first  # equal bytes, a new object: still one decode
    host = member_json(replace(ann, role="host"), "a").encode()
    assert p._decode(host).role == "host" and p._decode(raw).role == "member"


def test_the_decoded_entries_are_bounded_oldest_out(monkeypatch):
    monkeypatch.setattr(redis_state, "DECODED_MAX", 3)
    p = presence()
    raws = [member_json(Member(f"c{i}", f"u{i}", f"U{i}", "en"), "a").encode() for i in range(5)]
    for raw in raws:
        p._decode(raw)
    assert list(p._decoded) == raws[2:]
