"""Unit tests of the pure rate-limit policy in moderation.ratelimit."""

from __future__ import annotations

import pytest

from moderation.ratelimit import (
    Limits,
    bucket_verdict,
    conn_bucket,
    flood_digest,
    flood_verdict,
    slow_mode_verdict,
    user_bucket,
)


def test_limits_validation_and_merge():
    base = Limits()
    assert base.merged(None) is base
    assert base.merged({"user_burst": 2}).user_burst == 2
    for bad in ({"user_rate": 0}, {"user_burst": 0.5}, {"flood_max": 1.5}, {"flood_max": 21},
                {"flood_window": 0}, {"conn_rate": True}, {"nope": 1}, {"user_rate": float("nan")},
                {"user_rate": "fast"}):
        with pytest.raises((ValueError, TypeError)):
            base.merged(bad)
    assert Limits(**base.to_dict()) == base


def test_slow_mode_verdict():
    assert slow_mode_verdict(True, None, 100.0) is None
    r = slow_mode_verdict(False, 103.5, 100.0)
    assert (r.code, r.retry_after) == ("slow_mode", 3.5)
    assert slow_mode_verdict(False, None, 100.0).retry_after > 0  # expired between calls


def test_bucket_verdict():
    assert bucket_verdict(0.0, per="user") is None
    r = bucket_verdict(1.23456, per="user")
    assert (r.code, r.retry_after) == ("rate_limited", 1.235)


def test_flood_verdict_waits_for_first_slot():
    assert flood_verdict(True, [], 0) is None
    r = flood_verdict(False, [130.0, 110.0, None], 100.0)
    assert (r.code, r.retry_after) == ("flood", 10.0)


def test_keys():
    assert flood_digest("hello", "Hello!!") == flood_digest("hello", "h e l l o")
    assert flood_digest("", "😀") != flood_digest("", "😡")
    assert user_bucket("r", "u") != user_bucket("r2", "u")
    assert conn_bucket("c1") != conn_bucket("c2")
