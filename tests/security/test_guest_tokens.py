"""Finding 5 of issue 14 (tokens): guest tokens are rate-limited per client address.

Before the fix one address could mint ~1,700 guest tokens a second, so every per-user limit
(reports, messages, bans) was one POST away from a fresh identity. Now each client address
gets --guest-token-burst (60) at once, then --guest-token-rate (1) per second; the bucket is
in the engine, so every node counts the same address alike. Behind a reverse proxy the
address comes from X-Forwarded-For only when the peer is one of --trusted-proxies.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from tests.harness import ServerProcess

BURST, RATE = 60, 1.0


def mint(node: ServerProcess, forwarded_for: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    request = urllib.request.Request(node.url + "/api/token", data=b'{"name": "G"}', method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_one_address_gets_a_burst_of_guest_tokens_then_429(start_server):
    node = start_server()
    started = time.monotonic()
    # X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    statuses = [mint(node, forwarded_for=f"203.0.113.{i}")[0] for i in range(BURST + 40)]
    elapsed = time.monotonic() - started
    assert statuses[:BURST] == [201] * BURST and set(statuses) == {201, 429}, statuses
    # beyond the burst, one a second
    assert statuses.count(201) <= BURST + RATE * elapsed + 1, (statuses.count(201), elapsed)
    status, body = mint(node)
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 0 < body["error"]["retry_after"] <= 1.5


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(start_server):
    node = start_server("--trusted-proxies", "127.0.0.1/32,10.0.0.0/8", "--guest-token-burst", "3")
    # Three clients behind the proxy, each with its own three tokens; a client that puts a
    # made-up address first in its own header is still counted by what the proxy appended.
    for client in ("198.51.100.1", "198.51.100.2", "spoofed, 198.51.100.3"):
        assert [mint(node, client)[0] for _ in range(4)] == [201, 201, 201, 429], client
    # A chain of trusted proxies: the last untrusted hop is the client.
    assert mint(node, "198.51.100.1, 10.1.2.3")[0] == 429
    assert mint(node, "192.0.2.7, 10.1.2.3")[0] == 201
    # IPv6 clients count by /64.
    assert [mint(node, f"2001:db8:1:2::{i}")[0] for i in range(1, 5)] == [201, 201, 201, 429]


def test_a_bad_trusted_proxy_setting_is_refused_at_start():
    import subprocess
    import sys

    from tests.harness import ROOT

    done = subprocess.run([sys.executable, "-m", "chatserver.cli", "serve", "--port", "0",
                           "--trusted-proxies", "nginx.internal"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "--trusted-proxies" in done.stderr, done.stderr
