"""chatserver.connguard.ConnectionGate: the caps' counting, by address key, with the key of
each peer address remembered (the same answers as computing it every time)."""

from __future__ import annotations

import pytest

from chatserver.connguard import ConnectionGate, address_key


def test_address_keys():
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_key("[2001:db8:1:2::9]") == "2001:db8:1:2::/64"
    assert address_key("not an address") == "not an address"
    assert address_key("") == "unknown"


def test_one_64_shares_a_count_and_exempt_peers_have_none():
    gate = ConnectionGate(max_connections=100, max_per_address=2, exempt=lambda h: h == "10.0.0.5")
    keys = [gate.admit(h)[0] for h in ("2001:db8::1", "2001:db8::2")]
    assert keys == ["2001:db8::/64"] * 2
    key, refusal = gate.admit("2001:db8::3")  # a third from the same /64
    assert key is None and b"429" in refusal
    for _ in range(5):  # a trusted proxy is not capped per address (its clients are, in ws.py)
        assert gate.admit("10.0.0.5") == ("", None)
    assert "" not in gate.per_address and gate.total == 7
    gate.release(keys[0])
    assert gate.admit("2001:db8::3")[0] == "2001:db8::/64"  # freed by the release


@pytest.mark.parametrize("host", ["192.0.2.7", "::ffff:192.0.2.7", "2001:db8::1", "10.0.0.5", "junk", ""])
def test_a_remembered_key_is_the_computed_one(host):
    gate = ConnectionGate(max_connections=100, max_per_address=100, exempt=lambda h: h == "10.0.0.5")
    first = gate.admit(host)[0]
    again = gate.admit(host)[0]  # from the cache
    assert first == again == ("" if host == "10.0.0.5" else address_key(host))
    assert gate._key_of.cache_info().hits == 1
